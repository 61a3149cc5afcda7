"""Browser tests of the wall: fills 1080p and 4K screens without scrollbars, stays on loopback,
shows a stale feed as stale, and rotates between views, pinned while a critical alert is
unacknowledged.

The real `cityops up` on the tests' redis-server, driven through Debian's chromium, opened with a
display token as a wall is. Screenshots go to test-artifacts/ (git-ignored).
"""

from __future__ import annotations

import json
import re
import time
from typing import Any, Iterator

import pytest
import redis
from playwright.sync_api import Browser, BrowserContext, Page, expect

from app import accounts, alerts, store
from app.model.domains import DOMAINS
from layouts.wall import WALL_FIT_PX, WALL_ZOOM
from tests.browser.test_browser_incidents import CLIPPED_JS
from tests.support.browser import (
    CHROMIUM,
    PageWatch,
    RunningCityOps,
    new_context,
    screenshot,
    start_cityops,
    stop_cityops,
)
from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(),
                                reason=f"{CHROMIUM} is missing: install Debian's chromium package")
# (width, height, device scale): 4K at scale 1 and, at scale 2, a 4K panel run at 200 %.
SCREENS = [(1920, 1080, 1), (3840, 2160, 1), (1920, 1080, 2)]
# Read from 4 m (issue 18): KPI names at least 20 px and values 40 px at 1080p, scaled with the
# screen's width.
TITLE_PX, VALUE_PX = 20, 40
# KPIs with the catalogue's longest names in both languages.
LONG_NAMES = ("sla_breach", "water_quality_compliance", "vehicles_silent", "hospitals_on_diversion",
              "active_service_alerts", "median_time_to_close")
# A bound, not a timing: alone a change reaches the wall within a tick or two, but a 4K wall
# drawing its maps beside another worker's browser on a loaded 2-core CI machine took over 10 s.
UPDATE_MS = 30_000
# A bound, not a timing: every answer is 1.5 s late, the browser's six connections queue the
# wall's callbacks, and the CI machine may be loaded; without the tick gates nothing lands at all.
SLOW_LINK_MS = 60_000
SCROLL_JS = """() => {
    const root = document.scrollingElement, shell = document.getElementById("shell");
    return {scrollWidth: root.scrollWidth, scrollHeight: root.scrollHeight,
            clientWidth: root.clientWidth, clientHeight: root.clientHeight,
            shellClipped: shell.scrollHeight > shell.clientHeight,
            fontPx: parseFloat(getComputedStyle(shell).fontSize)};
}"""
VIEWS_CLASS = "#wall-views"
# The city map is zoomed to fit its panel (assets/wall.js), and its legend is in the wall's type.
FITTED_JS = """([zoom, fitPx]) => {
    const gd = document.querySelector('#wall-map .js-plotly-plot');
    if (!gd || !gd.layout || !gd.layout.map) return false;
    const size = gd._fullLayout._size;
    const side = Math.min(size.w, size.h);
    const legend = document.querySelector('[data-wall-map="wall-map"] .wall-legend');
    const em = parseFloat(getComputedStyle(legend.parentElement).fontSize);
    return Math.abs(gd.layout.map.zoom - (zoom + Math.log2(side / fitPx))) < 0.06
        && Math.abs(parseFloat(getComputedStyle(legend).fontSize) - 0.9 * em) <= 1;
}"""


@pytest.fixture(scope="module")
def cityops_wall(redis_server: RedisServer,
                 tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCityOps]:
    """`cityops up --no-demo` on the tests' Redis, so a test writes what the wall shows."""
    running = start_cityops(tmp_path_factory.mktemp("wall") / "data", redis_server.url)
    yield running
    stop_cityops(running)


def _kpi(domain: str, name: str, value: float, status: str) -> dict[str, object]:
    return {"name": name, "domain": domain, "title": f"{name} <i>{domain}</i>", "value": value,
            "unit": "%", "target": ">= 90 %", "status": status, "computed_at": time.time(),
            "subject": None, "rank": 0}


def _seed(r: redis.Redis) -> None:
    """KPIs for every domain and healthy feeds; the wall must show them as current."""
    now = time.time()
    for domain in DOMAINS:
        store.kpis.write(r, domain, [_kpi(domain, "share_a", 95.0, "ok"),
                                     _kpi(domain, "share_b", 70.0, "bad")])
        store.status.bump_domain_version(r, domain, now)
        store.feeds.write_health(r, f"{domain}-feed", {
            "domain": domain, "adapter": "test", "interval_s": 10, "freshness_budget_s": 600,
            "last_success": now, "first_attempt": now - 60})


