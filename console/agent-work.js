/*
 * Deskline agent console, agents' other work: the pull pool (fetch and sell), the queue windows (call the
 * next number, recall, no-show) and the presence toggle (available / away).
 */
(function () {
  "use strict";

  const { $, el, fill } = Desk;
  const work = { pool: [], windows: [] };
  Desk.work = work;

  function drawPool(summary) {
    const unsold = work.pool.filter((t) => t.status !== "sold");
    fill(
      $("pool-tickets"),
      unsold.map((t) =>
        el(
          "li",
          {},
          el("input", { type: "checkbox", id: `pool-${t.id}`, value: t.id, checked: true }),
          el("label", { for: `pool-${t.id}` }, `${t.title} (${t.priority})`),
          t.details ? el("p", { class: "muted" }, t.details) : null
        )
      )
    );
    $("pool-summary").textContent = summary || `${unsold.length} ticket(s) held.`;
  }

  async function fetchPool() {
    try {
      const data = await Desk.call("fetch_tickets", {});
      work.pool = data.tickets;
      const more = data.limit_reached ? ` You hold the limit of ${data.limit}.` : "";
      drawPool(`Fetched ${data.claimed} new ticket(s); you hold ${data.tickets.length}.${more}`);
    } catch (err) {
      Desk.notice(err.message, true);
    }
  }

  async function sell(event) {
    event.preventDefault();
    const ids = [...document.querySelectorAll("#pool-tickets input:checked")].map((box) => box.value);
    if (!ids.length) return Desk.notice("Choose at least one ticket to sell.", true);
    const customer = { name: $("pool-customer-name").value.trim(), email: $("pool-customer-email").value.trim() };
    try {
      const sold = await Desk.call("sell_tickets", { ticket_ids: ids, customer });
      const soldIds = new Set(sold.tickets.map((t) => t.id));
      work.pool = work.pool.filter((t) => !soldIds.has(t.id));
      drawPool(`Sold ${sold.tickets.length} ticket(s) to ${sold.customer.name}.`);
      $("pool-sell").reset();
    } catch (err) {
      const failed = err.details && err.details.failed;
      Desk.notice(failed ? `Nothing sold: ${failed.map((f) => `${f.ticket_id} ${f.reason}`).join(", ")}` : err.message, true);
    }
  }

  /** Load the windows the caller sits at. */
  work.loadWindows = async function () {
    const me = Desk.state.user.id;
    const data = await Desk.call("list_my_offices");
    work.windows = [];
    for (const office of data.offices) {
      for (const w of office.windows) {
        if (w.agent_id === me) work.windows.push({ office, window: w });
      }
    }
    drawWindows();
  };

  function drawWindows() {
    fill(
      $("queue-windows"),
      work.windows.map(({ office, window: w }) => {
        const key = { ref_office: office.ref_office, number_window: w.number_window };
        const label = `${office.name} (${office.ref_office}), window ${w.number_window}`;
        return el(
          "li",
          { class: "card", "aria-label": label },
          el("h3", {}, label),
          el("p", { class: "serving", role: "status" }, `Now serving: ${w.current_number ?? "—"}`),
          el("button", { type: "button", onclick: () => press("increment_counter", key, w) }, "Call next number"),
          el("button", { type: "button", onclick: () => press("recall", key, w) }, "Recall"),
          el("button", { type: "button", onclick: () => press("no_show", key, w) }, "No-show")
        );
      })
    );
    $("queue-empty").hidden = work.windows.length > 0;
  }

  async function press(event, key, w) {
    try {
      const data = await Desk.call(event, key);
      if (event === "increment_counter") w.current_number = data.counter;
      else if (event === "no_show") w.current_number = null;
      drawWindows();
      const said = { increment_counter: `Called number ${data.counter}.`, recall: `Recalled number ${data.number}.` };
      Desk.notice(said[event] || `Number ${data.number} marked as no-show.`);
    } catch (err) {
      Desk.notice(err.message, true);
    }
  }

  function drawPresence(status) {
    const button = $("presence");
    const away = status === "away";
    button.textContent = away ? "Away" : "Available";
    button.setAttribute("aria-pressed", String(!away));
    button.classList.toggle("away", away);
  }

  async function togglePresence() {
    const next = $("presence").getAttribute("aria-pressed") === "true" ? "away" : "online";
    try {
      const data = await Desk.call("set_status", { status: next });
      drawPresence(data.status);
    } catch (err) {
      Desk.notice(err.message, true);
    }
  }

  work.setup = function () {
    $("pool-fetch").addEventListener("click", fetchPool);
    $("pool-sell").addEventListener("submit", sell);
    $("presence").addEventListener("click", togglePresence);
  };

  work.listen = function () {
    Desk.push("presence_changed", (p) => {
      if (Desk.state.user && p.user_id === Desk.state.user.id) drawPresence(p.status);
    });
    Desk.push("agent_removed", () => work.loadWindows().catch(() => undefined));
  };

  /** Restore the presence toggle after a (re)connect: a new socket starts available unless chosen away. */
  work.syncPresence = async function () {
    const me = Desk.state.user.id;
    const data = await Desk.call("get_presence", { user_ids: [me] });
    drawPresence(data.statuses[me]);
  };
})();
