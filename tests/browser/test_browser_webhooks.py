"""/admin's webhooks in Chromium: an admin adds a receiver (its secret shown once), a receiver that
keeps failing shows as down, a test delivery arrives signed, and a receiver is removed after a
confirmation; in both languages, with nothing clipped."""

from __future__ import annotations

from typing import Iterator

import pytest
from playwright.sync_api import BrowserContext, Locator, Page, expect

from tests.support.browser import (
    PageWatch,
    RunningCityOps,
    log_in,
    screenshot,
    start_cityops,
    stop_cityops,
)
from tests.support.webhook_receiver import WebhookReceiver


@pytest.fixture(scope="module")
def cityops(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCityOps]:
    """A city whose failing receivers are marked down after 2 s (retried every second)."""
    running = start_cityops(tmp_path_factory.mktemp("cityops") / "data", extra_env={
        "CITYOPS_WEBHOOK_DOWN_AFTER_S": "2", "CITYOPS_WEBHOOK_MAX_BACKOFF_S": "1"})
    yield running
    stop_cityops(running)


@pytest.fixture
def hooks() -> Iterator[list[WebhookReceiver]]:
    made: list[WebhookReceiver] = []
    yield made
    for hook in made:
        hook.close()


def _admin_page(page: Page, cityops: RunningCityOps, lang: str) -> None:
    log_in(page, cityops.base_url, "admin", cityops.admin_password or "")
    page.goto(f"{cityops.base_url}/admin")
    switch = page.locator(f"#lang-{lang}")  # the shell's language switch (the chosen one is off)
    if switch.is_enabled():
        switch.click()
    expect(page.locator("#hook-add")).to_have_text("Add receiver" if lang == "en" else "添加")


def _add(page: Page, name: str, url: str) -> str:
    """Fill and send the form; the secret shown once."""
    page.fill("#hook-name", name)
    page.fill("#hook-url", url)
    page.click("#hook-add")
    secret = page.locator(".hook-secret")
    expect(secret).to_have_count(1)
    return secret.inner_text().strip()


def _press(page: Page, row: Locator, label: str, says: str) -> None:
    """Press a row's button once; the page says ``says`` (a line only that press writes)."""
    row.locator("button", has_text=label).click()
    expect(page.locator("#hook-result")).to_contain_text(says)


def _tested(lang: str, name: str) -> str:
    """What the page says once a test delivery is queued."""
    return f"A test delivery for '{name}'" if lang == "en" else f"已向“{name}”发送测试"


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_an_admin_manages_receivers_in_the_browser(context: BrowserContext, cityops: RunningCityOps,
                                                   hooks: list[WebhookReceiver], lang: str) -> None:
    page = context.new_page()
    watch = PageWatch().attach(page)
    page.on("dialog", lambda dialog: dialog.accept())  # the remove button's confirmation
    working, failing = WebhookReceiver(), WebhookReceiver()
    hooks += [working, failing]
    failing.status = 503
    with watch.explained():
        _admin_page(page, cityops, lang)
        secret = _add(page, f"duty-{lang}", working.url)
        assert len(secret) == 64
        row = page.locator(".hooks-table tr", has_text=f"duty-{lang}")
        _press(page, row, "Send a test" if lang == "en" else "发送测试", _tested(lang, f"duty-{lang}"))
        delivered = working.wait_deliveries(1, timeout=30)[0]
        assert delivered.json["type"] == "test" and delivered.signed_by(secret)
        _add(page, f"broken-{lang}", failing.url)
        broken = page.locator(".hooks-table tr", has_text=f"broken-{lang}")
        _press(page, broken, "Send a test" if lang == "en" else "发送测试",
               _tested(lang, f"broken-{lang}"))
        # Failing for longer than outbound.down_after_s (2 s in the test city): marked down.
        expect(broken.locator(".hook-down")).to_have_text("down" if lang == "en" else "中断",
                                                          timeout=30_000)
        expect(broken).to_contain_text("503")
        for cell in page.locator(".hooks-table td, .hooks-table th").all():
            assert cell.evaluate("e => e.scrollWidth <= e.clientWidth + 1"), cell.inner_text()
        screenshot(page, f"admin-webhooks-{lang}.png")
        broken.locator("button", has_text="Remove" if lang == "en" else "删除").click()
        expect(page.locator(".hooks-table tr", has_text=f"broken-{lang}")).to_have_count(0)
        row.locator("button", has_text="Remove" if lang == "en" else "删除").click()
        expect(page.locator(".hooks-table tr", has_text=f"duty-{lang}")).to_have_count(0)
    watch.assert_clean()
