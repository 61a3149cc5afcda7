"""Which module computes each domain's KPIs, and the refresh that computes and stores them.

The runner refreshes a domain's KPIs after its feeds deliver (at most every few seconds), so
pages read a handful of stored values instead of scanning thousands of entities per tick. A new
domain's KPIs are one module beside this one and one line in COMPUTERS.
"""

from __future__ import annotations

import redis

from app import store
from app.config import Settings
from app.kpis.base import Computer, Kpi, default_settings
from app.kpis.city import compute_city
from app.kpis.medical import compute_medical
from app.kpis.status import is_small_sample
from app.kpis.transport import compute_transport
from app.kpis.water import compute_water

COMPUTERS: dict[str, Computer] = {
    "transport": compute_transport,
    "water": compute_water,
    "medical": compute_medical,
    "city": compute_city,
}


def refresh(r: redis.Redis, domain: str, now: float | None = None,
            settings: Settings | None = None) -> list[Kpi]:
    """Compute and store ``domain``'s KPIs (none for a domain that never had data).

    ``settings`` (targets, limits, the city's time zone) default to the process's own, read once.
    """
    compute = COMPUTERS.get(domain)
    if compute is None:
        return []
    if store.status.domain_versions(r)[domain][0] == 0:
        # Never any data: the domain's card says it is waiting for its first feed, which says
        # more than a row of "unknown" tiles would.
        return []
    settings = settings or default_settings()
    kpis = compute(r, now, settings)
    # rank keeps the order the definitions give (most telling first) on every screen.
    # small_sample is decided once, here, with the setting; every reader takes it from the record.
    # A KPI without a value is unknown, not a small sample.
    store.kpis.write(r, domain, [dict(k.as_json(), rank=i, small_sample=k.value is not None
                                      and is_small_sample(k.sample, settings.kpis.min_sample))
                                 for i, k in enumerate(kpis)],
                     history_days=settings.history.kpis_days, now=now)
    return kpis
