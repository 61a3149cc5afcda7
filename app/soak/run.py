"""`cityops soak`: the demo city at scale for a long run, under load and faults, with memory watched.

A private `cityops up` (temporary data directory, free port, demo knobs at ``scale`` x their
defaults) serves a few logged-in clients that poll the wall and the API, while faults are injected
in turn (SIGKILL of the embedded Redis, of the adapter runner, of one web worker; SIGSTOP of the
simulator for longer than a feed's freshness budget). Each fault is timed until the city has
recovered. Every ``interval_s`` the resident memory of each process of the tree, grouped by role,
and Redis's ``used_memory`` and key count are sampled from /proc and INFO; at the end each series
is judged bounded or not. Only the standard library talks HTTP and reads /proc, as in bench_web.

This module runs one soak (Soak, run_soak); the parts live beside it: city (the `cityops up`),
clients (the load), sampler, faults, verdicts, report, and cli (the command line).
"""

from __future__ import annotations

import signal
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Callable, Iterator, Mapping, Sequence

import redis

from app import accounts
from app.model import roles
from app.soak.city import City, scaled_knobs
from app.soak.clients import REQUEST_TIMEOUT_S, LoadStats, start_clients
from app.soak.errors import SoakError
from app.soak.faults import FAULTS, Faults
from app.soak.report import SoakReport, machine_facts
from app.soak.sampler import Sampler, redis_key_sizes, top_growth


class Soak:
    """One soak run: owns the `cityops up` it starts, its clients, sampler and faults."""

    def __init__(self, report: SoakReport, log: Callable[[str], None],
                 extra_env: Mapping[str, str] | None, clients: int) -> None:
        self.report = report
        self.log = log
        self.clients = clients
        self.stats = LoadStats()
        self.stop_load = threading.Event()
        self.threads: list[threading.Thread] = []
        self.t0 = time.monotonic()
        self.city = City(report.workers, report.knobs, extra_env, log)
        self.sampler = Sampler(self.city, self.stats, self.elapsed)
        self.faults = Faults(self.city, self.elapsed, log)

    def elapsed(self) -> float:
        """Seconds since the soak's clock started (the city ready)."""
        return time.monotonic() - self.t0

    def start(self, data_dir: Path) -> None:
        """Start `cityops up` on ``data_dir`` and wait until it serves and the demo feeds flow."""
        self.report.startup_s = round(self.city.start(data_dir), 1)
        self.log(f"soak: the city is ready after {self.report.startup_s} s "
                 f"(fault probe feed: {self.city.probe_feed})")

    def start_load(self) -> None:
        """The wall clients (a display token each) and one logged-in API client, and the sampler."""
        assert self.city.r is not None
        token = accounts.create_token(self.city.r, "soak-wall", roles.WALL)
        self.threads += start_clients(self.city.port, token, self.city.password, self.clients, self.stats,
                                      self.stop_load)
        self.threads.append(self.sampler.start(self.report.samples, self.report.interval_s, self.log))

    def stop(self) -> None:
        """Stop the clients and sampler, resume a paused simulator, SIGTERM `up` and wait for it,
        then for the load threads: with the city gone their requests end at once instead of
        waiting out REQUEST_TIMEOUT_S each (an interrupted soak stops in seconds)."""
        self.stop_load.set()
        self.sampler.stopping.set()
        self.faults.resume()
        self.city.stop()
        for thread in self.threads:
            thread.join(timeout=REQUEST_TIMEOUT_S + 5)
        if self.city.process is not None:
            self.report.up_log = self.city.log_summary()


