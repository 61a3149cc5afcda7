"""Browser tests of the phone (issues 18 and 20): on a 390x844 touch screen, in English and in
Chinese, an emergency user who signs in lands on /alerts with the first alert card on screen
without scrolling, every tap target is at least 44x44 CSS px, the navigation folds into a menu,
the map is made only when an alert is opened, and the app can be installed (its manifest).

The real `cityops up` on the tests' Redis, driven through Debian's chromium; every request is
confined to 127.0.0.1 and checked afterwards.
"""

from __future__ import annotations

import time
from typing import Iterator
from urllib.parse import urlsplit

import pytest
import redis
from playwright.sync_api import Browser, Response, expect

from app import accounts, alerts
from tests.support.browser import (
    CHROMIUM,
    PAGE_TIMEOUT_MS,
    PageWatch,
    RunningCityOps,
    _loopback_only,
    log_in,
    phone_context,
    screenshot,
    small_targets,
    start_cityops,
    stop_cityops,
)
from tests.support.redis_server import RedisServer
from tests.support.web import PASSWORD

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(),
                                reason=f"{CHROMIUM} is missing: install Debian's chromium package")
FIRST_CARD_JS = """() => {
  const card = document.querySelector('#alerts-list .alert-card');
  if (!card) { return null; }
  const box = card.getBoundingClientRect();
  return {top: box.top, bottom: box.bottom, scrollY: window.scrollY,
          innerHeight: window.innerHeight, scrollWidth: document.documentElement.scrollWidth,
          innerWidth: window.innerWidth};
}"""


@pytest.fixture(scope="module")
def cityops_phone(redis_server: RedisServer,
                  tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCityOps]:
    """`cityops up --no-demo` on the tests' Redis, so a test can raise alerts directly."""
    running = start_cityops(tmp_path_factory.mktemp("phone") / "data", redis_server.url)
    yield running
    stop_cityops(running)


def _raise_alerts(r: redis.Redis, prefix: str) -> list[str]:
    """A few open water alerts of every severity (the count table has rows to show)."""
    return [alerts.raise_alert(r, fingerprint=f"phone:{prefix}:{i}", title=f"{prefix} pressure low {i}",
                               severity=("critical", "major", "minor")[i % 3], domain="water",
                               source="manual", lat=28.55 + i * 1e-3, lon=112.36).alert_id
            for i in range(6)]


def _plotly_js(url: str) -> bool:
    """plotly.js itself (served by Dash), not the project's small plotly locale in assets/."""
    return "/_dash-component-suites/" in url and "plotly" in url


@pytest.mark.browser
@pytest.mark.parametrize("locale,lang,menu,filters", [("en-GB", "en", "Menu", "Filters"),
                                                      ("zh-CN", "zh", "菜单", "筛选")])
def test_emergency_staff_land_on_their_alerts_with_finger_sized_targets(
        cityops_phone: RunningCityOps, r: redis.Redis, browser: Browser, locale: str, lang: str,
        menu: str, filters: str) -> None:
    base = cityops_phone.base_url
    name = f"medic-{lang}"
    accounts.add_user(r, name, "emergency", PASSWORD, ("water",))
    _raise_alerts(r, lang)
    context = phone_context(browser, locale)
    page = context.new_page()
    watch = PageWatch().attach(page)
    try:
        with watch.explained():
            log_in(page, base, name, PASSWORD)
            expect(page).to_have_url(f"{base}/alerts")  # their alerts, not the overview
            first = page.locator("#alerts-list .alert-card").first
            expect(first).to_be_visible()
            # No map on the page until an alert is opened: plotly.js is not fetched for the list.
            assert not any(_plotly_js(url) for url in watch.requests), watch.requests
            expect(page.locator("#alert-map")).to_have_count(0)

            where = page.evaluate(FIRST_CARD_JS)
            assert where["scrollY"] == 0, where
            assert 0 <= where["top"] and where["bottom"] <= where["innerHeight"], where
            assert where["scrollWidth"] <= where["innerWidth"], where
            # The compact shell and the folded filters, named in the reader's language.
            expect(page.locator("#nav")).to_be_hidden()
            expect(page.locator("#nav-menu > summary")).to_have_text(menu)
            expect(page.locator("#alerts-filters-toggle > summary")).to_have_text(filters)
            expect(page.locator("#alerts-filter-domain")).to_be_hidden()
            assert not (small := small_targets(page)), small
            screenshot(page, f"phone-alerts-{lang}.png")

            # The filters open behind their one control; their dropdowns are finger-sized, the
            # domain filter's clear "x" included (an emergency user starts with their domains).
            page.locator("#alerts-filters-toggle > summary").tap()
            expect(page.locator("#alerts-filter-domain")).to_be_visible()
            assert not (small := small_targets(page)), small
            screenshot(page, f"phone-alerts-filters-{lang}.png")
            page.locator("#alerts-filters-toggle > summary").tap()

            # The menu holds the navigation; following a link closes it.
            page.locator("#nav-menu > summary").tap()
            expect(page.locator("#nav-tasks")).to_be_visible()
            assert not (small := small_targets(page)), small
            screenshot(page, f"phone-menu-{lang}.png")
            page.locator("#nav-tasks").tap()
            expect(page).to_have_url(f"{base}/tasks")
            expect(page.locator("#nav")).to_be_hidden()
            page.goto(f"{base}/alerts")

            # Opening an alert makes its map (and only now fetches plotly.js).
            first = page.locator("#alerts-list .alert-card").first
            first.locator(".card-actions button").last.tap()
            expect(page.locator("#alert-map .js-plotly-plot")).to_be_visible(timeout=30_000)
            assert any(_plotly_js(url) for url in watch.requests)
            screenshot(page, f"phone-alert-sheet-{lang}.png")
        watch.assert_clean()
    finally:
        context.close()


