"""Each domain's current KPIs and their once-a-minute history."""

from __future__ import annotations

import time
from typing import Any, Mapping, Sequence

import orjson
import redis

from app.store.keys import Keys

# -- KPIs ---------------------------------------------------------------------------------------------
HISTORY_EVERY_S = 60.0
HISTORY_MAXLEN = 120_000  # 8 days of 10 KPIs a minute: enough for 24 h and 7 d trends


def write(r: redis.Redis, domain: str, kpis: Sequence[Mapping[str, Any]]) -> None:
    """Store a domain's current KPIs, and once a minute append them to its capped history."""
    if not kpis:
        return
    newest = r.xrevrange(Keys.kpi_history(domain), count=1)
    last_ms = int(newest[0][0].split("-")[0]) if newest else 0
    with r.pipeline(transaction=True) as pipe:
        # Replaced whole: a zone, hospital or category that is gone takes its KPIs with it.
        pipe.delete(Keys.kpis(domain))
        pipe.hset(Keys.kpis(domain), mapping={k["name"]: orjson.dumps(k) for k in kpis})
        # History keeps the city-wide KPIs: hundreds of per-subject ones a minute would cut
        # the 8 days it holds to hours.
        for k in kpis if time.time() * 1000 - last_ms >= HISTORY_EVERY_S * 1000 else ():
            if k.get("subject") is None:
                pipe.xadd(Keys.kpi_history(domain), {"name": k["name"],
                                                      "value": orjson.dumps(k["value"]),
                                                      "status": k["status"]},
                          maxlen=HISTORY_MAXLEN, approximate=True)
        pipe.execute()


def read(r: redis.Redis, domain: str) -> list[dict[str, Any]]:
    """A domain's current KPIs (as stored), in the order their definitions rank them."""
    rows = [orjson.loads(v) for v in r.hvals(Keys.kpis(domain))]
    return sorted(rows, key=lambda k: (k.get("rank", 0), k.get("name", "")))


def read_history(r: redis.Redis, domain: str, since: float) -> list[tuple[float, str, Any]]:
    """(time, name, value) of a domain's KPI history since Unix time ``since``, oldest first."""
    rows = r.xrange(Keys.kpi_history(domain), min=f"{int(since * 1000)}-0")
    return [(int(entry_id.split("-")[0]) / 1000, f["name"], orjson.loads(f["value"]))
            for entry_id, f in rows]