def _open_wall(browser: Browser, r: redis.Redis, base: str, width: int, height: int,
               query: str = "", scale: float = 1) -> tuple[BrowserContext, Page, PageWatch]:
    context = new_context(browser, width, height, scale)
    token = accounts.create_token(r, f"wall-{width}", "wall")
    page = context.new_page()
    watch = PageWatch().attach(page)
    page.goto(f"{base}/wall?token={token}{query}")
    expect(page.locator("#page-title")).to_be_visible()
    return context, page, watch


@pytest.mark.browser
@pytest.mark.parametrize(("width", "height", "scale"), SCREENS)
def test_wall_fills_the_screen_stays_local_and_shows_a_stale_feed(
        cityops_wall: RunningCityOps, r: redis.Redis, browser: Browser,
        width: int, height: int, scale: int) -> None:
    """No scrollbars at 1080p and 4K, type read from 4 m, tiles with sparklines, only 127.0.0.1;
    a feed that goes stale while the wall is open dims its domain, labelled with the time.

    Opened rotating (slowly: the city view stays on screen) so that every domain's own view is
    in the page and measured too."""
    _seed(r)
    context, page, watch = _open_wall(browser, r, cityops_wall.base_url, width, height,
                                      "&rotate=3600", scale)
    try:
        with watch.explained():
            expect(page.locator("#wall-tiles .wall-tile")).to_have_count(8)
            expect(page.locator("#wall-tiles .wall-tile img.spark")).to_have_count(8)
            expect(page.locator("#wall-feeds .feed-ok")).to_have_count(4)
            expect(page.locator("#wall-tiles .domain-water")).not_to_have_class(
                re.compile(r"\bstale\b"))
            expect(page.locator("#wall-tiles")).to_contain_text("share_a <i>water</i>")  # escaped
            expect(page.locator("#data-as-of")).to_contain_text(":", timeout=UPDATE_MS)

            # The water feed's last success is now older than its budget: stale.
            last = time.time() - 3600
            store.feeds.write_health(r, "water-feed", {"domain": "water", "last_success": last,
                                                      "freshness_budget_s": 600})
            card = page.locator("#wall-tiles .domain-water")
            expect(card).to_have_class(re.compile(r"\bstale\b"), timeout=UPDATE_MS)
            expect(card.locator(".card-head .stale-label")).to_have_text(
                re.compile(r"^stale since \d\d:\d\d$"))
            expect(card.locator(".wall-tile.stale")).to_have_count(2)
            chip = page.locator("#wall-feeds [data-feed='water-feed']")
            expect(chip).to_have_class(re.compile(r"\bfeed-stale\b"))
            expect(chip).to_contain_text("stale since")
            # Asked of the live document (a refresh may replace the element between two reads).
            page.wait_for_function(
                "() => { const el = document.querySelector("
                "'#wall-tiles .domain-water .wall-tile.stale > .tile-row');"
                " return el !== null && parseFloat(getComputedStyle(el).opacity) < 0.6; }",
                timeout=UPDATE_MS)
            expect(page.locator("#wall-tiles .domain-transport")).not_to_have_class(
                re.compile(r"\bstale\b"))

            # The city fills the map's shorter side at every size: one zoom level per doubling;
            # the legend under it is in the wall's type (0.9 em), one line per class drawn.
            page.wait_for_function(FITTED_JS, arg=[WALL_ZOOM, WALL_FIT_PX], timeout=UPDATE_MS)
            page.wait_for_timeout(500)  # let the map finish drawing before measuring
            metrics = page.evaluate(SCROLL_JS)
            screenshot(page, f"wall-{width}x{height}@{scale}.png")
            assert metrics["scrollWidth"] <= metrics["clientWidth"], metrics
            assert metrics["scrollHeight"] <= metrics["clientHeight"], metrics
            assert not metrics["shellClipped"], metrics
            # Type scales with the screen: 4K is about twice 1080p, not the same pixels.
            assert metrics["fontPx"] >= width / 110, metrics
            _assert_legible(page, width, 8 + 8)  # the city view's 8 tiles and the 4 views' 8
        watch.assert_clean()
    finally:
        context.close()


