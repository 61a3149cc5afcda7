"""/admin's user form in Chromium at 1440x900 (issue 19), in both languages: an admin adds a user,
changes their role and domains, disables (confirmed) and enables them, resets their password (the
new one shown once, and it signs in), and deletes them (confirmed); the user the admin made cannot
open /admin, and the admin cannot delete their own account."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Route, expect

from tests.support.browser import (
    PageWatch,
    RunningCityOps,
    accept_dialogs,
    log_in,
    new_context,
    screenshot,
)

TEXT = {
    "en": {"add": "Add user", "save": "Save role and domains", "enable": "Enable",
           "disable": "Disable", "reset": "Reset password", "delete": "Delete", "water": "Water",
           "emergency": "emergency", "disabled": "disabled", "active": "active",
           "saved": "is now", "password": "shown only now", "deleted": "is deleted",
           "not_self": "your own account"},
    "zh": {"add": "添加", "save": "保存角色和领域", "enable": "启用", "disable": "停用",
           "reset": "重置密码", "delete": "删除", "water": "供水", "emergency": "应急人员",
           "disabled": "已停用", "active": "启用", "saved": "现为", "password": "仅显示这一次",
           "deleted": "已删除账户", "not_self": "您自己的账户"},
}



def _admin_page(page: Page, cityops: RunningCityOps, lang: str) -> None:
    log_in(page, cityops.base_url, "admin", cityops.admin_password or "")
    page.goto(f"{cityops.base_url}/admin")
    switch = page.locator(f"#lang-{lang}")  # the shell's language switch (the chosen one is off)
    if switch.is_enabled():
        switch.click()
    expect(page.locator("#admin-user-save")).to_have_text(TEXT[lang]["save"])


def _pick(page: Page, component: str, label: str) -> None:
    """Choose ``label`` in one of Dash's dropdowns, as a person does (open it, click the option)."""
    page.locator(f"#{component}").click()
    page.get_by_role("option", name=label, exact=False).first.click()


def _press(page: Page, button: str, says: str) -> None:
    """Press one of the form's buttons; the page says ``says``."""
    page.locator(f"#{button} button, button#{button}").first.click()
    expect(page.locator("#admin-user-result")).to_contain_text(says)


