"""Browser tests of acting explicitly on /alerts (issue 18), in English and Chinese: a claim never
takes over and taking over is confirmed in a dialog naming the holder; resolving is confirmed;
several alerts are acknowledged at once.

The real `cityops up` on the tests' redis-server, driven through Debian's chromium; every request
is confined to 127.0.0.1. Each dialog is first dismissed (nothing may change), then accepted.
"""

from __future__ import annotations

import re
import time
from typing import Iterator

import pytest
import redis
from playwright.sync_api import Browser, BrowserContext, Dialog, Locator, Page, Route, expect

from app import accounts, alerts
from app.i18n.catalog import CATALOG
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
from tests.support.redis_server import RedisServer
from tests.support.web import PASSWORD

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(not CHROMIUM.exists(),
                                 reason=f"{CHROMIUM} is missing: install Debian's chromium package")]
LANGUAGES = ("en", "zh")


@pytest.fixture(scope="module")
def cityops_act(redis_server: RedisServer,
                tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCityOps]:
    """`cityops up --no-demo` on the tests' Redis, so a test can raise alerts directly."""
    running = start_cityops(tmp_path_factory.mktemp("act") / "data", redis_server.url)
    yield running
    stop_cityops(running)


@pytest.fixture
def laptop(browser: Browser) -> Iterator[BrowserContext]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(PAGE_TIMEOUT_MS)
    context.route("**/*", _loopback_only)
    yield context
    context.close()


def say(lang: str, key: str, **values: str) -> str:
    """The catalogue's text in ``lang`` (the page must show exactly this)."""
    return CATALOG[key][LANGUAGES.index(lang)].format(**values)


def before(lang: str, key: str, placeholder: str, **values: str) -> str:
    """The catalogue's text up to ``placeholder`` (a time, which the page formats itself)."""
    return CATALOG[key][LANGUAGES.index(lang)].split("{" + placeholder + "}")[0].format(**values)


def _water(r: redis.Redis, tag: str) -> str:
    return alerts.raise_alert(r, fingerprint=f"act:{tag}", title=f"Pump {tag} stopped",
                              severity="major", domain="water", source="rule",
                              lat=28.55, lon=112.36).alert_id


def _person(r: redis.Redis, name: str, lang: str) -> str:
    accounts.add_user(r, name, "emergency", PASSWORD, ("water",))
    accounts.set_language(r, name, lang)
    return name


def _answer_dialogs(page: Page, seen: list[str], accept: list[bool]) -> None:
    """Answer each browser dialog with the next of ``accept`` (recording its message)."""
    def answer(dialog: Dialog) -> None:
        seen.append(dialog.message)
        if accept.pop(0):
            dialog.accept()
        else:
            dialog.dismiss()
    page.on("dialog", answer)


def _open(page: Page, base: str, alert_id: str, lang: str) -> None:
    """Open the alert's sheet from its card ("Details"), as a person does."""
    page.goto(f"{base}/alerts")
    page.locator(f"#alerts-list [data-alert='{alert_id}']").get_by_role(
        "button", name=say(lang, "alerts.details"), exact=True).click()
    expect(page.locator("#alert-detail")).to_have_class(re.compile(r"(^|\s)open(\s|$)"))


