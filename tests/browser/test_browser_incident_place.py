"""Browser tests of an incident's place (issue 19): an operator declares one by searching a stop and
picking it, another by tapping the map on a 390x844 phone, and the stored incident holds that
place; an alert and an incident without a place show a sentence, not an empty map. The declare
form is photographed at 390x844 and 1440x900 in English and Chinese (/tmp/shots/declare_*.png),
checked for clipped text and for finger-sized controls.

The real `cityops up --no-demo` on the tests' redis-server, driven through Debian's chromium; every
request is confined to 127.0.0.1 and checked afterwards.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Iterator

import pytest
import redis
from playwright.sync_api import Browser, BrowserContext, Page, expect

from app import accounts, alerts, incidents
from app.situation.mapdata import DEFAULT_CENTER
from tests.browser.test_browser_incidents import CLIPPED_JS
from tests.support.browser import (
    CHROMIUM,
    MIN_TARGET_PX,
    PAGE_TIMEOUT_MS,
    SCREENSHOT_TIMEOUT_MS,
    TARGETS_JS,
    PageWatch,
    RunningCityOps,
    _loopback_only,
    log_in,
    start_cityops,
    stop_cityops,
)
from tests.support.incident_pages import seed_city
from tests.support.incidents import CENTRE
from tests.support.redis_server import RedisServer
from tests.support.waiting import wait_for
from tests.support.web import PASSWORD

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(),
                                reason=f"{CHROMIUM} is missing: install Debian's chromium package")
PHONE = (390, 844)
DESK = (1440, 900)
SHOTS = Path("/tmp/shots")
STOP = (CENTRE[0] + 0.0005, CENTRE[1])  # "Kangfu Road stop" of seed_city
TEXT = {"en": {"near_stop": "Near Kangfu Road stop (bus stop)", "type": "Power outage",
               "no_place": "No place given."},
        "zh": {"near_stop": "Kangfu Road stop（公交站）附近", "type": "停电",
               "no_place": "未提供地点。"}}


@pytest.fixture(scope="module")
def cityops_place(redis_server: RedisServer,
                  tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCityOps]:
    """`cityops up --no-demo` on the tests' Redis, so a test can write the city directly."""
    running = start_cityops(tmp_path_factory.mktemp("place") / "data", redis_server.url)
    yield running
    stop_cityops(running)


def _context(browser: Browser, width: int, height: int, base: str,
             lang: str = "en") -> BrowserContext:
    phone = width < 700
    context = browser.new_context(viewport={"width": width, "height": height}, is_mobile=phone,
                                  has_touch=phone, device_scale_factor=2 if phone else 1)
    context.set_default_timeout(PAGE_TIMEOUT_MS)
    context.route("**/*", _loopback_only)
    context.add_cookies([{"name": "lang", "value": lang, "url": base}])
    return context


def _open_form(page: Page, base: str, title: str, lang: str = "en") -> None:
    """/incidents with the declare form unfolded, a title and a type chosen."""
    page.goto(f"{base}/incidents")
    page.locator("#declare-form > summary").click()
    page.locator("#declare-title").fill(title)
    page.locator("#declare-type").click()
    page.get_by_role("option", name=TEXT[lang]["type"], exact=False).first.click()


def _declared(r: redis.Redis, title: str) -> dict:  # type: ignore[type-arg]
    found: list[dict] = []  # type: ignore[type-arg]

    def stored() -> bool:
        found[:] = [i for i in incidents.list_incidents(r, open_only=False, limit=50)
                    if i["title"] == title]
        return bool(found)

    wait_for(stored, timeout=PAGE_TIMEOUT_MS / 1000)
    return found[0]


