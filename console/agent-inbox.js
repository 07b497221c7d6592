/*
 * Deskline agent console, inbox and conversation: tickets by status with unread counts (live through
 * ticket_updated / ticket_message), one conversation with history, typing, read receipts, attachments,
 * and assign / close / reopen.
 */
(function () {
  "use strict";

  const { $, el, fill } = Desk;
  const ACTIVE = ["open", "pending"];
  const inbox = {
    tickets: new Map(), // id -> ticket
    unread: new Map(), // id -> Set of unread message ids
    joined: new Set(), // ticket ids whose room this socket entered (get_ticket)
    filter: "open",
    current: null, // {ticket, messages: Map id -> message, reads: Map user -> marker, presence}
    workspaces: [], // [{id, name}]
    members: new Map(), // workspace id -> [member] (when the caller may list them)
    names: new Map(), // user id -> display name
  };
  Desk.inbox = inbox;
  Desk.openTicketIds = () => [...inbox.joined];

  const me = () => Desk.state.user && Desk.state.user.id;
  const isStaff = () => Desk.state.user && Desk.state.user.role !== "client";

  function ticketLabel(t) {
    if (t.title) return t.title;
    return `${t.door === "widget" ? "Widget visitor" : "Dowell customer"} · ${t.product || "support"}`;
  }

  function nameOf(userId) {
    if (userId === me()) return "You";
    if (inbox.names.has(userId)) return inbox.names.get(userId);
    if (userId && userId.startsWith("visitor-")) return "Visitor";
    if (inbox.current && inbox.current.ticket.client_id === userId) return "Client";
    return userId || "nobody";
  }

  /** Load every ticket the caller may see (a few pages), replacing the list by id. */
  async function loadTickets() {
    const seen = new Map();
    let cursor = null;
    for (let page = 0; page < 5; page++) {
      const data = await Desk.call("list_tickets", cursor ? { cursor, limit: 100 } : { limit: 100 });
      for (const t of data.tickets) seen.set(t.id, t);
      cursor = data.next_cursor;
      if (!cursor) break;
    }
    inbox.tickets = seen;
    for (const id of [...inbox.unread.keys()]) if (!seen.has(id)) inbox.unread.delete(id);
  }

  /** Enter a ticket's room and count its unread messages (after the caller's read marker, not theirs). */
  async function watch(ticketId) {
    const view = await Desk.call("get_ticket", { ticket_id: ticketId });
    inbox.joined.add(ticketId);
    inbox.tickets.set(ticketId, view.ticket);
    const mine = (view.reads || []).find((r) => r.user_id === me());
    const unread = inbox.unread.get(ticketId) || new Set();
    for (const m of view.messages) {
      if (m.author_id !== me() && (!mine || m.created_at > mine.message_at)) unread.add(m.id);
    }
    inbox.unread.set(ticketId, unread);
    return view;
  }

  /** Subscribe to the caller's workspaces, reload the list and re-enter the active tickets' rooms. */
  async function sync() {
    const user = Desk.state.user;
    if (user.role === "admin") {
      const data = await Desk.call("list_workspaces", { limit: 100 });
      inbox.workspaces = data.workspaces.map((w) => ({ id: w.id, name: w.name }));
    } else if (isStaff()) {
      const mine = await Desk.optional("list_my_workspaces");
      if (mine === undefined) {
        // an older server: the workspaces of the tickets in sight are the best guess
        await loadTickets();
        inbox.workspaces = [...new Set([...inbox.tickets.values()].map((t) => t.workspace_id))].map((id) => ({ id, name: id }));
      } else {
        inbox.workspaces = mine.map((m) => ({ id: m.workspace.id, name: m.workspace.name }));
      }
    }
    for (const w of inbox.workspaces) {
      await Desk.call("subscribe_workspace", { workspace_id: w.id }).catch(() => undefined);
    }
    await loadTickets(); // after subscribing: a ticket created in between is in the list or pushed
    inbox.joined.clear();
    const active = [...inbox.tickets.values()].filter((t) => ACTIVE.includes(t.status)).slice(0, 50);
    await Promise.all(active.map((t) => watch(t.id).catch(() => undefined)));
    render();
    if (inbox.current) await open(inbox.current.ticket.id, true);
  }
  inbox.sync = sync;

  /** Draw the status filters with their counts and the tickets of the chosen status. */
  function render() {
    const all = [...inbox.tickets.values()];
    for (const button of document.querySelectorAll(".filters button")) {
      const status = button.dataset.status;
      const ofStatus = all.filter((t) => t.status === status);
      const unread = ofStatus.reduce((n, t) => n + (inbox.unread.get(t.id)?.size || 0), 0);
      button.querySelector(".count").textContent = `${ofStatus.length}${unread ? ` · ${unread} unread` : ""}`;
      button.setAttribute("aria-pressed", String(status === inbox.filter));
    }
    const shown = all.filter((t) => t.status === inbox.filter).sort((a, b) => (a.updated_at < b.updated_at ? 1 : -1));
    fill($("tickets"), shown.map(ticketItem));
    $("tickets-empty").hidden = shown.length > 0;
  }
  inbox.render = render;

  function ticketItem(t) {
    const unread = inbox.unread.get(t.id)?.size || 0;
    const current = inbox.current && inbox.current.ticket.id === t.id;
    return el(
      "li",
      {},
      el(
        "button",
        {
          type: "button",
          class: "ticket" + (unread ? " has-unread" : ""),
          "aria-current": current ? "true" : null,
          dataset: { ticket: t.id },
          onclick: () => open(t.id),
        },
        el("span", { class: "ticket-title" }, ticketLabel(t)),
        el("span", { class: "ticket-meta" }, `${t.door} · ${t.status} · ${Desk.time(t.updated_at)}`),
        unread ? el("span", { class: "badge", "aria-label": `${unread} unread` }, String(unread)) : null
      )
    );
  }

  /** Open a ticket: its history, read markers, presence; mark it read. */
  async function open(ticketId, quiet) {
    let view;
    try {
      view = await watch(ticketId);
    } catch (err) {
      if (!quiet) Desk.notice(`Cannot open the ticket: ${err.message}`, true);
      if (err.code === "not_found") {
        inbox.tickets.delete(ticketId);
        if (inbox.current && inbox.current.ticket.id === ticketId) close();
        render();
      }
      return;
    }
    const switching = !inbox.current || inbox.current.ticket.id !== ticketId;
    inbox.current = {
      ticket: view.ticket,
      messages: new Map(view.messages.map((m) => [m.id, m])),
      reads: new Map((view.reads || []).map((r) => [r.user_id, r])),
      presence: view.presence || {},
    };
    inbox.unread.delete(ticketId);
    $("conversation").hidden = false;
    drawConversation();
    render();
    await markRead();
    await loadMembers(view.ticket.workspace_id);
    drawActions();
    if (switching && !quiet) $("reply").focus();
  }
  inbox.open = open;

  function close() {
    inbox.current = null;
    $("conversation").hidden = true;
  }

  async function markRead() {
    const c = inbox.current;
    if (!c || document.hidden) return;
    const last = [...c.messages.values()].pop();
    if (!last) return;
    const mine = c.reads.get(me());
    if (mine && mine.message_at >= last.created_at) return;
    try {
      const marker = await Desk.call("mark_read", { ticket_id: c.ticket.id, message_id: last.id });
      c.reads.set(marker.user_id, marker);
    } catch (_) {
      /* a read receipt is best effort */
    }
  }

  async function loadMembers(workspaceId) {
    if (!isStaff() || inbox.members.has(workspaceId)) return;
    try {
      inbox.members.set(workspaceId, await Desk.call("list_workspace_members", { workspace_id: workspaceId }));
    } catch (_) {
      inbox.members.set(workspaceId, null); // agents may not list members: they can take a ticket themselves
    }
  }

  function drawConversation() {
    const c = inbox.current;
    const t = c.ticket;
    $("conv-title").textContent = ticketLabel(t);
    const others = Object.entries(c.presence).map(([id, status]) => `${nameOf(id)}: ${status}`);
    $("conv-meta").textContent =
      `${t.door} ticket · ${t.status} · assignee ${t.assignee_id ? nameOf(t.assignee_id) : "nobody"}` +
      (others.length ? ` · ${others.join(", ")}` : "");
    const seenAt = [...c.reads.values()].filter((r) => r.user_id !== me()).map((r) => r.message_at);
    const lastSeen = seenAt.length ? seenAt.sort().pop() : null;
    const items = [...c.messages.values()].map((m) => {
      const mine = m.author_id === me();
      return el(
        "li",
        { class: `message ${mine ? "mine" : "theirs"}`, dataset: { message: m.id } },
        el("span", { class: "author" }, `${nameOf(m.author_id)} (${m.author_role}) · ${Desk.time(m.created_at)}`),
        el("p", { class: "body" }, m.body),
        (m.attachments || []).map((id, i) =>
          el("button", { type: "button", class: "attachment", onclick: () => saveAttachment(id) }, `Attachment ${i + 1}`)
        ),
        mine && lastSeen && lastSeen >= m.created_at ? el("span", { class: "seen" }, "Seen") : null
      );
    });
    const opening = t.body ? el("li", { class: "message theirs opening" }, el("span", { class: "author" },
      `${nameOf(t.client_id)} opened this ticket · ${Desk.time(t.created_at)}`), el("p", { class: "body" }, t.body)) : null;
    fill($("messages"), opening, items);
    $("messages").scrollTop = $("messages").scrollHeight;
    drawActions();
  }

  function drawActions() {
    const c = inbox.current;
    if (!c) return;
    const t = c.ticket;
    const signedInDoor = t.door === "signed_in";
    const staff = isStaff();
    $("conv-close").hidden = t.status === "closed";
    $("conv-reopen").hidden = !staff || !(t.status === "resolved" || (!signedInDoor && t.status === "closed"));
    $("conv-resolve").hidden = !staff || !signedInDoor || !ACTIVE.includes(t.status);
    const assignable = staff && signedInDoor && t.status !== "closed";
    for (const id of ["conv-assignee", "conv-assign"]) $(id).hidden = !assignable;
    $("conv-assignee").previousElementSibling.hidden = !assignable;
    if (assignable) {
      const members = inbox.members.get(t.workspace_id);
      const choices = members ? members.map((m) => m.user_id) : [me()];
      fill(
        $("conv-assignee"),
        choices.map((id) => el("option", { value: id, selected: id === t.assignee_id }, nameOf(id)))
      );
    }
    const closed = t.status === "closed";
    $("reply").disabled = closed;
    $("reply-file").disabled = closed || !signedInDoor; // widget and Dowell attachments are sent at their own door
    $("reply-file-label").textContent = signedInDoor ? "Attach a file" : "Attach a file (signed-in tickets only)";
  }

  async function saveAttachment(id) {
    try {
      const url = await Desk.download(id);
      const link = el("a", { href: url, download: `attachment-${id}` });
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(url), 60000);
    } catch (err) {
      Desk.notice(err.message, true);
    }
  }

  async function act(fn, done) {
    try {
      const ticket = await fn();
      if (ticket && ticket.id) {
        inbox.tickets.set(ticket.id, ticket);
        if (inbox.current && inbox.current.ticket.id === ticket.id) inbox.current.ticket = ticket;
        drawConversation();
        render();
      }
      Desk.notice(done);
    } catch (err) {
      Desk.notice(err.message, true);
    }
  }

  const setStatus = (status, done) =>
    act(() => Desk.call("set_ticket_status", { ticket_id: inbox.current.ticket.id, status }), done);

  let typingSent = false;
  let typingTimer = null;
  function typing(on) {
    const c = inbox.current;
    if (!c || typingSent === on) return;
    typingSent = on;
    Desk.call("typing", { ticket_id: c.ticket.id, typing: on }).catch(() => undefined);
  }

  async function send(event) {
    event.preventDefault();
    const c = inbox.current;
    const text = $("reply").value.trim();
    const file = $("reply-file").files[0];
    if (!c || (!text && !file)) return;
    try {
      const payload = { ticket_id: c.ticket.id, body: text || (file ? file.name : "") };
      if (file) payload.attachments = [await Desk.upload(file)];
      const message = await Desk.call("send_ticket_message", payload);
      c.messages.set(message.id, message);
      $("reply").value = "";
      $("reply-file").value = "";
      clearTimeout(typingTimer);
      typing(false);
      drawConversation();
      Desk.notice("Sent.");
    } catch (err) {
      Desk.notice(`Not sent: ${err.message}`, true);
    }
  }

  const typingClear = {};
  function showTyping(p) {
    if (!inbox.current || p.ticket_id !== inbox.current.ticket.id || p.user_id === me()) return;
    const line = $("typing");
    clearTimeout(typingClear.timer);
    if (p.name && inbox.names.get(p.user_id) !== p.name) {
      inbox.names.set(p.user_id, p.name);
      drawConversation();
    }
    line.textContent = p.typing ? `${p.name || "Someone"} is typing…` : "";
    if (p.typing) typingClear.timer = setTimeout(() => (line.textContent = ""), 8000);
  }

  function onMessage(p) {
    const m = p.message;
    if (inbox.current && inbox.current.ticket.id === p.ticket_id) {
      inbox.current.messages.set(m.id, m);
      if (m.author_id !== me()) $("typing").textContent = "";
      drawConversation();
      markRead();
    } else if (m.author_id !== me()) {
      const unread = inbox.unread.get(p.ticket_id) || new Set();
      unread.add(m.id);
      inbox.unread.set(p.ticket_id, unread);
    }
    const t = inbox.tickets.get(p.ticket_id);
    if (t) t.updated_at = m.created_at;
    render();
  }

  function onUpdated(p) {
    const t = p.ticket;
    inbox.tickets.set(t.id, t);
    if (inbox.current && inbox.current.ticket.id === t.id) {
      inbox.current.ticket = t;
      drawConversation();
    } else if (p.change === "created" || (ACTIVE.includes(t.status) && !inbox.joined.has(t.id))) {
      watch(t.id).then(render, () => undefined); // enter its room so its messages arrive live
    }
    render();
  }

  /** Wire the inbox's controls and pushes (once per socket). */
  inbox.setup = function () {
    for (const button of document.querySelectorAll(".filters button")) {
      button.addEventListener("click", () => {
        inbox.filter = button.dataset.status;
        render();
      });
    }
    $("composer").addEventListener("submit", send);
    $("reply").addEventListener("keydown", (e) => {
      if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) $("composer").requestSubmit();
    });
    $("reply").addEventListener("input", () => {
      typing(true);
      clearTimeout(typingTimer);
      typingTimer = setTimeout(() => typing(false), 3000);
    });
    $("conv-close").addEventListener("click", () => setStatus("closed", "Ticket closed."));
    $("conv-reopen").addEventListener("click", () => setStatus("open", "Ticket reopened."));
    $("conv-resolve").addEventListener("click", () => setStatus("resolved", "Ticket resolved."));
    $("conv-assign").addEventListener("click", () =>
      act(
        () => Desk.call("reassign_ticket", { ticket_id: inbox.current.ticket.id, assignee_id: $("conv-assignee").value }),
        "Ticket assigned."
      )
    );
    document.addEventListener("visibilitychange", markRead);
  };

  inbox.listen = function () {
    Desk.push("ticket_updated", onUpdated);
    Desk.push("ticket_message", onMessage);
    Desk.push("typing", showTyping);
    Desk.push("ticket_read", (marker) => {
      if (!inbox.current || marker.ticket_id !== inbox.current.ticket.id) return;
      inbox.current.reads.set(marker.user_id, marker);
      drawConversation();
    });
    Desk.push("presence_changed", (p) => {
      if (inbox.current && p.user_id in inbox.current.presence) {
        inbox.current.presence[p.user_id] = p.status;
        drawConversation();
      }
    });
  };

  inbox.reset = function () {
    inbox.tickets.clear();
    inbox.unread.clear();
    inbox.joined.clear();
    inbox.members.clear();
    close();
    render();
  };
})();
