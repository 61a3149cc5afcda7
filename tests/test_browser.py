"""Browser tests: the real `cityops up`, driven through Debian's chromium with Playwright.

Every page load is confined to 127.0.0.1: a route guard aborts anything else, and the tests that
record requests assert that nothing else was even attempted.
"""

from __future__ import annotations

import contextlib
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator
from urllib.parse import urlsplit

import pytest
import redis
from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Page,
    Route,
    expect,
    sync_playwright,
)

from app import accounts
from app.store.embedded import free_port
from tests.conftest import PASSWORD, RedisServer

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 "--disable-quic"]
REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "test-artifacts"
LOOPBACK = "127.0.0.1"
START_TIMEOUT_S = 90.0
STOP_TIMEOUT_S = 30.0
PAGE_TIMEOUT_MS = 15_000
RUNNING_RE = re.compile(r"CityOps is running at (\S+)")
FIRST_RUN_MARKER = "First run: created user 'admin'"

# Pages are built per request by a cold gunicorn worker on a small CI machine: be patient.
expect.set_options(timeout=PAGE_TIMEOUT_MS)

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(),
                                reason=f"{CHROMIUM} is missing: install Debian's chromium package "
                                       "to run the browser tests (CI does)")


# -- the product, started as a user starts it ----------------------------------------------------
@dataclass
class RunningCityOps:
    """One `cityops up` process and what it printed."""

    process: subprocess.Popen[str]
    base_url: str
    env: dict[str, str]
    lines: list[str]
    stderr_path: Path
    admin_password: str | None

    def stderr_tail(self, count: int = 30) -> str:
        """The last lines the process wrote to stderr, for failure messages."""
        try:
            text = self.stderr_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return "(no stderr)"
        return "\n".join(text.splitlines()[-count:])


def hermetic_env(data_dir: Path, redis_url: str | None) -> dict[str, str]:
    """The environment of a `cityops` process: no CITYOPS_* from the developer's shell."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CITYOPS_")}
    env["CITYOPS_DATA_DIR"] = str(data_dir)
    if redis_url:
        env["CITYOPS_REDIS_URL"] = redis_url
    # The supervisor's health probe uses urllib, which would send loopback through a proxy.
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _pump(stream: object, lines: list[str], inbox: queue.Queue[str | None]) -> None:
    """Copy a child's stdout into ``lines`` and ``inbox`` until it closes: its pipe never fills."""
    for line in stream:  # type: ignore[attr-defined]
        lines.append(line.rstrip("\n"))
        inbox.put(line.rstrip("\n"))
    inbox.put(None)


def start_cityops(data_dir: Path, redis_url: str | None = None,
                  demo_vehicles: int | None = None) -> RunningCityOps:
    """Run `cityops up` (with the demo city only when ``demo_vehicles`` is given) on a free
    loopback port and wait until it says it is running."""
    env = hermetic_env(data_dir, redis_url)
    if demo_vehicles is not None:
        env["CITYOPS_DEMO_VEHICLES"] = str(demo_vehicles)
    port = free_port()
    stderr_path = data_dir.parent / f"{data_dir.name}-stderr.log"
    with open(stderr_path, "wb") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "app.ops.cli", "up", "--host", LOOPBACK, "--port", str(port)]
            + ([] if demo_vehicles is not None else ["--no-demo"]),
            env=env, cwd=REPO, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=stderr,
            text=True, bufsize=1)
    lines: list[str] = []
    inbox: queue.Queue[str | None] = queue.Queue()
    threading.Thread(target=_pump, args=(process.stdout, lines, inbox), daemon=True).start()
    running = RunningCityOps(process, "", env, lines, stderr_path, None)
    deadline = time.monotonic() + START_TIMEOUT_S
    expect_password = False
    while True:
        remaining = deadline - time.monotonic()
        try:
            line = inbox.get(timeout=max(remaining, 0.01))
        except queue.Empty:
            stop_cityops(running, check=False)
            pytest.fail(f"`cityops up` did not report running within {START_TIMEOUT_S:.0f} s; "
                        f"stdout: {lines!r}; stderr:\n{running.stderr_tail()}")
        if line is None:
            process.wait(timeout=STOP_TIMEOUT_S)
            pytest.fail(f"`cityops up` exited with code {process.returncode} before running; "
                        f"stdout: {lines!r}; stderr:\n{running.stderr_tail()}")
        if expect_password:
            running.admin_password = line.strip()
            expect_password = False
        elif FIRST_RUN_MARKER in line:
            expect_password = True
        match = RUNNING_RE.search(line)
        if match:
            running.base_url = match.group(1).rstrip("/")
            break
    assert running.base_url == f"http://{LOOPBACK}:{port}", running.base_url
    return running


