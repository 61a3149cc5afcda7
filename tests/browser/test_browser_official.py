"""Browser tests of /official: the page in chromium, and the exported report opened with no network.

The real `cityops up` runs on the tests' Redis, seeded with a stale water feed, an off-target zone
and a critical alert whose title is hostile markup. Screenshots go to test-artifacts/ (ignored by
git) for people to look at.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Callable, Iterator

import pytest
import redis
from playwright.sync_api import Browser, BrowserContext, Dialog, Page, Route, expect

from app import accounts, alerts, store
from app.model.records import Entity, Event
from app.store.link import connect
from tests.support.browser import (
    CHROMIUM,
    PAGE_TIMEOUT_MS,
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

HOSTILE = "<img src=x onerror=alert(1)>`${alert(2)}`"
OFFICIAL = "official-browser"

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is missing")]
expect.set_options(timeout=PAGE_TIMEOUT_MS)


def seed(r: redis.Redis, now: float) -> None:
    """A city to report on: places in three domains, a warning area, KPIs, feeds, an alert."""
    store.entities.write_batch(r, "medical", "fhir", entities=[
        Entity("medical", "hospital", "fhir:hospital:h1", 28.56, 112.37, "active", now, "fhir",
               {"name": HOSTILE})])
    store.entities.write_batch(r, "water", "senml", entities=[
        Entity("water", "sensor", f"senml:p{i}", 28.54 + i / 200, 112.35, "ok", now, "senml")
        for i in range(3)])
    store.entities.write_batch(r, "transport", "buses", entities=[
        Entity("transport", "vehicle", "t:vehicle:7", 28.55, 112.36, "in_transit", now, "buses")])
    area = {"type": "Polygon", "coordinates": [[[112.33, 28.53], [112.39, 28.53], [112.39, 28.58],
                                                [112.33, 28.53]]]}
    store.entities.write_batch(r, "city", "cap", events=[
        Event("city", "cap_warning", "cap:flood", "Flood warning", now, "cap", "major", now - 60,
              now + 86_400, area, {"areaDesc": HOSTILE})])
    store.kpis.write(r, "transport", [
        {"name": "on_time_performance", "domain": "transport", "title": "On-time performance",
         "value": 91.5, "unit": "%", "target": ">= 85 %", "status": "ok", "computed_at": now}])
    store.kpis.write(r, "water", [
        {"name": "min_pressure:Zone 3", "domain": "water", "title": "Min pressure",
         "subject": "Zone 3", "group": "min_pressure", "value": 1.7, "unit": "bar",
         "target": ">= 2 bar", "status": "warn", "computed_at": now}])
    store.feeds.write_health(r, "senml", {"domain": "water", "adapter": "senml",
                                         "last_success": now - 3600, "freshness_budget_s": 300})
    alerts.raise_alert(r, fingerprint="browser:icu", title=HOSTILE, severity="critical",
                       domain="medical", source="test", rule="test", entity="h1", lat=28.56,
                       lon=112.37, description=HOSTILE, now=now - 120)
    accounts.add_user(r, OFFICIAL, "official", PASSWORD)


@pytest.fixture(scope="module")
def city(redis_server: RedisServer,
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCityOps]:
    """`cityops up --no-demo` on the tests' Redis, seeded before it starts."""
    client = connect(redis_server.url)
    client.flushall()
    seed(client, time.time())
    client.close()
    running = start_cityops(tmp_path_factory.mktemp("official") / "data", redis_server.url)
    yield running
    stop_cityops(running)


