/*
 * Deskline agent console, core: DOM helpers, the session (sign-in, token refresh) and the socket.
 *
 * Tokens. The access token (15 minutes) lives in memory only. The refresh token is kept in
 * sessionStorage: it survives a reload of this tab (so a reload does not sign the agent out) but is
 * not shared with other tabs and is erased when the tab closes; unlike localStorage it does not linger
 * on a shared computer. A script injected into the page could still read it, which is why the console
 * never parses data as HTML (every user-supplied string becomes a text node) and
 * the page's Content-Security-Policy allows scripts from Deskline only. Refresh tokens rotate on every
 * use; a reused one ends its whole family on the server.
 */
(function () {
  "use strict";

  const REFRESH_KEY = "deskline.console.refresh";
  const ACK_MS = 15000;
  const listeners = {};
  const Desk = {
    state: { user: null, access: null, expiresAt: 0, socket: null, signedIn: false, refreshTimer: null },
  };
  window.Desk = Desk;

  /** Return the element with this id. */
  Desk.$ = (id) => document.getElementById(id);

  /** Make an element: attributes (on* are listeners) and children (strings become text, never HTML). */
  Desk.el = function (tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
      else if (name === "dataset") Object.assign(node.dataset, value);
      else node.setAttribute(name, value === true ? "" : String(value));
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  };

  /** Replace an element's children. */
  Desk.fill = (node, ...children) => node.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined));

  /** Show a short message to the user (an error when `bad`). */
  Desk.notice = function (text, bad) {
    const box = Desk.$("notice");
    box.textContent = text || "";
    box.classList.toggle("bad", Boolean(bad));
  };

  /** A readable sentence for an error ack. */
  Desk.describe = (error) => (error && (error.message || error.code)) || "something went wrong";

  /** Subscribe to a console-wide event (`signed-in`, `signed-out`, `resync`). */
  Desk.on = (name, fn) => (listeners[name] = listeners[name] || []).push(fn);
  Desk.emitLocal = async function (name, ...args) {
    for (const fn of listeners[name] || []) {
      try {
        await fn(...args);
      } catch (err) {
        console.error(name, err);
      }
    }
  };

  class AckError extends Error {
    constructor(error) {
      super(Desk.describe(error));
      this.code = error && error.code;
      this.details = error && error.details;
    }
  }
  Desk.AckError = AckError;

  async function emitWithAck(event, payload) {
    const socket = Desk.state.socket;
    if (!socket || !socket.connected) throw new AckError({ code: "disconnected", message: "not connected" });
    return socket.timeout(ACK_MS).emitWithAck(event, payload === undefined ? {} : payload);
  }

  /** Send an event and return its ack data; refresh once when the access token expired. Throws AckError. */
  Desk.call = async function (event, payload) {
    let answer = await emitWithAck(event, payload);
    const expired = answer && !answer.ok && answer.error.code === "unauthorized" &&
      answer.error.details && answer.error.details.reason === "token_expired";
    if (expired && (await Desk.refresh())) answer = await emitWithAck(event, payload);
    if (!answer || !answer.ok) throw new AckError(answer && answer.error);
    return answer.data;
  };

  /** Like call, but an `unknown_event` answer (a server without that feature) gives `undefined`. */
  Desk.optional = async function (event, payload) {
    try {
      return await Desk.call(event, payload);
    } catch (err) {
      if (err.code === "unknown_event") return undefined;
      throw err;
    }
  };

  function keep(pair) {
    const s = Desk.state;
    s.access = pair.access_token;
    s.expiresAt = Date.now() + pair.expires_in * 1000;
    s.user = pair.user || s.user;
    s.signedIn = true;
    try {
      sessionStorage.setItem(REFRESH_KEY, pair.refresh_token);
    } catch (_) {
      s.refreshInMemory = pair.refresh_token; // storage disabled: keep it for this page only
    }
    clearTimeout(s.refreshTimer);
    const early = Math.max(5, pair.expires_in - 60) * 1000;
    s.refreshTimer = setTimeout(() => Desk.refresh(), early);
  }

  function storedRefresh() {
    try {
      return sessionStorage.getItem(REFRESH_KEY) || Desk.state.refreshInMemory || null;
    } catch (_) {
      return Desk.state.refreshInMemory || null;
    }
  }

  function forget() {
    const s = Desk.state;
    clearTimeout(s.refreshTimer);
    Object.assign(s, { user: null, access: null, expiresAt: 0, signedIn: false, refreshInMemory: null });
    try {
      sessionStorage.removeItem(REFRESH_KEY);
    } catch (_) {
      /* nothing kept */
    }
  }

  let refreshing = null;
  /** Trade the refresh token for a new pair on this socket (which signs it in). Returns whether it worked. */
  Desk.refresh = function () {
    const token = storedRefresh();
    if (!token) return Promise.resolve(false);
    if (!refreshing) {
      refreshing = emitWithAck("refresh_token", { refresh_token: token })
        .then((answer) => {
          if (answer && answer.ok) {
            keep(answer.data);
            return true;
          }
          if (answer && answer.error && ["unauthorized", "forbidden"].includes(answer.error.code)) {
            Desk.signOut("Your session ended: please sign in again.");
          }
          return false;
        })
        .catch(() => false)
        .finally(() => (refreshing = null));
    }
    return refreshing;
  };

  /** Sign in with email and password on the open socket. */
  Desk.login = async function (email, password) {
    const answer = await emitWithAck("login", { email, password });
    if (!answer.ok) throw new AckError(answer.error);
    keep(answer.data);
    await Desk.emitLocal("signed-in");
  };

  /** Sign out (revoking this login's refresh token) and show the sign-in form. */
  Desk.logout = async function () {
    const token = storedRefresh();
    try {
      await emitWithAck("logout", token ? { refresh_token: token } : {});
    } catch (_) {
      /* signed out locally anyway */
    }
    Desk.signOut("Signed out.");
  };

  Desk.signOut = function (why) {
    const wasIn = Desk.state.signedIn;
    forget();
    if (wasIn || why) Desk.emitLocal("signed-out", why || "");
  };

  /** The headers that authenticate an HTTP request (uploads, downloads). */
  Desk.authHeaders = () => ({ Authorization: `Bearer ${Desk.state.access}` });

  /** Upload a file (POST /api/attachments); return its id. */
  Desk.upload = async function (file) {
    if (Date.now() > Desk.state.expiresAt - 5000) await Desk.refresh();
    const body = new FormData();
    body.append("file", file, file.name);
    const resp = await fetch("/api/attachments", { method: "POST", headers: Desk.authHeaders(), body });
    const answer = await resp.json().catch(() => ({}));
    if (!resp.ok) throw new AckError((answer && answer.error) || { message: `upload failed (${resp.status})` });
    return answer.id;
  };

  /** Fetch an attachment with the access token and return a blob URL for it. */
  Desk.download = async function (id) {
    const resp = await fetch(`/api/attachments/${encodeURIComponent(id)}`, { headers: Desk.authHeaders() });
    if (!resp.ok) throw new AckError({ message: `download failed (${resp.status})` });
    return URL.createObjectURL(await resp.blob());
  };

  function connectionStatus(text) {
    Desk.$("connection").textContent = text;
  }

  /**
   * Open the socket. A reconnect uses the access token while it is fresh (and names the tickets whose rooms
   * to enter again); otherwise it connects anonymously and trades the refresh token, which signs it in.
   * Either way the console then re-subscribes and re-fetches (`resync`), replacing its lists by id.
   */
  Desk.connect = function () {
    const socket = window.io({
      autoConnect: false,
      transports: ["websocket", "polling"],
      auth: (cb) => {
        const s = Desk.state;
        const fresh = Boolean(s.access && Date.now() < s.expiresAt - 30000);
        s.tokenConnect = fresh;
        // recover: a short drop resumes the same socket and replays what it missed (docs/events.md); the resync
        // that follows every connect still re-fetches, and lists are keyed by id, so nothing shows twice
        const tickets = (Desk.openTicketIds ? Desk.openTicketIds() : []).slice(0, 50);
        cb(fresh ? { token: s.access, tickets, recover: true } : {});
      },
    });
    Desk.state.socket = socket;
    socket.io.on("reconnect_attempt", () => connectionStatus("Reconnecting…"));
    socket.on("connect", async () => {
      connectionStatus("Connected");
      if (!Desk.state.signedIn && !storedRefresh()) return Desk.emitLocal("signed-out", "");
      if (!Desk.state.tokenConnect && !(await Desk.refresh())) return;
      if (!Desk.state.user) Desk.state.user = await Desk.call("me");
      await Desk.emitLocal(Desk.state.started ? "resync" : "signed-in");
    });
    socket.on("connect_error", async (err) => {
      connectionStatus("Cannot reach Deskline, retrying…");
      if (err && err.data && err.data.code === "unauthorized") {
        Desk.state.expiresAt = 0; // the token was refused: connect anonymously and refresh instead
        socket.connect();
      }
    });
    socket.on("disconnect", (reason) => {
      connectionStatus("Disconnected, reconnecting…");
      if (reason === "io server disconnect") setTimeout(() => socket.connect(), 1000); // the client would not by itself
    });
    socket.on("session_ended", (p) => Desk.signOut(`Your session ended (${p.reason}).`));
    socket.connect();
    return socket;
  };

  /** Listen to a server push. */
  Desk.push = (name, fn) => Desk.state.socket.on(name, fn);

  /** Format an ISO time for people. */
  Desk.time = (iso) => (iso ? new Date(iso).toLocaleString() : "");
})();
