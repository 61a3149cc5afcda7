"""Browser tests of what the wall must not hide (issue 18): the alert panel lists active alerts
first and counts what does not fit ("+N more" with the worst severity, in its colour); a CAP area
shows its gravest member; a browser that blocks audio says so, and the critical sound repeats
while unacknowledged; a server that stops answering (black-holed, not refused) is shown as a lost
link.

At 1920x1080 and 3840x2160, in English and Chinese, through Debian's chromium against a real
`cityops up` on the tests' Redis. Screenshots go to test-artifacts/ (git-ignored).
"""

from __future__ import annotations

import re
import time
from typing import Any, Iterator
from urllib.parse import urlsplit

import pytest
import redis
from playwright.sync_api import Browser, BrowserContext, Page, expect

from app import accounts, alerts, i18n
from app.model.alerts import SEVERITIES, SEVERITY_COLOURS, SEVERITY_RANK
from tests.support.browser import (
    CHROMIUM,
    PageWatch,
    RunningCityOps,
    new_context,
    screenshot,
    start_cityops,
    stop_cityops,
)
from tests.support.freezing_proxy import FreezingProxy
from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(),
                                reason=f"{CHROMIUM} is missing: install Debian's chromium package")
SIZES = [(1920, 1080), (3840, 2160)]
LANGS = ["en", "zh"]
UPDATE_MS = 15_000
REPEAT_S = 2  # the critical sound's repeat interval in this module's city
LINK_BUDGET_MS = 15_000 + 10_000  # the wall's lost_after (assets/wall.js), and room for a busy machine

# A square around the city centre: the CAP warning's area, with members inside it.
AREA = {"type": "Polygon", "coordinates": [[[13.0, 52.0], [14.0, 52.0], [14.0, 53.0],
                                            [13.0, 53.0], [13.0, 52.0]]]}

# Records what alerts.js plays instead of playing it (each oscillator started, by frequency), with
# audio allowed, as on a kiosk started with --autoplay-policy=no-user-gesture-required.
FAKE_RUNNING_AUDIO = """
window.__beeps = [];
class FakeParam { setValueAtTime() {} exponentialRampToValueAtTime() {} }
class FakeNode { constructor() { this.gain = new FakeParam(); } connect(next) { return next; } }
class FakeOscillator extends FakeNode {
  constructor() { super(); this.frequency = {value: 0}; this.type = ""; }
  start() { window.__beeps.push(this.frequency.value); }
  stop() {}
}
window.AudioContext = class {
  constructor() { this.state = "running"; this.currentTime = 0; this.destination = new FakeNode(); }
  resume() { return Promise.resolve(); }
  createOscillator() { return new FakeOscillator(); }
  createGain() { return new FakeNode(); }
};
"""

# Chrome's autoplay policy as a page sees it: an AudioContext stays suspended (resume() pending)
# until the page has had a user gesture. Headless chromium does not enforce the policy (and the
# driver's own script evaluations count as gestures), so the test installs it, judged by trusted
# input events: a real click or key press.
FAKE_AUTOPLAY_POLICY = """
window.__beeps = [];
window.__gesture = false;
["pointerdown", "keydown"].forEach(name => window.addEventListener(name, event => {
  if (event.isTrusted) { window.__gesture = true; }
}, {capture: true}));
class FakeParam { setValueAtTime() {} exponentialRampToValueAtTime() {} }
class FakeNode { constructor() { this.gain = new FakeParam(); } connect(next) { return next; } }
class FakeOscillator extends FakeNode {
  constructor() { super(); this.frequency = {value: 0}; this.type = ""; }
  start() { window.__beeps.push(this.frequency.value); }
  stop() {}
}
window.AudioContext = class {
  constructor() {
    this.state = window.__gesture ? "running" : "suspended";
    this.currentTime = 0; this.destination = new FakeNode(); this.onstatechange = null;
  }
  resume() {
    if (!window.__gesture) { return new Promise(() => {}); }
    if (this.state !== "running") {
      this.state = "running";
      if (this.onstatechange) { this.onstatechange(); }
    }
    return Promise.resolve();
  }
  createOscillator() { return new FakeOscillator(); }
  createGain() { return new FakeNode(); }
};
"""