@pytest.mark.parametrize("lang", LANGUAGES)
def test_claim_never_takes_over_and_take_over_is_confirmed(cityops_act: RunningCityOps,
                                                           r: redis.Redis, laptop: BrowserContext,
                                                           lang: str) -> None:
    """Someone holds the alert: Claim says who and since when and changes nothing; Take over asks
    in a dialog naming them; dismissed, nothing changes; accepted, the alert is ours."""
    base = cityops_act.base_url
    me = _person(r, f"medic-take-{lang}", lang)
    alert_id = _water(r, f"take-{lang}")
    alerts.claim(r, alert_id, "ada-on-site")
    page = laptop.new_page()
    watch = PageWatch().attach(page)
    seen: list[str] = []
    _answer_dialogs(page, seen, [False, True])
    with watch.explained():
        log_in(page, base, me, PASSWORD)
        _open(page, base, alert_id, lang)
        expect(page.locator("#alert-detail-head")).to_contain_text(f"Pump take-{lang} stopped")
        page.locator("#alert-claim").click()
        result = page.locator("#alert-result")
        expect(result).to_contain_text(before(lang, "alerts.held_by", "time", user="ada-on-site"))
        expect(result).to_contain_text(say(lang, "alerts.take_over"))  # it says how
        assert alerts.get_alert(r, alert_id)["assignee"] == "ada-on-site"  # type: ignore[index]
        take_over = page.locator("#alert-takeover")
        expect(take_over).to_be_visible()
        expect(take_over).to_have_text(say(lang, "alerts.take_over"))
        # The click returns once the dialog is answered (a listener must answer it).
        take_over.click()  # dismissed: had it taken over, the accepted one below would conflict
        assert seen == [say(lang, "alerts.take_over_confirm", user="ada-on-site")]
        take_over.click()  # accepted
        expect(result).to_have_text(say(lang, "alerts.done_take_over", user="ada-on-site"))
        expect(take_over).to_be_hidden()  # ours now: nothing to take over
        screenshot(page, f"alerts-take-over-{lang}.png")
    stored = alerts.get_alert(r, alert_id)
    assert stored is not None and (stored["assignee"], stored["assigned_by"]) == (me, me)
    assert [e["action"] for e in alerts.timeline(r, alert_id)].count("takeover") == 1
    assert len(seen) == 2
    watch.assert_clean()


@pytest.mark.parametrize("lang", LANGUAGES)
def test_resolve_asks_first(cityops_act: RunningCityOps, r: redis.Redis, laptop: BrowserContext,
                            lang: str) -> None:
    """Resolve opens a confirmation; dismissed, the alert stays open; accepted, it is closed."""
    base = cityops_act.base_url
    me = _person(r, f"medic-resolve-{lang}", lang)
    alert_id = _water(r, f"resolve-{lang}")
    page = laptop.new_page()
    watch = PageWatch().attach(page)
    seen: list[str] = []
    _answer_dialogs(page, seen, [False, True])
    with watch.explained():
        log_in(page, base, me, PASSWORD)
        _open(page, base, alert_id, lang)
        resolve = page.locator("#alert-resolve")
        expect(resolve).to_have_text(say(lang, "alerts.resolve"))
        resolve.click()  # dismissed: had it resolved, the accepted one below would conflict
        assert seen == [say(lang, "alerts.resolve_confirm")]
        resolve.click()  # accepted
        expect(page.locator("#alert-result")).to_have_text(say(lang, "alerts.done_resolve"))
    assert alerts.get_alert(r, alert_id)["state"] == "cleared_ack"  # type: ignore[index]
    assert len(seen) == 2
    watch.assert_clean()


