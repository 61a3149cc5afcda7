"""Browser tests of shifts and after-action, in chromium against a real `cityops up`: a shift signs
on, writes in the log, looks at the sheet and hands over; the next shift takes over; in English and
Chinese, at 1440x900 and on a 390x844 phone, with no text cut off and nothing wider than the screen.
An incident's after-action record, downloaded from /official, opens with every network request
refused and draws its area, its alerts and its timeline.

Screenshots go to test-artifacts/ (ignored by git) for people to look at.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Callable, Iterator

import pytest
import redis
from playwright.sync_api import Browser, BrowserContext, Dialog, Page, Route, expect

from app import accounts, incidents, store
from app.alerts import lifecycle
from app.model.incidents import CLOSED
from tests.support.browser import (
    CHROMIUM,
    PAGE_TIMEOUT_MS,
    PageWatch,
    RunningCityOps,
    _loopback_only,
    log_in,
    screenshot,
    start_cityops,
    stop_cityops,
)
from tests.support.incidents import CATALOGUE, CENTRE, person, placed_alert
from tests.support.redis_server import RedisServer
from tests.support.web import PASSWORD

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is missing")]
expect.set_options(timeout=PAGE_TIMEOUT_MS)
HOSTILE = "<img src=x onerror=alert(1)>`${alert(2)}` 水泵\"停机\""
SIZES = [(1440, 900, False), (390, 844, True)]
# Every element that shows text of its own: is it cut off (its box scrolls or ellipsises) or out
# of the screen? And is the page wider than the screen?
CLIPPED_JS = """() => {
    const width = document.documentElement.clientWidth, found = [];
    for (const el of document.querySelectorAll("#shell *")) {
        const own = [...el.childNodes].some(n => n.nodeType === 3 && n.textContent.trim());
        if (!own) continue;
        const style = getComputedStyle(el), box = el.getBoundingClientRect();
        if (style.display === "none" || style.visibility === "hidden" || !box.width) continue;
        const what = `${el.tagName}.${el.className}: ${el.textContent.trim().slice(0, 40)}`;
        if (box.right > width + 1 || box.left < -1) found.push("outside: " + what);
        const hides = style.overflowX !== "visible" || style.textOverflow === "ellipsis";
        if (hides && el.scrollWidth > el.clientWidth + 1) found.push("cut: " + what);
    }
    return {found, scrollWidth: document.documentElement.scrollWidth, innerWidth: window.innerWidth};
}"""


@pytest.fixture(scope="module")
def city(redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCityOps]:
    """`cityops up --no-demo` on the tests' Redis (each test seeds what it needs)."""
    running = start_cityops(tmp_path_factory.mktemp("shifts") / "data", redis_server.url)
    yield running
    stop_cityops(running)


def _context(browser: Browser, width: int, height: int, phone: bool) -> BrowserContext:
    context = browser.new_context(viewport={"width": width, "height": height}, is_mobile=phone,
                                  has_touch=phone, device_scale_factor=2 if phone else 1,
                                  accept_downloads=True)
    context.set_default_timeout(PAGE_TIMEOUT_MS)
    context.route("**/*", _loopback_only)
    return context


def _dialogs(page: Page) -> list[str]:
    """Every alert() a page opens: hostile text that ran as script would open one."""
    opened: list[str] = []

    def record(dialog: Dialog) -> None:
        opened.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", record)
    return opened


def seed_city(r: redis.Redis, now: float) -> None:
    """What a handover sheet has to tell: an open incident with tasks, an unacknowledged alert with
    a hostile title, a feed that is down."""
    alert = placed_alert(r, "browser-shift", title=HOSTILE, severity="critical", now=now - 600)
    accounts.add_user(r, "commander", "operator", PASSWORD)
    incidents.declare(r, person("commander"), CATALOGUE, title="Burst main on Kangfu Road",
                      kind="water_main_burst", alert_ids=[alert], lat=CENTRE[0], lon=CENTRE[1],
                      now=now - 300)
    store.feeds.write_health(r, "reservoirs", {"domain": "water", "adapter": "sensorthings",
                                              "last_success": now - 7200, "freshness_budget_s": 60,
                                              "last_error": "timed out"}, incr_failures=True)


def _no_cut_text(page: Page, what: str) -> None:
    metrics = page.evaluate(CLIPPED_JS)
    assert metrics["scrollWidth"] <= metrics["innerWidth"], (what, metrics)
    assert metrics["found"] == [], (what, metrics["found"])


