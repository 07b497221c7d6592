/*
 * Deskline agent console, inbox: the tickets the user may see, by status, with unread counts, live through
 * ticket_updated / ticket_message; the open conversation itself is agent-conversation.js.
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
    pushed: new Map(), // ticket id -> Map id -> message: the latest pushed messages, merged into a history
  };
  Desk.inbox = inbox;
  Desk.openTicketIds = () => [...inbox.joined];

  const me = () => Desk.state.user && Desk.state.user.id;
  const isStaff = () => Desk.state.user && Desk.state.user.role !== "client";

  const talk = () => Desk.conversation; // loaded after this file
  inbox.me = me;
  inbox.isStaff = isStaff;
  inbox.ACTIVE = ACTIVE;

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

  inbox.ticketLabel = ticketLabel;
  inbox.nameOf = nameOf;

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
  inbox.watch = watch;

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
    if (inbox.current) await talk().open(inbox.current.ticket.id, true);
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
          onclick: () => talk().open(t.id),
        },
        el("span", { class: "ticket-title" }, ticketLabel(t)),
        el("span", { class: "ticket-meta" }, `${t.door} · ${t.status} · ${Desk.time(t.updated_at)}`),
        unread ? el("span", { class: "badge", "aria-label": `${unread} unread` }, String(unread)) : null
      )
    );
  }

  function onMessage(p) {
    const m = p.message;
    // kept a while: a message pushed while get_ticket is on its way is newer than the history it answers
    const recent = inbox.pushed.get(p.ticket_id) || new Map();
    recent.set(m.id, m);
    if (recent.size > 50) recent.delete(recent.keys().next().value);
    inbox.pushed.set(p.ticket_id, recent);
    if (inbox.current && inbox.current.ticket.id === p.ticket_id) {
      inbox.current.messages.set(m.id, m);
      if (m.author_id !== me()) $("typing").textContent = "";
      talk().draw();
      talk().markRead();
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
      talk().draw();
    } else if (p.change === "created" || (ACTIVE.includes(t.status) && !inbox.joined.has(t.id))) {
      watch(t.id).then(render, () => undefined); // enter its room so its messages arrive live
    }
    render();
  }

  /** Wire the status filters. */
  inbox.setup = function () {
    for (const button of document.querySelectorAll(".filters button")) {
      button.addEventListener("click", () => {
        inbox.filter = button.dataset.status;
        render();
      });
    }
  };

  inbox.listen = function () {
    Desk.push("ticket_updated", onUpdated);
    Desk.push("ticket_message", onMessage);
  };

  inbox.reset = function () {
    inbox.tickets.clear();
    inbox.unread.clear();
    inbox.joined.clear();
    inbox.members.clear();
    inbox.pushed.clear();
    talk().close();
    render();
  };
})();
