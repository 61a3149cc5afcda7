"""What a person's browser pays, measured in Chromium: the wall's main-thread time per map update
and its JS heap over a long run with 20,000 moving vehicles, and a phone's sign-in to the first
alert card on a slow link (with the bytes it took).

Each case starts its own `cityops up --no-demo` (app/bench/web.py) and drives it the way the city
would: vehicles move every second through the real ingest and map publish. Chromium comes from
Debian (/usr/bin/chromium) through Playwright, a test extra; without them the figures are
reported as not measured.
"""

from __future__ import annotations

import contextlib
import os
import statistics
import threading
import time
from typing import Any, Callable, Iterator

from app.bench.suite import CHROMIUM

# Chromium's network emulation for the phone: 1.6 Mbit/s down, 750 kbit/s up, 150 ms round trip
# (the "slow 4G / good 3G" profile).
PHONE_DOWN_BPS = 1_600_000 / 8
PHONE_UP_BPS = 750_000 / 8
PHONE_RTT_MS = 150
PHONE_VIEWPORT = {"width": 390, "height": 844}
WALL_VIEWPORT = {"width": 1920, "height": 1080}
# A wall has a GPU: the machine here has none, so WebGL and compositing run on SwiftShader in
# Chromium's GPU process, as a GPU would take them off the main thread. With --disable-gpu the
# compositor's software path adds ~100 ms of main-thread "Commit" per frame, a cost no wall pays.
EXTRA_ARGS: list[str] = os.environ.get(
    "CITYOPS_BENCH_CHROMIUM_ARGS", "--use-angle=swiftshader --enable-unsafe-swiftshader").split()
# The wall's map is on the page and its script runs (assets/wall_map.js counts each frame it draws).
_WALL_MAPS_READY = """() => !!(window.cityopsWallMaps
                               && document.querySelector('#wall-map .js-plotly-plot'))"""


