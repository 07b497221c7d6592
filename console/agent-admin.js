/*
 * Deskline agent console, the admin settings (workspaces, widget token rotation, members, categories),
 * the helpdesk stats panel and the user's own profile. Stats and profile use `helpdesk_stats` and
 * `get_profile` / `update_profile`; a server without them answers `unknown_event` and their tabs stay hidden.
 */
(function () {
  "use strict";

  const { $, el, fill } = Desk;
  const admin = { workspaces: [], selected: null, users: [] };
  Desk.admin = admin;

  admin.loadNames = loadUsers;

  async function loadUsers() {
    admin.users = [];
    for (const role of ["agent", "manager"]) {
      const data = await Desk.call("list_users", { role, limit: 100 });
      admin.users.push(...data.users);
    }
    for (const u of admin.users) Desk.inbox.names.set(u.id, u.name);
  }

  /** Load the workspaces and the staff accounts (admins only). */
  admin.load = async function () {
    const data = await Desk.call("list_workspaces", { limit: 100 });
    admin.workspaces = data.workspaces;
    await loadUsers();
    drawWorkspaces();
    if (admin.selected) await select(admin.selected);
  };

  function drawWorkspaces() {
    fill(
      $("ws-list"),
      admin.workspaces.map((w) =>
        el(
          "li",
          {},
          el(
            "button",
            { type: "button", "aria-current": admin.selected === w.id ? "true" : null, onclick: () => select(w.id) },
            w.name
          ),
          el("span", { class: "muted" }, ` products: ${w.products.join(", ") || "any"}`)
        )
      )
    );
  }

  async function select(workspaceId) {
    admin.selected = workspaceId;
    const w = admin.workspaces.find((x) => x.id === workspaceId);
    const ws = { workspace_id: workspaceId };
    try {
      const [widget, members, categories] = await Promise.all([
        Desk.call("get_widget_settings", ws),
        Desk.call("list_workspace_members", ws),
        Desk.call("list_categories", ws),
      ]);
      $("ws-detail").hidden = false;
      $("ws-detail-title").textContent = w ? w.name : workspaceId;
      $("ws-token").textContent = widget.widget_token || "none";
      drawMembers(members);
      drawCategories(categories);
      drawWorkspaces();
    } catch (err) {
      Desk.notice(err.message, true);
    }
  }

  function drawMembers(members) {
    const name = (id) => {
      const u = admin.users.find((x) => x.id === id);
      return u ? `${u.name} <${u.email || u.phone}>` : id;
    };
    fill(
      $("ws-members"),
      members.map((m) =>
        el(
          "li",
          {},
          `${name(m.user_id)} · ${m.role} · load ${m.load} `,
          el("button", { type: "button", onclick: () => removeMember(m.user_id), "aria-label": `Remove ${name(m.user_id)}` }, "Remove")
        )
      )
    );
    const current = new Set(members.map((m) => m.user_id));
    const candidates = admin.users.filter((u) => u.active && !current.has(u.id));
    fill(
      $("ws-member-user"),
      candidates.map((u) => el("option", { value: u.id }, `${u.name} <${u.email || u.phone}> (${u.role})`))
    );
  }

  function drawCategories(categories) {
    fill(
      $("ws-categories"),
      categories.map((c) =>
        el(
          "li",
          {},
          `${c.name} `,
          el("button", { type: "button", onclick: () => removeCategory(c.id), "aria-label": `Delete category ${c.name}` }, "Delete")
        )
      )
    );
  }

  async function run(fn, done) {
    try {
      await fn();
      Desk.notice(done);
      await select(admin.selected);
    } catch (err) {
      Desk.notice(err.message, true);
    }
  }

  const removeMember = (userId) =>
    run(() => Desk.call("remove_workspace_member", { workspace_id: admin.selected, user_id: userId }), "Member removed.");
  const removeCategory = (id) => run(() => Desk.call("delete_category", { category_id: id }), "Category deleted.");

  async function createWorkspace(event) {
    event.preventDefault();
    const name = $("ws-name").value.trim();
    const products = $("ws-products").value.split(",").map((p) => p.trim()).filter(Boolean);
    try {
      const created = await Desk.call("create_workspace", { name, products });
      $("ws-create").reset();
      admin.selected = created.workspace.id;
      await admin.load();
      // The API key is shown once: the admin copies it from here into the back office.
      Desk.notice(`Workspace ${created.workspace.name} created. Its API key (shown once): ${created.api_key}`);
    } catch (err) {
      Desk.notice(err.message, true);
    }
  }

  async function createUser(event) {
    event.preventDefault();
    const payload = {
      name: $("user-name").value.trim(),
      email: $("user-email").value.trim(),
      password: $("user-password").value,
      role: $("user-role").value,
    };
    try {
      const user = await Desk.call("create_user", payload);
      $("user-create").reset();
      await loadUsers();
      if (admin.selected) await select(admin.selected);
      Desk.notice(`Account created for ${user.name} (${user.role}).`);
    } catch (err) {
      const why = Array.isArray(err.details) ? err.details.map((d) => d.message).join("; ") : "";
      Desk.notice(`Account not created: ${err.message}${why ? ` (${why})` : ""}`, true);
    }
  }

  // ---- stats ----

  function statsValue(value) {
    if (value === null || value === undefined) return "—";
    if (typeof value === "number") return Number.isInteger(value) ? String(value) : value.toFixed(1);
    if (typeof value !== "object") return String(value);
    if (Array.isArray(value)) {
      return el("ul", { class: "plain" }, value.map((item) => el("li", {}, statsValue(item))));
    }
    return el(
      "dl",
      { class: "pairs" },
      Object.entries(value).flatMap(([k, v]) => [el("dt", {}, k.replaceAll("_", " ")), el("dd", {}, statsValue(v))])
    );
  }

  function duration(ms) {
    if (ms === null || ms === undefined) return "—";
    if (ms < 60000) return `${Math.round(ms / 1000)} s`;
    const minutes = ms / 60000;
    return minutes < 90 ? `${minutes.toFixed(1)} min` : `${(minutes / 60).toFixed(1)} h`;
  }

  const durations = (d) => (d ? `median ${duration(d.median_ms)}, p90 ${duration(d.p90_ms)} (${d.count})` : "—");

  /** The stats as a summary and a per-agent table (any other shape falls back to a plain listing). */
  function drawStats(data) {
    if (!data || typeof data.opened !== "number") return statsValue(data);
    const summary = statsValue({
      opened: data.opened,
      resolved: data.resolved,
      closed: data.closed,
      backlog: Object.entries(data.backlog || {}).map(([status, n]) => `${status}: ${n}`).join(", ") || "none",
      first_response: durations(data.first_response),
      resolution: durations(data.resolution),
    });
    const heads = ["Agent", "Opened", "Resolved", "Closed", "First response", "Resolution"];
    const rows = (data.agents || []).map((a) =>
      el(
        "tr",
        {},
        el("th", { scope: "row" }, a.name || a.agent_id || "Unassigned"),
        [a.opened, a.resolved, a.closed].map((n) => el("td", {}, String(n))),
        el("td", {}, durations(a.first_response)),
        el("td", {}, durations(a.resolution))
      )
    );
    const table = el(
      "table",
      { class: "agents" },
      el("caption", {}, "Per agent"),
      el("thead", {}, el("tr", {}, heads.map((h) => el("th", { scope: "col" }, h)))),
      el("tbody", {}, rows)
    );
    return [summary, rows.length ? table : null];
  }

  /** Ask for the stats of the chosen workspace and period; hide the tab on a server without them. */
  admin.loadStats = async function () {
    const workspaceId = $("stats-workspace").value;
    if (!workspaceId) return false;
    const to = Date.now();
    const from = to - Number($("stats-days").value) * 86400000;
    const data = await Desk.optional("helpdesk_stats", { workspace_id: workspaceId, from, to });
    if (data === undefined) return false;
    admin.statsFor = workspaceId;
    fill($("stats"), drawStats(data));
    return true;
  };

  // ---- profile ----

  async function drawProfile(profile) {
    if (profile.name) $("who").textContent = `${profile.name} (${Desk.state.user.role})`;
    $("profile-name").value = profile.name || "";
    $("profile-city").value = profile.city || "";
    $("profile-region").value = profile.region || "";
    const picture = profile.picture_attachment_id || profile.picture_id;
    const img = $("profile-picture");
    img.hidden = !picture;
    if (picture) img.src = await Desk.download(picture).catch(() => "");
  }

  /** Load the caller's profile; false on a server without profiles. */
  admin.loadProfile = async function () {
    const profile = await Desk.optional("get_profile", {});
    if (profile === undefined) return false;
    await drawProfile(profile);
    return true;
  };

  async function saveProfile(event) {
    event.preventDefault();
    const payload = { name: $("profile-name").value.trim(), city: $("profile-city").value.trim(), region: $("profile-region").value.trim() };
    try {
      const file = $("profile-file").files[0];
      if (file) payload.picture_attachment_id = await Desk.upload(file);
      await drawProfile(await Desk.call("update_profile", payload));
      $("profile-file").value = "";
      Desk.notice("Profile saved.");
    } catch (err) {
      Desk.notice(err.message, true);
    }
  }

  admin.setup = function () {
    $("ws-create").addEventListener("submit", createWorkspace);
    $("user-create").addEventListener("submit", createUser);
    $("ws-rotate").addEventListener("click", () =>
      run(() => Desk.call("rotate_widget_token", { workspace_id: admin.selected }), "Widget token rotated: update the pages that embed the widget.")
    );
    $("ws-add-member").addEventListener("submit", (event) => {
      event.preventDefault();
      const userId = $("ws-member-user").value;
      if (userId) run(() => Desk.call("add_workspace_member", { workspace_id: admin.selected, user_id: userId }), "Member added.");
    });
    $("ws-add-category").addEventListener("submit", (event) => {
      event.preventDefault();
      const name = $("ws-category-name").value.trim();
      run(() => Desk.call("create_category", { workspace_id: admin.selected, name }), "Category added.").then(() =>
        $("ws-add-category").reset()
      );
    });
    $("stats-form").addEventListener("submit", (event) => {
      event.preventDefault();
      admin.loadStats().catch((err) => Desk.notice(err.message, true));
    });
    $("profile-form").addEventListener("submit", saveProfile);
  };

  admin.listen = function () {
    Desk.push("helpdesk_stats_updated", (p) => {
      if (!p || !admin.statsFor || (p.workspace_id && p.workspace_id !== admin.statsFor)) return;
      admin.loadStats().catch(() => undefined); // re-read over the chosen period
    });
    Desk.push("profile_updated", (p) => {
      if (!p) return;
      if (!p.user_id || p.user_id === Desk.state.user.id) {
        drawProfile(p).catch(() => undefined);
      } else if (p.name) {
        // a colleague's new name: the list, the open conversation and its assignee choices show it at once
        Desk.inbox.names.set(p.user_id, p.name);
        Desk.inbox.render();
        if (Desk.inbox.current) Desk.conversation.draw();
      }
    });
  };
})();
