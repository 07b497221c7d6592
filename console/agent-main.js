/*
 * Deskline agent console, start-up: the sign-in form, the tabs (shown by role and by what the server
 * offers), and what happens on sign-in, sign-out and after every reconnect.
 */
(function () {
  "use strict";

  const { $ } = Desk;
  const TABS = ["inbox", "pool", "queue", "stats", "settings", "profile"];

  /** Show one tab's panel (keyboard: arrow keys move between tabs). */
  function showTab(name) {
    for (const tab of TABS) {
      const selected = tab === name;
      $(`tab-${tab}`).setAttribute("aria-selected", String(selected));
      $(`tab-${tab}`).tabIndex = selected ? 0 : -1;
      $(`view-${tab}`).hidden = !selected;
    }
    if (name === "queue") Desk.work.loadWindows().catch((err) => Desk.notice(err.message, true));
    if (name === "settings") Desk.admin.load().catch((err) => Desk.notice(err.message, true));
  }

  function setupTabs() {
    for (const tab of TABS) $(`tab-${tab}`).addEventListener("click", () => showTab(tab));
    document.querySelector(".tabs").addEventListener("keydown", (event) => {
      if (!["ArrowLeft", "ArrowRight"].includes(event.key)) return;
      const visible = TABS.filter((t) => !$(`tab-${t}`).hidden);
      const at = visible.findIndex((t) => $(`tab-${t}`).getAttribute("aria-selected") === "true");
      const next = visible[(at + (event.key === "ArrowRight" ? 1 : visible.length - 1)) % visible.length];
      showTab(next);
      $(`tab-${next}`).focus();
    });
  }

  function fillStatsWorkspaces() {
    const select = $("stats-workspace");
    select.replaceChildren(...Desk.inbox.workspaces.map((w) => Desk.el("option", { value: w.id }, w.name)));
  }

  /** Everything a fresh or reconnected socket needs: subscriptions, lists, optional features. */
  async function resync() {
    const user = Desk.state.user;
    if (user.role === "admin") await Desk.admin.loadNames().catch(() => undefined); // names for the assignee list
    await Desk.inbox.sync();
    await Desk.work.syncPresence().catch(() => undefined);
    fillStatsWorkspaces();
    const staff = user.role !== "client";
    $("tab-stats").hidden = !(staff && (await Desk.admin.loadStats().catch(() => false)));
    $("tab-profile").hidden = !(await Desk.admin.loadProfile().catch(() => false));
    if (user.role === "admin" && !$("view-settings").hidden) await Desk.admin.load();
    if (user.role === "agent" && !$("view-queue").hidden) await Desk.work.loadWindows();
    document.body.dataset.ready = "true";
  }

  async function signedIn() {
    const user = Desk.state.user;
    Desk.state.started = true;
    $("login-view").hidden = true;
    $("app").hidden = false;
    $("account").hidden = false;
    $("who").textContent = `${user.name} (${user.role})`;
    $("tab-pool").hidden = user.role !== "agent";
    $("tab-queue").hidden = user.role !== "agent";
    $("tab-settings").hidden = user.role !== "admin";
    showTab("inbox");
    Desk.notice("");
    await resync();
    $("main").focus();
  }

  function signedOut(why) {
    Desk.state.started = false;
    document.body.dataset.ready = "false";
    Desk.inbox.reset();
    $("app").hidden = true;
    $("account").hidden = true;
    $("login-view").hidden = false;
    $("login-error").textContent = why || "";
    $("login-email").focus();
  }

  async function submitLogin(event) {
    event.preventDefault();
    $("login-error").textContent = "";
    const email = $("login-email").value.trim();
    const password = $("login-password").value;
    if (!email || !password) {
      $("login-error").textContent = "Enter your email and password.";
      return;
    }
    try {
      await Desk.login(email, password);
      $("login-form").reset();
    } catch (err) {
      const wait = err.details && err.details.retry_after_seconds;
      $("login-error").textContent =
        err.code === "unauthorized" ? "Wrong email or password." : wait ? `Too many attempts: try again in ${wait} s.` : err.message;
    }
  }

  Desk.on("signed-in", signedIn);
  Desk.on("signed-out", signedOut);
  Desk.on("resync", () => resync().catch((err) => Desk.notice(err.message, true)));

  setupTabs();
  Desk.inbox.setup();
  Desk.conversation.setup();
  Desk.work.setup();
  Desk.admin.setup();
  $("login-form").addEventListener("submit", submitLogin);
  $("logout").addEventListener("click", () => Desk.logout());
  Desk.connect();
  Desk.inbox.listen();
  Desk.conversation.listen();
  Desk.work.listen();
  Desk.admin.listen();
})();