@pytest.fixture(scope="module")
def cityops_panel(redis_server: RedisServer,
                  tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCityOps]:
    """`cityops up --no-demo` on the tests' Redis, the critical sound repeating every 2 s."""
    running = start_cityops(tmp_path_factory.mktemp("wallpanel") / "data", redis_server.url,
                            extra_env={"CITYOPS_ALERT_SOUND_REPEAT_S": str(REPEAT_S)})
    yield running
    stop_cityops(running)


def _open_wall(browser: Browser, r: redis.Redis, base: str, width: int, height: int, lang: str,
               init_script: str | None = None) -> tuple[BrowserContext, Page, PageWatch]:
    context = new_context(browser, width, height)
    host = urlsplit(base).hostname
    context.add_cookies([{"name": "lang", "value": lang, "domain": host, "path": "/"}])
    if init_script:
        context.add_init_script(init_script)
    token = accounts.create_token(r, f"wall-{width}-{lang}", "wall")
    page = context.new_page()
    watch = PageWatch().attach(page)
    page.goto(f"{base}/wall?token={token}")
    expect(page.locator("#page-title")).to_be_visible()
    return context, page, watch


def _raise(r: redis.Redis, key: str, severity: str, title: str, now: float,
           **extra: Any) -> str:
    return alerts.raise_alert(r, fingerprint=f"test:{key}", title=title, severity=severity,
                              domain="water", source=extra.pop("source", "manual"), now=now,
                              **extra).alert_id


def _seed_many(r: redis.Redis) -> dict[str, str]:
    """More open alerts than any wall holds: 36 active ones of every severity (older), 8 cleared
    but unacknowledged (the newest: by time alone they would come first), and a CAP warning
    whose area holds three alerts, the gravest an unacknowledged critical one."""
    now = time.time()
    for i in range(36):
        severity = SEVERITIES[1 + i % 4]  # major .. info
        alert_id = _raise(r, f"active-{i}", severity,
                          f"Active {i}: pressure in zone {i} below its limit for a while", now - 600 + i)
        if i % 3 == 0:
            alerts.acknowledge(r, alert_id, "operator")
    for i in range(8):
        alert_id = _raise(r, f"cleared-{i}", "major", f"Cleared {i}: recovered by itself", now - 300)
        alerts.clear(r, alert_id, now=now - 10 + i)
    warning = _raise(r, "warning", "minor", "Heavy rain warning", now - 200, source="cap",
                     area=AREA, lat=52.5, lon=13.5)
    worst = _raise(r, "in-area-critical", "critical", "Flooded underpass on Ring Road", now - 100,
                   lat=52.5, lon=13.4)
    _raise(r, "in-area-minor", "minor", "Drain blocked", now - 90, lat=52.4, lon=13.6)
    _raise(r, "in-area-info", "info", "Puddle reported", now - 80, lat=52.6, lon=13.5)
    return {"warning": warning, "worst": worst}


# What the panel shows, read in one go from the live document: every line, whether it is shown
# and lies wholly inside the list's box, the states of its rows, and the "+N more" line.
PANEL_JS = """() => {
    const list = document.getElementById("alert-panel-list");
    const box = list.getBoundingClientRect();
    const lines = [...list.children].filter(el => el.hasAttribute("data-count")).map(el => {
        const r = el.getBoundingClientRect();
        const shown = el.style.display !== "none" && r.height > 0;
        const ids = [...el.querySelectorAll("[data-alert]")].filter(row => row.offsetParent !== null)
            .map(row => row.getAttribute("data-alert"));
        if (el.hasAttribute("data-alert")) { ids.unshift(el.getAttribute("data-alert")); }
        return {shown, inside: r.top >= box.top - 1 && r.bottom <= box.bottom + 1,
                count: parseInt(el.getAttribute("data-count"), 10),
                states: [el, ...el.querySelectorAll(":scope > summary .alert-row")]
                    .map(row => (row.className.match(/state-(\\w+)/) || [])[1]).filter(Boolean),
                ids: [...new Set(ids)]};
    });
    const more = list.querySelector(".alert-more");
    return {lines, more: more && !more.hidden ? {text: more.textContent,
            colour: getComputedStyle(more).color} : null,
            listBottom: box.bottom, panelBottom: document.getElementById("alert-panel")
                .getBoundingClientRect().bottom, viewport: window.innerHeight};
}"""


def _rgb(hex_colour: str) -> str:
    value = hex_colour.lstrip("#")
    return "rgb({}, {}, {})".format(*(int(value[i:i + 2], 16) for i in (0, 2, 4)))


