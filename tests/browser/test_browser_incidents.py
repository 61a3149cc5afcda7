"""Browser tests of the incident screens: an operator declares an incident from an alert, an emergency
user of the task's department takes and finishes the task on a 390x844 phone, and the wall shows the
incident and its task progress within 3 s of each step; then every incident screen at the phone,
desk, 1080p and 4K sizes in both languages, checked for clipped text and photographed.

The real `cityops up` on the tests' redis-server (its runner does the incident jobs), driven
through Debian's chromium; every request is confined to 127.0.0.1 and checked afterwards.
Screenshots go to test-artifacts/ (git-ignored): look at them.
"""

from __future__ import annotations

import re
import time
from typing import Any, Iterator

import pytest
import redis
from playwright.sync_api import Browser, BrowserContext, Page, expect

from app import accounts, alerts, incidents
from app.incidents import sop
from app.model.principal import Principal
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
from tests.support.incident_pages import seed_city
from tests.support.incidents import CENTRE
from tests.support.redis_server import RedisServer
from tests.support.waiting import wait_for
from tests.support.web import PASSWORD

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(),
                                reason=f"{CHROMIUM} is missing: install Debian's chromium package")
# A bound, not a timing: issue 15's 3 s is measured by `cityops bench` (glass to glass); on a
# loaded 2-core CI machine running two browsers the wall has taken longer.
WALL_UPDATE_MS = 30_000
AUTO_STEP_S = 30.0  # the runner does the SOP's own "notify" step on its next pass (every 5 s)
PHONE = (390, 844)
# Loading a page with maps on a busy machine: waited for, as long as a page may take.
LOADING: dict[str, Any] = {"timeout": 3 * PAGE_TIMEOUT_MS}  # a 4K wall beside another browser
SIZES = [PHONE, (1440, 900), (1920, 1080), (3840, 2160)]
# Text that does not fit its box: content wider or taller than a box that hides its overflow
# (ellipsis included), or a page wider than the screen. Only the incident screens' own parts.
CLIPPED_JS = """(selectors) => {
  const found = [];
  const root = document.scrollingElement;
  if (root.scrollWidth > window.innerWidth + 1) found.push("page wider than the screen: " +
      root.scrollWidth + " > " + window.innerWidth);
  for (const el of document.querySelectorAll(selectors)) {
    if (!el.offsetParent && getComputedStyle(el).position !== "fixed") continue;  // not shown
    const style = getComputedStyle(el);
    const hides = (v) => v === "hidden" || v === "clip";
    const text = (el.innerText || "").trim().slice(0, 60);
    if (!text) continue;
    if (hides(style.overflowX) && el.scrollWidth > el.clientWidth + 1)
      found.push("wider than its box: " + text);
    if (hides(style.overflowY) && el.scrollHeight > el.clientHeight + 1)
      found.push("taller than its box: " + text);
    const box = el.getBoundingClientRect();
    if (box.right > window.innerWidth + 1 && style.position !== "fixed")
      found.push("past the right edge: " + text);
  }
  return found;
}"""
INCIDENT_PARTS = ", ".join([
    ".incident-card *", ".incident-detail *", ".proposal-line *", ".declare-form *",
    ".task-card *", ".tasks-page h1", ".incident-line *", ".panel-incidents",
    ".view-incident *", ".wall-view-label", ".link-section *"])


@pytest.fixture(scope="module")
def cityops_incidents(redis_server: RedisServer,
                      tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCityOps]:
    """`cityops up --no-demo` on the tests' Redis, so a test can raise alerts directly."""
    running = start_cityops(tmp_path_factory.mktemp("incidents") / "data", redis_server.url)
    yield running
    stop_cityops(running)


def _context(browser: Browser, width: int, height: int, lang: str = "en",
             base: str = "") -> BrowserContext:
    phone = width < 700
    context = browser.new_context(viewport={"width": width, "height": height}, is_mobile=phone,
                                  has_touch=phone, device_scale_factor=2 if phone else 1)
    context.set_default_timeout(PAGE_TIMEOUT_MS)
    context.route("**/*", _loopback_only)
    if base:
        context.add_cookies([{"name": "lang", "value": lang, "url": base}])
    return context


def _row(page: Page, title: str) -> Any:
    return page.locator("#alert-panel-incidents .incident-line", has_text=title)


