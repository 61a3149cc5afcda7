"""What a look at the screens found (issues 18 and 19), measured so that it cannot come back.

The demo city runs on the tests' Redis with an incident, alerts and a stale feed. On a 390x844
phone, in English and in Chinese, /admin, /alerts with its raise form, a domain page and the
incident pages never scroll sideways (a wide table scrolls by itself), every tap target on the
whole page is at least 44x44 CSS px, and a domain page's tables keep their words whole. On a desk,
an alert's "Declare an incident" link no longer lies over the sheet's title, and sits in line with
the card's buttons.
"""

from __future__ import annotations

import re
import time
from typing import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from app import accounts, i18n, store
from app.store.link import connect
from tests.support.browser import (
    CHROMIUM,
    PAGE_TIMEOUT_MS,
    PHONE,
    RunningCityOps,
    new_context,
    phone_context,
    small_targets,
    start_cityops,
    stop_cityops,
)
from tests.support.incidents import incident_sample, placed_alert
from tests.support.redis_server import RedisServer
from tests.support.waiting import wait_for
from tests.support.web import PASSWORD

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is missing")]
expect.set_options(timeout=PAGE_TIMEOUT_MS)
DEMO_READY_S = 120.0
LONG_TITLE = "Low pressure in Zone 3 — a title long enough to need two lines in the sheet"
# The page's width against the phone's: a page wider than the screen makes a mobile browser zoom
# out (innerWidth grows with it), so both are asked.
WIDTH_JS = """() => ({innerWidth: window.innerWidth,
                     scrollWidth: document.scrollingElement.scrollWidth})"""
# Words of table cells drawn over two lines (a break inside the word); a hyphen may end a line.
BROKEN_WORDS_JS = """() => {
  const broken = [];
  for (const cell of document.querySelectorAll('.data-table td, .data-table th')) {
    for (const node of cell.childNodes) {
      if (node.nodeType !== Node.TEXT_NODE) continue;
      for (const match of node.textContent.matchAll(/[^\\s-]+/g)) {
        const range = document.createRange();
        range.setStart(node, match.index);
        range.setEnd(node, match.index + match[0].length);
        if (range.getClientRects().length > 1) broken.push(match[0]);
      }
    }
  }
  return broken;
}"""


@pytest.fixture(scope="module")
def city(redis_server: RedisServer,
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningCityOps, dict[str, str]]]:
    """The demo city with users of each role, an incident, an alert to declare from, a stale feed."""
    client = connect(redis_server.url)
    client.flushall()
    running = start_cityops(tmp_path_factory.mktemp("review") / "data", redis_server.url,
                            demo_vehicles=10)
    try:
        assert wait_for(lambda: store.kpis.read(client, "water"), DEMO_READY_S)
        accounts.add_user(client, "olivia", "operator", PASSWORD)
        sample = incident_sample(client, "admin", "review", parts=("incident",))
        sample["alert"] = placed_alert(client, "review", severity="critical", title=LONG_TITLE)
        store.feeds.write_health(client, "water-backup", {
            "domain": "water", "adapter": "test", "interval_s": 10, "freshness_budget_s": 600,
            "last_success": time.time() - 3600, "first_attempt": time.time() - 7200})
        yield running, sample
    finally:
        stop_cityops(running)
        client.close()


def _sign_in(page: Page, running: RunningCityOps, name: str, password: str) -> None:
    # As log_in does, with room for a slow first load on a shared machine.
    page.goto(f"{running.base_url}/login", wait_until="domcontentloaded",
              timeout=4 * PAGE_TIMEOUT_MS)
    page.fill("#username", name)
    page.fill("#password", password)
    page.click("#login-submit")
    expect(page.locator("#page-title")).to_be_visible()


def _open(page: Page, url: str, drawn: str) -> None:
    """Open ``url``, wait for ``drawn`` and for Dash to rest, then open every fold but the menu."""
    page.goto(url, wait_until="domcontentloaded", timeout=4 * PAGE_TIMEOUT_MS)
    expect(page.locator(drawn).first).to_be_visible()
    page.wait_for_function("() => !document.querySelector('[data-dash-is-loading=\"true\"]')")
    page.evaluate("() => document.querySelectorAll('details:not(#nav-menu)')"
                  ".forEach(d => d.open = true)")