def _assert_legible(page: Page, width: int, tiles: int) -> None:
    """No name, value, unit or status word cut short, no tile pushed out of its card, names and
    values at least the sizes read from 4 m: on the city view and on every domain's view (hidden
    ones keep their layout)."""
    clipped = page.evaluate(CLIPPED_JS, "#wall-views .wall-card, #wall-views .wall-card *")
    assert not clipped, clipped
    sizes = page.evaluate("""() => {
        const px = (sel) => [...document.querySelectorAll(sel)]
            .map((e) => parseFloat(getComputedStyle(e).fontSize));
        return {titles: px('#wall-views .tile-title'), values: px('#wall-views .tile-number')};
    }""")
    assert len(sizes["titles"]) == len(sizes["values"]) == tiles, sizes
    assert min(sizes["titles"]) >= TITLE_PX * width / 1920, sizes
    assert min(sizes["values"]) >= VALUE_PX * width / 1920, sizes


@pytest.mark.browser
@pytest.mark.parametrize(("width", "height", "scale"), SCREENS)
def test_long_names_and_values_fit_in_chinese(
        cityops_wall: RunningCityOps, r: redis.Redis, browser: Browser,
        width: int, height: int, scale: int) -> None:
    """The demo city's longest KPI names and widest values, six a domain, in Chinese: the city
    view shows two a domain and counts the rest, every domain's view shows all six, and nothing
    is cut at any size."""
    _seed(r)
    now = time.time()
    for domain in DOMAINS:
        kpis = [dict(_kpi(domain, name, 5168.4 * (i + 1), "ok" if i % 2 else "warn"), unit="m3/h",
                     target=">= 100 % (turbidity <= 1 NTU, free chlorine 0.05-5 mg/L)")
                for i, name in enumerate(LONG_NAMES)]
        store.kpis.write(r, domain, kpis)
        store.status.bump_domain_version(r, domain, now)
    context = new_context(browser, width, height, scale)
    context.add_cookies([{"name": "lang", "value": "zh", "domain": "127.0.0.1", "path": "/"}])
    token = accounts.create_token(r, f"wall-zh-{width}", "wall")
    page = context.new_page()
    watch = PageWatch().attach(page)
    try:
        with watch.explained():
            page.goto(f"{cityops_wall.base_url}/wall?token={token}&rotate=3600")
            expect(page.locator("#page-title")).to_have_text("城市运行")
            expect(page.locator("#wall-tiles .wall-tile")).to_have_count(8)
            expect(page.locator("#wall-tiles .tile-more").first).to_have_text("另有 4 项，1 项未达标")
            page.wait_for_timeout(500)  # let the maps finish drawing before measuring
            screenshot(page, f"wall-zh-{width}x{height}@{scale}.png")
            _assert_legible(page, width, 8 + 4 * 6)
        watch.assert_clean()
    finally:
        context.close()


def _views_class(page: Page) -> str:
    return page.locator(VIEWS_CLASS).get_attribute("class") or ""


@pytest.mark.browser
def test_rotation_cycles_pins_on_a_critical_alert_and_resumes_after_ack(
        cityops_wall: RunningCityOps, r: redis.Redis, browser: Browser) -> None:
    """/wall?rotate=2 moves on from the city view; an unacknowledged critical alert pins the city
    view (with the alert on it) past several periods; after the ack the rotation resumes."""
    _seed(r)
    context, page, watch = _open_wall(browser, r, cityops_wall.base_url, 1920, 1080, "&rotate=2")
    views = page.locator(VIEWS_CLASS)
    try:
        with watch.explained():
            # the city, each domain, and the pinned incident's view (shown only while one is pinned)
            expect(page.locator(".wall-view")).to_have_count(1 + len(DOMAINS) + 1)
            expect(views).to_have_class(re.compile(r"\bshow-all\b"))
            # The view and its label together (a view lasts 2 s: read apart, the rotation may
            # move on between the two reads on a loaded machine).
            page.wait_for_function("""() => (' ' + document.getElementById('wall-views').className + ' ')
                    .includes(' show-transport ')
                && document.getElementById('wall-view-label').textContent === 'Transport'
                && getComputedStyle(document.querySelector('.view-transport')).visibility
                    === 'visible'""", timeout=UPDATE_MS)
            expect(page.locator("#wall-tiles-transport .wall-tile")).to_have_count(2)
            screenshot(page, "wall-rotate-transport.png")

            alert_id = alerts.raise_alert(r, fingerprint="test:wall-pin", title="Main burst",
                                          severity="critical", domain="water", source="manual",
                                          lat=28.553, lon=112.361, description="").alert_id
            expect(views).to_have_class(re.compile(r"\bpinned\b"), timeout=UPDATE_MS)
            expect(views).to_have_class(re.compile(r"\bshow-all\b"))
            expect(page.locator(f"#alert-panel-list [data-alert='{alert_id}']")).to_be_visible()
            screenshot(page, "wall-rotate-pinned.png")
            page.wait_for_timeout(5000)  # two and a half periods: a rotating wall would move on
            assert re.search(r"\bpinned\b", _views_class(page)), _views_class(page)
            assert re.search(r"\bshow-all\b", _views_class(page)), _views_class(page)

            alerts.acknowledge(r, alert_id, "operator", note="on it")
            expect(views).not_to_have_class(re.compile(r"\bpinned\b"), timeout=UPDATE_MS)
            expect(views).to_have_class(re.compile(r"\bshow-transport\b"), timeout=UPDATE_MS)
        watch.assert_clean()
    finally:
        context.close()


