"""Browser tests: the real `cityops up`, driven through Debian's chromium with Playwright.

Every page load is confined to 127.0.0.1: a route guard aborts anything else, and the tests that
record requests assert that nothing else was even attempted.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest
import redis
from playwright.sync_api import (
    Browser,
    BrowserContext,
    expect,
)

from app import accounts
from tests.support.browser import (
    CHROMIUM,
    PAGE_TIMEOUT_MS,
    PageWatch,
    RunningCityOps,
    admin_on_overview,
    expect_overview,
    log_in,
    new_context,
    screenshot,
    start_cityops,
    stop_cityops,
)
from tests.support.paths import REPO
from tests.support.redis_server import RedisServer
from tests.support.web import PASSWORD

# Pages are built per request by a cold gunicorn worker on a small CI machine: be patient.
expect.set_options(timeout=PAGE_TIMEOUT_MS)

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(),
                                reason=f"{CHROMIUM} is missing: install Debian's chromium package "
                                       "to run the browser tests (CI does)")


def _luminance(css_color: str) -> float:
    """Relative luminance (WCAG) of an opaque computed CSS colour like 'rgb(1, 2, 3)'."""
    match = re.fullmatch(r"rgba?\((\d+), (\d+), (\d+)(?:, ([\d.]+))?\)", css_color)
    assert match, f"unexpected computed colour {css_color!r}"
    assert match.group(4) in (None, "1"), f"colour {css_color!r} is not opaque"

    def channel(value: str) -> float:
        c = int(value) / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(match.group(i)) for i in (1, 2, 3))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


# -- tests -----------------------------------------------------------------------------------------
@pytest.mark.browser
def test_login_and_overview(cityops: RunningCityOps, context: BrowserContext) -> None:
    """The admin signs in and sees the live overview: no errors, no host but 127.0.0.1."""
    page = context.new_page()
    watch = PageWatch().attach(page)
    with watch.explained():
        admin_on_overview(page, cityops)
        # Dash Pages sets the title with an inline clientside callback: it runs only if CSP allows.
        expect(page).to_have_title("Overview · CityOps")
        expect(page.locator("#clock")).to_have_text(re.compile(r"^\d\d:\d\d:\d\d$"))
        expect(page.locator("#link-banner")).to_be_hidden()
        screenshot(page, "overview.png")
    assert watch.requests, "no request was recorded at all"
    watch.assert_clean()


@pytest.mark.browser
def test_wrong_password_shows_error(cityops: RunningCityOps, context: BrowserContext) -> None:
    """A wrong password keeps the person on /login with a visible error."""
    page = context.new_page()
    log_in(page, cityops.base_url, "admin", "not the admin password")
    expect(page.get_by_text("Wrong user name or password.")).to_be_visible()
    expect(page).to_have_url(re.compile(rf"^{re.escape(cityops.base_url)}/login(\?.*)?$"))
    expect(page.locator("#login-submit")).to_be_visible()


def _save_and_remember_rdb(r: redis.Redis) -> Path:
    """Snapshot the test Redis as a persistent server would: a restart keeps the session's user."""
    config = {**r.config_get("dir"), **r.config_get("dbfilename")}
    r.save()
    return Path(str(config["dir"])) / str(config["dbfilename"])


@pytest.mark.browser
def test_link_lost_banner_and_recovery(cityops_on_test_redis: RunningCityOps,
                                       redis_server: RedisServer, r: redis.Redis,
                                       context: BrowserContext) -> None:
    """Stopping Redis shows the "data link lost" banner; restarting it hides the banner again."""
    name = accounts.add_user(r, "operator-link", "operator", PASSWORD)
    page = context.new_page()
    log_in(page, cityops_on_test_redis.base_url, name, PASSWORD)
    expect_overview(page, cityops_on_test_redis.base_url)
    banner = page.locator("#link-banner")
    expect(banner).to_be_hidden()
    snapshot = _save_and_remember_rdb(r)
    try:
        redis_server.stop()
        expect(banner).to_be_visible(timeout=10_000)
        expect(banner).to_contain_text("Data link lost")
        redis_server.start()
        expect(banner).to_be_hidden(timeout=15_000)
        expect(page.locator("#page-title")).to_have_text("Operations overview")
    finally:
        if redis_server.process.poll() is not None:
            redis_server.start()
        # Later restarts of the shared server must not bring this test's data back.
        snapshot.unlink(missing_ok=True)


WALL_METRICS_JS = """() => {
    const root = document.documentElement, shell = document.getElementById("shell");
    const style = (el) => getComputedStyle(el);
    return {
        scrollHeight: root.scrollHeight, scrollWidth: root.scrollWidth,
        innerHeight: window.innerHeight, innerWidth: window.innerWidth,
        shellWidth: shell.getBoundingClientRect().width,
        shellClipped: shell.scrollHeight > shell.clientHeight,
        surfaces: [["shell", shell, shell]].concat(
            [...document.querySelectorAll("#wall-tiles .domain-card")].map(
                (card, i) => ["card " + i, card, card.querySelector("h3")]))
            .map(([what, surface, text]) => ({
                what, background: style(surface).backgroundColor, ink: style(text).color})),
    };
}"""


