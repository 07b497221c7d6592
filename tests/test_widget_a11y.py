"""The widget's accessibility in headless Chromium (Playwright): keyboard only, roles and labels, AA contrast of
every text, and the layout on small screens (320 px wide, landscape phones)."""

from __future__ import annotations

from typing import Any

from tests.widget_kit import MINE, THEIRS, shop

ACTIVE = "(root.activeElement ? (root.activeElement.id || root.activeElement.className) : null)"


async def test_keyboard_only_tab_stays_in_the_panel_esc_closes_and_focus_returns(start_server: Any) -> None:
    async with shop(start_server) as s:
        bubble = s.w(".bubble")
        assert await bubble.get_attribute("aria-expanded") == "false"
        for _ in range(10):  # Tab from the page's own link to the bubble
            await s.page.keyboard.press("Tab")
            if await s.js(ACTIVE) == "bubble":
                break
        assert await s.js(ACTIVE) == "bubble"
        await s.page.keyboard.press("Enter")
        assert await bubble.get_attribute("aria-expanded") == "true"
        assert await s.js(ACTIVE) == "dl-input", "opening puts focus in the message box"
        await s.wait("/Ask us anything/.test(root.querySelector('.status').textContent)")
        await s.page.keyboard.type("Typed with the keyboard only")
        await s.page.keyboard.press("Enter")
        await s.wait(f"{MINE}.length === 1 && {MINE}[0].dataset.state === 'sent'")

        seen = []
        for _ in range(8):  # Tab and Shift+Tab cycle inside the open dialog, never out to the page
            await s.page.keyboard.press("Tab")
            seen.append(await s.js(ACTIVE))
            assert await s.page.evaluate("document.activeElement.id") == "deskline-widget"
        assert {"close", "messages", "dl-input", "file", "send"} <= set(seen), seen
        for _ in range(8):
            await s.page.keyboard.press("Shift+Tab")
            assert await s.js("root.activeElement && root.querySelector('.panel').contains(root.activeElement)")

        # what assistive technology reads: a labelled dialog, a labelled input, a live log, who wrote each message
        assert await s.page.get_by_role("dialog", name="Support").count() == 1
        assert await s.w(".messages").get_attribute("role") == "log"
        assert await s.w(".messages").get_attribute("aria-live") == "polite"
        assert await s.w("#dl-input").evaluate("(input) => input.labels[0].textContent") == "Your message"
        assert await s.page.get_by_role("button", name="Close the chat").count() == 1
        assert await s.js(f"{MINE}[0].querySelector('.sr').textContent") == "You said:"

        await s.page.keyboard.press("Escape")
        assert await s.w(".panel").is_hidden()
        assert await bubble.get_attribute("aria-expanded") == "false"
        assert await s.js(ACTIVE) == "bubble", "closing gives focus back to the bubble, not to <body>"


async def test_small_screens_get_the_whole_panel_and_the_header_stays_visible(start_server: Any) -> None:
    for size in ({"width": 320, "height": 568}, {"width": 640, "height": 320}, {"width": 1024, "height": 768}):
        async with shop(start_server, viewport=size) as s:
            await s.w(".bubble").click()
            await s.wait("/Ask us anything/.test(root.querySelector('.status').textContent)")
            panel = await s.w(".panel").bounding_box()
            header = await s.w("header").bounding_box()
            send = await s.w(".send").bounding_box()
            assert panel is not None and header is not None and send is not None
            for box in (panel, header, send):
                assert box["x"] >= 0 and box["y"] >= 0, (size, box)
                assert box["x"] + box["width"] <= size["width"] + 0.5, (size, box)
                assert box["y"] + box["height"] <= size["height"] + 0.5, (size, box)
            if size["width"] <= 480:
                assert panel["width"] == size["width"] and panel["height"] == size["height"], "full screen"
            await s.shot(f"widget-{size['width']}x{size['height']}")


CONTRAST = """(() => {
  const root = document.getElementById('deskline-widget').shadowRoot;
  const rgb = (c) => (c.match(/[\\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => {
    const f = (v) => { v /= 255; return v <= 0.04045 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const background = (el) => {
    for (let e = el; e; e = e.parentElement || (e.getRootNode() && e.getRootNode().host)) {
      const c = rgb(getComputedStyle(e).backgroundColor);
      if (c.length === 3 || (c.length === 4 && c[3] > 0)) return c.slice(0, 3);
    }
    return [255, 255, 255];
  };
  const found = [];
  for (const el of root.querySelectorAll('.panel *, .bubble')) {
    const own = [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
    if (!own || el.closest('[hidden]') || el.closest('.sr') || el.offsetParent === null) continue;
    const a = lum(rgb(getComputedStyle(el).color)), b = lum(background(el));
    found.push([el.className || el.tagName, (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05)]);
  }
  return found;
})()"""


async def test_every_text_of_the_widget_has_aa_contrast(start_server: Any) -> None:
    async with shop(start_server) as s:
        assert s.agent is not None
        await s.site.admin.ok("update_widget_settings", {"workspace_id": s.site.workspace["id"], "color": "#767676"})
        await s.w(".bubble").click()
        await s.say("Contrast check")
        ticket_id = await s.ticket_id()
        await s.wait(f"{MINE}.every((m) => m.dataset.state === 'sent')")
        await s.agent.ok("send_ticket_message", {"ticket_id": ticket_id, "body": "Readable?"})
        await s.wait(f"{THEIRS}.length === 1")
        await s.agent.ok("set_ticket_status", {"ticket_id": ticket_id, "status": "closed"})
        await s.wait("!root.querySelector('form.rate').hidden")
        ratios = await s.page.evaluate(CONTRAST)
        assert len(ratios) >= 8, ratios
        weak = [(name, round(ratio, 2)) for name, ratio in ratios if ratio < 4.5]
        assert weak == [], weak
