/*
 * Deskline support widget: a chat bubble a product site drops in with one tag.
 *
 *   <script src="https://desk.example.com/widget.js" async
 *           data-widget-token="wt_..." data-workspace-id="..." data-product="shop"></script>
 *
 * The widget token is public: it can only open a conversation. Never put the workspace's API key
 * in a page. Optional attributes: data-identifier + data-identifier-hash (the visitor's id signed
 * by the site's back end, for the same history on every device), data-server (default: where this
 * script came from), data-title, data-socketio-src (socket.io-client's browser bundle when the page
 * has no `io` yet). Visitors open a ticket with their first message (`widget_open`), chat in it
 * (`widget_send`), see agents' replies live (`widget_message`) and find the conversation again
 * after a reload: the visitor secret the server issues once is kept in localStorage.
 * `window.DesklineWidget` opens, closes and starts it by hand:
 * `DesklineWidget.start({widgetToken, workspaceId, product, server})`.
 */
(function () {
  "use strict";

  const SOCKET_IO_CDN = "https://cdn.socket.io/4.8.1/socket.io.min.js";
  const ACK_MS = 10000;
  const script = document.currentScript;

  const STYLE = `
    :host { all: initial; font: 14px/1.4 system-ui, sans-serif; color: #1f2328; }
    .bubble { position: fixed; right: 20px; bottom: 20px; z-index: 2147483000; border: 0; border-radius: 24px;
      padding: 12px 18px; background: #2557d6; color: #fff; font: inherit; cursor: pointer;
      box-shadow: 0 4px 14px rgba(0,0,0,.25); }
    .panel { position: fixed; right: 20px; bottom: 76px; z-index: 2147483000; width: 320px; height: 420px;
      display: none; flex-direction: column; background: #fff; border-radius: 12px; overflow: hidden;
      box-shadow: 0 8px 28px rgba(0,0,0,.3); }
    .panel.open { display: flex; }
    header { display: flex; justify-content: space-between; align-items: center; padding: 10px 14px;
      background: #2557d6; color: #fff; font-weight: 600; }
    header button { border: 0; background: none; color: #fff; font-size: 18px; cursor: pointer; }
    .status { padding: 6px 14px; font-size: 12px; color: #57606a; background: #f6f8fa; }
    .messages { flex: 1; overflow-y: auto; padding: 10px 14px; display: flex; flex-direction: column; gap: 6px; }
    .message { max-width: 80%; padding: 6px 10px; border-radius: 10px; white-space: pre-wrap; word-wrap: break-word; }
    .message.mine { align-self: flex-end; background: #2557d6; color: #fff; }
    .message.theirs { align-self: flex-start; background: #eaeef2; }
    form { display: flex; gap: 6px; padding: 10px; border-top: 1px solid #d0d7de; }
    input { flex: 1; padding: 8px; border: 1px solid #d0d7de; border-radius: 8px; font: inherit; }
    form button { padding: 8px 12px; border: 0; border-radius: 8px; background: #2557d6; color: #fff; cursor: pointer; }
  `;

  function loadScript(src) {
    return new Promise((resolve, reject) => {
      const tag = document.createElement("script");
      tag.src = src;
      tag.onload = resolve;
      tag.onerror = () => reject(new Error(`could not load ${src}`));
      document.head.appendChild(tag);
    });
  }

  function stored(key, make) {
    try {
      let value = localStorage.getItem(key);
      if (!value && make) {
        value = make();
        localStorage.setItem(key, value);
      }
      return value;
    } catch (_) {
      return make ? make() : null; // storage blocked: the conversation lasts as long as the page
    }
  }

  function remember(key, value) {
    try {
      if (value) localStorage.setItem(key, value);
      else localStorage.removeItem(key);
    } catch (_) {
      /* storage blocked */
    }
  }

  /** Build the widget's DOM in a shadow root so the host page's styles cannot reach it. */
  function render(title) {
    const host = document.createElement("div");
    host.id = "deskline-widget";
    const root = host.attachShadow({ mode: "open" });
    root.innerHTML = `<style>${STYLE}</style>
      <button class="bubble" type="button" aria-haspopup="dialog">Support</button>
      <section class="panel" role="dialog" aria-label="Support chat">
        <header><span class="title"></span><button class="close" type="button" aria-label="Close">×</button></header>
        <div class="status" aria-live="polite"></div>
        <div class="messages" aria-live="polite"></div>
        <form><input name="text" autocomplete="off" placeholder="Type your message…" maxlength="4000">
          <button type="submit">Send</button></form>
      </section>`;
    root.querySelector(".title").textContent = title;
    document.body.appendChild(host);
    return {
      host,
      bubble: root.querySelector(".bubble"),
      panel: root.querySelector(".panel"),
      close: root.querySelector(".close"),
      status: root.querySelector(".status"),
      messages: root.querySelector(".messages"),
      form: root.querySelector("form"),
      input: root.querySelector("input"),
    };
  }

  function createWidget(config) {
    const keys = {
      secret: `deskline:${config.workspaceId || config.widgetToken}:visitor-secret`,
      ticket: `deskline:${config.workspaceId || config.widgetToken}:${config.product}:ticket`,
    };
    const ui = render(config.title || "Support");
    const shown = new Set();
    let ticketId = stored(keys.ticket);
    let visitorId = null;
    let socket = null;

    const setStatus = (text) => { ui.status.textContent = text; };

    /** What the socket connects with: the public token, never an API key, and this visitor's credentials. */
    function credentials() {
      const auth = { widget_token: config.widgetToken, recover: true }; // a short drop resumes the session
      if (config.identifier && config.identifierHash) {
        auth.identifier = config.identifier;
        auth.identifier_hash = config.identifierHash;
      } else {
        const secret = stored(keys.secret);
        if (secret) auth.visitor_secret = secret;
      }
      return auth;
    }

    function show(message) {
      if (!message || shown.has(message._id)) return;
      shown.add(message._id);
      const line = document.createElement("div");
      line.className = `message ${message.author === visitorId ? "mine" : "theirs"}`;
      line.textContent = message.message_data;
      ui.messages.appendChild(line);
      ui.messages.scrollTop = ui.messages.scrollHeight;
    }

    async function call(event, payload) {
      const ack = await socket.timeout(ACK_MS).emitWithAck(event, payload || {});
      if (!ack.ok) {
        const error = new Error(ack.error.message);
        error.code = ack.error.code;
        throw error;
      }
      return ack.data;
    }

    function forgetTicket(note) {
      ticketId = null;
      remember(keys.ticket, null);
      setStatus(note);
    }

    /** Find this visitor's open conversation again and show what was said while we were away. */
    async function resume() {
      try {
        const tickets = await call("widget_conversations");
        const open = tickets.filter((t) => !t.is_closed && t.product === config.product);
        const ticket = open.find((t) => t._id === ticketId) || open[open.length - 1];
        if (tickets.length) visitorId = tickets[0].user_id;
        if (!ticket) {
          if (ticketId) forgetTicket("Ask us anything: your first message opens a ticket.");
          else setStatus("Ask us anything: your first message opens a ticket.");
          return;
        }
        ticketId = ticket._id;
        remember(keys.ticket, ticketId);
        (await call("widget_messages", { ticket_id: ticketId })).forEach(show);
        await showWaitingTime();
      } catch (err) {
        setStatus(`Could not load the conversation: ${err.message}`);
      }
    }

    async function showWaitingTime() {
      try {
        const wait = await call("widget_waiting_time", { ticket_id: ticketId });
        const minutes = Math.ceil(wait.waiting_time);
        setStatus(wait.tickets_ahead ? `${wait.tickets_ahead} ahead of you, about ${minutes} min.` : "An agent will answer you shortly.");
      } catch (err) {
        if (err.code === "conflict" || err.code === "not_found") forgetTicket("This conversation was closed. Send a message to start a new one.");
      }
    }

    async function send(text) {
      if (!ticketId) {
        const opened = await call("widget_open", { product: config.product });
        if (opened.visitor_secret) remember(keys.secret, opened.visitor_secret); // shown once: keep it
        visitorId = opened.visitor_id;
        ticketId = opened.ticket._id;
        remember(keys.ticket, ticketId);
      }
      try {
        show(await call("widget_send", { ticket_id: ticketId, message_data: text }));
      } catch (err) {
        if (err.code !== "conflict" && err.code !== "not_found") throw err;
        forgetTicket("This conversation was closed. Send a message to start a new one.");
        return send(text);
      }
      await showWaitingTime();
    }

    async function connect() {
      if (socket) return;
      if (!window.io) await loadScript(config.socketIoSrc || SOCKET_IO_CDN);
      socket = window.io(config.server, { transports: ["websocket", "polling"], auth: (cb) => cb(credentials()) });
      socket.on("widget_message", (message) => {
        if (message.ticket_id === ticketId) show(message);
      });
      socket.on("widget_ticket_closed", (closed) => {
        if (closed.ticket_id === ticketId) forgetTicket("This conversation was closed. Send a message to start a new one.");
      });
      socket.on("widget_token_revoked", () => {
        socket.disconnect();
        setStatus("Support chat was reconfigured: reload the page.");
      });
      socket.on("connect", () => { resume(); }); // also after every reconnect (bubbles are shown once by _id)
      socket.on("connect_error", (err) => setStatus(err.data && err.data.code ? `Support chat is unavailable (${err.data.code}).` : "Connecting…"));
      socket.on("disconnect", () => setStatus("Reconnecting…"));
      setStatus("Connecting…");
    }

    function open() {
      ui.panel.classList.add("open");
      ui.input.focus();
      connect().catch((err) => setStatus(err.message));
    }

    function close() {
      ui.panel.classList.remove("open");
    }

    ui.bubble.addEventListener("click", () => (ui.panel.classList.contains("open") ? close() : open()));
    ui.close.addEventListener("click", close);
    ui.form.addEventListener("submit", (event) => {
      event.preventDefault();
      const text = ui.input.value.trim();
      if (!text || !socket || !socket.connected) return;
      ui.input.value = "";
      send(text).catch((err) => {
        ui.input.value = text;
        setStatus(`Not sent: ${err.message}`);
      });
    });

    return { open, close, element: ui.host, get visitorId() { return visitorId; }, get ticketId() { return ticketId; } };
  }

  function configFromScript(tag) {
    if (!tag || !tag.dataset.widgetToken) return null;
    return {
      widgetToken: tag.dataset.widgetToken,
      workspaceId: tag.dataset.workspaceId,
      identifier: tag.dataset.identifier,
      identifierHash: tag.dataset.identifierHash,
      product: tag.dataset.product || "support",
      title: tag.dataset.title,
      server: tag.dataset.server || new URL(tag.src, location.href).origin,
      socketIoSrc: tag.dataset.socketioSrc,
    };
  }

  const api = {
    /** Start the widget with {widgetToken, workspaceId?, product, server, identifier?, identifierHash?, title?}. */
    start(config) {
      if (api.instance) return api.instance;
      const begin = () => { api.instance = createWidget(config); };
      if (document.body) begin();
      else document.addEventListener("DOMContentLoaded", begin);
      return api.instance;
    },
    open: () => api.instance && api.instance.open(),
    close: () => api.instance && api.instance.close(),
    instance: null,
  };
  window.DesklineWidget = api;

  const config = configFromScript(script);
  if (config) api.start(config);
})();
