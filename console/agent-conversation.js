/*
 * Deskline agent console, the open conversation: history, typing, read receipts, presence, attachments,
 * and assign / resolve / close / reopen.
 */
(function () {
  "use strict";

  const { $, el, fill } = Desk;
  const inbox = Desk.inbox;
  const { me, isStaff, ticketLabel, nameOf, render, watch, ACTIVE } = inbox;
  const conversation = {};
  const ratings = new Map(); // ticket id -> the visitor's rating (get_ticket_rating or the ticket_rated push)
  Desk.conversation = conversation;

  /** The history, plus messages pushed meanwhile that it does not hold yet, by time, keyed by id. */
  function withPushed(history, ticketId) {
    const all = new Map(history.map((m) => [m.id, m]));
    for (const m of (inbox.pushed.get(ticketId) || new Map()).values()) if (!all.has(m.id)) all.set(m.id, m);
    return new Map([...all.values()].sort((a, b) => (a.created_at < b.created_at ? -1 : 1)).map((m) => [m.id, m]));
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
      messages: withPushed(view.messages, ticketId),
      reads: new Map((view.reads || []).map((r) => [r.user_id, r])),
      presence: view.presence || {},
    };
    inbox.unread.delete(ticketId);
    $("conversation").hidden = false;
    drawConversation();
    render();
    await markRead();
    await loadRating(view.ticket);
    await loadMembers(view.ticket.workspace_id);
    if (view.ticket.assignee_id) await learnName(view.ticket.assignee_id);
    if (inbox.current && inbox.current.ticket.id === ticketId) drawConversation(); // with the names just learned
    if (switching && !quiet) $("reply").focus();
  }

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

  /** Learn the visitor's rating of a closed widget ticket (none yet: not_found). */
  async function loadRating(ticket) {
    if (ticket.door !== "widget" || ticket.status !== "closed" || ratings.has(ticket.id)) return;
    const rating = await Desk.optional("get_ticket_rating", { ticket_id: ticket.id }).catch(() => undefined);
    if (rating) ratings.set(ticket.id, rating);
  }

  function drawRating(ticketId) {
    const rating = ratings.get(ticketId);
    const line = $("conv-rating");
    line.hidden = !rating;
    line.textContent = !rating ? "" : `Rated ${rating.score} out of 5` + (rating.comment ? `: “${rating.comment}”` : ".");
  }

  async function loadMembers(workspaceId) {
    if (!isStaff() || inbox.members.has(workspaceId)) return;
    try {
      const members = await Desk.call("list_workspace_members", { workspace_id: workspaceId });
      inbox.members.set(workspaceId, members);
      await Promise.all(members.map((m) => learnName(m.user_id)));
    } catch (_) {
      inbox.members.set(workspaceId, null); // agents may not list members: they can take a ticket themselves
    }
  }

  /** Learn a colleague's name from their profile (a server without profiles leaves the id). */
  async function learnName(userId) {
    if (inbox.names.has(userId) || userId === me()) return;
    const profile = await Desk.optional("get_profile", { user_id: userId }).catch(() => undefined);
    if (profile && profile.name) inbox.names.set(userId, profile.name);
  }

  function drawConversation() {
    const c = inbox.current;
    const t = c.ticket;
    $("conv-title").textContent = ticketLabel(t);
    // presence follows signed-in accounts only: a widget visitor or Dowell customer would always read "offline"
    const tracked = ([id]) => t.door === "signed_in" || id !== t.client_id;
    const others = Object.entries(c.presence).filter(tracked).map(([id, status]) => `${nameOf(id)}: ${status}`);
    $("conv-meta").textContent =
      `${t.door} ticket · ${t.status} · assignee ${t.assignee_id ? nameOf(t.assignee_id) : "nobody"}` +
      (others.length ? ` · ${others.join(", ")}` : "");
    drawRating(t.id);
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
      const select = $("conv-assignee");
      const drawn = [t.id, t.assignee_id, ...choices.map(nameOf)].join("|");
      if (select.dataset.drawn !== drawn) {
        // rebuilt only when something changed, so a push does not undo a choice being made
        select.dataset.drawn = drawn;
        fill(select, choices.map((id) => el("option", { value: id, selected: id === t.assignee_id }, nameOf(id))));
      }
    }
    const closed = t.status === "closed";
    $("reply").disabled = closed;
    $("reply-file").disabled = closed; // every door takes an agent's attachment (the visitor or key holder downloads it)
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

  conversation.open = open;
  conversation.close = close;
  conversation.draw = drawConversation;
  conversation.markRead = markRead;

  /** Wire the composer and the ticket actions. */
  conversation.setup = function () {
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

  conversation.listen = function () {
    Desk.push("typing", showTyping);
    Desk.push("ticket_read", (marker) => {
      if (!inbox.current || marker.ticket_id !== inbox.current.ticket.id) return;
      inbox.current.reads.set(marker.user_id, marker);
      drawConversation();
    });
    Desk.push("ticket_rated", (rating) => {
      ratings.set(rating.ticket_id, rating);
      if (inbox.current && rating.ticket_id === inbox.current.ticket.id) drawRating(rating.ticket_id);
    });
    Desk.push("presence_changed", (p) => {
      if (inbox.current && p.user_id in inbox.current.presence) {
        inbox.current.presence[p.user_id] = p.status;
        drawConversation();
      }
    });
  };
})();