def _small_on_whole_page(page: Page) -> str:
    """The tap targets under 44x44 of every screenful, scrolled through from the top."""
    found = []
    height = page.evaluate("() => document.scrollingElement.scrollHeight")
    for top in range(0, height, PHONE["height"] - 100):
        page.evaluate(f"() => window.scrollTo(0, {top})")
        found.append(small_targets(page, some_on_screen=False))
    return "\n".join(line for line in found if line)


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_phone_pages_fit_the_screen_with_finger_sized_targets(
        city: tuple[RunningCityOps, dict[str, str]], browser: Browser, lang: str) -> None:
    running, sample = city
    assert running.admin_password is not None
    pages = [("admin", running.admin_password, "/admin", ".admin-feeds-table"),
             ("admin", running.admin_password, "/water", ".data-table"),
             ("admin", running.admin_password, f"/incidents?declare={sample['alert']}",
              "#declare-title"),
             ("admin", running.admin_password, f"/incidents?incident={sample['incident_id']}",
              "#incident-map"),
             ("olivia", PASSWORD, "/alerts", "#alerts-list .alert-card")]
    wrong: list[str] = []
    for name, password, path, drawn in pages:
        context = phone_context(browser, "zh-CN" if lang == "zh" else "en-GB")
        host = running.base_url.split("//", 1)[1].split(":")[0]
        context.add_cookies([{"name": i18n.COOKIE, "value": lang, "domain": host, "path": "/"}])
        try:
            page = context.new_page()
            _sign_in(page, running, name, password)
            _open(page, f"{running.base_url}{path}", drawn)
            width = page.evaluate(WIDTH_JS)
            if width != {"innerWidth": PHONE["width"], "scrollWidth": PHONE["width"]}:
                wrong.append(f"{path}: scrolls sideways {width}")
            if small := _small_on_whole_page(page):
                wrong.append(f"{path}: small tap targets\n{small}")
        finally:
            context.close()
    assert not wrong, "\n".join(wrong)


def test_a_domain_page_keeps_its_table_words_whole_on_the_phone(
        city: tuple[RunningCityOps, dict[str, str]], browser: Browser) -> None:
    running, _ = city
    assert running.admin_password is not None
    context = phone_context(browser)
    try:
        page = context.new_page()
        _sign_in(page, running, "admin", running.admin_password)
        _open(page, f"{running.base_url}/water", ".data-table td")
        assert page.locator(".data-table td").count() > 10
        assert not (broken := page.evaluate(BROKEN_WORDS_JS)), broken
        # A KPI's four columns fit the phone (a wider table scrolls, but then "unknown" is cut).
        wider = page.evaluate("() => [...document.querySelectorAll('.kpi-group .data-table')]"
                              ".map(t => t.scrollWidth - t.clientWidth)")
        assert wider and max(wider) <= 0, wider
    finally:
        context.close()


def _box(page: Page, selector: str) -> dict[str, float]:
    box = page.locator(selector).first.bounding_box()
    assert box is not None, selector
    return box