@pytest.mark.browser
def test_wall_says_when_the_link_is_lost_and_recovers_by_itself(
        cityops_wall: RunningCityOps, r: redis.Redis, browser: Browser) -> None:
    """Network loss: after the heartbeat goes silent the wall says so and dims; when the network
    is back it clears the note and shows what changed meanwhile, with no one touching it."""
    _seed(r)
    context, page, _watch = _open_wall(browser, r, cityops_wall.base_url, 1920, 1080)
    try:
        note = page.locator("#wall-link-note")
        expect(page.locator("#wall-tiles .wall-tile")).not_to_have_count(0)
        expect(note).to_be_hidden()
        context.set_offline(True)
        expect(note).to_be_visible(timeout=30_000)
        expect(note).to_contain_text("No answer from the server since")
        # Meanwhile a feed of the water domain goes stale.
        store.feeds.write_health(r, "water-feed", {"domain": "water",
                                                  "last_success": time.time() - 3600,
                                                  "freshness_budget_s": 600})
        context.set_offline(False)
        expect(note).to_be_hidden(timeout=30_000)
        expect(page.locator("#wall-tiles .domain-water")).to_have_class(re.compile(r"\bstale\b"),
                                                                       timeout=UPDATE_MS)
    finally:
        context.close()


@pytest.mark.browser
def test_a_rotating_wall_draws_only_the_map_on_screen(
        cityops_wall: RunningCityOps, r: redis.Redis, browser: Browser) -> None:
    """With vehicles moving every second, each map is redrawn only while its view is shown (the
    others catch up when their turn comes): one map's work per update, not five."""
    from app.bench.browser import MovingFleet

    _seed(r)
    context, page, watch = _open_wall(browser, r, cityops_wall.base_url, 1920, 1080, "&rotate=2")
    try:
        with watch.explained(), MovingFleet(r, 300):
            # Turns of the rotation (2 s a view) until the city's and the transport view's maps
            # have each been asked for and drawn while shown.
            deadline = time.monotonic() + 6 * UPDATE_MS / 1000
            drawn: dict[str, Any] = {}
            while (not (drawn.get("wall-map") and drawn.get("wall-map-transport"))
                   and time.monotonic() < deadline):
                page.wait_for_timeout(500)
                drawn = page.evaluate("""() => Object.fromEntries([...document.querySelectorAll(
                    '[data-wall-map]')].map(e => [e.dataset.wallMap, e.dataset.markers || null]))""")
            # (map id, the views' class when the browser asked for its frame), the last 100
            asked = page.evaluate("() => window.cityopsWallMaps.asked.slice()")
        watch.assert_clean()
    finally:
        context.close()
    maps = {map_id for map_id, _ in asked}
    assert {"wall-map", "wall-map-transport"} <= maps, asked  # the moving fleet's two maps
    assert drawn["wall-map"] and drawn["wall-map-transport"], drawn
    view_of = {"wall-map": "all", **{f"wall-map-{d}": d for d in DOMAINS}}
    hidden = [(m, shown) for m, shown in asked if f"show-{view_of[m]}" not in shown.split()]
    assert hidden == [], hidden