@pytest.mark.parametrize("lang", LANGUAGES)
def test_acknowledge_several_at_once(cityops_act: RunningCityOps, r: redis.Redis,
                                     laptop: BrowserContext, lang: str) -> None:
    """Select all shown, someone acknowledges one meanwhile (its card loses its box, the others
    stay ticked), then Acknowledge selected: the rest acknowledged at once, the summary says so."""
    base = cityops_act.base_url
    me = _person(r, f"medic-bulk-{lang}", lang)
    outage = [_water(r, f"bulk-{lang}-{i}") for i in range(3)]
    page = laptop.new_page()
    watch = PageWatch().attach(page)
    with watch.explained():
        log_in(page, base, me, PASSWORD)
        page.goto(f"{base}/alerts")
        boxes = page.locator("#alerts-list .alert-select-box")
        for alert_id in outage:
            expect(page.locator(f"#alerts-list [data-alert='{alert_id}'] .alert-select-box")
                   ).to_be_visible()
        select_all = page.locator("#alerts-select-all")
        expect(select_all).to_have_text(say(lang, "alerts.select_all"))
        select_all.click()
        for alert_id in outage:
            expect(page.locator(f"#alerts-list [data-alert='{alert_id}'] .alert-select-box")
                   ).to_be_checked()
        alerts.acknowledge(r, outage[0], "desk-operator")
        expect(page.locator(f"#alerts-list [data-alert='{outage[0]}'] .alert-select-box")
               ).to_have_count(0)
        for alert_id in outage[1:]:  # the redrawn list keeps the ticks
            expect(page.locator(f"#alerts-list [data-alert='{alert_id}'] .alert-select-box")
                   ).to_be_checked()
        page.locator("#alerts-ack-selected").click()
        summary = page.locator("#alerts-bulk-result")
        expect(summary).to_contain_text(say(lang, "alerts.bulk_done", count="2"))
        expect(boxes).to_have_count(0)
        screenshot(page, f"alerts-bulk-{lang}.png")
    for alert_id in outage[1:]:
        assert alerts.get_alert(r, alert_id)["acked_by"] == me  # type: ignore[index]
    assert alerts.get_alert(r, outage[0])["acked_by"] == "desk-operator"  # type: ignore[index]
    watch.assert_clean()


def test_the_catalogue_has_every_text_these_tests_read() -> None:
    """A key these tests read is in both languages (a typo would make them pass vacuously)."""
    for key in ("alerts.held_by", "alerts.take_over", "alerts.take_over_confirm",
                "alerts.done_take_over", "alerts.resolve_confirm", "alerts.select_all",
                "alerts.bulk_done"):
        english, chinese = CATALOG[key]
        assert english and re.search(r"[\u4e00-\u9fff]", chinese), key


def test_ticks_made_while_a_redraw_is_on_its_way_survive_it(cityops_act: RunningCityOps, r: redis.Redis,
                                                             laptop: BrowserContext) -> None:
    """The list's redraw is held on the wire; meanwhile "Select all shown" is pressed and one box
    is unticked by hand; when the redraw lands (with a new alert) the cards keep those ticks."""
    base = cityops_act.base_url
    me = _person(r, "medic-race", "en")
    outage = [_water(r, f"race-{i}") for i in range(3)]
    page = laptop.new_page()
    watch = PageWatch().attach(page)
    held: list[Route] = []

    def hold_list_redraws(route: Route) -> None:
        body = route.request.post_data_json if route.request.method == "POST" else None
        if isinstance(body, dict) and str(body.get("output", "")).startswith("..alerts-list.children."):
            held.append(route)
        else:
            route.continue_()

    def box(alert_id: str) -> Locator:
        return page.locator(f"#alerts-list [data-alert='{alert_id}'] .alert-select-box")

    with watch.explained():
        log_in(page, base, me, PASSWORD)
        page.goto(f"{base}/alerts")
        for alert_id in outage:
            expect(box(alert_id)).to_be_visible()
        page.route("**/_dash-update-component*", hold_list_redraws)
        later = _water(r, "race-later")  # the panel's version moves: the list asks for a redraw
        deadline = time.monotonic() + PAGE_TIMEOUT_MS / 1000
        while not held:  # Playwright calls the route handler while the page is being waited on
            assert time.monotonic() < deadline, "the list's redraw was never asked for"
            page.wait_for_timeout(50)
        page.locator("#alerts-select-all").click()
        box(outage[1]).uncheck()
        for alert_id in (outage[0], outage[2]):
            expect(box(alert_id)).to_be_checked()
        for route in held:
            route.continue_()
        page.unroute("**/_dash-update-component*", hold_list_redraws)
        expect(box(later)).to_be_visible()  # the redraw landed
        for alert_id in (outage[0], outage[2]):
            expect(box(alert_id)).to_be_checked()
        expect(box(outage[1])).not_to_be_checked()
        expect(box(later)).not_to_be_checked()
    watch.assert_clean()