@pytest.mark.browser
def test_declare_by_searching_a_stop_and_picking_it(
        cityops_place: RunningCityOps, r: redis.Redis, browser: Browser) -> None:
    base = cityops_place.base_url
    seed_city(r, time.time())
    accounts.add_user(r, "desk", "operator", PASSWORD)
    context = _context(browser, *DESK, base)
    try:
        page = context.new_page()
        watch = PageWatch().attach(page)
        with watch.explained():
            log_in(page, base, "desk", PASSWORD)
            _open_form(page, base, "Gas smell at the stop")
            # A feed's name with markup in it is listed as text: no element is made of it.
            page.locator("#declare-place-query").fill("kangfu")
            expect(page.locator(".place-option", has_text="<b>Kangfu</b> Hospital")).to_be_visible()
            expect(page.locator(".place-results b")).to_have_count(0)
            page.locator("#declare-place-query").fill("kangfu road")
            option = page.locator(".place-option", has_text="Kangfu Road stop")
            expect(option).to_contain_text("bus stop")
            option.click()
            expect(page.locator("#declare-place-words")).to_contain_text(TEXT["en"]["near_stop"])
            expect(page.locator("#declare-place-results")).to_be_empty()
            # The coordinates are folded away, yet hold the stop's position for the form.
            expect(page.locator("#declare-coordinates")).not_to_have_attribute("open", "")
            page.locator("#declare-submit").click()
            expect(page.locator("#declare-result")).to_contain_text("Declared")
        incident = _declared(r, "Gas smell at the stop")
        assert (incident["lat"], incident["lon"]) == (pytest.approx(STOP[0], abs=1e-6),
                                                      pytest.approx(STOP[1], abs=1e-6))
        assert incident["radius_m"] == pytest.approx(500)
        watch.assert_clean()
    finally:
        context.close()


