"""The live map in a real browser: a bus moved in the store moves on the open map, zoom kept.

`cityops up --no-demo` runs on the tests' Redis; the test writes entities through the store as an
adapter would, and drives Debian's chromium (loopback only) like an operator.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Iterator

import pytest
import redis
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

from app import accounts, alerts, store
from app.model.records import Entity, Observation
from tests.support.browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    PageWatch,
    RunningCityOps,
    log_in,
    new_context,
    screenshot,
    start_cityops,
    stop_cityops,
)
from tests.support.redis_server import RedisServer
from tests.support.web import PASSWORD

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is missing")

CENTER = (28.55, 112.36)
HOSTILE = "<img src=x onerror=window.__mapxss=1>"
MOVE_WITHIN_MS = 3000
GRAPH = "#overview-map .js-plotly-plot"
# Where an entity is drawn: [lat, lon] from the visible traces plotly.js holds, or null.
POSITION_JS = """(id) => {
    const gd = document.querySelector('%s');
    if (!gd || !gd._fullData) return null;
    for (const t of gd._fullData) {
        if (t.visible !== true || !t.customdata) continue;
        const k = Array.prototype.indexOf.call(t.customdata, id);
        if (k >= 0) return [t.lat[k], t.lon[k]];
    }
    return null;
}""" % GRAPH
VIEW_JS = """() => {
    const m = document.querySelector('%s')._fullLayout.map;
    return {zoom: m.zoom, lat: m.center.lat, lon: m.center.lon};
}""" % GRAPH
# True once the view is the same on two polls in a row.
SETTLED_JS = """() => {
    const view = JSON.stringify((%s)());
    const same = window.__lastView === view;
    window.__lastView = view;
    return same;
}""" % VIEW_JS
READY_JS = """() => {
    const gd = document.querySelector('%s');
    return !!gd && !gd.classList.contains('dash-graph--pending') && !!gd._ev
        && gd._ev.listeners('plotly_click').length > 0;
}""" % GRAPH
# The screen position of an entity's marker, from the map's own projection.
SCREEN_JS = """(id) => {
    const gd = document.querySelector('%s');
    const map = gd._fullLayout.map._subplot.map;
    for (const t of gd._fullData) {
        if (t.visible !== true || !t.customdata) continue;
        const k = Array.prototype.indexOf.call(t.customdata, id);
        if (k < 0) continue;
        const p = map.project([t.lon[k], t.lat[k]]);
        const box = map.getCanvas().getBoundingClientRect();
        return {x: box.left + p.x, y: box.top + p.y};
    }
    return null;
}""" % GRAPH


def bus(n: int, lat: float, lon: float, at: float, label: str | None = None) -> Entity:
    """A vehicle as the GTFS-rt adapter stores it."""
    return Entity("transport", "vehicle", f"t:vehicle:{n}", lat, lon, "in_service", at, "t",
                  {"label": label or f"Bus {n}", "route_id": "7", "trip_id": f"trip{n}"})


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One headless chromium for the module."""
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                              args=CHROMIUM_ARGS)
        yield instance
        instance.close()


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    """A fresh loopback-only context the size of a desk screen."""
    ctx = new_context(browser, 1400, 1000)
    yield ctx
    ctx.close()


@pytest.fixture
def city(redis_server: RedisServer, r: redis.Redis, tmp_path: Path) -> Iterator[RunningCityOps]:
    """Three buses (one with a hostile label, late, with an alert) and `cityops up` on them."""
    now = time.time()
    accounts.add_user(r, "operator-map", "operator", PASSWORD)
    store.entities.write_batch(r, "transport", "t", entities=[
        bus(1, CENTER[0], CENTER[1], now, HOSTILE), bus(2, CENTER[0] + 0.004, CENTER[1] + 0.004, now),
        bus(3, CENTER[0] - 0.004, CENTER[1] - 0.004, now)],
        observations=[Observation("t:vehicle:1", "delay_s", 700.0, "s", now)])
    alerts.raise_alert(r, fingerprint="late:t1", title="Bus running very late", severity="major",
                       domain="transport", source="rule", entity="t:vehicle:1")
    running = start_cityops(tmp_path / "data", redis_server.url)
    yield running
    stop_cityops(running)


