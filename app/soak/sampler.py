"""Sampling a running city: each role's memory and CPU, Redis's memory and keys, in a thread."""

from __future__ import annotations

import os
import threading
import time
from typing import Any, Callable, Mapping

import redis

from app.live.feeds import read_health
from app.soak.city import City
from app.soak.clients import LoadStats
from app.soak.procs import CLOCK_TICKS, Proc
from app.soak.report import Sample
from app.soak.text import clock

# Redis's memory (MB), its key count, and the feeds ok of all; None each while Redis is down.
RedisFigures = tuple[float | None, int | None, int | None, int | None]


class Sampler:
    """Looks at the city's tree and Redis, once or every so often in a thread of its own."""

    def __init__(self, city: City, stats: LoadStats, elapsed: Callable[[], float]) -> None:
        self.city = city
        self.stats = stats
        self.elapsed = elapsed
        self.stopping = threading.Event()
        self.thread: threading.Thread | None = None
        self.cpu_seen: dict[int, int] = {}
        self.cpu_at = 0.0

    def sample(self) -> Sample:
        """One sample of the tree and of Redis."""
        procs, found = self.city.roles()
        cpu = self._cpu_pct(procs, found)
        used, keys, ok, total = self._redis_figures()
        requests, errors = self.stats.counts()
        return Sample(round(self.elapsed(), 1),
                      {role: round(sum(procs[p].rss_kb for p in pids) / 1024, 1)
                       for role, pids in found.items()},
                      {role: len(pids) for role, pids in found.items()}, cpu, used, keys, ok, total,
                      os.getloadavg()[0], requests, errors, found)

    def _cpu_pct(self, procs: Mapping[int, Proc], found: Mapping[str, list[int]]) -> dict[str, float] | None:
        """Each role's CPU use (% of one CPU) since the last sample; None at the first."""
        now = time.monotonic()
        cpu: dict[str, float] | None = None
        if self.cpu_at:
            window = (now - self.cpu_at) * CLOCK_TICKS
            cpu = {role: round(100 * sum(procs[p].cpu_ticks - self.cpu_seen.get(p, 0) for p in pids)
                               / window, 1) for role, pids in found.items()}
        self.cpu_seen = {pid: proc.cpu_ticks for pid, proc in procs.items()}
        self.cpu_at = now
        return cpu

    def _redis_figures(self) -> RedisFigures:
        r = self.city.r
        if r is None:
            return None, None, None, None
        used = keys = ok = total = None
        try:
            used = round(int(r.info("memory")["used_memory"]) / 2**20, 2)
            keys = int(r.dbsize())
            health = read_health(r)
            ok, total = sum(h.state == "ok" for h in health), len(health)
        except (redis.RedisError, OSError, KeyError, ValueError):
            pass  # Redis is down for a fault: the gap in the series says so
        return used, keys, ok, total

    def start(self, samples: list[Sample], interval_s: float, log: Callable[[str], None]) -> threading.Thread:
        """Append a sample to ``samples`` every ``interval_s`` in a thread, logging one a minute."""
        self.thread = threading.Thread(target=self._loop, args=(samples, interval_s, log), daemon=True,
                                       name="soak-sampler")
        self.thread.start()
        return self.thread

    def stop(self) -> None:
        """Stop the sampling thread and wait for its last sample."""
        self.stopping.set()
        if self.thread is not None:
            self.thread.join(timeout=60)

    def _loop(self, samples: list[Sample], interval_s: float, log: Callable[[str], None]) -> None:
        next_at = time.monotonic()
        last_log = 0.0
        while not self.stopping.is_set():
            s = self.sample()
            samples.append(s)
            if s.t - last_log >= 60 or not last_log:
                last_log = s.t or 1e-9
                log(_log_line(s))
            next_at += interval_s
            self.stopping.wait(max(0.0, next_at - time.monotonic()))


def _log_line(s: Sample) -> str:
    return (f"soak: {clock(s.t)} rss MB " + " ".join(f"{k}={v:g}" for k, v in s.rss_mb.items())
            + f" redis used={s.redis_used_mb} keys={s.redis_keys} feeds ok={s.feeds_ok}/"
              f"{s.feeds_total} load={s.load1:.2f}")


def redis_key_sizes(r: redis.Redis) -> dict[str, int]:
    """Bytes per key (MEMORY USAGE) of every key: where Redis memory goes."""
    names = list(r.scan_iter(count=1000))
    with r.pipeline(transaction=False) as pipe:
        for name in names:
            pipe.memory_usage(name, samples=0)
        sizes = pipe.execute()
    return {name: int(size or 0) for name, size in zip(names, sizes, strict=True)}


def top_growth(before: Mapping[str, int], after: Mapping[str, int], n: int = 10) -> list[dict[str, Any]]:
    """The ``n`` keys that grew most from ``before`` to ``after``, in bytes."""
    grown = sorted(((after[k] - before.get(k, 0), k) for k in after), reverse=True)[:n]
    return [{"key": k, "growth_bytes": g, "bytes": after[k]} for g, k in grown if g > 0]