@pytest.fixture
def wall_context(browser: Browser) -> Iterator[BrowserContext]:
    """A fresh context the size of a 1080p wall display."""
    ctx = new_context(browser, 1920, 1080)
    yield ctx
    ctx.close()


@pytest.mark.browser
def test_wall_page_dark_no_scrollbars(cityops: RunningCityOps,
                                      wall_context: BrowserContext) -> None:
    """At 1920x1080 the wall is dark, fills the screen and needs no scrolling."""
    page = wall_context.new_page()
    watch = PageWatch().attach(page)
    with watch.explained():
        admin_on_overview(page, cityops)
        page.goto(f"{cityops.base_url}/wall")
        expect(page.locator("#shell")).to_have_class(re.compile(r"(^|\s)theme-wall(\s|$)"))
        expect(page.locator("#page-title")).to_have_text("City operations")
        expect(page.locator("#wall-tiles .domain-card")).to_have_count(4)
        # The status strip changes height when it renders: measure after it has.
        expect(page.locator("#data-as-of")).to_contain_text("No live data yet", timeout=10_000)
        metrics = page.evaluate(WALL_METRICS_JS)
        screenshot(page, "wall.png")
        assert metrics["scrollHeight"] <= metrics["innerHeight"], metrics
        assert metrics["scrollWidth"] <= metrics["innerWidth"], metrics
        assert not metrics["shellClipped"], f"the wall cuts off content: {metrics}"
        assert round(metrics["shellWidth"]) == metrics["innerWidth"], \
            f"the wall does not fill the screen's width: {metrics}"
        # "Dark" means dark surfaces with light text, not just the class name.
        assert len(metrics["surfaces"]) == 5, metrics
        for surface in metrics["surfaces"]:
            assert _luminance(surface["background"]) < 0.05, f"not a dark surface: {surface}"
            assert _luminance(surface["ink"]) > 0.5, f"not light text: {surface}"
    watch.assert_clean()


def _cli_add_user(running: RunningCityOps, name: str, role: str, password: str) -> None:
    """`cityops users add` against the running installation (it finds the embedded Redis)."""
    result = subprocess.run(
        [sys.executable, "-m", "app.ops.cli", "users", "add", name, "--role", role,
         "--password-stdin"],
        input=password + "\n", env=running.env, cwd=REPO, capture_output=True, text=True,
        timeout=60, check=False)
    assert result.returncode == 0, f"users add failed: {result.stdout}{result.stderr}"
    assert f"user '{name}' added with role {role}" in result.stdout


@pytest.mark.browser
def test_navigation_by_role(cityops: RunningCityOps, context: BrowserContext) -> None:
    """An official sees every page but Admin in the navigation, and /admin answers 403."""
    _cli_add_user(cityops, "official-nav", "official", PASSWORD)
    page = context.new_page()
    log_in(page, cityops.base_url, "official-nav", PASSWORD)
    expect_overview(page, cityops.base_url)
    links = page.locator("#nav a")
    expect(links).to_have_text(["Overview", "Transport", "Water", "Medical", "City management",
                                "Wall", "Alerts", "Incidents", "City status", "Shifts"])
    expect(page.locator("#nav").get_by_text("Admin")).to_have_count(0)
    response = page.goto(f"{cityops.base_url}/admin")
    assert response is not None and response.status == 403, response
    expect(page.locator("h1")).to_have_text("403")
    expect(page.get_by_role("alert")).to_have_text("your role may not open this page")
    expect(page.locator("#shell")).to_have_count(0)


@pytest.fixture(scope="module")
def demo_city(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCityOps]:
    """`cityops up` with a small demo city (the simulator polled by the real adapters)."""
    running = start_cityops(tmp_path_factory.mktemp("demo") / "data", demo_vehicles=60)
    yield running
    stop_cityops(running)


@pytest.mark.browser
def test_demo_city_on_the_overview_map(demo_city: RunningCityOps,
                                       context: BrowserContext) -> None:
    """The overview shows the demo's buses on an offline map and transport KPIs, all locally."""
    page = context.new_page()
    watch = PageWatch().attach(page)
    assert demo_city.admin_password is not None
    with watch.explained():
        log_in(page, demo_city.base_url, "admin", demo_city.admin_password)
        expect(page.locator("#page-title")).to_have_text("Operations overview")
        # The map is plotly's maplibre canvas; the legend names the vehicle classes with counts.
        expect(page.locator("#overview-map .maplibregl-canvas, #overview-map canvas").first
               ).to_be_visible(timeout=20_000)
        expect(page.locator("#overview-map")).to_contain_text("Vehicles", timeout=20_000)
        counts = [int(n) for n in re.findall(r"Vehicles: [a-z ]+ \((\d+)\)",
                                             page.locator("#overview-map").inner_text())]
        assert sum(counts) == 60, counts
        expect(page.locator("#overview-tiles")).to_contain_text("On-time performance",
                                                                timeout=20_000)
        expect(page.locator("#data-as-of")).to_contain_text("feeds ok", timeout=20_000)
        screenshot(page, "overview-demo.png")
        watch.assert_clean()