def open_map(page: Page, city: RunningCityOps) -> None:
    """Sign in as the operator and wait until the map draws the buses."""
    log_in(page, city.base_url, "operator-map", PASSWORD)
    expect(page.locator("#page-title")).to_have_text("Operations overview")
    page.wait_for_function(f"() => ({POSITION_JS})('t:vehicle:2') !== null", timeout=20_000)


@pytest.mark.browser
def test_moved_bus_moves_on_the_open_map_and_the_zoom_stays(city: RunningCityOps,
                                                            context: BrowserContext,
                                                            r: redis.Redis) -> None:
    """Zoom in, move a bus in the store: it moves within 3 s and the map keeps the user's view;
    the basemap comes from our own assets and nothing but 127.0.0.1 is asked for."""
    page = context.new_page()
    watch = PageWatch().attach(page)
    basemap: list[tuple[str, int]] = []
    page.on("response", lambda resp: basemap.append((resp.url.rsplit("/", 1)[-1], resp.status))
            if "/assets/basemap/" in resp.url else None)
    with watch.explained():
        open_map(page, city)
        before = page.evaluate(VIEW_JS)
        box = page.locator("#overview-map").bounding_box()
        assert box is not None
        page.mouse.move(box["x"] + box["width"] * 0.6, box["y"] + box["height"] * 0.5)
        page.mouse.wheel(0, -800)
        page.wait_for_function(f"() => ({VIEW_JS})().zoom > {before['zoom'] + 0.5}")
        # The wheel eases the zoom in: compare views only once it is at rest.
        page.wait_for_function(SETTLED_JS, polling=300)
        zoomed = page.evaluate(VIEW_JS)
        new_lat, new_lon = CENTER[0] + 0.0061, CENTER[1] + 0.0047
        store.entities.write_batch(r, "transport", "t", entities=[bus(2, new_lat, new_lon, time.time() + 1)])
        page.wait_for_function(
            "([id, lat, lon]) => { const p = (%s)(id);"
            " return p !== null && Math.abs(p[0] - lat) < 1e-5 && Math.abs(p[1] - lon) < 1e-5; }"
            % POSITION_JS, arg=["t:vehicle:2", new_lat, new_lon], timeout=MOVE_WITHIN_MS)
        after = page.evaluate(VIEW_JS)
        assert after == pytest.approx(zoomed, abs=1e-9), (zoomed, after)
        assert after["zoom"] > before["zoom"] + 0.5
        screenshot(page, "map-moved.png")
        loaded = {name for name, status in basemap if status == 200}
        assert loaded == {"districts.geojson", "river.geojson", "roads.geojson"}, basemap
    watch.assert_clean()


@pytest.mark.browser
def test_click_on_a_bus_opens_its_details_as_text(city: RunningCityOps,
                                                  context: BrowserContext) -> None:
    """The panel shows the bus's feed label as text (no markup runs), its delay and its alert."""
    page = context.new_page()
    watch = PageWatch().attach(page)
    with watch.explained():
        open_map(page, city)
        # Dash listens for clicks once the map's first draw has finished (style and basemap loaded).
        page.wait_for_function(READY_JS, timeout=20_000)
        spot: Any = page.evaluate(f"() => ({SCREEN_JS})('t:vehicle:1')")
        assert spot is not None
        page.mouse.move(spot["x"], spot["y"])
        # plotly.js clicks the point it hovers: wait for the hover label first.
        expect(page.locator("#overview-map .hoverlayer .hovertext")).to_have_count(1)
        page.mouse.click(spot["x"], spot["y"])
        panel = page.locator("#overview-map-panel")
        expect(panel.locator(".panel-title")).to_have_text(HOSTILE)
        expect(panel).to_contain_text("Vehicles")
        expect(panel).to_contain_text("700.00 s")
        expect(panel).to_contain_text("Bus running very late")
        assert panel.locator("img").count() == 0
        assert page.evaluate("() => window.__mapxss") is None
        screenshot(page, "map-panel.png")
    watch.assert_clean()