def test_the_declare_link_keeps_clear_of_the_title_and_in_line_with_the_buttons(
        city: tuple[RunningCityOps, dict[str, str]], browser: Browser) -> None:
    running, sample = city
    context = new_context(browser, 1440, 900)
    try:
        page = context.new_page()
        _sign_in(page, running, "olivia", PASSWORD)
        _open(page, f"{running.base_url}/alerts", "#alerts-list .alert-card")
        card = f"#alerts-list .alert-card:has-text('{LONG_TITLE}')"
        details, declare = (_box(page, f"{card} .card-actions button >> nth=-1"),
                            _box(page, f"{card} .declare-link"))
        # The link is as tall as the buttons beside it, its words in its middle as theirs are.
        assert abs(declare["height"] - details["height"]) <= 1, (declare, details)
        assert abs(declare["y"] - details["y"]) <= 1, (declare, details)
        words = page.locator(f"{card} .declare-link").evaluate(
            "el => { const r = document.createRange(); r.selectNodeContents(el);"
            " const b = r.getBoundingClientRect(); return b.top + b.height / 2; }")
        assert abs(words - (declare["y"] + declare["height"] / 2)) <= 2, (words, declare)

        page.locator(f"{card} .card-actions button").last.click()
        expect(page.locator("#alert-declare")).to_be_visible()
        expect(page.locator(".detail-title")).to_have_text(re.compile("title long enough"))
        title, link = _box(page, ".detail-title"), _box(page, "#alert-declare")
        assert title["y"] + title["height"] <= link["y"], (title, link)  # below, not over it
        # Its history names who raised it in words, not "system:rules" from "runner".
        history = page.locator("#alert-timeline .timeline")
        expect(history).to_contain_text(i18n.t("audit_log.system.rules", "en"))
        assert not re.search(r"system:|\brunner\b", history.inner_text()), history.inner_text()
    finally:
        context.close()


def test_the_dropdowns_own_words_are_in_the_readers_language(
        city: tuple[RunningCityOps, dict[str, str]], browser: Browser) -> None:
    """Dash writes "3 selected" and "Clear selection" itself, in English: a Chinese screen
    showed them so. The filters of /alerts and the declare form's alerts say them in Chinese."""
    running, sample = city
    assert running.admin_password is not None
    context = new_context(browser, 1440, 900)
    host = running.base_url.split("//", 1)[1].split(":")[0]
    context.add_cookies([{"name": i18n.COOKIE, "value": "zh", "domain": host, "path": "/"}])
    counted = i18n.t("dropdown.selected_count", "zh")
    try:
        page = context.new_page()
        _sign_in(page, running, "admin", running.admin_password)
        for path, dropdown, ticked in (
                ("/alerts", "#alerts-filter-state", 3),
                (f"/incidents?declare={sample['alert']}", "#declare-alerts", None)):
            _open(page, f"{running.base_url}{path}", dropdown)
            if ticked is not None:  # one ticked option is named, not counted
                expect(page.locator(f"{dropdown}-value-count")).to_have_text(
                    counted.replace("{num_selected}", str(ticked)))
            expect(page.locator(f"{dropdown} .dash-dropdown-clear")).to_have_attribute(
                "aria-label", i18n.t("dropdown.clear_selection", "zh"))
    finally:
        context.close()


def test_the_audit_log_names_the_system_and_the_feeds_buttons_sit_in_their_rows(
        city: tuple[RunningCityOps, dict[str, str]], browser: Browser) -> None:
    """The audit log showed "system:rules" and "runner" (codes) as who and where from; the feeds
    table's Pause buttons sat a line below their row's words."""
    running, _ = city
    assert running.admin_password is not None
    context = new_context(browser, 1440, 900)
    host = running.base_url.split("//", 1)[1].split(":")[0]
    context.add_cookies([{"name": i18n.COOKIE, "value": "zh", "domain": host, "path": "/"}])
    try:
        page = context.new_page()
        _sign_in(page, running, "admin", running.admin_password)
        _open(page, f"{running.base_url}/admin", ".admin-audit-table td")
        log = page.locator(".admin-audit-table")
        expect(log).to_contain_text(i18n.t("audit_log.system.rules", "zh"))
        expect(log).to_contain_text(i18n.t("audit_log.from_runner", "zh"))
        assert not re.search(r"system:|token:|\brunner\b", log.inner_text()), log.inner_text()

        row = page.locator(".admin-feeds-table tbody tr").first
        cell, button = _box(page, ".admin-feeds-table tbody tr >> nth=0 >> td"), \
            row.locator(".btn").bounding_box()
        assert button is not None
        assert button["y"] - cell["y"] <= 8, (cell, button)  # within the cell's padding
    finally:
        context.close()
