/*
 * Deskline support widget: a chat bubble a product site drops in with one tag.
 *
 *   <script src="https://desk.example.com/widget.js" async
 *           data-widget-token="wt_..." data-workspace-id="..." data-product="shop"></script>
 *
 * The widget token is public: it can only open a conversation. Never put the workspace's API key in a page.
 * Optional attributes: data-identifier + data-identifier-hash (the visitor's id signed by the site's back end,
 * for the same history on every device), data-server (default: where this script came from), data-title,
 * data-sound="on" (a short tone for a reply while the panel is closed), data-socketio-src (another
 * socket.io-client bundle; by default the pinned one Deskline serves itself), data-strings='{"send": "Envoyer"}'
 * and data-string-<name>="..." (any text of STRINGS below). By hand:
 * `DesklineWidget.start({widgetToken, workspaceId, product, server, title, sound, strings})`.
 *
 * What it does: the first message opens a ticket (`widget_open`); messages go out with `widget_send` and a
 * client id, so a message typed while offline waits in a queue (kept in localStorage, shown as pending) and is
 * sent once on reconnect; replies arrive live (`widget_message`, with the agent's name) and after a reconnect
 * the conversation is caught up from `widget_messages` without duplicates (by message id). Typing shows both
 * ways (`widget_typing`, `widget_agent_typing`), read receipts both ways (`widget_mark_read`, `widget_read`),
 * the wait estimate follows the line (`widget_wait_changed`), a closed conversation says so and asks for a
 * rating (`widget_rate`), files are uploaded to /api/attachments with the widget headers, and with no agent
 * online (`widget_status`) the visitor leaves an email instead. Keyboard: Tab stays in the open panel, Esc
 * closes it and focus goes back to the bubble.
 */