@pytest.mark.parametrize(("width", "height", "phone"), SIZES)
def test_a_shift_hands_over_and_the_next_takes_over(city: RunningCityOps, r: redis.Redis,
                                                    browser: Browser, width: int, height: int,
                                                    phone: bool) -> None:
    seed_city(r, time.time())
    outgoing, incoming = f"day-{width}", f"night-{width}"
    accounts.add_user(r, outgoing, "operator", PASSWORD)
    accounts.add_user(r, incoming, "operator", PASSWORD)
    accounts.set_language(r, incoming, "zh")
    context = _context(browser, width, height, phone)
    page = context.new_page()
    watch = PageWatch().attach(page)
    dialogs = _dialogs(page)
    with watch.explained():
        log_in(page, city.base_url, outgoing, PASSWORD)
        page.goto(f"{city.base_url}/shifts")
        expect(page.locator("#page-title")).to_have_text("Shifts")
        expect(page.locator("#shifts-on-duty")).to_have_text("Nobody is on duty.")
        page.get_by_role("button", name="Sign on duty").click()
        expect(page.locator("#shifts-duty-result")).to_have_text("You are on duty.")
        expect(page.locator("#shifts-on-duty")).to_contain_text(f"{outgoing} · operator · since ")
        page.fill("#shifts-note-text", HOSTILE)
        page.get_by_text("Notable: put it on the next handover sheet").click()
        page.click("#shifts-note-write")
        expect(page.locator("#shifts-note-result")).to_have_text("Written in the log.")
        entry = page.locator("#shifts-log .shifts-entry.notable")
        expect(entry).to_contain_text(HOSTILE)  # as text, escaped
        expect(entry).to_contain_text("notable")
        page.click("#shifts-preview")
        sheet = page.locator("#shifts-sheet")
        expect(sheet).to_contain_text("Notable log entries (1)")
        expect(sheet).to_contain_text(HOSTILE)  # the alert's title, as text
        expect(sheet).to_contain_text("Feeds down (1)")
        expect(sheet).to_contain_text("Burst main on Kangfu Road")
        _no_cut_text(page, "en, the sheet shown")
        sheet.scroll_into_view_if_needed()
        screenshot(page, f"shifts-en-{width}.png")
        page.fill("#shifts-handover-note", "Storm expected after midnight")
        page.click("#shifts-handover-write")
        expect(page.locator("#shifts-handover-result")).to_contain_text("Handed over.")
        expect(page.locator("#shifts-pending")).to_contain_text(
            "You wrote this sheet: the incoming shift takes it over.")
        expect(page.locator("#shifts-recent")).to_contain_text("Not taken over yet")
        _no_cut_text(page, "en, handed over")

    assert not dialogs, dialogs
    watch.assert_clean()
    context.close()

    # The night shift, in Chinese: signs on and takes the sheet over.
    night_context = _context(browser, width, height, phone)
    night = night_context.new_page()
    night_watch = PageWatch().attach(night)
    night_dialogs = _dialogs(night)
    with night_watch.explained():
        log_in(night, city.base_url, incoming, PASSWORD)
        night.goto(f"{city.base_url}/shifts")
        expect(night.locator("#page-title")).to_have_text("值班")
        night.get_by_role("button", name="上岗签到").click()
        expect(night.locator("#shifts-duty-result")).to_have_text("已上岗签到。")
        expect(night.locator("#shifts-pending")).to_contain_text("Storm expected after midnight")
        night.fill("#shifts-ack-note", "已阅")
        expect(night.locator("#shifts-log")).to_contain_text("交班")
        _no_cut_text(night, "zh, a sheet to take over")
        night.locator("#shifts-pending").scroll_into_view_if_needed()
        screenshot(night, f"shifts-zh-{width}.png")
        night.get_by_role("button", name="接班确认").click()
        expect(night.locator("#shifts-ack-result")).to_have_text("已接班确认。")
        expect(night.locator("#shifts-pending")).to_have_text("没有待接班确认的交接班记录。")
        expect(night.locator("#shifts-recent")).to_contain_text(re.compile(f"{incoming} 已于 .+ 接班确认"))
        _no_cut_text(night, "zh, taken over")
        # The printable sheet opens from the page, in Chinese, with the hostile text as text.
        with night.expect_popup() as popup:
            night.locator("#shifts-recent a", has_text="打印版").first.click()
        printable = popup.value
        expect(printable.locator("h1")).to_contain_text("交接班记录")
        expect(printable.locator("body")).to_contain_text(HOSTILE)
        expect(printable.locator("body")).to_contain_text("已于")
    assert not night_dialogs, night_dialogs
    night_watch.assert_clean()
    night_context.close()


