"""Browser check of /water's trend charts (issue 19): a row per unit in words, drawn at 1440x900.

The real `cityops up` runs on the tests' Redis, seeded with three hours of water KPI history
with a missing hour. The screenshot goes to test-artifacts/water-trends.png for people to look at.
"""

from __future__ import annotations

import re
import time
from typing import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from app import accounts
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
from tests.support.seeds.kpi_history import seed_history
from tests.support.web import PASSWORD

OPERATOR = "charts-browser"

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is missing")]
expect.set_options(timeout=PAGE_TIMEOUT_MS)


@pytest.fixture(scope="module")
def city(redis_server: RedisServer,
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCityOps]:
    """`cityops up --no-demo` on the tests' Redis, seeded with water KPI history."""
    client = connect(redis_server.url)
    client.flushall()
    seed_history(client, time.time())
    accounts.add_user(client, OPERATOR, "operator", PASSWORD)
    client.close()
    running = start_cityops(tmp_path_factory.mktemp("charts") / "data", redis_server.url)
    yield running
    stop_cityops(running)


def test_water_trends_one_row_per_unit(city: RunningCityOps, browser: Browser) -> None:
    """/water draws a row per unit titled in words, with dashed targets, and no unit codes."""
    context = new_context(browser, width=1440, height=900)
    page = context.new_page()
    watch = PageWatch().attach(page)
    with watch.explained():
        log_in(page, city.base_url, OPERATOR, PASSWORD)
        page.goto(f"{city.base_url}/water")
        graph = page.locator(".domain-page .js-plotly-plot").first
        expect(graph.locator(".main-svg").first).to_be_visible()
        for words in ("Per cent", "Pressure (bar)", "Flow (cubic metres per hour)", "Zones"):
            expect(graph.locator(".annotation-text", has_text=words).first).to_be_visible()
        expect(graph.locator("path[style*='dash']").first).to_be_attached()
        expect(page.locator("body")).not_to_contain_text("{zone}")
        graph.scroll_into_view_if_needed()
        screenshot(page, "water-trends.png")
    watch.assert_clean()
    context.close()


ENGLISH_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _x_tick_text(page: Page) -> str:
    """Every x-axis tick label of /water's trend chart, once plotly has drawn them."""
    graph = page.locator(".domain-page .js-plotly-plot").first
    # Shared x axes: the labels sit on the bottom row's axis (x2, x3...), in plotly's axis layer.
    ticks = graph.locator(".xaxislayer-above text")
    expect(ticks.first).to_be_visible()
    return " ".join(ticks.all_text_contents())


def test_water_trend_dates_follow_the_page_language(city: RunningCityOps, browser: Browser) -> None:
    """Plotly's own date labels are English on an English page and Chinese on a Chinese one."""
    context = new_context(browser, width=1440, height=900)
    page = context.new_page()
    watch = PageWatch().attach(page)
    with watch.explained():
        log_in(page, city.base_url, OPERATOR, PASSWORD)
        page.goto(f"{city.base_url}/water")
        english = _x_tick_text(page)
        assert any(month in english for month in ENGLISH_MONTHS), english
        assert "月" not in english, english
        page.click("#lang-zh")
        expect(page.locator("#page-title")).to_have_text("供水")
        chinese = _x_tick_text(page)
        assert re.search(r"\d+月\d+日", chinese), chinese
        assert not any(month in chinese for month in ENGLISH_MONTHS), chinese
        assert not re.search(r"\b(AM|PM)\b", chinese), chinese  # 24-hour times
        page.locator(".domain-page .js-plotly-plot").first.scroll_into_view_if_needed()
        screenshot(page, "water-trends-zh.png")
        page.click("#lang-en")  # the user's language back to English for the other tests
        expect(page.locator("#page-title")).to_have_text("Water")
    watch.assert_clean()
    context.close()