def stop_cityops(running: RunningCityOps, check: bool = True) -> None:
    """SIGTERM `cityops up`; with ``check``, fail unless it stops cleanly within STOP_TIMEOUT_S."""
    process = running.process
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        code = process.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        if check:
            pytest.fail(f"`cityops up` did not stop within {STOP_TIMEOUT_S:.0f} s of SIGTERM; "
                        f"stderr:\n{running.stderr_tail()}")
        return
    if check:
        assert code == 0, f"`cityops up` exited with {code}; stderr:\n{running.stderr_tail()}"


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


def _loopback_only(route: Route) -> None:
    """Let requests to 127.0.0.1 through; abort anything else before it leaves the machine."""
    if urlsplit(route.request.url).hostname == LOOPBACK:
        route.continue_()
    else:
        route.abort("blockedbyclient")


def new_context(browser: Browser, width: int = 1280, height: int = 800) -> BrowserContext:
    """A fresh context (own cookies) whose traffic cannot leave loopback."""
    context = browser.new_context(viewport={"width": width, "height": height})
    context.set_default_timeout(PAGE_TIMEOUT_MS)
    context.route("**/*", _loopback_only)
    return context


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    """A fresh 1280x800 browser context per test."""
    ctx = new_context(browser)
    yield ctx
    ctx.close()


@dataclass
class PageWatch:
    """Every request URL, console error and uncaught exception of a page."""

    requests: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)

    def attach(self, page: Page) -> PageWatch:
        """Start recording ``page``'s events."""
        page.on("request", lambda request: self.requests.append(request.url))
        page.on("console", self._on_console)
        page.on("pageerror", lambda error: self.page_errors.append(str(error)))
        return self

    def _on_console(self, message: ConsoleMessage) -> None:
        """Keep console messages of type error, with where they came from."""
        if message.type == "error":
            self.console_errors.append(f"{message.text} @ {message.location}")

    def summary(self) -> str:
        """The recorded console and page errors, for failure messages."""
        return ("console errors:\n" + "\n".join(self.console_errors or ["(none)"])
                + "\nuncaught page errors:\n" + "\n".join(self.page_errors or ["(none)"]))

    @contextlib.contextmanager
    def explained(self) -> Iterator[None]:
        """Add the page's errors to any failure inside the block (a blank page says nothing)."""
        try:
            yield
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{self.summary()}") from exc

    def assert_clean(self) -> None:
        """Only loopback was asked for, and the page logged no error and threw nothing."""
        # data: and blob: URLs never leave the browser, so they have no host to check.
        foreign = [url for url in self.requests if not url.startswith(("data:", "blob:"))
                   and urlsplit(url).hostname != LOOPBACK]
        assert not foreign, f"requests to hosts other than {LOOPBACK}: {foreign}"
        assert not self.console_errors and not self.page_errors, self.summary()


def screenshot(page: Page, name: str) -> None:
    """Save a screenshot under test-artifacts/ for people to look at."""
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name))


def log_in(page: Page, base_url: str, name: str, password: str) -> None:
    """Sign in through the login form, as a person does."""
    page.goto(f"{base_url}/login")
    page.fill("#username", name)
    page.fill("#password", password)
    page.click("#login-submit")


def expect_overview(page: Page, base_url: str) -> None:
    """Wait until the overview page and its live status strip have rendered."""
    expect(page).to_have_url(f"{base_url}/")
    expect(page.locator("#page-title")).to_have_text("Operations overview")
    # Written by the 1 s dcc.Interval callback, so this proves the live round trip works.
    expect(page.locator("#data-as-of")).to_contain_text("No live data yet", timeout=10_000)


def admin_on_overview(page: Page, cityops: "RunningCityOps") -> None:
    """Sign in as the first-run admin and wait for the live overview."""
    assert cityops.admin_password is not None
    log_in(page, cityops.base_url, "admin", cityops.admin_password)
    expect_overview(page, cityops.base_url)


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
                                "Wall", "Alerts", "City status"])
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