def available() -> str | None:
    """Why the browser figures cannot be measured here (None when they can)."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright is not installed (pip install -e '.[test]')"
    if not os.path.exists(CHROMIUM):
        return f"{CHROMIUM} is missing (apt-get install chromium)"
    return None


@contextlib.contextmanager
def _chromium() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                             args=["--no-sandbox", *EXTRA_ARGS,
                                                   "--js-flags=--expose-gc"])
        try:
            yield browser
        finally:
            browser.close()


class MovingFleet:
    """``vehicles`` buses of one GTFS-rt feed that move every second (a thread), each move stored
    and published as the runner does; a few pre-built polls are cycled to spare the CPU."""

    def __init__(self, r: Any, vehicles: int, polls: int = 8) -> None:
        from app.bench.ingest import vehicle_positions_feed
        from data_adapters.transport.adapter import GtfsRealtimeAdapter

        self.r = r
        self.adapter = GtfsRealtimeAdapter({"name": "wallbench", "url": "http://127.0.0.1/wb",
                                            "kind": "vehicle_positions"})
        start = time.time()
        self.payloads = [vehicle_positions_feed(vehicles, seed=50 + i, now=start) for i in range(polls)]
        self.stop = threading.Event()
        self.moves = 0
        self.thread = threading.Thread(target=self._run, daemon=True, name="bench-fleet")

    def move(self) -> None:
        """One poll of the fleet, stored and published."""
        from app.model.records import RawPayload
        from app.pipeline.ingest import ingest
        from app.situation.mapdata import Thresholds
        from app.situation.mapdata import share as map_share

        payload = self.payloads[self.moves % len(self.payloads)]
        # Each poll is newer than the one before, whatever payload it reuses.
        ingest(self.r, self.adapter, RawPayload(payload, "bench", fetched_at=time.time()))
        map_share.publish(self.r, "transport", Thresholds.of())
        self.moves += 1

    def _run(self) -> None:
        while not self.stop.is_set():
            began = time.monotonic()
            self.move()
            self.stop.wait(max(0.0, 1.0 - (time.monotonic() - began)))

    def __enter__(self) -> MovingFleet:
        self.move()
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        self.thread.join(timeout=30)


def _wall_page(browser: Any, port: int, token: str) -> tuple[Any, Any]:
    page = browser.new_page(viewport=WALL_VIEWPORT)
    page.goto(f"http://127.0.0.1:{port}/wall?token={token}")
    page.wait_for_function(_WALL_MAPS_READY, timeout=60_000)
    cdp = page.context.new_cdp_session(page)
    cdp.send("Performance.enable")
    return page, cdp


def _metrics(cdp: Any) -> dict[str, float]:
    return {m["name"]: float(m["value"]) for m in cdp.send("Performance.getMetrics")["metrics"]}


def _heap_mb(page: Any, cdp: Any) -> float:
    """The JS heap in use after a full collection (what stays, not what waits to be collected)."""
    cdp.send("HeapProfiler.enable")
    cdp.send("HeapProfiler.collectGarbage")
    return _metrics(cdp)["JSHeapUsedSize"] / 2**20


def _main_thread_per_update(page: Any, cdp: Any, updates: int) -> list[float]:
    """Milliseconds of main-thread work between consecutive map updates, ``updates`` of them."""
    spent = []
    page.wait_for_function("() => window.cityopsWallMaps.updates > 0", timeout=60_000)
    seen = page.evaluate("() => window.cityopsWallMaps.updates")
    before = _metrics(cdp)["TaskDuration"]
    while len(spent) < updates:
        page.wait_for_function("n => window.cityopsWallMaps.updates > n", arg=seen, timeout=60_000)
        seen = page.evaluate("() => window.cityopsWallMaps.updates")
        now = _metrics(cdp)["TaskDuration"]
        spent.append((now - before) * 1000)
        before = now
    return spent


def bench_wall(vehicles: int = 20_000, updates: int = 60, early_s: float = 180.0,
               late_s: float = 900.0, log: Callable[[str], None] = print) -> dict[str, float]:
    """``wall_update_main_ms_p95``: main-thread time per map update at ``vehicles`` moving
    vehicles (p95 over ``updates``); ``wall_heap_growth_pct``: the JS heap after ``late_s`` of
    updates against after ``early_s`` (both after a full collection)."""
    from app import accounts
    from app.bench.web import _redis_of, running_up

    with running_up(workers=2) as up, _chromium() as browser:
        r = _redis_of(up)
        token = accounts.create_token(r, "bench-wall-browser", "wall")
        with MovingFleet(r, vehicles) as fleet:
            started = time.monotonic()
            page, cdp = _wall_page(browser, up.port, token)
            spent = _main_thread_per_update(page, cdp, updates)
            page.wait_for_timeout(max(0.0, early_s - (time.monotonic() - started)) * 1000)
            early = _heap_mb(page, cdp)
            log(f"  wall heap after {early_s:g} s: {early:.1f} MB ({fleet.moves} moves)")
            page.wait_for_timeout(max(0.0, late_s - (time.monotonic() - started)) * 1000)
            late = _heap_mb(page, cdp)
            log(f"  wall heap after {late_s:g} s: {late:.1f} MB ({fleet.moves} moves)")
        r.close()
    spent.sort()
    return {"wall_update_main_ms_p95": spent[int(0.95 * (len(spent) - 1))],
            "wall_update_main_ms_median": statistics.median(spent),
            "wall_heap_early_mb": early, "wall_heap_late_mb": late,
            "wall_heap_growth_pct": (late - early) / early * 100 if early else float("nan")}


def bench_phone(alerts: int = 40, runs: int = 3) -> dict[str, float]:
    """``phone_first_card_s``: from pressing "sign in" on a 390x844 phone on a throttled link
    (1.6 Mbit/s, 150 ms) to the first alert card on /alerts, cold cache, median of ``runs``;
    ``phone_transfer_bytes``: the bytes over the wire for that (compressed, as received)."""
    from app import accounts
    from app.alerts import lifecycle
    from app.bench.web import _redis_of, running_up

    password = "bench phone password 1234"
    times, sizes = [], []
    with running_up(workers=2) as up, _chromium() as browser:
        r = _redis_of(up)
        accounts.add_user(r, "bench-phone", "emergency", password)
        for i in range(alerts):
            lifecycle.raise_alert(r, fingerprint=f"bench-phone|{i}", title=f"Pressure low in zone {i}",
                                  severity=("critical", "major", "minor")[i % 3], domain="water",
                                  source="bench", lat=28.55 + i * 1e-3, lon=112.36)
        for _ in range(runs):
            context = browser.new_context(viewport=PHONE_VIEWPORT, is_mobile=True, has_touch=True,
                                          device_scale_factor=3)
            page = context.new_page()
            cdp = context.new_cdp_session(page)
            cdp.send("Network.enable")
            cdp.send("Network.setCacheDisabled", {"cacheDisabled": True})
            cdp.send("Network.emulateNetworkConditions", {
                "offline": False, "latency": PHONE_RTT_MS, "downloadThroughput": PHONE_DOWN_BPS,
                "uploadThroughput": PHONE_UP_BPS})
            received: list[float] = []

            def count(event: dict[str, Any], into: list[float] = received) -> None:
                into.append(float(event["encodedDataLength"]))

            cdp.on("Network.loadingFinished", count)
            page.goto(f"http://127.0.0.1:{up.port}/login?next=/alerts", timeout=120_000)
            page.fill("#username", "bench-phone")
            page.fill("#password", password)
            received.clear()
            began = time.perf_counter()
            page.click("#login-submit")
            page.locator(".alert-row:visible").first.wait_for(timeout=120_000)
            times.append(time.perf_counter() - began)
            sizes.append(float(sum(received)))
            context.close()
        r.close()
    return {"phone_first_card_s": statistics.median(times),
            "phone_transfer_bytes": statistics.median(sizes)}
