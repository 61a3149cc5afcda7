"""The faults a soak injects (kill Redis, the runner, a web worker; pause the simulator), and recovery."""

from __future__ import annotations

import signal
import time
from typing import Callable

from app import store
from app.live.feeds import read_health
from app.model.feeds import FeedHealth
from app.soak.city import City
from app.soak.errors import quietly
from app.soak.procs import send_signal
from app.soak.report import FaultResult
from app.soak.text import clock, number

FAULTS = ("redis", "runner", "web_worker", "simulator")
RECOVERY_TIMEOUT_S = 180.0
CHECK_EVERY_S = 0.25

# What a fault came to: (pid hit, recovered, seconds to recover, detail).
Outcome = tuple[int | None, bool, float | None, str]


class Faults:
    """Injects faults into a running city, one at a time, and times its recovery."""

    def __init__(self, city: City, elapsed: Callable[[], float], log: Callable[[str], None]) -> None:
        self.city = city
        self.elapsed = elapsed
        self.log = log
        self.paused_pid: int | None = None  # a simulator SIGSTOPped right now

    def inject(self, kind: str) -> FaultResult:
        """Inject one fault and wait (at most RECOVERY_TIMEOUT_S) until the city has recovered."""
        inject = {"redis": self._kill_redis, "runner": self._kill_runner,
                  "web_worker": self._kill_web_worker, "simulator": self._pause_simulator}[kind]
        at = self.elapsed()
        self.log(f"soak: {clock(at)} fault {kind}")
        pid, recovered, took, detail = inject()
        result = FaultResult(kind, round(at, 1), pid, recovered, None if took is None else round(took, 2),
                             detail)
        self.log(f"soak: fault {kind} (pid {pid}) {'recovered in ' if recovered else 'NOT recovered: '}"
                 f"{number(took, '.1f') + ' s' if recovered else ''}{detail if not recovered else ''}")
        return result

    def resume(self) -> None:
        """SIGCONT a simulator left paused (a stopped child would not hear SIGTERM)."""
        if self.paused_pid is not None:
            send_signal(self.paused_pid, signal.SIGCONT)
            self.paused_pid = None

    # -- the faults ----------------------------------------------------------------------------
    def _kill_redis(self) -> Outcome:
        pid = self._one("redis")
        if pid is None:
            return None, False, None, "no redis-server in the tree"
        wall = time.time()
        send_signal(pid, signal.SIGKILL)
        return self._recovery(pid, lambda: self._redis_back(pid, wall),
                              "a new redis-server answers, the runner beats again, the API reads")

    def _kill_runner(self) -> Outcome:
        pid = self._one("runner")
        if pid is None:
            return None, False, None, "no runner in the tree"
        wall = time.time()
        send_signal(pid, signal.SIGKILL)
        return self._recovery(pid, lambda: self._runner_polling(pid, wall),
                              f"a new runner beats and polls {self.city.probe_feed}")

    def _kill_web_worker(self) -> Outcome:
        procs, found = self.city.roles()
        workers = found["web_workers"]
        if not workers:
            return None, False, None, "no web worker in the tree"
        pid = max(workers, key=lambda p: procs[p].rss_kb)  # as the kernel's OOM killer would pick
        send_signal(pid, signal.SIGKILL)
        return self._recovery(pid, lambda: self._serving(pid, len(workers)),
                              f"{len(workers)} workers again, the API answers")

    def _pause_simulator(self) -> Outcome:
        pid = self._one("simulator")
        assert self.city.r is not None
        feed = [h for h in read_health(self.city.r) if h.feed == self.city.probe_feed]
        if pid is None or not feed:
            return pid, False, None, "no simulator in the tree, or no probe feed"
        budget = feed[0].freshness_budget_s
        hold = budget + max(5.0, budget / 2)
        went_stale = self._hold_paused(pid, hold)
        wall = time.time()
        took = self._await(lambda: self._feed_state() == "ok" and self._last_success() > wall)
        probe = self.city.probe_feed
        if not went_stale:
            return pid, False, took, (f"{probe} never went stale during a {hold:.0f} s pause "
                                      f"(budget {budget:g} s)")
        return pid, took is not None, took, (
            f"paused {hold:.0f} s (budget {budget:g} s): {probe} went stale, then fresh"
            if took is not None else f"{probe} not fresh again")

    def _hold_paused(self, pid: int, hold: float) -> bool:
        """SIGSTOP ``pid`` for ``hold`` seconds, then SIGCONT it; whether the probe feed went stale."""
        self.paused_pid = pid
        send_signal(pid, signal.SIGSTOP)
        went_stale = False
        until = time.monotonic() + hold
        try:
            while time.monotonic() < until:
                went_stale = went_stale or quietly(lambda: self._feed_state() in ("stale", "down"))
                time.sleep(CHECK_EVERY_S)
        finally:
            send_signal(pid, signal.SIGCONT)
            self.paused_pid = None
        return went_stale

    # -- waiting for recovery ------------------------------------------------------------------
    def _recovery(self, pid: int, check: Callable[[], object], recovered: str) -> Outcome:
        """Wait for ``check``; the outcome, with ``recovered`` as its detail or "timed out"."""
        took = self._await(check)
        return pid, took is not None, took, recovered if took is not None else "timed out"

    def _await(self, check: Callable[[], object]) -> float | None:
        """Seconds until ``check`` is truthy (errors count as not yet), None after the timeout."""
        started = time.monotonic()
        while time.monotonic() - started < RECOVERY_TIMEOUT_S:
            if quietly(check):
                return time.monotonic() - started
            time.sleep(CHECK_EVERY_S)
        return None

    def _one(self, role: str) -> int | None:
        pids = self.city.roles()[1][role]
        return pids[0] if pids else None

    def _redis_back(self, killed: int, wall: float) -> bool:
        """A new redis-server answers, the runner has beaten since ``wall``, the API reads."""
        r = self.city.r
        return bool((self._one("redis") not in (None, killed)) and r is not None and r.ping()
                    and self._beat_since(wall) and self._api_ok("/api/v1/feeds"))

    def _runner_polling(self, killed: int, wall: float) -> bool:
        """A runner other than ``killed`` beats and owns the probe feed, polled since ``wall``."""
        assert self.city.r is not None
        beat = store.status.read_runner_heartbeat(self.city.r) or {}
        if not self._beat_since(wall, other_than=killed):
            return False
        feed = self._probe_health()
        return feed is not None and feed.owner == beat.get("owner") and (feed.last_success or 0) > wall

    def _serving(self, killed: int, workers: int) -> bool:
        """``workers`` web workers again, ``killed`` not among them, and the API answers."""
        now = self.city.roles()[1]["web_workers"]
        return len(now) == workers and killed not in now and self._api_ok("/api/v1/me")

    def _beat_since(self, wall: float, other_than: int | None = None) -> bool:
        assert self.city.r is not None
        beat = store.status.read_runner_heartbeat(self.city.r) or {}
        return float(beat.get("beat_at", 0)) > wall and int(beat.get("pid", 0)) != other_than

    def _api_ok(self, path: str) -> bool:
        assert self.city.probe is not None
        return self.city.probe.request("GET", path)[0] == 200

    def _probe_health(self) -> FeedHealth | None:
        assert self.city.r is not None
        return next((h for h in read_health(self.city.r) if h.feed == self.city.probe_feed), None)

    def _feed_state(self) -> str:
        feed = self._probe_health()
        return feed.state if feed is not None else ""

    def _last_success(self) -> float:
        feed = self._probe_health()
        return (feed.last_success or 0.0) if feed is not None else 0.0