(function () {
  "use strict";

  // The server fills this in with the versioned path of the socket.io-client bundle it serves itself.
  const SOCKET_IO_PATH = "__DESKLINE_SOCKET_IO_PATH__";
  const ACK_MS = 10000;
  const TYPING_IDLE_MS = 2500;
  const AGENT_TYPING_MS = 10000;
  const RETRY_MS = 2000;
  const STATUS_RECHECK_MS = 15000; // while the offline form shows: is an agent online again?
  const script = document.currentScript;

  /** Every text the visitor sees; override any of them with data-strings / data-string-* or start({strings}). */
  const STRINGS = {
    bubble: "Support",
    title: "Support",
    close: "Close the chat",
    log: "Conversation",
    inputLabel: "Your message",
    placeholder: "Type your message…",
    send: "Send",
    attach: "Attach a file",
    connecting: "Connecting…",
    reconnecting: "Reconnecting… what you send now is kept and sent when the connection is back.",
    welcome: "Ask us anything: your first message opens a ticket.",
    shortly: "An agent will answer you shortly.",
    waiting: "{ahead} ahead of you, about {minutes} min.",
    unavailable: "The support chat can't be reached right now. Your messages are kept; try again later.",
    retry: "Try again",
    refused: "The support chat is not available here ({code}).",
    reconfigured: "The support chat was reconfigured: reload the page.",
    notSent: "Not sent: {error}",
    loadFailed: "The conversation could not be loaded: {error}",
    pending: "Sending…",
    sent: "Sent",
    read: "Read",
    failed: "Not sent",
    you: "You",
    agent: "Support",
    said: "{name} said:",
    typing: "{name} is typing…",
    closed: "This conversation was closed.",
    newConversation: "New conversation",
    startAgain: "Send a message to start a new conversation.",
    rateQuestion: "How was this conversation?",
    rateStar: "{score} out of 5",
    rateComment: "Comment (optional)",
    rateSend: "Send rating",
    rateThanks: "Thank you for your rating!",
    offlineTitle: "We're offline right now. Leave your email and we'll answer you there.",
    emailLabel: "Your email",
    offlineSend: "Leave message",
    offlineThanks: "Thanks! We'll answer you at {email}.",
    tooLarge: "This file is too large (at most {limit}).",
    badType: "This type of file can't be sent.",
    uploadFailed: "The file could not be sent: {error}",
    needConnection: "Files can be sent once the connection is back.",
    attachment: "Attachment",
    unreadTitle: "({count}) {title}",
    unread: "{count} unread",
  };

  const STYLE = `
    :host { all: initial; --dl-color: #2557d6; font: 14px/1.4 system-ui, sans-serif; color: #1f2328; }
    * { box-sizing: border-box; }
    .sr { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
    button, input, textarea { font: inherit; }
    :focus-visible { outline: 3px solid #1f2328; outline-offset: 2px; }
    header :focus-visible, .bubble:focus-visible { outline-color: #ffbf47; }
    .bubble { position: fixed; right: 20px; bottom: 20px; z-index: 2147483000; border: 0; border-radius: 24px;
      padding: 12px 18px; background: var(--dl-color); color: #fff; cursor: pointer;
      box-shadow: 0 4px 14px rgba(0,0,0,.25); }
    .badge { display: inline-block; min-width: 20px; margin-left: 8px; padding: 0 6px; border-radius: 10px;
      background: #fff; color: #a40e26; font-weight: 700; text-align: center; }
    .badge[hidden] { display: none; }
    .panel { position: fixed; right: 20px; bottom: 76px; z-index: 2147483001; width: 340px;
      max-width: calc(100vw - 40px); height: min(520px, calc(100vh - 96px)); display: flex; flex-direction: column;
      background: #fff; border-radius: 12px; overflow: hidden; box-shadow: 0 8px 28px rgba(0,0,0,.3); }
    .panel[hidden] { display: none; }
    header { display: flex; justify-content: space-between; align-items: center; gap: 8px; padding: 10px 14px;
      background: var(--dl-color); color: #fff; }
    header h2 { margin: 0; font-size: 15px; font-weight: 600; }
    header button { border: 0; background: none; color: #fff; font-size: 22px; line-height: 1; cursor: pointer;
      min-width: 32px; min-height: 32px; }
    .status { padding: 6px 14px; font-size: 12px; color: #57606a; background: #f6f8fa; }
    .status.error { color: #a40e26; background: #fff1f0; }
    .status button { margin-left: 6px; border: 1px solid #a40e26; border-radius: 6px; background: #fff;
      color: #a40e26; cursor: pointer; }
    .messages { flex: 1; overflow-y: auto; padding: 10px 14px; display: flex; flex-direction: column; gap: 6px; }
    .message { max-width: 85%; padding: 6px 10px; border-radius: 10px; word-wrap: break-word; }
    .message .body { white-space: pre-wrap; }
    .message.mine { align-self: flex-end; background: var(--dl-color); color: #fff; }
    .message.theirs { align-self: flex-start; background: #eaeef2; }
    .message .who { display: block; font-size: 12px; font-weight: 600; color: #424a53; }
    .message .meta { display: block; font-size: 11px; text-align: right; }
    .message.pending { border: 1px dashed #1f2328; }
    .message.failed { outline: 2px solid #a40e26; }
    .message img { display: block; max-width: 100%; max-height: 160px; margin-top: 4px; border-radius: 6px; }
    .message .file { margin-top: 4px; border: 1px solid currentColor; border-radius: 6px; background: none;
      color: inherit; cursor: pointer; }
    .separator { align-self: stretch; text-align: center; font-size: 12px; color: #57606a;
      border-top: 1px solid #d0d7de; padding-top: 4px; margin-top: 4px; }
    .typing { min-height: 18px; padding: 0 14px; font-size: 12px; color: #57606a; font-style: italic; }
    form { display: flex; gap: 6px; padding: 10px; border-top: 1px solid #d0d7de; }
    form[hidden] { display: none; }
    form.offline, form.rate { flex-direction: column; }
    input[type=text], input[type=email], textarea { flex: 1; min-width: 0; padding: 8px; border: 1px solid #6e7781;
      border-radius: 8px; }
    textarea { resize: vertical; min-height: 48px; }
    form button, .attach { padding: 8px 12px; border: 0; border-radius: 8px; background: var(--dl-color);
      color: #fff; cursor: pointer; }
    .attach { display: inline-flex; align-items: center; }
    .attach input { position: absolute; opacity: 0; width: 1px; height: 1px; }
    .attach:focus-within { outline: 3px solid #1f2328; outline-offset: 2px; }
    button:disabled, input:disabled { opacity: .6; cursor: not-allowed; }
    fieldset { border: 0; padding: 0; margin: 0; display: flex; gap: 4px; flex-wrap: wrap; align-items: center; }
    legend { padding: 0 0 4px; font-weight: 600; }
    .stars label { cursor: pointer; padding: 2px 6px; border: 1px solid #6e7781; border-radius: 6px; }
    .stars input:checked + span { font-weight: 700; }
    @media (max-width: 480px) {
      .panel { inset: 0; width: auto; max-width: none; height: auto; border-radius: 0; }
      :host(.open) .bubble { display: none; }
    }
    @media (max-height: 500px) {
      .panel { top: 0; bottom: 0; height: auto; }
      :host(.open) .bubble { display: none; }
    }
  `;

  function format(text, values) {
    return String(text).replace(/\{(\w+)\}/g, (_, key) => (values && key in values ? values[key] : `{${key}}`));
  }

  function loadScript(src) {
    return new Promise((resolve, reject) => {
      const tag = document.createElement("script");
      tag.src = src;
      tag.onload = resolve;
      tag.onerror = () => {
        tag.remove();
        reject(Object.assign(new Error("unavailable"), { code: "unavailable" }));
      };
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

  function newClientId() {
    const bytes = new Uint8Array(12);
    crypto.getRandomValues(bytes);
    return "c" + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  function clock(when) {
    const date = when ? new Date(when) : new Date();
    return date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  }

  function bytesText(n) {
    return n >= 1048576 ? `${Math.round(n / 104857.6) / 10} MB` : `${Math.ceil(n / 1024)} KB`;
  }

  /** Build the widget's DOM in a shadow root so the host page's styles cannot reach it. */
  function render(t) {
    const host = document.createElement("div");
    host.id = "deskline-widget";
    const root = host.attachShadow({ mode: "open" });
    root.innerHTML = `<style>${STYLE}</style>
      <button class="bubble" type="button" aria-haspopup="dialog" aria-expanded="false" aria-controls="dl-panel">
        <span class="bubble-label"></span><span class="badge" hidden aria-hidden="true"></span><span class="sr unread"></span></button>
      <section class="panel" id="dl-panel" role="dialog" aria-modal="true" aria-labelledby="dl-title" hidden>
        <header><h2 class="title" id="dl-title"></h2>
          <button class="close" type="button"><span aria-hidden="true">×</span></button></header>
        <div class="status" role="status"></div>
        <div class="messages" role="log" aria-live="polite" aria-relevant="additions" tabindex="0"></div>
        <div class="typing" aria-live="polite"></div>
        <form class="rate" hidden><fieldset class="stars"><legend></legend></fieldset>
          <label><span class="rate-comment"></span><textarea name="comment" maxlength="1000"></textarea></label>
          <button type="submit"></button></form>
        <form class="offline" hidden><p class="offline-title"></p>
          <label><span class="email-label"></span><input type="email" name="email" required autocomplete="email"></label>
          <label><span class="offline-message"></span><textarea name="text" required maxlength="4000"></textarea></label>
          <button type="submit"></button></form>
        <form class="compose"><label class="sr" for="dl-input"></label>
          <input id="dl-input" type="text" name="text" autocomplete="off" maxlength="4000">
          <label class="attach"><svg aria-hidden="true" width="16" height="16" viewBox="0 0 24 24" fill="none"
            stroke="currentColor" stroke-width="2.2" stroke-linecap="round"><path d="M21 11.5l-8.5 8.5a5 5 0 0 1-7-7l9-9a3.3 3.3 0 0 1 4.7 4.7l-9 9a1.7 1.7 0 0 1-2.4-2.4l8.3-8.3"/></svg><span class="sr attach-label"></span>
            <input type="file" class="file"></label>
          <button type="submit" class="send"></button></form>
      </section>`;
    const $ = (selector) => root.querySelector(selector);
    $(".bubble-label").textContent = t.bubble;
    $(".close").setAttribute("aria-label", t.close);
    $(".messages").setAttribute("aria-label", t.log);
    $("label[for=dl-input]").textContent = t.inputLabel;
    $("#dl-input").placeholder = t.placeholder;
    $(".attach-label").textContent = t.attach;
    $(".send").textContent = t.send;
    $(".stars legend").textContent = t.rateQuestion;
    for (let score = 1; score <= 5; score += 1) {
      const label = document.createElement("label");
      label.innerHTML = `<input class="sr" type="radio" name="score" required><span aria-hidden="true"></span><span class="sr"></span>`;
      label.querySelector("input").value = String(score);
      label.querySelector("span[aria-hidden]").textContent = "★".repeat(score);
      label.querySelector("span.sr").textContent = format(t.rateStar, { score });
      $(".stars").appendChild(label);
    }
    $(".rate-comment").textContent = t.rateComment;
    $(".rate button").textContent = t.rateSend;
    $(".offline-title").textContent = t.offlineTitle;
    $(".email-label").textContent = t.emailLabel;
    $(".offline-message").textContent = t.inputLabel;
    $(".offline button").textContent = t.offlineSend;
    document.body.appendChild(host);
    return {
      host,
      root,
      bubble: $(".bubble"),
      badge: $(".badge"),
      unread: $(".unread"),
      panel: $(".panel"),
      title: $(".title"),
      close: $(".close"),
      status: $(".status"),
      messages: $(".messages"),
      typing: $(".typing"),
      rate: $(".rate"),
      offline: $(".offline"),
      form: $(".compose"),
      input: $("#dl-input"),
      file: $(".file"),
      send: $(".send"),
    };
  }

  function createWidget(config) {
    const t = Object.assign({}, STRINGS, config.strings || {});
    const scope = `deskline:${config.workspaceId || config.widgetToken}`;
    const keys = { secret: `${scope}:visitor-secret`, ticket: `${scope}:${config.product}:ticket`, outbox: `${scope}:${config.product}:outbox` };
    const ui = render(t);
    const shown = new Set(); // ids of the messages on screen: a catch-up never shows one twice
    const lines = new Map(); // client id -> pending line
    let outbox = JSON.parse(stored(keys.outbox) || "[]"); // [{clientId, text, attachments}]
    let ticketId = stored(keys.ticket);
    let visitorId = null;
    let socket = null;
    let agentsOnline = true;
    let unread = 0;
    let flushing = false;
    let typingSent = false;
    let typingTimer = null;
    let agentTypingTimer = null;
    let lastMarked = null;
    let ratingTicket = null;
    let failedToLoad = false;
    let leftEmail = false;
    let hadConversation = false; // a later conversation starts below a separator
    let recheckTimer = null;
    const pageTitle = document.title;
    ui.title.textContent = config.title || t.title;

    function setStatus(text, error) {
      ui.status.textContent = text;
      ui.status.classList.toggle("error", Boolean(error));
    }

    function unavailable() {
      failedToLoad = true;
      setStatus(t.unavailable, true);
      const retry = document.createElement("button");
      retry.type = "button";
      retry.textContent = t.retry;
      retry.addEventListener("click", () => { failedToLoad = false; setStatus(t.connecting); connect(); });
      ui.status.appendChild(retry);
    }

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

    function httpHeaders() {
      const auth = credentials();
      const headers = { "X-Widget-Token": auth.widget_token };
      if (auth.identifier) Object.assign(headers, { "X-Identifier": auth.identifier, "X-Identifier-Hash": auth.identifier_hash });
      else if (auth.visitor_secret) headers["X-Visitor-Secret"] = auth.visitor_secret;
      return headers;
    }

    function saveOutbox() {
      remember(keys.outbox, outbox.length ? JSON.stringify(outbox) : null);
    }

    function scrollDown() {
      ui.messages.scrollTop = ui.messages.scrollHeight;
    }

    function separator(text, before) {
      const line = document.createElement("div");
      line.className = "separator";
      line.setAttribute("role", "separator");
      line.textContent = text;
      ui.messages.insertBefore(line, before || null); // before the pending messages that start a conversation
      scrollDown();
    }

    /** Draw one message: who wrote it (spoken for screen readers, shown for agents), the text, time, state. */
    function line(mine, text, author, when) {
      const item = document.createElement("div");
      item.className = `message ${mine ? "mine" : "theirs"}`;
      const who = document.createElement("span");
      who.className = mine ? "sr" : "who";
      who.textContent = mine ? format(t.said, { name: t.you }) : author;
      const body = document.createElement("div");
      body.className = "body";
      body.textContent = text;
      const meta = document.createElement("span");
      meta.className = "meta";
      const time = document.createElement("time");
      if (when) time.dateTime = new Date(when).toISOString();
      time.textContent = clock(when);
      const state = document.createElement("span");
      state.className = "state";
      meta.append(time, " ", state);
      item.append(who, body, meta);
      ui.messages.appendChild(item);
      scrollDown();
      return item;
    }

    function setState(item, state) {
      item.classList.toggle("pending", state === "pending");
      item.classList.toggle("failed", state === "failed");
      item.dataset.state = state;
      item.querySelector(".state").textContent = t[state] || "";
    }

    function attachmentButtons(item, ids) {
      (ids || []).forEach((id) => {
        const button = document.createElement("button");
        button.type = "button";
        button.className = "file";
        button.textContent = t.attachment;
        button.addEventListener("click", () => download(id));
        item.insertBefore(button, item.querySelector(".meta"));
      });
    }

    async function download(id) {
      const resp = await fetch(new URL(`/api/attachments/${encodeURIComponent(id)}`, config.server), { headers: httpHeaders() });
      if (!resp.ok) return;
      const link = document.createElement("a");
      link.href = URL.createObjectURL(await resp.blob());
      link.download = "";
      link.click();
    }

    function show(message) {
      if (!message || shown.has(message._id)) return false;
      shown.add(message._id);
      const mine = message.author === visitorId;
      const item = line(mine, message.message_data, message.author_name || t.agent, message.created_at);
      item.dataset.id = message._id;
      attachmentButtons(item, message.attachments);
      if (mine) setState(item, "sent");
      return true;
    }

    function arrived(message) {
      if (!show(message) || message.author === visitorId) return;
      agentTyping(null, false);
      if (isOpen() && document.visibilityState !== "hidden") markRead();
      else notify();
    }

    function notify() {
      unread += 1;
      ui.badge.hidden = false;
      ui.badge.textContent = String(unread);
      ui.unread.textContent = format(t.unread, { count: unread });
      document.title = format(t.unreadTitle, { count: unread, title: pageTitle });
      if (config.sound) beep();
    }

    function beep() {
      try {
        const audio = new (window.AudioContext || window.webkitAudioContext)();
        const tone = audio.createOscillator();
        const gain = audio.createGain();
        gain.gain.value = 0.05;
        tone.frequency.value = 880;
        tone.connect(gain).connect(audio.destination);
        tone.start();
        tone.stop(audio.currentTime + 0.15);
      } catch (_) {
        /* no audio here */
      }
    }

    function clearUnread() {
      unread = 0;
      ui.badge.hidden = true;
      ui.unread.textContent = "";
      document.title = pageTitle;
    }

    /** Tell the agents how far the visitor has read (the newest agent message on screen). */
    function markRead() {
      const theirs = ui.messages.querySelectorAll(".message.theirs[data-id]");
      const last = theirs[theirs.length - 1];
      if (!last || !ticketId || !connected() || last.dataset.id === lastMarked) return;
      lastMarked = last.dataset.id;
      socket.emit("widget_mark_read", { ticket_id: ticketId, message_id: lastMarked }, () => {});
    }

    function receipt(read) {
      if (read.ticket_id !== ticketId) return;
      const all = [...ui.messages.querySelectorAll(".message")];
      const upTo = all.findIndex((m) => m.dataset.id === read.message_id);
      all.slice(0, upTo + 1).forEach((m) => {
        if (m.classList.contains("mine") && m.dataset.state === "sent") setState(m, "read");
      });
    }

    function agentTyping(name, typing) {
      clearTimeout(agentTypingTimer);
      ui.typing.textContent = typing ? format(t.typing, { name: name || t.agent }) : "";
      if (typing) agentTypingTimer = setTimeout(() => { ui.typing.textContent = ""; }, AGENT_TYPING_MS);
    }

    function visitorTyping() {
      if (!ticketId || !connected()) return;
      if (!typingSent) {
        typingSent = true;
        socket.emit("widget_typing", { ticket_id: ticketId, typing: true }, () => {});
      }
      clearTimeout(typingTimer);
      typingTimer = setTimeout(stopTyping, TYPING_IDLE_MS);
    }

    function stopTyping() {
      clearTimeout(typingTimer);
      if (typingSent && ticketId && connected()) socket.emit("widget_typing", { ticket_id: ticketId, typing: false }, () => {});
      typingSent = false;
    }

    function connected() {
      return Boolean(socket && socket.connected);
    }

    async function call(event, payload) {
      const ack = await socket.timeout(ACK_MS).emitWithAck(event, payload || {});
      if (!ack.ok) throw Object.assign(new Error(ack.error.message), { code: ack.error.code, details: ack.error.details });
      return ack.data;
    }

    function forgetTicket(note) {
      hadConversation = hadConversation || Boolean(ticketId);
      ticketId = null;
      lastMarked = null;
      remember(keys.ticket, null);
      if (note) setStatus(note);
    }

    function waitText(wait) {
      return wait.tickets_ahead ? format(t.waiting, { ahead: wait.tickets_ahead, minutes: Math.ceil(wait.waiting_time) }) : t.shortly;
    }

    async function showWaitingTime() {
      try {
        setStatus(waitText(await call("widget_waiting_time", { ticket_id: ticketId })));
      } catch (err) {
        if (err.code === "conflict" || err.code === "not_found") closedHere(ticketId);
      }
    }

    function closedHere(id) {
      if (!id || id !== ticketId) return;
      separator(t.closed);
      forgetTicket(t.startAgain);
      askRating(id);
    }

    function askRating(id) {
      ratingTicket = id;
      ui.rate.reset();
      ui.rate.hidden = false;
    }

    /** Open a ticket for the next message (a separator marks where the new conversation starts). */
    async function ensureTicket(email) {
      if (ticketId) return ticketId;
      const opened = await call("widget_open", email ? { product: config.product, email } : { product: config.product });
      if (opened.visitor_secret) remember(keys.secret, opened.visitor_secret); // shown once: keep it
      visitorId = opened.visitor_id;
      if (hadConversation) separator(t.newConversation, lines.values().next().value);
      ticketId = opened.ticket._id;
      remember(keys.ticket, ticketId);
      return ticketId;
    }

    /** Queue a message (shown pending at once) and send the queue if we are connected. */
    function queue(text, attachments, preview) {
      const entry = { clientId: newClientId(), text, attachments: attachments || [] };
      outbox.push(entry);
      saveOutbox();
      pendingLine(entry, preview);
      flush();
    }

    function pendingLine(entry, preview) {
      const item = line(true, entry.text, t.you, null);
      if (preview) {
        const image = document.createElement("img");
        image.src = preview;
        image.alt = entry.text;
        item.insertBefore(image, item.querySelector(".meta"));
      }
      attachmentButtons(item, entry.attachments); // as the history shows it after a reload
      setState(item, "pending");
      lines.set(entry.clientId, item);
    }

    /** Send the queued messages in order, each once: a resend carries the same client id. */
    async function flush() {
      if (flushing || !connected()) return;
      flushing = true;
      try {
        while (outbox.length && connected()) {
          const entry = outbox[0];
          let message;
          try {
            await ensureTicket();
            message = await call("widget_send", { ticket_id: ticketId, message_data: entry.text, attachments: entry.attachments, client_id: entry.clientId });
          } catch (err) {
            if (err.code === "conflict" && /closed/i.test(err.message)) { closedHere(ticketId); continue; }
            if (err.code === "not_found" && /ticket/i.test(err.message)) { forgetTicket(); continue; }
            if (!err.code || err.code === "conflict" || err.code === "rate_limited" || err.code === "internal") break; // offline or busy: later
            outbox.shift(); // refused for good (e.g. invalid): say so, keep the text on screen
            saveOutbox();
            setState(lines.get(entry.clientId), "failed");
            setStatus(format(t.notSent, { error: err.message }), true);
            continue;
          }
          outbox.shift();
          saveOutbox();
          const item = lines.get(entry.clientId);
          lines.delete(entry.clientId);
          if (shown.has(message._id)) item.remove(); // caught up already from the history: never twice
          else {
            shown.add(message._id);
            item.dataset.id = message._id;
            setState(item, "sent");
          }
        }
      } finally {
        flushing = false;
      }
      if (outbox.length && connected()) setTimeout(flush, RETRY_MS); // busy or a lost ack: try again soon
      else if (ticketId && !outbox.length && !leftEmail) await showWaitingTime();
    }

    /** Find this visitor's open conversation again and show what was said while we were away. */
    async function resume() {
      try {
        const status = await call("widget_status");
        agentsOnline = status.agents_online;
        ui.host.style.setProperty("--dl-color", status.appearance.color);
        if (!config.title && status.appearance.title) ui.title.textContent = status.appearance.title;
        const tickets = await call("widget_conversations");
        const open = tickets.filter((x) => !x.is_closed && x.product === config.product);
        const ticket = open.find((x) => x._id === ticketId) || open[open.length - 1];
        if (tickets.length) visitorId = tickets[0].user_id;
        if (!ticket) {
          if (ticketId) closedHere(ticketId);
          else setStatus(t.welcome);
          offlineForm(!agentsOnline && !outbox.length);
          return;
        }
        offlineForm(false);
        ticketId = ticket._id;
        remember(keys.ticket, ticketId);
        (await call("widget_messages", { ticket_id: ticketId })).forEach(show);
        if (isOpen()) markRead();
        await showWaitingTime();
      } catch (err) {
        setStatus(format(t.loadFailed, { error: err.message }), true);
      }
    }

    function offlineForm(on) {
      ui.offline.hidden = !on;
      ui.form.hidden = on;
      clearTimeout(recheckTimer);
      if (on) recheckTimer = setTimeout(recheckAgents, STATUS_RECHECK_MS);
    }

    /** While the offline form shows, ask now and then whether an agent came online; if so, back to the chat. */
    async function recheckAgents() {
      if (ui.offline.hidden) return;
      try {
        if (connected()) agentsOnline = (await call("widget_status")).agents_online;
      } catch (_) {
        /* asked again later */
      }
      if (ui.offline.hidden) return; // left a message meanwhile
      if (!agentsOnline) {
        recheckTimer = setTimeout(recheckAgents, STATUS_RECHECK_MS);
        return;
      }
      const typed = ui.offline.elements.text.value.trim();
      const focused = ui.offline.contains(ui.root.activeElement);
      offlineForm(false);
      if (typed && !ui.input.value) ui.input.value = typed; // what the visitor wrote is kept for the chat
      setStatus(t.welcome);
      if (focused) ui.input.focus();
    }

    async function connect() {
      if (socket) return;
      try {
        if (!window.io) await loadScript(config.socketIoSrc || new URL(SOCKET_IO_PATH, config.server).href);
      } catch (_) {
        unavailable();
        return;
      }
      socket = window.io(config.server, { transports: ["websocket", "polling"], auth: (cb) => cb(credentials()) });
      socket.on("widget_message", (message) => { if (message.ticket_id === ticketId) arrived(message); });
      socket.on("widget_ticket_closed", (closed) => closedHere(closed.ticket_id));
      socket.on("widget_agent_typing", (typing) => { if (typing.ticket_id === ticketId) agentTyping(typing.name, typing.typing); });
      socket.on("widget_read", receipt);
      socket.on("widget_wait_changed", (wait) => { if (wait.ticket_id === ticketId) setStatus(waitText(wait)); });
      socket.on("widget_token_revoked", () => {
        socket.disconnect();
        setStatus(t.reconfigured, true);
      });
      socket.on("connect", async () => { // also after every reconnect: catch up, then send what waited
        await resume();
        await flush();
      });
      socket.on("connect_error", (err) => { // socket.io keeps trying by itself
        setStatus(err.data && err.data.code ? format(t.refused, { code: err.data.code }) : t.unavailable, true);
      });
      socket.on("disconnect", () => setStatus(t.reconnecting));
      setStatus(t.connecting);
    }

    async function upload(file) {
      if (!connected()) return setStatus(t.needConnection, true);
      try {
        await ensureTicket(); // the visitor (and its secret) exists from the first ticket on
        const form = new FormData();
        form.append("file", file, file.name);
        const resp = await fetch(new URL("/api/attachments", config.server), { method: "POST", headers: httpHeaders(), body: form });
        const body = await resp.json().catch(() => ({}));
        if (!resp.ok) {
          const error = body.error || {};
          if (error.code === "payload_too_large") return setStatus(format(t.tooLarge, { limit: bytesText((error.details || {}).limit || 0) }), true);
          if (resp.status === 415) return setStatus(t.badType, true);
          return setStatus(format(t.uploadFailed, { error: error.message || resp.status }), true);
        }
        queue(file.name, [body.id], file.type.startsWith("image/") ? URL.createObjectURL(file) : null);
      } catch (err) {
        setStatus(format(t.uploadFailed, { error: err.message }), true);
      }
    }

    function isOpen() {
      return !ui.panel.hidden;
    }

    function focusables() {
      return [...ui.panel.querySelectorAll("button, input, textarea, [tabindex='0']")].filter(
        (el) => !el.disabled && el.offsetParent !== null && !el.closest("[hidden]"),
      );
    }

    function open() {
      ui.panel.hidden = false;
      ui.host.classList.add("open");
      ui.bubble.setAttribute("aria-expanded", "true");
      clearUnread();
      (ui.offline.hidden ? ui.input : ui.offline.querySelector("input")).focus();
      markRead();
      if (!failedToLoad) connect();
    }

    function close() {
      stopTyping();
      ui.panel.hidden = true;
      ui.host.classList.remove("open");
      ui.bubble.setAttribute("aria-expanded", "false");
      ui.bubble.focus();
    }

    ui.bubble.addEventListener("click", () => (isOpen() ? close() : open()));
    ui.close.addEventListener("click", close);
    ui.panel.addEventListener("keydown", (event) => {
      if (event.key === "Escape") {
        event.preventDefault();
        close();
      } else if (event.key === "Tab") { // keep focus in the open panel
        const all = focusables();
        const first = all[0];
        const last = all[all.length - 1];
        const here = ui.root.activeElement;
        if (event.shiftKey && (here === first || !all.includes(here))) {
          event.preventDefault();
          last.focus();
        } else if (!event.shiftKey && (here === last || !all.includes(here))) {
          event.preventDefault();
          first.focus();
        }
      }
    });
    ui.input.addEventListener("input", () => (ui.input.value ? visitorTyping() : stopTyping()));
    ui.form.addEventListener("submit", (event) => {
      event.preventDefault();
      const text = ui.input.value.trim();
      if (!text) return;
      ui.input.value = "";
      stopTyping();
      queue(text);
    });
    ui.file.addEventListener("change", () => {
      const file = ui.file.files[0];
      ui.file.value = "";
      if (file) upload(file);
    });
    ui.offline.addEventListener("submit", async (event) => {
      event.preventDefault();
      const email = ui.offline.elements.email.value.trim();
      const text = ui.offline.elements.text.value.trim();
      if (!email || !text || !connected()) return;
      try {
        await ensureTicket(email);
        leftEmail = true;
        offlineForm(false);
        queue(text);
        setStatus(format(t.offlineThanks, { email }));
        ui.input.focus();
      } catch (err) {
        setStatus(format(t.notSent, { error: err.message }), true);
      }
    });
    ui.rate.addEventListener("submit", async (event) => {
      event.preventDefault();
      const score = Number(ui.rate.elements.score.value);
      if (!score || !ratingTicket || !connected()) return;
      try {
        await call("widget_rate", { ticket_id: ratingTicket, score, comment: ui.rate.elements.comment.value.trim() });
      } catch (err) {
        if (err.code !== "conflict") return setStatus(format(t.notSent, { error: err.message }), true);
      }
      ui.rate.hidden = true;
      ratingTicket = null;
      setStatus(t.rateThanks);
      ui.input.focus();
    });
    document.addEventListener("visibilitychange", () => {
      if (!isOpen() || document.visibilityState !== "visible") return;
      clearUnread(); // replies that came while the tab was hidden are seen now
      markRead();
    });

    outbox.forEach((entry) => pendingLine(entry));
    if (outbox.length) connect(); // messages typed offline on an earlier visit are sent at once

    return {
      open,
      close,
      element: ui.host,
      get visitorId() { return visitorId; },
      get ticketId() { return ticketId; },
      get pending() { return outbox.length; },
    };
  }

  function stringsFromScript(tag) {
    const strings = {};
    try {
      Object.assign(strings, JSON.parse(tag.dataset.strings || "{}"));
    } catch (_) {
      /* not JSON: ignored */
    }
    Object.keys(tag.dataset).forEach((key) => {
      const match = /^string([A-Z]\w*)$/.exec(key);
      if (match) strings[match[1][0].toLowerCase() + match[1].slice(1)] = tag.dataset[key];
    });
    return strings;
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
      sound: tag.dataset.sound === "on",
      strings: stringsFromScript(tag),
      server: tag.dataset.server || new URL(tag.src, location.href).origin,
      socketIoSrc: tag.dataset.socketioSrc,
    };
  }

  const api = {
    /** Start the widget with {widgetToken, workspaceId?, product, server, identifier?, identifierHash?, title?,
     * sound?, strings?}. */
    start(config) {
      if (api.instance) return api.instance;
      const begin = () => { api.instance = createWidget(Object.assign({ product: "support", server: location.origin }, config)); };
      if (document.body) begin();
      else document.addEventListener("DOMContentLoaded", begin);
      return api.instance;
    },
    open: () => api.instance && api.instance.open(),
    close: () => api.instance && api.instance.close(),
    strings: STRINGS,
    instance: null,
  };
  window.DesklineWidget = api;

  const config = configFromScript(script);
  if (config) api.start(config);
})();
