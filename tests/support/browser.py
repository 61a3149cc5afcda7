"""Chromium driving a real `cityops up` for the browser tests, air-gapped: loopback only."""

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
from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Dialog,
    Page,
    Route,
    expect,
)

from app.store.embedded import free_port
from tests.support.paths import ARTIFACTS, REPO

CHROMIUM = Path("/usr/bin/chromium")


CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 "--disable-quic"]





LOOPBACK = "127.0.0.1"


START_TIMEOUT_S = 90.0


STOP_TIMEOUT_S = 30.0


PAGE_TIMEOUT_MS = 15_000


RUNNING_RE = re.compile(r"CityOps is running at (\S+)")


FIRST_RUN_MARKER = "First run: created user 'admin'"


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
                  demo_vehicles: int | None = None,
                  extra_env: dict[str, str] | None = None) -> RunningCityOps:
    """Run `cityops up` (with the demo city only when ``demo_vehicles`` is given) on a free
    loopback port and wait until it says it is running."""
    env = hermetic_env(data_dir, redis_url)
    env.update(extra_env or {})
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


def _loopback_only(route: Route) -> None:
    """Let requests to 127.0.0.1 through; abort anything else before it leaves the machine."""
    if urlsplit(route.request.url).hostname == LOOPBACK:
        route.continue_()
    else:
        route.abort("blockedbyclient")


def new_context(browser: Browser, width: int = 1280, height: int = 800,
                scale: float = 1) -> BrowserContext:
    """A fresh context (own cookies) whose traffic cannot leave loopback; ``scale`` is the
    device's pixels per CSS pixel (2 for a 4K screen run at 200 %)."""
    context = browser.new_context(viewport={"width": width, "height": height},
                                  device_scale_factor=scale)
    context.set_default_timeout(PAGE_TIMEOUT_MS)
    context.route("**/*", _loopback_only)
    return context


# -- the phone (issues 18 and 20) -----------------------------------------------------------------
PHONE = {"width": 390, "height": 844}
MIN_TARGET_PX = 44
# Every element a finger can press that is on screen now: links, buttons, form fields, the folds'
# buttons, Dash's dropdowns (the box and its clear "x"). A control wrapped in a <label> is pressed
# through the label, so the label is what is measured. Sizes are rounded to a hundredth.
TARGETS_JS = """() => {
  const chosen = new Set();
  const selector = 'a[href], button, input:not([type=hidden]), select, textarea, summary, '
    + '[role=button], [role=checkbox], [role=combobox], [tabindex]:not([tabindex="-1"]), '
    + '[onclick], .dash-dropdown, .Select-control, .Select-clear-zone, .dash-dropdown-clear';
  for (const el of document.querySelectorAll(selector)) {
    if (el.disabled && el.tagName === 'BUTTON' && !el.classList.contains('lang-button')) continue;
    const label = el.closest('label');
    chosen.add(label && el.tagName === 'INPUT' ? label : el);
  }
  const out = [];
  for (const el of chosen) {
    if (!el.checkVisibility({checkOpacity: true, checkVisibilityCSS: true})) continue;
    const box = el.getBoundingClientRect();
    if (box.width === 0 || box.height === 0) continue;
    if (box.bottom <= 0 || box.top >= window.innerHeight) continue;  // on screen now
    out.push({tag: el.tagName.toLowerCase(), id: el.id || '', cls: String(el.className || ''),
              text: (el.innerText || el.value || el.getAttribute('aria-label') || '').slice(0, 30),
              width: Math.round(box.width * 100) / 100, height: Math.round(box.height * 100) / 100});
  }
  return out;
}"""


def phone_context(browser: Browser, locale: str = "en-GB") -> BrowserContext:
    """A 390x844 touch screen at twice the pixels, its traffic confined to loopback."""
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True,
                                  device_scale_factor=2, locale=locale)
    context.set_default_timeout(PAGE_TIMEOUT_MS)
    context.route("**/*", _loopback_only)
    return context


def small_targets(page: Page, some_on_screen: bool = True) -> str:
    """The tap targets on screen smaller than 44x44, one a line ("" when there is none); with
    ``some_on_screen``, fail when the screen has no target at all (the page is not drawn)."""
    found = page.evaluate(TARGETS_JS)
    assert found or not some_on_screen, "no tap target found on screen"
    return "\n".join(str(t) for t in found
                     if t["width"] < MIN_TARGET_PX or t["height"] < MIN_TARGET_PX)


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
        # With its stack: an error thrown from a library (maplibre, plotly) says little alone.
        page.on("pageerror", lambda error: self.page_errors.append(error.stack or str(error)))
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


# A screenshot is an artifact, not a check: a 4K wall with its maps, drawn in software on a
# loaded CI machine, has taken longer than the page timeout (15 s) to capture.
SCREENSHOT_TIMEOUT_MS = 90_000


def screenshot(page: Page, name: str) -> None:
    """Save a screenshot under test-artifacts/ for people to look at."""
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), timeout=SCREENSHOT_TIMEOUT_MS)


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


def accept_dialogs(page: Page) -> list[str]:
    """Accept every confirmation ``page`` asks (as the person would); returns the list its
    messages are appended to, newest last."""
    messages: list[str] = []

    def accept(dialog: Dialog) -> None:
        messages.append(dialog.message)
        dialog.accept()

    page.on("dialog", accept)
    return messages