def _row(page: Page, user: str):  # type: ignore[no-untyped-def]
    return page.locator("#admin-users tr", has=page.locator("td", has_text=user))


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_an_admin_manages_a_user_in_the_browser(wide: BrowserContext, browser: Browser,
                                                cityops: RunningCityOps, lang: str) -> None:
    page = wide.new_page()
    watch = PageWatch().attach(page)
    dialogs = accept_dialogs(page)  # the confirmations of disable, reset and delete
    t = TEXT[lang]
    user = f"pat-{lang}"
    with watch.explained():
        _admin_page(page, cityops, lang)
        page.fill("#admin-new-name", user)
        page.fill("#admin-new-password", "a first long password")
        page.locator("#admin-add-user").click()
        expect(_row(page, user)).to_have_count(1)

        _pick(page, "admin-user-pick", user)
        _pick(page, "admin-user-role", t["emergency"])
        page.locator("#admin-user-domains label", has_text=t["water"]).click()
        _press(page, "admin-user-save", t["saved"])
        expect(_row(page, user)).to_contain_text(t["emergency"])
        expect(_row(page, user)).to_contain_text(t["water"])

        _press(page, "admin-user-disable", user)
        expect(_row(page, user)).to_contain_text(t["disabled"])
        assert user in dialogs[-1]
        _press(page, "admin-user-enable", user)
        expect(_row(page, user).locator("td").last).to_have_text(t["active"])

        _press(page, "admin-user-reset", t["password"])
        password = page.locator(".admin-password").inner_text().strip()
        assert len(password) >= 10 and user in dialogs[-1]
        for cell in page.locator("#admin-users td, #admin-users th").all():
            assert cell.evaluate("e => e.scrollWidth <= e.clientWidth + 1"), cell.inner_text()
        page.locator(".admin-users").scroll_into_view_if_needed()
        screenshot(page, f"admin-users-{lang}.png")

        # The new password signs the person in; their role does not open /admin.
        other = new_context(browser, 1440, 900)
        try:
            theirs = other.new_page()
            log_in(theirs, cityops.base_url, user, password)
            expect(theirs).to_have_url(f"{cityops.base_url}/alerts")  # emergency staff start there
            refused = theirs.goto(f"{cityops.base_url}/admin")
            assert refused is not None and refused.status == 403
        finally:
            other.close()

        # The admin's own account: refused, with a message, whatever is pressed.
        _pick(page, "admin-user-pick", "admin")
        _press(page, "admin-user-delete", t["not_self"])

        # The confirmation names whom it deletes as soon as they are picked, even while the
        # server's answer to the pick is still on its way (held here): filled by the server, it
        # asked "Delete the account 'admin'?" and then deleted the person picked.
        held: list[Route] = []

        def hold_the_pick(route: Route) -> None:
            body = route.request.post_data_json if route.request.method == "POST" else None
            if isinstance(body, dict) and "admin-user-role.value" in str(body.get("output")):
                held.append(route)
            else:
                route.continue_()

        page.route("**/_dash-update-component*", hold_the_pick)
        _pick(page, "admin-user-pick", user)
        _press(page, "admin-user-delete", t["deleted"])
        assert user in dialogs[-1], dialogs[-1]
        for route in held:
            route.continue_()
        page.unroute("**/_dash-update-component*", hold_the_pick)
        expect(_row(page, user)).to_have_count(0)
    watch.assert_clean()


TOKENS = {
    "en": {"create": "Create token", "once": "shown only now", "revoke": "Revoke",
           "revoked": "is revoked", "state_revoked": "revoked", "wall": "wall"},
    "zh": {"create": "创建令牌", "once": "仅显示这一次", "revoke": "吊销", "revoked": "已吊销令牌",
           "state_revoked": "已吊销", "wall": "大屏"},
}


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_an_admin_creates_and_revokes_a_wall_token_in_the_browser(
        wide: BrowserContext, browser: Browser, cityops: RunningCityOps, lang: str) -> None:
    """The token's text is shown once and opens the wall; revoked (confirmed), it opens nothing."""
    page = wide.new_page()
    watch = PageWatch().attach(page)
    dialogs = accept_dialogs(page)
    t = TOKENS[lang]
    name = f"lobby-{lang}"
    with watch.explained():
        _admin_page(page, cityops, lang)
        expect(page.locator("#admin-token-create")).to_have_text(t["create"])
        page.fill("#admin-token-name", name)
        page.locator("#admin-token-create").click()
        expect(page.locator("#admin-token-result")).to_contain_text(t["once"])
        text = page.locator(".admin-token-secret").inner_text().strip()
        row = page.locator(".admin-tokens-table tr", has_text=name)
        expect(row).to_contain_text(t["wall"])
        assert text.split("_", 2)[2] not in page.locator("#admin-tokens").inner_text()
        page.locator(".admin-tokens").scroll_into_view_if_needed()
        screenshot(page, f"admin-tokens-{lang}.png")

        display = new_context(browser, 1440, 900)
        try:
            wall = display.new_page()
            opened = wall.goto(f"{cityops.base_url}/wall?token={text}")
            assert opened is not None and opened.status == 200
            expect(wall.locator("#page-title")).to_be_visible()

            row.locator("button", has_text=t["revoke"]).click()
            expect(page.locator("#admin-token-result")).to_contain_text(t["revoked"])
            assert name in dialogs[-1]
            expect(row).to_contain_text(t["state_revoked"])
            expect(row.locator("button")).to_have_count(0)
            # The display's session ends with its token: the next load is refused.
            again = wall.goto(f"{cityops.base_url}/wall")
            assert again is not None and again.status in (401, 403) or "/login" in wall.url
        finally:
            display.close()
    watch.assert_clean()


