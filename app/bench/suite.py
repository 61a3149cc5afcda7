"""`cityops bench`: every figure of the performance targets, measured on data it builds itself.

Each case runs several times and reports the median; ``quick`` runs small sizes once or twice
(for the test that checks every figure is produced — timings are not tests). The targets are
printed beside the figures; docs/performance.md holds the latest results and how to reproduce them.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from dataclasses import dataclass
from typing import Any, Callable

TARGETS: dict[str, tuple[str, float]] = {
    # figure -> (comparison, target) on a 2-core machine
    "ingest_entities_per_s": (">=", 100_000),
    "ingest_ratio_to_raw_write": (">=", 0.5),
    "tick_unchanged_ms": ("<=", 2),
    "tick_changed_ms": ("<=", 20),
    "tick_changed_bytes": ("<=", 250_000),
    "tick_unchanged_bytes": ("<=", 1_000),
    "clients_p95_ms": ("<=", 100),
    "glass_to_glass_p95_s": ("<=", 2),
    "redis_bytes_per_entity": ("<=", 500),
    "startup_s": ("<=", 10),
    "linkage_ms": ("<=", 20),
    "history_bytes_per_point": ("<=", 24),
    "history_query_24h_ms": ("<=", 50),
    "ingest_entities_per_s_100k": (">=", 100_000),
    "redis_bytes_per_entity_100k": ("<=", 500),
    "map_publish_ms_100k": ("<=", 1_000),
    "tick_changed_ms_100k": ("<=", 20),
    "web_worker_rss_mb_100k": ("<=", 400),
    # the public status page under a surge (app/bench/public.py): 200 visitors, 2 gunicorn workers
    "public_rps": (">=", 1_000),
    "public_p95_ms": ("<=", 100),
}
CHROMIUM = "/usr/bin/chromium"


@dataclass(frozen=True)
class Sizes:
    """How big each case is."""

    ingest: tuple[int, ...]
    main: int  # the size the headline figures are taken at
    tick_scale: tuple[int, ...]  # vehicles; sensors, hospitals, requests scale with them
    runs: int
    clients: int
    client_seconds: float
    startup_runs: int
    glass_samples: int
    mega_per_feed: int  # vehicles in each of the megacity's four feeds
    mega_scale: float  # of the megacity's 20,000 other things
    mega_seconds: float  # serving it, for the web worker's memory
    wall_updates: int  # map updates the wall's main-thread time is taken over
    wall_early_s: float  # the wall's heap is compared at these two times
    wall_late_s: float
    phone_runs: int


FULL = Sizes(ingest=(1_000, 20_000, 50_000), main=20_000, tick_scale=(1_000, 20_000, 50_000),
             runs=5, clients=50, client_seconds=15.0, startup_runs=3, glass_samples=10,
             mega_per_feed=20_000, mega_scale=1.0, mega_seconds=60.0, wall_updates=60,
             wall_early_s=180.0, wall_late_s=900.0, phone_runs=3)
QUICK = Sizes(ingest=(500, 2_000), main=2_000, tick_scale=(500, 2_000), runs=2, clients=5,
              client_seconds=3.0, startup_runs=1, glass_samples=3, mega_per_feed=500,
              mega_scale=0.05, mega_seconds=3.0, wall_updates=5, wall_early_s=10.0,
              wall_late_s=20.0, phone_runs=1)



def _others(vehicles: int) -> tuple[int, int, int]:
    """Sensors, hospitals and open requests for a city with ``vehicles`` (the issue's 20k mix)."""
    return max(vehicles // 10, 1), max(vehicles // 100, 1), max(vehicles // 2, 1)


def run_suite(quick: bool = False, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Run every case; the figures at the main size, and how each grows with size."""
    from app.bench import browser, megacity
    from app.bench.history import bench_history
    from app.bench.ingest import bench_ingest, private_redis
    from app.bench.linkage import bench_linkage
    from app.bench.map import bench_tick
    from app.bench.web import bench_clients, bench_startup

    sizes = QUICK if quick else FULL
    figures: dict[str, Any] = {"quick": quick, "cpus": os.cpu_count() or 0}
    growth: dict[str, dict[str, float]] = {}
    with private_redis() as r:
        for n in sizes.ingest:
            log(f"ingest of {n:,} vehicles ...")
            result = bench_ingest(n, runs=sizes.runs, r=r)
            growth[f"ingest@{n}"] = result
            if n == sizes.main:
                figures.update({k: result[k] for k in (
                    "ingest_entities_per_s", "ingest_ratio_to_raw_write",
                    "ingest_ratio_to_packed_write", "redis_bytes_per_entity")})
        for n in sizes.tick_scale:
            sensors, hospitals, requests = _others(n)
            log(f"map tick with {n:,} vehicles, {sensors:,} sensors, {hospitals:,} hospitals, "
                f"{requests:,} requests ...")
            result = bench_tick(r, n, sensors, hospitals, requests, runs=sizes.runs)
            growth[f"tick@{n}"] = result
            if n == sizes.main:
                figures.update(result)
        log(f"incident linkage with {sizes.main:,} vehicles ...")
        figures.update(bench_linkage(r, sizes.main, runs=max(sizes.runs, 3)))
        log("history store: a day of 30-second readings ...")
        figures.update(bench_history(r, sensors=50 if quick else 300, runs=max(sizes.runs, 3)))
        others = {k: max(1, int(v * sizes.mega_scale)) for k, v in megacity.OTHERS.items()}
        log(f"a city of {megacity.FEEDS} x {sizes.mega_per_feed:,} vehicles and "
            f"{sum(others.values()):,} other things ...")
        mega = megacity.bench_megacity(r, runs=max(sizes.runs - 2, 2),
                                       per_feed=sizes.mega_per_feed, others=others)
        figures.update(megacity.figures_of(mega))
    log("startup ...")
    figures.update(bench_startup(sizes.startup_runs))
    log(f"{sizes.clients} wall clients for {sizes.client_seconds:g} s ...")
    figures.update(bench_clients(sizes.clients, sizes.client_seconds))
    from app.bench.public import bench_public

    surge = {"clients": 50, "seconds": 3.0, "idle_seconds": 2.0} if quick else {}
    log(f"a surge of {surge.get('clients', 200)} visitors on the public page, walls beside ...")
    figures.update(bench_public(**surge))
    log(f"the web workers serving that city for {sizes.mega_seconds:g} s ...")
    figures.update(megacity.bench_worker_memory(sizes.mega_seconds, per_feed=sizes.mega_per_feed,
                                                others=others))
    log("glass to glass ...")
    glass = bench_glass(sizes.glass_samples)
    if glass is not None:
        figures["glass_to_glass_p95_s"] = glass
    why_not = browser.available()
    if why_not is None:
        log(f"the wall in Chromium with {sizes.main:,} moving vehicles for "
            f"{sizes.wall_late_s:g} s ...")
        figures.update(browser.bench_wall(sizes.main, sizes.wall_updates, sizes.wall_early_s,
                                          sizes.wall_late_s, log=log))
        log("a phone signing in on a slow link ...")
        figures.update(browser.bench_phone(runs=sizes.phone_runs))
    else:
        log(f"browser figures: not measured ({why_not})")
    figures["growth"] = growth
    return figures


def bench_glass(samples: int) -> float | None:
    """p95 seconds from a batch written to the store to the change shown on a wall in chromium.

    None (and said so) when Playwright or chromium is not installed: they are test extras.
    """
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        print("glass to glass: not measured (install the test extras and Debian's chromium)")
        return None
    if not shutil.which(CHROMIUM) and not os.path.exists(CHROMIUM):
        print(f"glass to glass: not measured ({CHROMIUM} is missing)")
        return None
    from app import accounts, store
    from app.bench.web import _redis_of, running_up
    from app.model.records import Entity
    from app.situation.mapdata import Thresholds
    from app.situation.mapdata import share as map_share

    limits = Thresholds.of()
    delays = []
    with running_up(workers=1) as up, sync_playwright() as playwright:
        r = _redis_of(up)
        token = accounts.create_token(r, "bench-glass", "wall")
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                             args=["--no-sandbox", "--disable-gpu"])
        with contextlib.ExitStack() as stack:
            stack.callback(browser.close)
            page = browser.new_page(viewport={"width": 1920, "height": 1080})
            page.goto(f"http://127.0.0.1:{up.port}/wall?token={token}")
            page.wait_for_selector("#data-as-of")
            # The status strip names each domain's data time to the second: the first sight
            # of the new time is the change on the glass.
            for i in range(samples):
                time.sleep(1.1)
                before = page.inner_text("#data-as-of")
                vehicle = Entity("transport", "vehicle", "glass:vehicle:1", 28.55 + i * 1e-4, 112.36,
                                 "in_service", time.time(), "bench")
                started = time.perf_counter()
                store.entities.write_batch(r, "transport", "glass", entities=[vehicle])
                map_share.publish(r, "transport", limits)  # what the runner does after a batch
                page.wait_for_function("b => document.querySelector('#data-as-of').innerText !== b",
                                       arg=before, timeout=30_000)
                delays.append(time.perf_counter() - started)
        r.close()
    delays.sort()
    return delays[int(0.95 * (len(delays) - 1))]


def table(figures: dict[str, Any]) -> str:
    """The figures against their targets, and the growth, as text."""
    lines = [f"{'figure':<28}{'measured':>14}  target"]
    for name, (op, target) in TARGETS.items():
        value = figures.get(name)
        if value is None:
            lines.append(f"{name:<28}{'not measured':>14}  {op} {target:g}")
            continue
        ok = value >= target if op == ">=" else value <= target
        lines.append(f"{name:<28}{value:>14,.2f}  {op} {target:g}  {'ok' if ok else 'MISSED'}")
    for name in ("clients_errors", "web_worker_rss_mb", "ingest_ratio_to_packed_write",
                 "megacity_errors", "tick_changed_bytes_100k",
                 # the public page's surge: what it serves flat out, and the walls beside it
                 "public_errors", "public_max_rps", "public_max_p95_ms", "public_render_ms",
                 "public_worker_restarts", "public_wall_p95_ms_idle", "public_wall_p95_ms",
                 "public_wall_p95_ms_max", "public_map_p95_ms_idle", "public_map_p95_ms",
                 "public_map_p95_ms_max"):
        if name in figures:
            lines.append(f"{name:<28}{figures[name]:>14,.2f}")
    lines.append("")
    lines.append("growth (median per case):")
    for case, result in figures.get("growth", {}).items():
        shown = {k: v for k, v in result.items() if k.endswith(("_per_s", "_ms", "_bytes"))
                 and not k.startswith(("raw_", "packed_"))}
        lines.append(f"  {case:<14}" + "  ".join(f"{k}={v:,.1f}" for k, v in shown.items()))
    return "\n".join(lines)