@pytest.mark.browser
def test_declare_by_tapping_the_map_on_a_phone(
        cityops_place: RunningCityOps, r: redis.Redis, browser: Browser) -> None:
    base = cityops_place.base_url
    accounts.add_user(r, "desk", "operator", PASSWORD)
    context = _context(browser, *PHONE, base)
    try:
        page = context.new_page()
        watch = PageWatch().attach(page)
        with watch.explained():
            log_in(page, base, "desk", PASSWORD)
            _open_form(page, base, "Smoke seen from the bridge")
            page.locator("#declare-radius").fill("250")
            # The map draws its basemap first; then a tap in its middle is the map's centre.
            holder = page.locator("#declare-map .maplibregl-canvas")
            expect(holder).to_be_visible()
            holder.scroll_into_view_if_needed()
            page.wait_for_timeout(1000)
            box = holder.bounding_box()
            assert box is not None
            page.touchscreen.tap(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
            words = page.locator("#declare-place-words")
            expect(words).to_contain_text("° N")
            expect(words).to_contain_text("within 250 m")
            # The marker and its circle are drawn where the tap was.
            expect(page.locator("#declare-map .scatterlayer, #declare-map canvas").first
                   ).to_be_visible()
            page.locator("#declare-submit").click()
            expect(page.locator("#declare-result")).to_contain_text("Declared")
        incident = _declared(r, "Smoke seen from the bridge")
        # The map opened on the city's centre: the tap lands within a few pixels of it (zoom 10).
        assert incident["lat"] == pytest.approx(DEFAULT_CENTER[0], abs=0.005)
        assert incident["lon"] == pytest.approx(DEFAULT_CENTER[1], abs=0.005)
        assert incident["radius_m"] == pytest.approx(250)
        watch.assert_clean()
    finally:
        context.close()


@pytest.mark.browser
def test_declaring_from_an_alert_starts_with_its_place(
        cityops_place: RunningCityOps, r: redis.Redis, browser: Browser) -> None:
    base = cityops_place.base_url
    seed_city(r, time.time())
    accounts.add_user(r, "desk", "operator", PASSWORD)
    alert_id = alerts.raise_alert(r, fingerprint="test:at-stop", title="Crowd at the stop",
                                  severity="minor", domain="transport", source="manual",
                                  lat=STOP[0], lon=STOP[1]).alert_id
    context = _context(browser, *DESK, base, "zh")
    try:
        page = context.new_page()
        watch = PageWatch().attach(page)
        with watch.explained():
            log_in(page, base, "desk", PASSWORD)
            page.goto(f"{base}/incidents?declare={alert_id}")
            expect(page.locator("#declare-place-words")).to_contain_text(
                "取自告警：" + TEXT["zh"]["near_stop"])
            expect(page.locator("#declare-map .maplibregl-canvas")).to_be_visible()
            page.locator("#declare-submit").click()
            expect(page.locator("#declare-result")).to_contain_text("Crowd at the stop")
        incident = _declared(r, "Crowd at the stop")
        assert (incident["lat"], incident["lon"]) == (pytest.approx(STOP[0], abs=1e-6),
                                                      pytest.approx(STOP[1], abs=1e-6))
        watch.assert_clean()
    finally:
        context.close()


@pytest.mark.browser
def test_no_place_means_a_sentence_not_an_empty_map(
        cityops_place: RunningCityOps, r: redis.Redis, browser: Browser) -> None:
    base = cityops_place.base_url
    accounts.add_user(r, "desk", "operator", PASSWORD)
    alert_id = alerts.raise_alert(r, fingerprint="test:phone-call", title="Caller reports smoke",
                                  severity="minor", domain="city", source="manual").alert_id
    context = _context(browser, *DESK, base)
    try:
        page = context.new_page()
        watch = PageWatch().attach(page)
        with watch.explained():
            log_in(page, base, "desk", PASSWORD)
            page.goto(f"{base}/alerts")
            page.locator(f"#alerts-list [data-alert='{alert_id}']").get_by_role(
                "button", name="Details").first.click()
            holder = page.locator("#alert-map-holder")
            expect(holder).to_have_text(TEXT["en"]["no_place"])
            expect(holder.locator(".js-plotly-plot")).to_have_count(0)
            # Declared from it: the incident has no place either, and says so.
            _open_form(page, base, "Smoke, place unknown")
            page.locator("#declare-submit").click()
            expect(page.locator("#declare-result")).to_contain_text("Declared")
            expect(page.locator("#incident-linkage")).to_contain_text(TEXT["en"]["no_place"],
                                                                      timeout=PAGE_TIMEOUT_MS)
            expect(page.locator("#incident-map")).to_be_hidden()
        watch.assert_clean()
    finally:
        context.close()


@pytest.mark.browser
@pytest.mark.parametrize("lang", ["en", "zh"])
@pytest.mark.parametrize("size", [PHONE, DESK], ids=["phone", "desk"])
def test_the_declare_form_fits_and_is_photographed(
        cityops_place: RunningCityOps, r: redis.Redis, browser: Browser,
        size: tuple[int, int], lang: str) -> None:
    base = cityops_place.base_url
    seed_city(r, time.time())
    accounts.add_user(r, "desk", "operator", PASSWORD)
    context = _context(browser, *size, base, lang)
    try:
        page = context.new_page()
        watch = PageWatch().attach(page)
        with watch.explained():
            log_in(page, base, "desk", PASSWORD)
            _open_form(page, base, "Burst main near the stop", lang)
            page.locator("#declare-place-query").fill("kangfu")
            page.locator(".place-option", has_text="Kangfu Road stop").click()
            expect(page.locator("#declare-place-words")).to_contain_text(TEXT[lang]["near_stop"])
            page.locator("#declare-place-query").fill("r")
            expect(page.locator(".place-option").first).to_be_visible()
            page.locator("#declare-coordinates > summary").click()
            page.wait_for_timeout(800)  # the map's redraw
            clipped = page.evaluate(CLIPPED_JS, ".place-picker *, .declare-form > *")
            assert not clipped, clipped
            small = [t for t in page.evaluate(
                TARGETS_JS.replace("document.querySelectorAll(selector)",
                                   "document.querySelectorAll('.place-picker').length ? "
                                   "document.querySelector('.place-picker')"
                                   ".querySelectorAll(selector) : []"))
                if t["height"] < MIN_TARGET_PX - 0.5 and size == PHONE]
            assert not small, small
            SHOTS.mkdir(parents=True, exist_ok=True)
            name = f"declare_{'phone' if size == PHONE else 'desk'}_{lang}.png"
            page.locator("#declare-form").screenshot(path=str(SHOTS / name), timeout=SCREENSHOT_TIMEOUT_MS)
        watch.assert_clean()
    finally:
        context.close()
