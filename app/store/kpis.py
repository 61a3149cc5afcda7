"""Each domain's current KPIs and the once-a-minute history of its city-wide ones."""

from __future__ import annotations

import hashlib
import time
from typing import Any, Mapping, Sequence

import numpy as np
import orjson
import redis

from app.store import series
from app.store.keys import Keys

HISTORY_EVERY_S = 60.0
# What a screen needs to know to redraw the KPIs: everything but the time they were computed at,
# which moves on every computation even when nothing else does.
UNSHOWN = frozenset({"computed_at"})


def digest(kpis: Sequence[Mapping[str, Any]]) -> str:
    """A short fingerprint of what ``kpis`` say (their computing time left out)."""
    shown = sorted(({k: v for k, v in kpi.items() if k not in UNSHOWN} for kpi in kpis),
                   key=lambda kpi: str(kpi.get("name", "")))
    return hashlib.blake2b(orjson.dumps(shown, option=orjson.OPT_SORT_KEYS),
                           digest_size=8).hexdigest()


def write(r: redis.Redis, domain: str, kpis: Sequence[Mapping[str, Any]],
          history_days: float = 90.0, now: float | None = None) -> None:
    """Store a domain's current KPIs and, once a minute, append its city-wide ones (those without a
    subject, with a number) to their time series, kept ``history_days``."""
    if not kpis:
        return
    now = time.time() if now is None else now
    last = r.hget(Keys.domain_meta(domain), "kpi_history_at")
    due = history_days > 0 and now - float(last or 0) >= HISTORY_EVERY_S
    with r.pipeline(transaction=True) as pipe:
        # Replaced whole: a zone, hospital or category that is gone takes its KPIs with it.
        pipe.delete(Keys.kpis(domain))
        pipe.hset(Keys.kpis(domain), mapping={k["name"]: orjson.dumps(k) for k in kpis})
        # Read each second by every live screen (app/live/status.py): its cards redraw only
        # when this moves.
        pipe.hset(Keys.domain_meta(domain), "kpi_digest", digest(kpis))
        if due:
            # Per-subject KPIs (hundreds of zones, hospitals, categories) are not kept: their
            # trends are the entities' readings.
            series.append(pipe, (series.Point(Keys.kpi_series(domain, k["name"], series.day_of(now)),
                                              now, float(k["value"]))
                                 for k in kpis if k.get("subject") is None
                                 and isinstance(k.get("value"), (int, float))
                                 and not isinstance(k.get("value"), bool)), history_days)
            pipe.hset(Keys.domain_meta(domain), "kpi_history_at", f"{now:.3f}")
            # The stream an earlier CityOps kept its history in: its trends restart here.
            pipe.delete(Keys.kpi_history(domain))
        pipe.execute()


def read(r: redis.Redis, domain: str) -> list[dict[str, Any]]:
    """A domain's current KPIs (as stored), in the order their definitions rank them."""
    rows = [orjson.loads(v) for v in r.hvals(Keys.kpis(domain))]
    return sorted(rows, key=lambda k: (k.get("rank", 0), k.get("name", "")))


def read_series(r: redis.Redis, domain: str, name: str, since: float,
                until: float) -> tuple[np.ndarray, np.ndarray]:
    """(times, values) of one KPI's history over [since, until]."""
    return series.read(r, series.kpi_keys(domain, name, since, until), since, until)


def read_history(r: redis.Redis, domain: str, since: float,
                 until: float | None = None) -> list[tuple[float, str, Any]]:
    """(time, name, value) of a domain's city-wide KPI history since ``since``, oldest first."""
    until = time.time() if until is None else until
    names = [k["name"] for k in read(r, domain) if k.get("subject") is None]
    found = series.read_many(r, {name: series.kpi_keys(domain, name, since, until) for name in names},
                             since, until)
    rows = [(float(t), name, v) for name, (times, values) in found.items()
            for t, v in zip(times, series.as_numbers(values), strict=True)]
    return sorted(rows, key=lambda row: row[0])