@pytest.mark.browser
def test_other_roles_still_land_on_the_overview(cityops_phone: RunningCityOps, r: redis.Redis,
                                                browser: Browser) -> None:
    accounts.add_user(r, "desk-phone", "operator", PASSWORD)
    context = phone_context(browser, "en-GB")
    try:
        page = context.new_page()
        log_in(page, cityops_phone.base_url, "desk-phone", PASSWORD)
        expect(page).to_have_url(f"{cityops_phone.base_url}/")
        expect(page.locator("#page-title")).to_be_visible()
        assert not (small := small_targets(page)), small
    finally:
        context.close()


@pytest.mark.browser
def test_on_a_desk_the_navigation_and_filters_stay_open(cityops_phone: RunningCityOps,
                                                       r: redis.Redis, browser: Browser) -> None:
    """The phone's folds leave a laptop as it was: links in a row, filters shown, no buttons."""
    accounts.add_user(r, "medic-desk", "emergency", PASSWORD, ("water",))
    _raise_alerts(r, "desk")
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.set_default_timeout(PAGE_TIMEOUT_MS)
    context.route("**/*", _loopback_only)
    try:
        page = context.new_page()
        log_in(page, cityops_phone.base_url, "medic-desk", PASSWORD)
        expect(page).to_have_url(f"{cityops_phone.base_url}/alerts")
        expect(page.locator("#alerts-list .alert-card").first).to_be_visible()
        for shown in ("#nav-overview", "#nav-alerts", "#nav-tasks", "#alerts-filter-domain",
                      "#alerts-filter-state"):
            expect(page.locator(shown)).to_be_visible()
        expect(page.locator("#nav-menu > summary")).to_be_hidden()
        expect(page.locator("#alerts-filters-toggle > summary")).to_be_hidden()
        screenshot(page, "desk-alerts-en.png")
        links = page.locator("#nav a")
        first, second = links.nth(0).bounding_box(), links.nth(1).bounding_box()
        assert first and second, (first, second)
        assert abs(first["y"] - second["y"]) < 5 and second["x"] > first["x"], (first, second)  # a row
        page.locator("#nav-water").click()
        expect(page).to_have_url(f"{cityops_phone.base_url}/water")
    finally:
        context.close()


@pytest.mark.browser
def test_the_first_page_comes_with_the_layout_and_the_router_skips_it(
        cityops_phone: RunningCityOps, r: redis.Redis, browser: Browser) -> None:
    """Issue 18: the page of the address is drawn into the layout's answer (a slow link saves
    the router's round trip), with the address bar's parts, so the router is not asked for it;
    moving to another page and back draws each as usual."""
    base = cityops_phone.base_url
    accounts.add_user(r, "medic-first", "emergency", PASSWORD, ("water",))
    _raise_alerts(r, "first")
    context = phone_context(browser, "en-GB")
    page = context.new_page()
    watch = PageWatch().attach(page)
    routed: list[int] = []

    def router_answer(response: Response) -> None:
        body = response.request.post_data_json if response.request.method == "POST" else None
        if isinstance(body, dict) and "_pages_content.children" in str(body.get("output")):
            routed.append(response.status)

    page.on("response", router_answer)
    order: list[str] = []  # "ask <path>" and "done <path>", as the browser sent and finished them
    page.on("request", lambda request: order.append("ask " + urlsplit(request.url).path))
    page.on("requestfinished", lambda request: order.append("done " + urlsplit(request.url).path))
    try:
        with watch.explained():
            with page.expect_response(lambda response: response.url.endswith("/_dash-layout")) as got:
                log_in(page, base, "medic-first", PASSWORD)
            assert '"alerts-list"' in got.value.text()  # the page's list, in the layout's answer
            expect(page.locator("#alerts-list .alert-card").first).to_be_visible()
            # The layout and the callback graph are preloaded from the page's head: asked before
            # Dash's renderer has even arrived (it asks for them only once it runs), and asked
            # once (the renderer's own request is answered by the preload).
            renderer = next(e for e in order if e.startswith("done ") and "dash_renderer" in e)
            for name in ("/_dash-layout", "/_dash-dependencies"):
                assert order.count("ask " + name) == 1, order
                assert order.index("ask " + name) < order.index(renderer), order
            # The address bar's parts came with the layout too, so the router is not even asked
            # for the page it would skip; a page opened from the menu is routed as usual.
            for path, shown in (("tasks", "#page-title"), ("alerts", "#alerts-list .alert-card")):
                page.locator("#nav-menu summary").click()
                page.locator(f"#nav-{path}").click()
                expect(page).to_have_url(f"{base}/{path}")
                expect(page.locator(shown).first).to_be_visible()
            deadline = time.monotonic() + PAGE_TIMEOUT_MS / 1000
            while len(routed) < 2:  # Playwright hands over responses while the page is waited on
                assert time.monotonic() < deadline, routed
                page.wait_for_timeout(50)
            assert routed == [200, 200], routed
        watch.assert_clean()
    finally:
        context.close()
