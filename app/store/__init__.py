"""The only code that names Redis keys: one module per subject, Lua scripts as .lua files.

Callers write ``store.<subject>.<operation>(r, ...)``: ``store.entities.write_batch``,
``store.alerts.act``, ``store.feeds.write_health``, ``store.audit.append.append``. Every operation stays
within one hash tag (one Redis Cluster slot); atomic pipelines say ``transaction=True`` because
redis-py's cluster pipeline defaults to none. ``link`` (how a process reaches Redis) and
``embedded`` (the redis-server `cityops up` runs) are imported where needed.
"""

from app.store import (
    alerts,
    audit,
    auth,
    entities,
    feeds,
    incidents,
    kpis,
    map_snapshots,
    outbound,
    retention,
    shifts,
    status,
)
from app.store.errors import AlreadyExists, NotFound

__all__ = ["AlreadyExists", "NotFound", "alerts", "audit", "auth", "entities", "feeds", "incidents",
           "kpis", "map_snapshots", "outbound", "retention", "shifts", "status"]
