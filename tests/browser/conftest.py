"""Fixtures of the browser tests: a running city per module, Chromium, a fresh context per test."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest
import redis
from playwright.sync_api import (
    Browser,
    BrowserContext,
    sync_playwright,
)

from tests.support.browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    RunningCityOps,
    new_context,
    start_cityops,
    stop_cityops,
)
from tests.support.redis_server import RedisServer


@pytest.fixture(scope="module")
def cityops(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCityOps]:
    """`cityops up --no-demo` with its embedded Redis, shared by the tests of this module."""
    running = start_cityops(tmp_path_factory.mktemp("cityops") / "data")
    assert running.admin_password, f"no generated admin password in {running.lines!r}"
    yield running
    stop_cityops(running)


@pytest.fixture
def cityops_on_test_redis(redis_server: RedisServer, r: redis.Redis,
                          tmp_path: Path) -> Iterator[RunningCityOps]:
    """`cityops up --no-demo` on the tests' Redis (so the test can stop and restart it)."""
    running = start_cityops(tmp_path / "data", redis_server.url)
    yield running
    stop_cityops(running)


# -- the browser -----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One headless chromium for the whole module."""
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                              args=CHROMIUM_ARGS)
        yield instance
        instance.close()


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    """A fresh 1280x800 browser context per test."""
    ctx = new_context(browser)
    yield ctx
    ctx.close()


@pytest.fixture
def wide(browser: Browser) -> Iterator[BrowserContext]:
    """A 1440x900 context, the size of an admin's desk screen."""
    ctx = new_context(browser, 1440, 900)
    yield ctx
    ctx.close()
