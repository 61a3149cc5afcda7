"""/admin's feeds in Chromium at 1440x900 (issue 19), in both languages: an admin sees each feed's
health in words, its last error as text (a hostile one renders nothing) and its rejected rows,
pauses a feed after confirming, sees it paused (the status strip too), and resumes it; both steps
are in the audit log. The rules and SOP files are shown checked."""

from __future__ import annotations

import time

import pytest
import redis
from playwright.sync_api import BrowserContext, Page, expect

from app import store
from tests.support.admin_feeds import reported_feed
from tests.support.browser import (
    CHROMIUM,
    PAGE_TIMEOUT_MS,
    PageWatch,
    RunningCityOps,
    accept_dialogs,
    log_in,
    screenshot,
)

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is missing")]
expect.set_options(timeout=PAGE_TIMEOUT_MS)

HOSTILE = "<img src=x onerror=alert(1)><b>bold</b>"
TEXT = {
    "en": {"ok": "ok", "stale": "stale", "paused": "paused", "waiting": "waiting", "pause": "Pause",
           "resume": "Resume",
           "is_paused": "is paused", "is_resumed": "is resumed", "kept": "3 kept",
           "audit_pause": "paused a feed", "audit_resume": "resumed a feed",
           "valid": "ok: the file is valid", "strip": "Feed buses: paused"},
    "zh": {"ok": "正常", "stale": "数据过期", "paused": "已暂停", "waiting": "等待中", "pause": "暂停",
           "resume": "恢复",
           "is_paused": "已暂停", "is_resumed": "已恢复", "kept": "保留 3 条",
           "audit_pause": "暂停数据源", "audit_resume": "恢复数据源",
           "valid": "通过：文件有效", "strip": "数据源 buses：已暂停"},
}



def _seed(r: redis.Redis) -> None:
    """Two feeds as a runner recorded them: one fresh, one stale with a hostile error and three
    rejected rows (no runner polls them: the city runs without feeds)."""
    now = time.time()
    reported_feed(r, "buses", now=now, freshness_budget_s=86_400.0)
    reported_feed(r, "sensors", now=now, last_success=f"{now - 7200:.3f}", last_error=HOSTILE,
                  last_error_at=f"{now - 60:.3f}", failures=1)
    store.feeds.dead_letter(r, "sensors", [(f"bad reading {n}", f"{HOSTILE} row {n}")
                                           for n in range(3)])


def _row(page: Page, feed: str):  # type: ignore[no-untyped-def]
    return page.locator(f"#admin-feeds tr[data-feed='{feed}']")


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_an_admin_pauses_and_resumes_a_feed_in_the_browser(
        wide: BrowserContext, r: redis.Redis, cityops_on_test_redis: RunningCityOps,
        lang: str) -> None:
    cityops = cityops_on_test_redis
    _seed(r)
    page = wide.new_page()
    watch = PageWatch().attach(page)
    dialogs = accept_dialogs(page)  # the confirmation of pause
    t = TEXT[lang]
    with watch.explained():
        log_in(page, cityops.base_url, "admin", cityops.admin_password or "")
        page.goto(f"{cityops.base_url}/admin")
        switch = page.locator(f"#lang-{lang}")
        if switch.is_enabled():
            switch.click()
        buses, sensors = _row(page, "buses"), _row(page, "sensors")
        expect(buses.locator(".admin-feed-state")).to_have_text(t["ok"])
        expect(sensors.locator(".admin-feed-state")).to_have_text(t["stale"])
        # The feed's error and rejected rows as text: nothing of them becomes markup.
        expect(sensors.locator(".admin-feed-error")).to_have_text(HOSTILE)
        expect(sensors).to_contain_text(t["kept"])
        assert page.locator("#admin-feeds img, #admin-feeds b").count() == 0
        expect(page.locator("#admin-files")).to_contain_text(t["valid"])

        buses.locator("button", has_text=t["pause"]).click()
        expect(page.locator("#admin-feed-result")).to_contain_text(t["is_paused"])
        assert "buses" in dialogs[-1]
        expect(buses.locator(".admin-feed-state")).to_have_text(t["paused"])
        expect(buses.locator("button", has_text=t["resume"])).to_be_visible()
        expect(page.locator("#admin-audit")).to_contain_text(t["audit_pause"])
        page.goto(f"{cityops.base_url}/admin")  # the status strip says it on every page
        expect(page.locator(".chip.feed-paused")).to_have_text(t["strip"])
        expect(buses.locator(".admin-feed-state")).to_have_text(t["paused"])
        page.locator(".admin-feeds").scroll_into_view_if_needed()
        screenshot(page, f"admin-feeds-{lang}.png")

        buses.locator("button", has_text=t["resume"]).click()
        expect(page.locator("#admin-feed-result")).to_contain_text(t["is_resumed"])
        # Waiting for its first poll since the resume (no runner polls this seeded feed).
        expect(buses.locator(".admin-feed-state")).to_have_text(t["waiting"])
        expect(buses.locator("button", has_text=t["pause"])).to_be_visible()
        expect(page.locator("#admin-audit")).to_contain_text(t["audit_resume"])
        assert store.feeds.read_paused(r) == {}
    watch.assert_clean()


def test_a_feeds_health_change_appears_without_reload(
        wide: BrowserContext, r: redis.Redis, cityops_on_test_redis: RunningCityOps) -> None:
    """The table follows the runner's records by itself: a feed that goes down shows as down within
    a few of the table's ticks, on the same page (no reload), where the admin had scrolled, with
    the rejected rows the admin had opened still open."""
    from layouts.admin_feeds import REFRESH_MS

    cityops = cityops_on_test_redis
    _seed(r)
    page = wide.new_page()
    watch = PageWatch().attach(page)
    with watch.explained():
        log_in(page, cityops.base_url, "admin", cityops.admin_password or "")
        page.goto(f"{cityops.base_url}/admin")
        if page.locator("#lang-en").is_enabled():
            page.click("#lang-en")
        buses, sensors = _row(page, "buses"), _row(page, "sensors")
        expect(buses.locator(".admin-feed-state")).to_have_text("ok")
        letters = sensors.locator("details.admin-feed-letters")
        letters.locator("summary").click()
        expect(letters).to_have_attribute("open", "")
        # The shell's status strip above has its first answer (a later one would move the page
        # under the admin's scroll, as the browser keeps what is on screen in place).
        expect(page.locator("#data-as-of .chip").first).to_be_visible()
        page.locator("#admin-feeds").scroll_into_view_if_needed()
        scrolled = page.evaluate("window.scrollY")
        assert scrolled > 0
        page.evaluate("window.cityopsSamePage = true")  # gone if the page were loaded again

        store.feeds.write_health(r, "buses", {"fatal": "1", "last_error": "connection refused",
                                              "last_error_at": f"{time.time():.3f}"})
        expect(buses.locator(".admin-feed-state")).to_have_text("down", timeout=4 * REFRESH_MS)
        expect(buses.locator(".admin-feed-error")).to_have_text("connection refused")
        assert page.evaluate("window.cityopsSamePage === true")
        assert abs(page.evaluate("window.scrollY") - scrolled) <= 2
        expect(letters).to_have_attribute("open", "")
        screenshot(page, "admin-feeds-refreshed.png")
    watch.assert_clean()