# Whether the screenshot (a PNG, base64) has a pixel near ``colour`` within 2 px of each point:
# decoded by the page's own canvas, as Pillow is not among the test extras.
PIXELS_JS = """async ([png, points, colour]) => {
    const img = new Image();
    img.src = 'data:image/png;base64,' + png;
    await img.decode();
    const canvas = document.createElement('canvas');
    canvas.width = img.width;
    canvas.height = img.height;
    const ctx = canvas.getContext('2d');
    ctx.drawImage(img, 0, 0);
    return points.map(([x, y]) => {
        const data = ctx.getImageData(Math.round(x) - 2, Math.round(y) - 2, 5, 5).data;
        for (let i = 0; i < data.length; i += 4) {
            const off = Math.abs(data[i] - colour[0]) + Math.abs(data[i + 1] - colour[1])
                + Math.abs(data[i + 2] - colour[2]);
            if (off < 60) return true;
        }
        return false;
    });
}"""
# Where the places are on the wall's map now (CSS px of its canvas), once it has drawn what it
# holds (a frame drawn, then idle).
PROJECT_JS = """async (places) => {
    const gd = document.querySelector('#wall-map .js-plotly-plot');
    const map = gd._fullLayout.map._subplot.map;
    await new Promise((done) => { map.once('idle', done); map.triggerRepaint(); });
    return places.map(([lat, lon]) => { const p = map.project([lon, lat]); return [p.x, p.y]; });
}"""


def _drawn_at(page: Page, places: list[tuple[float, float]], colour: str) -> list[bool]:
    """Whether the wall's map shows a marker of ``colour`` at each (lat, lon)."""
    import base64

    points = page.evaluate(PROJECT_JS, [list(p) for p in places])
    png = page.locator("#wall-map .maplibregl-canvas").screenshot()
    rgb = [int(colour[i:i + 2], 16) for i in (1, 3, 5)]
    return page.evaluate(PIXELS_JS, [base64.b64encode(png).decode(), points, rgb])


@pytest.mark.browser
def test_the_wall_map_draws_each_vehicle_where_it_is(
        cityops_wall: RunningCityOps, r: redis.Redis, browser: Browser) -> None:
    """The markers are drawn by the browser's own WebGL layer (assets/wall_map.js): a bus on
    time shows in its class's colour where it is, and when it moves it shows at its new place
    and no longer at the old one; its class is in the legend, with its count."""
    from app.model.records import Entity, Observation
    from app.situation.mapdata import LAYER_BY_KEY, Thresholds
    from app.situation.mapdata import share as map_share

    _seed(r)
    here, there, elsewhere = (28.55, 112.36), (28.565, 112.38), (28.535, 112.34)
    colour = LAYER_BY_KEY["vehicles"].classes[1].colour  # on time

    def put(at: tuple[float, float], when: float) -> None:
        store.entities.write_batch(r, "transport", "px", entities=[
            Entity("transport", "vehicle", "px:vehicle:1", at[0], at[1], "in_service", when, "px", {})],
            observations=[Observation("px:vehicle:1", "delay_s", 10.0, "s", when)])
        map_share.publish(r, "transport", Thresholds.of())  # what the runner does after a batch

    put(here, time.time())
    context, page, watch = _open_wall(browser, r, cityops_wall.base_url, 1920, 1080)
    try:
        with watch.explained():
            box = page.locator("[data-wall-map='wall-map']")
            expect(box).to_have_attribute("data-markers", "1", timeout=UPDATE_MS)
            page.wait_for_function(FITTED_JS, arg=[WALL_ZOOM, WALL_FIT_PX], timeout=UPDATE_MS)
            expect(box.locator(".wall-legend")).to_contain_text("Vehicles: on time (1)")
            assert _drawn_at(page, [here, there, elsewhere], colour) == [True, False, False]
            updates = page.evaluate("() => window.cityopsWallMaps.updates")
            put(there, time.time() + 1)
            page.wait_for_function("n => window.cityopsWallMaps.updates > n", arg=updates,
                                   timeout=UPDATE_MS)
            seen = _drawn_at(page, [here, there, elsewhere], colour)
            assert seen == [False, True, False], (seen, page.evaluate(
                """() => JSON.stringify({u: window.cityopsWallMaps.updates,
                  legend: document.querySelector("[data-wall-map='wall-map'] .wall-legend").textContent,
                  drawn: window.cityopsWallMaps.states['wall-map'].drawn.groups,
                  v: Array.from(window.cityopsWallMaps.states['wall-map'].drawn.vertices)})"""))
        watch.assert_clean()
    finally:
        context.close()


