"""Retention enforced: one pass removes what has been kept long enough ([retention] settings):
closed alerts and incidents, settled proposals, old shift log entries and handover sheets, old
dead letters and department notices. Run by the runner every RETENTION_EVERY_S under a lease."""

from __future__ import annotations

import logging
import time

import redis

from app import audit, store
from app.config import Settings
from app.incidents import sop

log = logging.getLogger("cityops.retention")
RETENTION_EVERY_S = 600.0
LEASE_MS = 120_000
DAY_S = 86_400.0
ACTOR = "system:retention"


def enforce(r: redis.Redis, settings: Settings, now: float | None = None) -> dict[str, int]:
    """Remove what is past its retention (a bounded batch of each kind); returns the counts."""
    now = time.time() if now is None else now
    keep = settings.retention
    removed = {
        "alerts": store.retention.delete_alerts(
            r, store.retention.closed_alerts_before(r, now - keep.alerts_days * DAY_S)),
        "incidents": store.retention.delete_incidents(
            r, store.retention.closed_incidents_before(r, now - keep.incidents_days * DAY_S)),
        "proposals": store.retention.delete_proposals(
            r, store.retention.settled_proposals_before(r, now - keep.incidents_days * DAY_S)),
        "shifts": store.retention.trim_shifts_before(r, now - keep.shifts_days * DAY_S),
        "dead_letters": store.retention.trim_dead_letters_before(
            r, now - keep.dead_letters_days * DAY_S),
        "notices": store.retention.trim_notices_before(
            r, list(sop.current(settings.incidents.sop_file)[0].departments),
            now - keep.notices_days * DAY_S),
    }
    if any(removed.values()):
        detail = ", ".join(f"{kind}={n}" for kind, n in removed.items() if n)
        log.info("retention: removed %s", detail)
        audit.record(r, ACTOR, "retention", detail=detail)
    return removed


def tick(r: redis.Redis, settings: Settings, owner: str) -> dict[str, int] | None:
    """The runner's periodic job: a pass by whichever runner holds the lease (None otherwise)."""
    if not store.retention.hold_lease(r, owner, LEASE_MS):
        return None
    return enforce(r, settings)
