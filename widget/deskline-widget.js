/*
 * Deskline support widget: a chat bubble a product site drops in with one tag.
 *
 *   <script src="https://desk.example.com/widget.js" async
 *           data-workspace-id="..." data-api-key="..." data-product="shop"></script>
 *
 * Optional attributes: data-server (default: where this script came from), data-title,
 * data-socketio-src (socket.io-client's browser bundle when the page has no `io` yet).
 * Visitors open a ticket with their first message (Dowell `create_ticket`), chat in it
 * (`ticket_message_event`), see agents' replies live and find the conversation again after
 * a reload (the ticket id is kept in localStorage). `window.DesklineWidget` opens, closes
 * and starts it by hand: `DesklineWidget.start({workspaceId, apiKey, product, server})`.
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

  function randomId() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    return `${Date.now().toString(36)}${Math.random().toString(36).slice(2)}`;
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
      visitor: `deskline:${config.workspaceId}:visitor`,
      ticket: `deskline:${config.workspaceId}:${config.product}:ticket`,
    };
    const visitorId = stored(keys.visitor, () => `visitor-${randomId()}`);
    const ui = render(config.title || "Support");
    const shown = new Set();
    let ticketId = stored(keys.ticket);
    let socket = null;

    const keyed = (fields) => ({ workspace_id: config.workspaceId, api_key: config.apiKey, ...fields });
    const setStatus = (text) => { ui.status.textContent = text; };

    function show(message) {
      if (!message || shown.has(message._id)) return;
      shown.add(message._id);
      const line = document.createElement("div");
      line.className = `message ${message.author === visitorId ? "mine" : "theirs"}`;
      line.textContent = message.message_data;
      ui.messages.appendChild(line);
      ui.messages.scrollTop = ui.messages.scrollHeight;
    }

    async function call(event, fields) {
      const ack = await socket.timeout(ACK_MS).emitWithAck(event, keyed(fields));
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

    /** Join the ticket's room again and show what was said while we were away. */
    async function resume() {
      if (!ticketId) {
        setStatus("Ask us anything: your first message opens a ticket.");
        return;
      }
      try {
        const history = await call("get_ticket_messages", { ticket_id: ticketId, product: config.product });
        history.forEach(show);
        await showWaitingTime();
      } catch (err) {
        if (err.code === "not_found" || err.code === "conflict") forgetTicket("Send a message to start a new conversation.");
        else setStatus(`Could not load the conversation: ${err.message}`);
      }
    }

    async function showWaitingTime() {
      try {
        const wait = await call("waiting_time_response", { ticket_id: ticketId, product: config.product });
        const minutes = Math.ceil(wait.waiting_time);
        setStatus(wait.tickets_ahead ? `${wait.tickets_ahead} ahead of you, about ${minutes} min.` : "An agent will answer you shortly.");
      } catch (err) {
        if (err.code === "conflict") forgetTicket("This conversation was closed. Send a message to start a new one.");
      }
    }

    async function send(text) {
      if (!ticketId) {
        const ticket = await call("create_ticket", { user_id: visitorId, product: config.product });
        ticketId = ticket._id;
        remember(keys.ticket, ticketId);
      }
      try {
        show(await call("ticket_message_event", {
          ticket_id: ticketId, product: config.product, message_data: text, user_id: visitorId,
        }));
      } catch (err) {
        if (err.code !== "conflict") throw err;
        forgetTicket("This conversation was closed. Send a message to start a new one.");
        return send(text);
      }
      await showWaitingTime();
    }

    async function connect() {
      if (socket) return;
      if (!window.io) await loadScript(config.socketIoSrc || SOCKET_IO_CDN);
      socket = window.io(config.server, { transports: ["websocket", "polling"] });
      socket.on("ticket_message_response", (response) => {
        if (response.operation === "send_message" && response.status === "success" && response.data.ticket_id === ticketId) {
          show(response.data);
        }
      });
      socket.on("connect", () => { resume(); }); // also after every reconnect: rooms are per connection
      socket.on("connect_error", () => setStatus("Connecting…"));
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

    return { open, close, element: ui.host, visitorId, get ticketId() { return ticketId; } };
  }

  function configFromScript(tag) {
    if (!tag || !tag.dataset.workspaceId) return null;
    return {
      workspaceId: tag.dataset.workspaceId,
      apiKey: tag.dataset.apiKey,
      product: tag.dataset.product || "support",
      title: tag.dataset.title,
      server: tag.dataset.server || new URL(tag.src, location.href).origin,
      socketIoSrc: tag.dataset.socketioSrc,
    };
  }

  const api = {
    /** Start the widget with {workspaceId, apiKey, product, server, title?, socketIoSrc?}; return it. */
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