@pytest.mark.browser
@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize(("width", "height"), SIZES)
def test_panel_shows_active_alerts_first_and_counts_what_does_not_fit(
        cityops_panel: RunningCityOps, r: redis.Redis, browser: Browser,
        width: int, height: int, lang: str) -> None:
    """No active alert is hidden behind a cleared one; every line shown lies wholly on the
    panel; what does not fit is "+N more" with the worst severity among it, translated and in
    that severity's colour; the CAP area shows its gravest member without a click."""
    seeded = _seed_many(r)
    open_alerts = {a["id"]: a for a in alerts.list_alerts(r, open_only=True, limit=1000)}
    context, page, watch = _open_wall(browser, r, cityops_panel.base_url, width, height, lang)
    try:
        with watch.explained():
            more = page.locator("#alert-panel-list .alert-more")
            expect(more).to_be_visible(timeout=UPDATE_MS)
            worst_row = page.locator(f"#alert-panel-list .alert-group-worst "
                                     f"[data-alert='{seeded['worst']}']")
            expect(worst_row).to_be_visible()
            expect(worst_row).to_contain_text("Flooded underpass")
            # The fitting runs after each redraw: wait until the list no longer overflows.
            page.wait_for_function("() => { const l = document.getElementById('alert-panel-list');"
                                   " return l.scrollHeight <= l.clientHeight + 1; }")
            shown = page.evaluate(PANEL_JS)
            screenshot(page, f"wall-panel-{width}x{height}-{lang}.png")
    finally:
        context.close()
    lines = shown["lines"]
    visible = [line for line in lines if line["shown"]]
    assert visible, "no alert line shown"
    assert all(line["inside"] for line in visible), f"a line runs off the panel: {visible}"
    assert shown["panelBottom"] <= shown["viewport"] + 1, shown
    # The gravest line (the CAP area with its critical member) comes first.
    assert seeded["warning"] in visible[0]["ids"], visible[0]
    # Shown lines come before hidden ones, and no hidden line holds an active alert while a shown
    # line is only cleared ones.
    first_hidden = next((i for i, line in enumerate(lines) if not line["shown"]), len(lines))
    assert all(not line["shown"] for line in lines[first_hidden:])
    hidden_active = [line for line in lines[first_hidden:]
                     if any(s.startswith("active") for s in line["states"])]
    shown_cleared_only = [line for line in visible
                          if line["states"] and all(s == "cleared_unack" for s in line["states"])]
    assert not (hidden_active and shown_cleared_only), (hidden_active[:1], shown_cleared_only[:1])
    # "+N more": every open alert not on a shown line, and the worst severity among them.
    on_screen = sum(line["count"] for line in visible)
    omitted = len(open_alerts) - on_screen
    assert omitted > 0, "the seed must not fit: nothing to count"
    in_visible = {i for line in visible for i in line["ids"]}
    group_members = {a["id"] for a in open_alerts.values() if a.get("group") == seeded["warning"]}
    rest = [a for i, a in open_alerts.items() if i not in in_visible
            and not (i in group_members and seeded["warning"] in in_visible)]
    worst = min((a["severity"] for a in rest), key=SEVERITY_RANK.__getitem__)
    assert shown["more"] is not None
    assert re.search(rf"\b{omitted}\b", shown["more"]["text"]), (omitted, shown["more"])
    with i18n.use_language(lang):
        assert i18n.label("severity", worst) in shown["more"]["text"], shown["more"]
        template = i18n.t("alerts.more", count="0", severity="x").split("0")[0]
    assert shown["more"]["text"].startswith(template.strip()[:2]), shown["more"]
    if worst != "info":
        assert shown["more"]["colour"] == _rgb(SEVERITY_COLOURS[worst]), shown["more"]