def build_incident(r: redis.Redis, base: float) -> None:
    """A closed incident with known times: alerts, an acknowledgement, tasks taken and done."""
    accounts.add_user(r, "commander", "operator", PASSWORD)
    operator = person("commander")
    first = placed_alert(r, "aa-browser-1", title=HOSTILE, severity="critical", now=base)
    second = placed_alert(r, "aa-browser-2", title="Turbid water", severity="minor",
                          lat=CENTRE[0] + 0.002, lon=CENTRE[1] + 0.002, now=base + 30)
    lifecycle.acknowledge(r, first, "commander", now=base + 90)
    incident = incidents.declare(r, operator, CATALOGUE, title=HOSTILE, kind="water_main_burst",
                                 alert_ids=[first, second], lat=CENTRE[0], lon=CENTRE[1],
                                 radius_m=500.0, now=base + 300)
    task = incidents.incident_tasks(r, incident["id"])[0]
    incidents.act_on_task(r, operator, CATALOGUE, task["id"], "take", now=base + 420)
    incidents.act_on_task(r, operator, CATALOGUE, task["id"], "finish", text_=HOSTILE, now=base + 1000)
    incidents.change(r, operator, CATALOGUE, incident["id"], "status", status="responding",
                     now=base + 500)
    incidents.change(r, operator, CATALOGUE, incident["id"], "status", status="stabilised",
                     now=base + 2000)
    incidents.change(r, operator, CATALOGUE, incident["id"], "status", status=CLOSED,
                     now=base + 3000)


def _file_only(requests: list[str], allowed: str) -> Callable[[Route], None]:
    """Record every request and let only ``allowed`` (the file itself) through."""

    def handle(route: Route) -> None:
        requests.append(route.request.url)
        if route.request.url == allowed:
            route.continue_()
        else:
            route.abort("internetdisconnected")

    return handle


def test_after_action_export_opens_offline(city: RunningCityOps, r: redis.Redis, browser: Browser,
                                           tmp_path: Path) -> None:
    build_incident(r, time.time() - 86400)
    accounts.add_user(r, "mayor", "official", PASSWORD)
    context = _context(browser, 1440, 900, False)
    page = context.new_page()
    watch = PageWatch().attach(page)
    with watch.explained():
        log_in(page, city.base_url, "mayor", PASSWORD)
        page.goto(f"{city.base_url}/official")
        section = page.locator("#official-incidents")
        expect(section).to_contain_text("Incidents: 1 · median time to acknowledge 1 min 30 s")
        expect(section).to_contain_text(HOSTILE)
        screenshot(page, "official-incidents.png")
        with page.expect_download() as info:
            section.get_by_role("link", name="Report").click()
        saved = tmp_path / "after-action.html"
        info.value.save_as(saved)
        assert info.value.suggested_filename == "cityops-incident-1-after-action.html"
    watch.assert_clean()
    context.close()

    document = saved.read_text(encoding="utf-8")
    url = saved.as_uri()
    offline: BrowserContext = browser.new_context(viewport={"width": 1280, "height": 900},
                                                  offline=True)
    requests: list[str] = []
    offline.route("**/*", _file_only(requests, url))
    reader = offline.new_page()
    reader_watch = PageWatch().attach(reader)
    dialogs = _dialogs(reader)
    with reader_watch.explained():
        reader.goto(url)
        expect(reader.locator("path.report-alert")).to_have_count(document.count("report-alert severity-"))
        expect(reader.locator("path.report-alert")).to_have_count(2)
        expect(reader.locator("path.incident-area")).to_have_count(1)
        expect(reader.locator("path.incident-centre")).to_have_count(1)
        for measure, shown in (("to_acknowledge", "1 min 30 s"), ("to_declare", "5 min 00 s"),
                               ("to_first_task_accepted", "2 min 00 s"), ("to_close", "45 min 00 s")):
            figure = reader.locator(f"#durations [data-measure='{measure}'] .figure")
            expect(figure).to_have_text(shown)
        expect(reader.locator("h1")).to_contain_text(HOSTILE)
        expect(reader.locator("#timeline")).to_contain_text(HOSTILE)
        expect(reader.locator("#people")).to_contain_text("commander")
        alert = reader.locator("path.report-alert.severity-critical")
        alert.hover(force=True)
        expect(reader.locator(".leaflet-tooltip")).to_contain_text(f"critical: {HOSTILE}")
        alert.click(force=True)
        expect(reader.locator(".leaflet-popup-content")).to_contain_text(HOSTILE)
        screenshot(reader, "after-action.png")
    assert not dialogs, dialogs
    assert requests == [url], f"the document asked for more than itself: {requests}"
    assert not reader_watch.console_errors and not reader_watch.page_errors, reader_watch.summary()
    offline.close()
