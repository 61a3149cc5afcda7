"""Browser check of /water's trend charts (issue 19): a row per unit in words, drawn at 1440x900.

The real `cityops up` runs on the tests' Redis, seeded with three hours of water KPI history
with a missing hour. The screenshot goes to test-artifacts/water-trends.png for people to look at.
"""

from __future__ import annotations

import time
from typing import Iterator

import pytest
from playwright.sync_api import Browser, expect

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