@pytest.mark.browser
def test_declare_from_an_alert_take_and_finish_on_a_phone_and_the_wall_follows(
        cityops_incidents: RunningCityOps, r: redis.Redis, browser: Browser) -> None:
    """The operator declares from the alert's card; the wall lists the incident within 3 s; a water
    bureau user takes and finishes a water bureau task in two taps on a 390x844 phone, reaching
    /tasks from the page they land on; the wall's task progress follows each tap within 3 s."""
    base = cityops_incidents.base_url
    accounts.add_user(r, "desk", "operator", PASSWORD)
    accounts.add_user(r, "waterman", "emergency", PASSWORD, ("water",), ("water_bureau",))
    token = accounts.create_token(r, "wall-incidents", "wall")
    title = "Main burst on Kangfu Rd"
    alert_id = alerts.raise_alert(r, fingerprint="test:burst", title=title, severity="major",
                                  domain="water", source="manual", lat=CENTRE[0], lon=CENTRE[1],
                                  description="Water on the road").alert_id
    wall_ctx, desk_ctx = _context(browser, 1920, 1080), _context(browser, 1440, 900)
    phone_ctx = _context(browser, *PHONE)
    try:
        wall, desk, phone = wall_ctx.new_page(), desk_ctx.new_page(), phone_ctx.new_page()
        watches = [PageWatch().attach(p) for p in (wall, desk, phone)]
        with watches[0].explained(), watches[1].explained(), watches[2].explained():
            wall.goto(f"{base}/wall?token={token}")
            expect(wall.locator("#page-title")).to_have_text("City operations")
            expect(wall.locator("#alert-panel-list")).to_contain_text(title)

            log_in(desk, base, "desk", PASSWORD)
            desk.goto(f"{base}/alerts")
            card = desk.locator(f"#alerts-list [data-alert='{alert_id}']")
            card.get_by_role("link", name="Declare an incident").click()
            expect(desk).to_have_url(re.compile(r"/incidents\?declare=al-"))
            expect(desk.locator("#declare-title")).to_have_value(title)
            expect(desk.locator("#declare-alerts")).to_contain_text(title)
            expect(desk.locator("#declare-type")).to_contain_text("Water main burst")
            screenshot(desk, "incidents-declare-desk.png")
            desk.locator("#declare-submit").click()
            # Within 3 s of the click, the wall lists the incident above the alerts.
            expect(_row(wall, title)).to_be_visible(timeout=WALL_UPDATE_MS)
            expect(desk.locator("#declare-result")).to_contain_text(f"Declared: #1 {title}")
            expect(desk.locator("#incident-head")).to_contain_text(f"#1 {title}")
            expect(desk.locator("#incident-tasks [data-task]")).to_have_count(7)
            expect(desk.locator("#incident-alerts")).to_contain_text(title)
            expect(desk.locator("#incident-linkage")).to_contain_text("Nearest available ambulances")

            incident = incidents.list_incidents(r, open_only=True)[0]
            assert incident["alerts"] == [alert_id]
            tasks = incidents.incident_tasks(r, incident["id"])
            total = len(tasks)
            # The SOP's own first step ("notify") is the runner's: wait for it, so the counts
            # below are known.
            assert wait_for(lambda: incidents.incident_tasks(r, incident["id"])[0]["state"]
                            == "done", AUTO_STEP_S), "the runner did not do the notify step"
            expect(_row(wall, title)).to_contain_text(f"1 of {total} tasks done")

            log_in(phone, base, "waterman", PASSWORD)
            expect(phone).to_have_url(f"{base}/alerts")  # where emergency staff land (issue 20)
            phone.locator("#nav-menu > summary").tap()  # a phone's navigation is in its menu
            phone.locator("#nav-tasks").tap()
            expect(phone).to_have_url(f"{base}/tasks")
            water = [t for t in tasks if t["department"] == "water_bureau"]
            first = min(water, key=lambda t: (t["due_at"], t["order"]))
            card = phone.locator(f"#tasks-list [data-task='{first['id']}']")
            expect(card).to_be_visible()
            expect(phone.locator("#tasks-list [data-task]")).to_have_count(len(water))
            card.get_by_role("button", name="Take").tap()  # tap 1
            expect(_row(wall, title)).to_contain_text("1 in hand", timeout=WALL_UPDATE_MS)
            expect(card).to_contain_text("Taken by waterman at")
            finish = card.get_by_role("button", name="Finish")
            expect(finish).to_be_in_viewport()
            screenshot(phone, "tasks-phone-taken.png")
            finish.tap()  # tap 2
            expect(_row(wall, title)).to_contain_text(f"2 of {total} tasks done",
                                                      timeout=WALL_UPDATE_MS)
            expect(_row(wall, title)).not_to_contain_text("in hand")
            expect(phone.locator("#tasks-result")).to_have_text(f"Done: {first['title']}")
            expect(card).to_have_count(0)
            metrics = phone.evaluate("() => [document.scrollingElement.scrollWidth, innerWidth]")
            assert metrics[0] <= metrics[1] == PHONE[0], metrics
            screenshot(phone, "tasks-phone-done.png")
            screenshot(wall, "wall-incident-progress.png")
            # The commander's view on the desk shows who did it and when.
            expect(desk.locator(f"#incident-tasks [data-task='{first['id']}']")).to_contain_text(
                "Done by waterman at")
            screenshot(desk, "incidents-detail-desk.png")
        stored = incidents.get_task(r, first["id"])
        assert (stored["state"], stored["owner"], stored["done_by"]) == ("done", "waterman",
                                                                         "waterman")
        for watch in watches:
            watch.assert_clean()
    finally:
        for ctx in (wall_ctx, desk_ctx, phone_ctx):
            ctx.close()