@pytest.mark.browser
def test_a_wall_on_a_slow_link_still_shows_what_changes(
        cityops_wall: RunningCityOps, r: redis.Redis, browser: Browser) -> None:
    """Every answer 1.5 s late (longer than the page's 1 s tick, as on a loaded server or a slow
    link): a new critical alert still pins the rotating wall and lists it, and a feed going stale still
    dims its domain. Dash drops an answer whose input changed while it was on its way, so each
    callback is asked again only once its answer is back (layouts/pulse.py)."""
    _seed(r)
    context, page, _watch = _open_wall(browser, r, cityops_wall.base_url, 1920, 1080, "&rotate=2")
    try:
        expect(page.locator("#wall-tiles .wall-tile")).to_have_count(8)
        cdp = context.new_cdp_session(page)
        cdp.send("Network.enable")
        cdp.send("Network.emulateNetworkConditions", {
            "offline": False, "latency": 1500, "downloadThroughput": -1, "uploadThroughput": -1})
        alert_id = alerts.raise_alert(r, fingerprint="test:wall-slow", title="Slow-link burst",
                                      severity="critical", domain="water", source="manual",
                                      lat=28.553, lon=112.361, description="").alert_id
        expect(page.locator(VIEWS_CLASS)).to_have_class(re.compile(r"\bpinned\b"),
                                                        timeout=SLOW_LINK_MS)
        expect(page.locator(f"#alert-panel-list [data-alert='{alert_id}']")).to_be_visible(
            timeout=SLOW_LINK_MS)
        store.feeds.write_health(r, "water-feed", {"domain": "water",
                                                  "last_success": time.time() - 3600,
                                                  "freshness_budget_s": 600})
        expect(page.locator("#wall-tiles .domain-water")).to_have_class(
            re.compile(r"\bstale\b"), timeout=SLOW_LINK_MS)
    finally:
        context.close()


@pytest.mark.browser
def test_a_still_city_costs_the_wall_no_questions(
        cityops_wall: RunningCityOps, r: redis.Redis, browser: Browser) -> None:
    """While nothing moves, the wall asks what changed once a tick, outside Dash, and its alert
    panel, cards, incident view and status strip ask the server nothing (each Dash callback costs
    the wall's main thread a pass over every component, issue 20); a change is still shown."""
    _seed(r)
    asked: list[str] = []  # "versions", or the output of a callback the wall asked for

    def record(request: Any) -> None:
        if "/_live-versions" in request.url:
            asked.append("versions")
        elif "_dash-update-component" in request.url:
            asked.append(str(json.loads(request.post_data or "{}").get("output", "")))

    def ticks(count: int) -> None:
        deadline = time.monotonic() + UPDATE_MS / 1000
        while asked.count("versions") < count and time.monotonic() < deadline:
            page.wait_for_timeout(100)
        assert asked.count("versions") >= count, asked

    context, page, watch = _open_wall(browser, r, cityops_wall.base_url, 1920, 1080, "&rotate=3600")
    try:
        with watch.explained():
            expect(page.locator("#wall-tiles .wall-tile")).to_have_count(8)
            page.on("request", record)
            ticks(3)  # the first answers are in
            asked.clear()
            tick_js = "() => pageTick.fired"  # the page's ticks sent through Dash (cityops.js)
            moved = page.evaluate(tick_js)
            ticks(6)
            # Each following part at most once in six ticks (a 30 s safety net may fall in them);
            # asking every tick, each would have asked six times.
            for part in ("alert-panel-list", "alert-panel-incidents", "wall-tiles.", "live-seen",
                         "wall-incident-head"):
                assert sum(part in output for output in asked) <= 1, (part, asked)
            # The page's tick went through Dash only for the seconds a part fired (the pin's
            # 5 s check, a safety net): not six times.
            assert page.evaluate(tick_js) - moved <= 3, asked
            alert_id = alerts.raise_alert(r, fingerprint="test:wall-still", title="Still-city burst",
                                          severity="major", domain="water", source="manual",
                                          description="").alert_id
            expect(page.locator(f"#alert-panel-list [data-alert='{alert_id}']")).to_be_visible(
                timeout=UPDATE_MS)
        watch.assert_clean()
    finally:
        context.close()