PAIRING = {
    "en": {"title": "Pair this display", "button": "Pair display", "done": "is paired as"},
    "zh": {"title": "配对此大屏", "button": "配对", "done": "大屏已配对为"},
}


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_a_wall_display_is_paired_by_its_code(wide: BrowserContext, browser: Browser,
                                              cityops: RunningCityOps, lang: str) -> None:
    """The display opens /pair and shows a code; the admin types it at the desk; the display
    opens the wall by itself, and nobody typed a token."""
    page = wide.new_page()
    watch = PageWatch().attach(page)
    t = PAIRING[lang]
    display = new_context(browser, 1440, 900)
    try:
        kiosk = display.new_page()
        kiosk.goto(f"{cityops.base_url}/pair?lang={lang}")
        expect(kiosk.locator("h1")).to_have_text(t["title"])
        code = kiosk.locator("#pair-code").inner_text().strip()
        assert len(code) == 9 and code[4] == "-"
        screenshot(kiosk, f"pair-display-{lang}.png")
        with watch.explained():
            _admin_page(page, cityops, lang)
            page.fill("#admin-pair-code", code.lower())
            page.fill("#admin-pair-name", f"hall-{lang}")
            page.locator("#admin-pair").click()
            expect(page.locator("#admin-token-result")).to_contain_text(t["done"])
            expect(page.locator(".admin-tokens-table tr", has_text=f"hall-{lang}")).to_have_count(1)
            page.locator("#admin-pair").scroll_into_view_if_needed()
            screenshot(page, f"admin-pairing-{lang}.png")
        # The display's page asks again every few seconds and lands on the wall.
        expect(kiosk).to_have_url(f"{cityops.base_url}/wall", timeout=15_000)
        expect(kiosk.locator("#page-title")).to_be_visible()
    finally:
        display.close()
    watch.assert_clean()


AUDIT = {
    "en": {"what": "added a user", "none": "No entries match"},
    "zh": {"what": "添加用户", "none": "没有符合筛选条件的记录"},
}


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_an_admin_filters_and_pages_the_audit_log(wide: BrowserContext, cityops: RunningCityOps,
                                                  lang: str) -> None:
    """Filter by who and what (paging is tested in tests/integration/test_admin_audit.py); no code
    or epoch seconds on the way."""
    page = wide.new_page()
    watch = PageWatch().attach(page)
    t = AUDIT[lang]
    with watch.explained():
        _admin_page(page, cityops, lang)
        # Enough entries for two pages of 50: users added through the form on this page.
        for n in range(3):
            page.fill("#admin-new-name", f"audit-{lang}-{n}")
            page.fill("#admin-new-password", "a first long password")
            page.locator("#admin-add-user").click()
            expect(page.locator("#admin-users")).to_contain_text(f"audit-{lang}-{n}")
        _pick(page, "admin-audit-action", t["what"])
        table = page.locator("#admin-audit")
        expect(table.locator("tr", has_text=f"audit-{lang}-2")).to_have_count(1)
        expect(table.locator("tbody tr", has_not_text=t["what"])).to_have_count(0)
        expect(page.locator("#admin-audit-older")).to_be_disabled()  # one page: nothing older
        assert "user_add" not in table.inner_text()
        assert not re.search(r"\b1[0-9]{9}\b", table.inner_text())
        page.fill("#admin-audit-actor", "nobody-at-all")
        page.keyboard.press("Enter")
        expect(table).to_contain_text(t["none"])
        page.fill("#admin-audit-actor", "")
        page.keyboard.press("Enter")
        expect(table.locator("tr", has_text=f"audit-{lang}-0")).to_have_count(1)
        page.locator(".admin-audit").scroll_into_view_if_needed()
        screenshot(page, f"admin-audit-{lang}.png")
    watch.assert_clean()
