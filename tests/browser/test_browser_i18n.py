"""Browser test: the shell's language switch turns the page into Chinese and back, in chromium."""

from __future__ import annotations

import pytest
from playwright.sync_api import BrowserContext, expect

from tests.support.browser import PageWatch, RunningCityOps, admin_on_overview, screenshot


@pytest.mark.browser
def test_language_switch_changes_the_page(cityops: RunningCityOps,
                                          context: BrowserContext) -> None:
    """EN | 中文 in the top bar: navigation, title, status strip and tab title follow; it sticks."""
    page = context.new_page()
    watch = PageWatch().attach(page)
    with watch.explained():
        admin_on_overview(page, cityops)
        expect(page.locator("#lang-en")).to_be_disabled()
        page.click("#lang-zh")
        expect(page).to_have_url(f"{cityops.base_url}/")
        expect(page.locator("#page-title")).to_have_text("运营总览")
        expect(page.locator("#nav-overview")).to_have_text("总览")
        expect(page.locator("#nav-alerts")).to_have_text("告警")
        expect(page.locator("#logout-button")).to_have_text("退出登录")
        expect(page.locator("#data-as-of")).to_contain_text("暂无实时数据", timeout=10_000)
        expect(page).to_have_title("总览 · CityOps")
        screenshot(page, "overview-zh.png")
        # Another page, and a fresh load: the choice was stored, not only shown once.
        page.click("#nav-water")
        expect(page.locator("#page-title")).to_have_text("供水")
        page.reload()
        expect(page.locator("#page-title")).to_have_text("供水")
        page.click("#lang-en")
        expect(page).to_have_url(f"{cityops.base_url}/water")
        expect(page.locator("#page-title")).to_have_text("Water")
        expect(page.locator("#nav-overview")).to_have_text("Overview")
    watch.assert_clean()
