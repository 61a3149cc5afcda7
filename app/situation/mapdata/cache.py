"""One snapshot per domain and process, built once per version under a lock and shared by every session."""

from __future__ import annotations

import threading

import redis

from app import store
from app.situation.mapdata.layers import ALERTS, VERSION_KEYS, Thresholds
from app.situation.mapdata.snapshots import DomainSnapshot, build_alerts_snapshot, build_domain_snapshot
from app.situation.mapdata.view import _cut_cache

# One snapshot per domain and process, shared by every session this worker serves.
_snapshots: dict[str, DomainSnapshot] = {}


_build_locks: dict[str, threading.Lock] = {key: threading.Lock() for key in VERSION_KEYS}


def domain_snapshot(r: redis.Redis, domain: str, version: int, limits: Thresholds,
                    now: float | None = None) -> DomainSnapshot:
    """The domain's snapshot at ``version``: from the cache, else built once.

    Any other cached version is rebuilt, older or newer: a Redis that lost its data (no
    persistence) counts versions from 1 again, and old markers must not pass for current ones.
    """
    cached = _snapshots.get(domain)
    if cached is not None and cached.version == version:
        return cached
    with _build_locks[domain]:
        cached = _snapshots.get(domain)  # another thread may have built it while we waited
        if cached is not None and cached.version == version:
            return cached
        snapshot = (build_alerts_snapshot(r, version) if domain == ALERTS
                    else build_domain_snapshot(r, domain, version, limits, now))
        _snapshots[domain] = snapshot
        return snapshot


def build_lock(domain: str) -> threading.Lock:
    """The lock under which this process builds or loads ``domain``'s snapshot."""
    return _build_locks[domain]


def keep_snapshot(snapshot: DomainSnapshot) -> None:
    """Cache a snapshot made elsewhere (a published one, see app/map_share.py)."""
    _snapshots[snapshot.domain] = snapshot


def cached_snapshot(domain: str) -> DomainSnapshot | None:
    """The newest snapshot this process holds for ``domain`` (None before the first build)."""
    return _snapshots.get(domain)


def forget_snapshots() -> None:
    """Drop every cached snapshot (tests; a worker serving another installation)."""
    _snapshots.clear()
    _cut_cache.clear()


def read_versions(r: redis.Redis) -> dict[str, int]:
    """Every domain's version and the alerts' version: the map redraws only what moved."""
    versions = {domain: version for domain, (version, _) in store.status.domain_versions(r).items()}
    versions[ALERTS] = store.alerts.version(r)
    return versions
