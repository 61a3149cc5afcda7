"""`cityops bench`: the history store's memory per point and a day's query, on a private Redis.

A city of sensors reports every 30 s for a day (2,880 points each) through the same appends the
ingest makes; memory per point is Redis's used memory over the points written (keys, expiry and
the strings' growth slack included). The query is one sensor's day at full resolution.
"""

from __future__ import annotations

import statistics
import time

import numpy as np
import redis

from app.live import history
from app.store import series
from app.store.keys import Keys

DAY_S = 86_400.0
STEP_S = 30.0


def bench_history(r: redis.Redis, sensors: int = 300, runs: int = 9) -> dict[str, float]:
    """history_bytes_per_point and history_query_24h_ms (median)."""
    r.flushall()
    base = float(r.info("memory")["used_memory"])
    start = (time.time() // DAY_S) * DAY_S - DAY_S  # yesterday's UTC day, whole
    rng = np.random.default_rng(5)
    per_day = int(DAY_S // STEP_S)
    day = series.day_of(start)
    # Appended a poll at a time, as a feed's batches come: the strings grow as they would.
    for i in range(per_day):
        at = start + i * STEP_S
        values = rng.uniform(1.0, 4.0, sensors)
        with r.pipeline(transaction=False) as pipe:
            series.append(pipe, (series.Point(Keys.reading_series("water", "pressure_bar",
                                                                   f"w:sensor:{n}", day), at,
                                              float(values[n])) for n in range(sensors)), 7.0)
            pipe.execute()
    used = float(r.info("memory")["used_memory"]) - base
    times = []
    for n in range(runs):
        began = time.perf_counter()
        got = history.reading_history(r, "water", f"w:sensor:{n}", "pressure_bar", start,
                                      start + DAY_S - 1)
        times.append((time.perf_counter() - began) * 1000)
        assert len(got.times) == per_day
    return {"history_bytes_per_point": round(used / (sensors * per_day), 2),
            "history_query_24h_ms": round(statistics.median(times), 2)}