def _raise_interrupt(_signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt


@contextmanager
def _interrupts(main_thread: bool) -> Iterator[None]:
    """Ctrl-C and SIGTERM stop the soak, whatever the soak inherited: a shell starts a background
    job with SIGINT ignored, and Python then never raises KeyboardInterrupt on its own (`cityops
    up` sets its handlers for the same reason). Only the main thread may set signal handlers."""
    old = ({signum: signal.signal(signum, _raise_interrupt) for signum in (signal.SIGINT, signal.SIGTERM)}
           if main_thread else {})
    try:
        yield
    finally:
        for signum, handler in old.items():
            signal.signal(signum, handler)


@contextmanager
def _signals_ignored(main_thread: bool) -> Iterator[None]:
    """A second Ctrl-C (or a SIGTERM) must not cut the stop short and orphan `up`; SIGTERM stays
    ignored until _interrupts puts its handler back."""
    old_int = signal.signal(signal.SIGINT, signal.SIG_IGN) if main_thread else None
    if main_thread:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        yield
    finally:
        if old_int is not None:
            signal.signal(signal.SIGINT, old_int)


def run_soak(minutes: float, scale: float = 10, interval_s: float = 10.0, *,
             fault_interval_s: float = 180.0, faults: Sequence[str] = FAULTS, workers: int = 2,
             clients: int = 3, extra_env: Mapping[str, str] | None = None,
             log: Callable[[str], None] = lambda _line: None) -> SoakReport:
    """Run the demo city at ``scale`` for ``minutes`` under load, inject ``faults`` in turn every
    ``fault_interval_s``, sample memory every ``interval_s``; stop everything, even on Ctrl-C."""
    unknown = [f for f in faults if f not in FAULTS]
    if unknown or minutes <= 0 or interval_s <= 0 or fault_interval_s <= 0 or workers < 1:
        raise SoakError(f"bad soak settings (faults are {', '.join(FAULTS)}; times must be positive)")
    report = SoakReport(minutes, scale, interval_s, fault_interval_s, workers, scaled_knobs(scale),
                        machine_facts(), list(faults))
    soak = Soak(report, log, extra_env, clients)
    main_thread = threading.current_thread() is threading.main_thread()
    with _interrupts(main_thread), tempfile.TemporaryDirectory(prefix="cityops-soak-") as directory:
        try:
            _drive(soak, Path(directory), minutes * 60, fault_interval_s, list(faults))
        except KeyboardInterrupt:
            report.interrupted = True
            log("soak: interrupted; stopping cityops up")
        except SoakError as exc:
            report.error = str(exc)
        finally:
            with _signals_ignored(main_thread):
                soak.stop()
    report.clients = soak.stats.summary()
    if report.samples:
        report.duration_s = max(report.duration_s, report.samples[-1].t)
    return report


def _drive(soak: Soak, data_dir: Path, duration_s: float, fault_interval_s: float,
           faults: list[str]) -> None:
    """Start, load, inject faults on their schedule until ``duration_s``, then look at Redis's keys."""
    soak.start(data_dir)
    soak.t0 = time.monotonic()
    soak.start_load()
    sizes_before = _run_schedule(soak, duration_s, fault_interval_s, faults)
    soak.sampler.stop()
    soak.report.samples.append(soak.sampler.sample())  # the end point, exactly at the end
    soak.report.duration_s = soak.elapsed()
    sizes_after = _quiet_sizes(soak)
    if sizes_before is not None and sizes_after is not None:
        soak.report.redis_top_growth = top_growth(sizes_before, sizes_after)


def _run_schedule(soak: Soak, duration_s: float, fault_interval_s: float,
                  faults: list[str]) -> dict[str, int] | None:
    """Inject ``faults`` in turn every ``fault_interval_s`` until ``duration_s``; Redis's key sizes
    at the end of the first third (None when Redis did not answer then)."""
    next_fault, turn = fault_interval_s, 0
    sizes_before: dict[str, int] | None = None
    while soak.elapsed() < duration_s:
        if sizes_before is None and soak.elapsed() >= duration_s / 3:
            sizes_before = _quiet_sizes(soak)  # after warm-up: what grows from here is suspect
        if faults and soak.elapsed() >= next_fault:
            # A fault that outlasts the schedule delays the next one rather than overlapping it.
            soak.report.faults.append(soak.faults.inject(faults[turn % len(faults)]))
            turn += 1
            next_fault = max(next_fault + fault_interval_s, soak.elapsed() + 1)
            continue
        time.sleep(min(0.5, max(0.0, duration_s - soak.elapsed())))
    return sizes_before


def _quiet_sizes(soak: Soak) -> dict[str, int] | None:
    assert soak.city.r is not None
    try:
        return redis_key_sizes(soak.city.r)
    except (redis.RedisError, OSError):
        return None