@pytest.fixture(scope="module")
def saved_report(city: RunningCityOps, browser: Browser,
                 tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The situation report as an official downloads it from the page's export button."""
    context = new_context(browser)
    page = context.new_page()
    log_in(page, city.base_url, OFFICIAL, PASSWORD)
    page.goto(f"{city.base_url}/official")
    with page.expect_download() as info:
        page.click("#official-export-report-html")
    target = tmp_path_factory.mktemp("report") / "situation.html"
    info.value.save_as(target)
    assert re.fullmatch(r"cityops-situation-\d{8}-\d{4}\.html", info.value.suggested_filename)
    context.close()
    return target


def _dialogs(page: Page) -> list[str]:
    """Record every alert()/confirm() a page opens: feed text that ran as script would."""
    opened: list[str] = []

    def record(dialog: Dialog) -> None:
        opened.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", record)
    return opened


def test_official_page_status_issues_trends(city: RunningCityOps, browser: Browser) -> None:
    """Stale water is amber with its reason, medical red, the alert's markup shown as text."""
    context = new_context(browser)
    page = context.new_page()
    watch = PageWatch().attach(page)
    dialogs = _dialogs(page)
    with watch.explained():
        log_in(page, city.base_url, OFFICIAL, PASSWORD)
        page.goto(f"{city.base_url}/official")
        expect(page.locator("#page-title")).to_have_text("City status")
        water = page.locator("#official-status-water")
        expect(water).to_have_attribute("data-status", "amber")
        expect(water).to_contain_text(re.compile(r"feed senml stale since \d\d:\d\d"))
        # A zone's KPI never decides its domain (docs/kpis.md): it is listed among the issues.
        expect(water).not_to_contain_text("Zone 3")
        expect(page.locator("#official-issues")).to_contain_text("Zone 3")
        expect(page.locator("#official-status-medical")).to_have_attribute("data-status", "red")
        expect(page.locator("#official-status-transport")).to_have_attribute("data-status", "green")
        expect(page.locator("#official-issues")).to_contain_text(HOSTILE)
        trends = page.locator("#official-trends .official-trend")
        expect(trends).to_have_count(4)
        expect(trends.first.locator(".main-svg").first).to_be_visible()
        screenshot(page, "official.png")
        page.get_by_text("Last 7 days").click()
        expect(trends.first.locator("h3")).to_have_text("Transport · last 7 days")
        with page.expect_download() as info:
            page.click("#official-export-kpis-csv")
        text = Path(info.value.path()).read_text(encoding="utf-8-sig")
        # The page's link downloads the people's form (issue 19; the machine form: ?form=machine).
        assert text.splitlines()[0] == "Domain,Indicator,Value,Unit,Target,Status,Computed"
        assert any(line.startswith("Water,") and "Zone 3" in line and ",1.7,bar,>= 2 bar,warn," in line
                   for line in text.splitlines()), text
    assert not dialogs, dialogs
    watch.assert_clean()
    context.close()


def _file_only(requests: list[str], allowed: str) -> Callable[[Route], None]:
    """A route handler that records every request and lets only ``allowed`` through."""

    def handle(route: Route) -> None:
        requests.append(route.request.url)
        if route.request.url == allowed:
            route.continue_()
        else:
            route.abort("internetdisconnected")

    return handle


def test_exported_report_opens_offline_with_its_markers(saved_report: Path,
                                                         browser: Browser) -> None:
    """The saved file, opened with every network request refused, draws each of its markers."""
    document = saved_report.read_text(encoding="utf-8")
    in_file = document.count("L.circleMarker(")
    # The alert, the hospital, three sensors and the bus (the runner may add alerts of its own).
    assert in_file >= 6, in_file
    url = saved_report.as_uri()
    context: BrowserContext = browser.new_context(viewport={"width": 1280, "height": 900},
                                                   offline=True)
    requests: list[str] = []
    context.route("**/*", _file_only(requests, url))
    page = context.new_page()
    watch = PageWatch().attach(page)
    dialogs = _dialogs(page)
    with watch.explained():
        page.goto(url)
        markers = page.locator("path.report-marker")
        expect(markers).to_have_count(in_file)
        expect(page.locator("path.report-alert.severity-critical")).to_have_count(1)
        expect(page.locator("path.report-area")).to_have_count(1)
        expect(page.locator("#status")).to_contain_text("Critical")
        expect(page.locator("#alerts")).to_contain_text(HOSTILE)
        alert = page.locator("path.report-alert.severity-critical")
        alert.hover(force=True)
        expect(page.locator(".leaflet-tooltip")).to_contain_text(f"critical: {HOSTILE}")
        alert.click(force=True)
        expect(page.locator(".leaflet-popup-content")).to_contain_text(HOSTILE)
        screenshot(page, "situation-report.png")
    assert not dialogs, dialogs
    assert requests == [url], f"the report asked for more than itself: {requests}"
    assert not watch.console_errors and not watch.page_errors, watch.summary()
    context.close()