def _seed_screens(r: redis.Redis) -> dict[str, Any]:
    """A city with an incident of every part the screens show: linked alert, tasks taken, done,
    overdue and reported, a proposal, a linkage around it; and an incident just declared."""
    now = time.time()
    seed_city(r, now)
    catalogue = sop.load_catalogue()
    desk = Principal("desk", "operator")
    alert = alerts.raise_alert(r, fingerprint="test:screens", title="Pressure drop in Zone 3 "
                               "(Heshan district), water main burst suspected", severity="critical",
                               domain="water", source="manual", lat=CENTRE[0], lon=CENTRE[1]).alert_id
    late = incidents.declare(r, desk, catalogue, title="Urban flooding after the rainstorm: "
                             "Taohualun underpass and the streets around Heshan bus station",
                             kind="urban_flooding", alert_ids=[alert], now=now - 3 * 3600,
                             description="Water 40 cm deep; two buses stranded.")
    tasks = incidents.incident_tasks(r, late["id"])
    incidents.act_on_task(r, desk, catalogue, tasks[1]["id"], "take")
    incidents.act_on_task(r, desk, catalogue, tasks[2]["id"], "finish")
    incidents.act_on_task(r, desk, catalogue, tasks[3]["id"], "cannot",
                          text_="No pump truck free before 18:00")
    fresh = incidents.declare(r, desk, catalogue, title="Hazardous chemical leak at the Longling "
                              "industrial park", kind="hazardous_chemical_leak", level="I",
                              lat=CENTRE[0] + 0.001, lon=CENTRE[1], radius_m=600.0)
    return {"late": late, "fresh": fresh}


@pytest.mark.browser
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_incident_screens_fit_every_size_in_both_languages(
        cityops_incidents: RunningCityOps, r: redis.Redis, browser: Browser, lang: str) -> None:
    """/incidents with a detail open, /tasks, and the wall with its pinned incident, at 390x844,
    1440x900, 1920x1080 and 3840x2160: no text clipped, no page wider than the screen, nothing
    outside loopback; a screenshot of each for people to look at."""
    base = cityops_incidents.base_url
    accounts.add_user(r, "desk", "operator", PASSWORD, departments=("water_bureau",))
    accounts.set_language(r, "desk", lang)
    token = accounts.create_token(r, f"wall-{lang}", "wall")
    seeded = _seed_screens(r)
    problems: dict[str, list[str]] = {}
    for width, height in SIZES:
        context = _context(browser, width, height, lang, base)
        try:
            page = context.new_page()
            watch = PageWatch().attach(page)
            with watch.explained():
                log_in(page, base, "desk", PASSWORD)
                page.goto(f"{base}/incidents?incident={seeded['late']['id']}")
                expect(page.locator("#incident-tasks [data-task]").first).to_be_visible(**LOADING)
                expect(page.locator("#incident-linkage [data-section]").first).to_be_visible(**LOADING)
                expect(page.locator("#incidents-list [data-incident]")).to_have_count(2, **LOADING)
                name = f"{width}x{height}-{lang}"
                problems[f"incidents {name}"] = page.evaluate(CLIPPED_JS, INCIDENT_PARTS)
                screenshot(page, f"incidents-{name}.png")
                page.goto(f"{base}/tasks")
                expect(page.locator("#tasks-list [data-task]").first).to_be_visible(**LOADING)
                problems[f"tasks {name}"] = page.evaluate(CLIPPED_JS, INCIDENT_PARTS)
                screenshot(page, f"tasks-{name}.png")
            watch.assert_clean()
        finally:
            context.close()
        if width < 1440:
            continue  # a wall is a large screen
        # A pin lasts INCIDENT_PIN_S from the last raise; a loaded machine may take longer than that
        # to get here: lower and raise the fresh incident's level again, as a commander would.
        for level in ("II", "I"):
            incidents.change(r, Principal("desk", "operator"), sop.load_catalogue(),
                             seeded["fresh"]["id"], "level", level=level)
        context = _context(browser, width, height, lang, base)  # a display session of its own
        try:
            wall = context.new_page()
            watch = PageWatch().attach(wall)
            with watch.explained():
                wall.goto(f"{base}/wall?token={token}&rotate=30")
                # A wall loads its maps first: the pin comes with the first ticks after them.
                expect(wall.locator("#wall-views")).to_have_class(re.compile(r"show-incident"),
                                                                  **LOADING)
                expect(wall.locator("#wall-incident-linkage [data-section]").first).to_be_visible(**LOADING)
                expect(wall.locator("#alert-panel-incidents .incident-line")).to_have_count(2, **LOADING)
                expect(wall.locator("#wall-incident-head")).to_contain_text("Longling", **LOADING)
                problems[f"wall {name}"] = wall.evaluate(CLIPPED_JS, INCIDENT_PARTS)
                screenshot(wall, f"wall-incident-{name}.png")
            watch.assert_clean()
        finally:
            context.close()
    assert {k: v for k, v in problems.items() if v} == {}