@pytest.mark.browser
@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize(("width", "height"), SIZES)
def test_blocked_audio_is_shown_until_a_click(
        cityops_panel: RunningCityOps, r: redis.Redis, browser: Browser,
        width: int, height: int, lang: str) -> None:
    """A browser refusing to start audio before a click (its autoplay policy): the panel says
    "sound blocked" in the reader's language; one click lets sound play, the note goes, and the
    unacknowledged critical alert is heard at its next repeat."""
    _raise(r, "blocked-critical", "critical", "Reservoir intake blocked", time.time())
    context, page, watch = _open_wall(browser, r, cityops_panel.base_url, width, height, lang,
                                      FAKE_AUTOPLAY_POLICY)
    try:
        with watch.explained():
            note = page.locator("#alert-sound-blocked")
            expect(page.locator("#alert-panel-list")).to_contain_text("Reservoir intake blocked")
            expect(note).to_be_visible(timeout=UPDATE_MS)
            assert page.evaluate("() => window.__beeps") == []
            with i18n.use_language(lang):
                expect(note).to_have_text(i18n.t("alerts.sound_blocked"))
            screenshot(page, f"wall-sound-blocked-{width}x{height}-{lang}.png")
            page.mouse.click(width // 3, height // 2)
            expect(note).to_be_hidden(timeout=UPDATE_MS)
            page.wait_for_function("() => window.__beeps.length >= 3", timeout=UPDATE_MS)
    finally:
        context.close()
    watch.assert_clean()


@pytest.mark.browser
def test_critical_sound_repeats_until_acknowledged(
        cityops_panel: RunningCityOps, r: redis.Redis, browser: Browser) -> None:
    """Audio allowed (a kiosk flag): a critical alert already unacknowledged when the wall opens
    sounds again every [alerts] sound_repeat_s seconds, and no more once it is acknowledged."""
    alert_id = _raise(r, "repeat-critical", "critical", "Main burst on Harbour Street", time.time())
    context, page, watch = _open_wall(browser, r, cityops_panel.base_url, 1920, 1080, "en",
                                      FAKE_RUNNING_AUDIO)
    try:
        with watch.explained():
            expect(page.locator("#alert-panel-list")).to_contain_text("Main burst")
            expect(page.locator("#alert-sound-blocked")).to_be_hidden()
            page.wait_for_function("() => window.__beeps.length >= 6", timeout=UPDATE_MS)
            assert set(page.evaluate("() => window.__beeps")) == {880}
            alerts.acknowledge(r, alert_id, "operator")
            expect(page.locator(f"#alert-panel-list [data-alert='{alert_id}']")).to_have_class(
                re.compile(r"\bstate-active_ack\b"), timeout=UPDATE_MS)
            heard = page.evaluate("() => window.__beeps.length")
            checks = page.evaluate("() => window.cityopsSound.checks()")
            # The repeat timer has looked twice the interval later: still nothing new.
            page.wait_for_function(f"() => window.cityopsSound.checks() >= {checks + 2 * REPEAT_S + 1}",
                                   timeout=UPDATE_MS)
            assert page.evaluate("() => window.__beeps.length") == heard
    finally:
        context.close()
    watch.assert_clean()


@pytest.fixture
def proxy(cityops_panel: RunningCityOps) -> Iterator[FreezingProxy]:
    """A loopback proxy in front of the city, to freeze it."""
    parts = urlsplit(cityops_panel.base_url)
    assert parts.hostname and parts.port
    running = FreezingProxy((parts.hostname, parts.port)).start()
    yield running
    running.close()


@pytest.mark.browser
@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize(("width", "height"), SIZES)
def test_a_hung_server_is_a_lost_link(
        cityops_panel: RunningCityOps, r: redis.Redis, browser: Browser, proxy: FreezingProxy,
        width: int, height: int, lang: str) -> None:
    """The server stops answering (requests hang: not refused, not offline): the wall says the
    link is lost within its budget, in the reader's language; answering again clears it."""
    context, page, watch = _open_wall(browser, r, proxy.url, width, height, lang)
    try:
        with watch.explained():
            note = page.locator("#wall-link-note")
            expect(page.locator("#alert-panel")).to_be_visible()
            expect(page.locator("#wall")).not_to_have_class(re.compile(r"\boffline\b"))
            expect(note).to_be_hidden()
            proxy.freeze()
            expect(note).to_be_visible(timeout=LINK_BUDGET_MS)
            expect(page.locator("#wall")).to_have_class(re.compile(r"\boffline\b"))
            with i18n.use_language(lang):
                before_time = i18n.t("wall.link_lost_since", time="{time}").split("{time}")[0]
            expect(note).to_contain_text(before_time)
            screenshot(page, f"wall-link-lost-{width}x{height}-{lang}.png")
            proxy.thaw()
            expect(note).to_be_hidden(timeout=LINK_BUDGET_MS)
    finally:
        proxy.thaw()
        context.close()
