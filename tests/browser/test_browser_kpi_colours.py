"""Browser tests of KPI tile status colours (issue 19): an ok, a warn and a bad tile on a domain page
and on the wall each show their status colour, measured as chromium computes the style.

A rule later in the style sheet that resets the tile's border (or background) would turn every tile
neutral; only the computed style shows that, so this is what the test reads.
"""

from __future__ import annotations

import time
from typing import Any, Iterator

import pytest
import redis
from playwright.sync_api import Browser, Page, expect

from app import accounts, store
from app.model.domains import DOMAINS
from tests.support.browser import (
    CHROMIUM,
    PAGE_TIMEOUT_MS,
    RunningCityOps,
    new_context,
    screenshot,
    start_cityops,
    stop_cityops,
)
from tests.support.redis_server import RedisServer
from tests.support.web import PASSWORD

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is missing")]
expect.set_options(timeout=PAGE_TIMEOUT_MS)
OPERATOR = "colour-operator"
STATUSES = ("ok", "warn", "bad")

# The tile's computed left border and background, and what the theme's variables resolve to in the
# same place (a probe element beside the tile inherits the page's theme, light or dark).
MEASURE_JS = """(selector) => {
    const tile = document.querySelector(selector);
    if (!tile) { return null; }
    const probe = document.createElement("div");
    tile.parentElement.appendChild(probe);
    const resolve = (name) => { probe.style.color = `var(${name})`;
                                return getComputedStyle(probe).color; };
    const theme = {ok: resolve("--ok"), warn: resolve("--warn"), bad: resolve("--bad"),
                   line: resolve("--line")};
    probe.remove();
    const style = getComputedStyle(tile);
    return {border: style.borderLeftColor, width: parseFloat(style.borderLeftWidth),
            background: style.backgroundColor, theme: theme};
}"""


def _kpi(domain: str, status: str, value: float) -> dict[str, Any]:
    return {"name": f"pressure_{status}", "domain": domain, "title": f"Pressure {status}",
            "value": value, "unit": "bar", "target": ">= 2 bar", "status": status,
            "computed_at": time.time(), "subject": None, "rank": STATUSES.index(status)}


def _seed(r: redis.Redis) -> None:
    """An ok, a warn and a bad KPI in every domain, with healthy feeds (so nothing is dimmed)."""
    now = time.time()
    for domain in DOMAINS:
        store.kpis.write(r, domain, [_kpi(domain, "ok", 2.4), _kpi(domain, "warn", 1.8),
                                     _kpi(domain, "bad", 1.3)])
        store.status.bump_domain_version(r, domain, now)
        store.feeds.write_health(r, f"{domain}-feed", {
            "domain": domain, "adapter": "test", "interval_s": 10, "freshness_budget_s": 600,
            "last_success": now, "first_attempt": now - 60})


@pytest.fixture(scope="module")
def city(redis_server: RedisServer,
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCityOps]:
    """`cityops up --no-demo` on the tests' Redis; each test seeds it (`r` empties it first)."""
    running = start_cityops(tmp_path_factory.mktemp("colours") / "data", redis_server.url)
    yield running
    stop_cityops(running)


def _measure(page: Page, selector: str) -> dict[str, Any]:
    expect(page.locator(selector).first).to_be_visible()
    measured = page.evaluate(MEASURE_JS, selector)
    assert measured is not None, selector
    return measured


def _assert_status_colours(page: Page, tile_class: str) -> None:
    """Each status's tile has its own colour, the theme's, not the neutral line; worse is wider."""
    seen = {status: _measure(page, f".{tile_class}.kpi-{status}") for status in STATUSES}
    for status, measured in seen.items():
        theme = measured["theme"]
        assert measured["border"] == theme[status], (status, measured)
        assert measured["border"] != theme["line"], (status, measured)
    assert len({m["border"] for m in seen.values()}) == 3, seen
    assert seen["ok"]["width"] < seen["bad"]["width"], seen
    assert seen["warn"]["width"] <= seen["bad"]["width"], seen


@pytest.mark.browser
def test_domain_page_tiles_show_their_status_colour(city: RunningCityOps, r: redis.Redis,
                                                    browser: Browser) -> None:
    _seed(r)
    accounts.add_user(r, OPERATOR, "operator", PASSWORD)
    context = new_context(browser)
    try:
        page = context.new_page()
        # Signed in as log_in does, with room for a slow first load on a shared machine.
        page.goto(f"{city.base_url}/login", wait_until="domcontentloaded",
                  timeout=4 * PAGE_TIMEOUT_MS)
        page.fill("#username", OPERATOR)
        page.fill("#password", PASSWORD)
        page.click("#login-submit")
        expect(page).not_to_have_url(f"{city.base_url}/login")
        # The machine is shared: a slow first load is allowed; the tiles are waited for below.
        page.goto(f"{city.base_url}/water", wait_until="domcontentloaded",
                  timeout=4 * PAGE_TIMEOUT_MS)
        expect(page.locator(".kpi-tile")).to_have_count(3)
        _assert_status_colours(page, "kpi-tile")
        seen = {status: _measure(page, f".kpi-tile.kpi-{status}") for status in STATUSES}
        # Off target is also a tinted background, so the tile stands out at a glance.
        assert seen["warn"]["background"] != seen["ok"]["background"], seen
        assert seen["bad"]["background"] != seen["ok"]["background"], seen
        assert seen["bad"]["background"] != seen["warn"]["background"], seen
        screenshot(page, "kpi-colours-water.png")
    finally:
        context.close()


@pytest.mark.browser
def test_wall_tiles_show_their_status_colour(city: RunningCityOps, r: redis.Redis,
                                             browser: Browser) -> None:
    _seed(r)
    # The city view shows each domain's two gravest KPIs: transport's on-target one is among its
    # two, so every status has a tile on screen.
    store.kpis.write(r, "transport", [_kpi("transport", "ok", 2.4), _kpi("transport", "warn", 1.8)])
    context = new_context(browser, 1920, 1080)
    try:
        token = accounts.create_token(r, "colour-wall", "wall")
        page = context.new_page()
        page.goto(f"{city.base_url}/wall?token={token}", wait_until="domcontentloaded",
                  timeout=4 * PAGE_TIMEOUT_MS)
        expect(page.locator("#wall-tiles .wall-tile.kpi-bad").first).to_be_visible()
        _assert_status_colours(page, "wall-tile")
        screenshot(page, "kpi-colours-wall.png")
    finally:
        context.close()
