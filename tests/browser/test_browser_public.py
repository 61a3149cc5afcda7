"""The public status page in chromium (issue 16): anonymous, on a phone and a desktop, in both
languages, with JavaScript off, hostile feed text shown as text.

A real `cityops up` runs on the tests' Redis, seeded with the public city of
tests/support/seeds/public.py before it starts; its runner renders the page, which the test waits
for (no time window). Screenshots go to test-artifacts/ for people to look at.
"""

from __future__ import annotations

import time
import urllib.request
from typing import Iterator
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, BrowserContext, Dialog, Page, Route, expect

from app.store.link import connect
from tests.support.browser import (
    CHROMIUM,
    LOOPBACK,
    PAGE_TIMEOUT_MS,
    PageWatch,
    RunningCityOps,
    screenshot,
    start_cityops,
    stop_cityops,
)
from tests.support.redis_server import RedisServer
from tests.support.seeds.public import HOSTILE, OPERATOR, PublicCity, seed_public_city
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is missing")]
expect.set_options(timeout=PAGE_TIMEOUT_MS)

PHONE = (390, 844)
DESKTOP = (1440, 900)
TITLES = {"en": "City status", "zh": "城市运行状态"}


@pytest.fixture(scope="module")
def seeded(redis_server: RedisServer) -> PublicCity:
    client = connect(redis_server.url)
    client.flushall()
    city = seed_public_city(client, time.time())
    client.close()
    return city


@pytest.fixture(scope="module")
def running(seeded: PublicCity, redis_server: RedisServer,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCityOps]:
    """`cityops up --no-demo` on the seeded Redis, once its runner has rendered the public page."""
    up = start_cityops(tmp_path_factory.mktemp("public") / "data", redis_server.url)

    def rendered() -> bool:
        try:
            with urllib.request.urlopen(f"{up.base_url}/public?lang=en", timeout=5) as answer:
                return "Burst main on Kangfu Road" in answer.read().decode()
        except OSError:
            return False

    assert wait_for(rendered, timeout=60), up.stderr_tail()
    yield up
    stop_cityops(up)


def anonymous(browser: Browser, size: tuple[int, int], locale: str = "en-US") -> BrowserContext:
    """A fresh visitor: no cookies, JavaScript off, loopback only."""
    context = browser.new_context(viewport={"width": size[0], "height": size[1]},
                                  java_script_enabled=False, locale=locale)
    context.set_default_timeout(PAGE_TIMEOUT_MS)
    context.route("**/*", _loopback_only)
    return context


def _loopback_only(route: Route) -> None:
    """Nothing leaves the machine: the page must need nothing from elsewhere."""
    if urlsplit(route.request.url).hostname == LOOPBACK:
        route.continue_()
    else:
        route.abort("blockedbyclient")


def _dialogs(page: Page) -> list[str]:
    opened: list[str] = []

    def record(dialog: Dialog) -> None:
        opened.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", record)
    return opened


@pytest.mark.parametrize("lang", ["en", "zh"])
@pytest.mark.parametrize("size", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_the_page_reads_without_javascript(running: RunningCityOps, seeded: PublicCity,
                                           browser: Browser, lang: str, size: tuple[int, int]) -> None:
    """Anonymous, no script: the page opens (no login), every section is there, hostile text is
    text, nothing overflows a phone's width, and no operator's name shows."""
    context = anonymous(browser, size)
    page = context.new_page()
    watch = PageWatch().attach(page)
    dialogs = _dialogs(page)
    with watch.explained():
        answer = page.goto(f"{running.base_url}/public?lang={lang}")
        assert answer is not None and answer.status == 200
        assert page.url == f"{running.base_url}/public?lang={lang}"
        expect(page.locator("h1")).to_have_text(TITLES[lang])
        for section in ("#warnings", "#incidents", "#transport", "#water"):
            expect(page.locator(section)).to_be_visible()
        expect(page.locator("#warnings h3", has_text=seeded.shown["warning"])).to_have_count(1)
        expect(page.locator("#incidents .text")).to_have_text(seeded.shown["incident_text"])
        expect(page.locator("#transport article h3")).to_have_text(seeded.shown["disruption"])
        expect(page.locator("#water h3", has_text=seeded.shown["zone_north"])).to_have_count(1)
        assert page.locator("script, img, svg, iframe, form").count() == 0
        body = page.inner_text("body")
        assert HOSTILE in body and OPERATOR not in body
        if size == PHONE:
            for card in page.locator("article").all():
                box = card.bounding_box()
                assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= size[0] + 0.5
        screenshot(page, f"public-{lang}-{size[0]}x{size[1]}.png")
        watch.assert_clean()
    assert dialogs == []
    context.close()


def test_language_by_browser_and_by_link(running: RunningCityOps, browser: Browser) -> None:
    """A Chinese browser gets Chinese without asking; the EN link switches, a plain link."""
    context = anonymous(browser, PHONE, locale="zh-CN")
    page = context.new_page()
    page.goto(f"{running.base_url}/public")
    expect(page.locator("h1")).to_have_text(TITLES["zh"])
    assert page.get_attribute("html", "lang") == "zh-CN"
    page.click("a.lang[hreflang='en']")
    expect(page).to_have_url(f"{running.base_url}/public?lang=en")
    expect(page.locator("h1")).to_have_text(TITLES["en"])
    feed = page.request.get(f"{running.base_url}{page.get_attribute('footer a', 'href')}")
    assert feed.status == 200 and feed.headers["content-type"].startswith("application/atom+xml")
    context.close()
