"""The live map's snapshots shared through Redis: built once per batch by the runner, read by every worker.

Classifying a domain's markers (20,000 vehicles are 5 MB of packed JSON to parse and class) costs
~100 ms. Done by each web worker after each change it would sit in the wall's update tick; done
once by the runner right after the batch it wrote (:func:`publish`), every worker only reads the
arrays (:func:`domain_snapshot`): a few hundred kB of float32 positions and uint8 classes. Ids,
hover labels (their words as catalogue keys, worded per reader: mapdata/hover.py), route lines and
warning areas change far less often than positions: they travel as separate parts keyed by a
digest, compressed, and each worker decodes a part (and words its labels per language) once.

A worker that finds no published snapshot for the version it sees (no runner publishes, or the
runner is slower than ``PUBLISH_GRACE_S``) builds the snapshot itself, as before.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
import zlib
from collections import OrderedDict
from typing import Any

import msgpack
import numpy as np
import redis

from app import store
from app.model.domains import DOMAINS
from app.situation import mapdata
from app.situation.mapdata import ALERTS, DomainSnapshot, Lines, PointSet, Thresholds, Warning

log = logging.getLogger("cityops")
# How long the map keeps showing the published snapshot while the runner publishes a newer
# version; past it, a worker builds the newer one itself.
PUBLISH_GRACE_S = 2.0
_PARTS_CACHE_SIZE = 64


def _pack(value: Any) -> bytes:
    return msgpack.packb(value, use_bin_type=True)


def _part(value: Any) -> tuple[str, bytes]:
    """A part's digest (of its content) and its stored form."""
    packed = _pack(value)
    return mapdata.digest(packed), packed


def _limits_list(limits: Thresholds) -> list[float]:
    return [float(v) for v in dataclasses.astuple(limits)]


# -- writing (the runner) ---------------------------------------------------------------------------
_publish_locks: dict[str, threading.Lock] = {d: threading.Lock() for d in DOMAINS}
_publish_pending: dict[str, bool] = {d: False for d in DOMAINS}
_pending_lock = threading.Lock()
# When each domain's last published snapshot has a thing turn "no recent report" (mapdata).
_quiet_due: dict[str, float] = {}
QUIET_EVERY_S = 5.0  # how often the runner looks for them


def encode(snapshot: DomainSnapshot, limits: Thresholds) -> tuple[bytes, dict[str, bytes]]:
    """A snapshot as (the snapshot blob, digest -> part): positions and classes in the blob,
    ids, labels, lines and warnings in parts."""
    parts: dict[str, bytes] = {}

    def part(value: Any) -> str:
        key, packed = _part(value)
        parts[key] = packed
        return key

    points = {}
    for name, p in snapshot.points.items():
        points[name] = [p.lat.astype(np.float32).tobytes(), p.lon.astype(np.float32).tobytes(),
                        p.cls.astype(np.uint8).tobytes(), part([list(p.ids), list(p.hover)])]
    lines = None if snapshot.lines is None else part(
        [snapshot.lines.lat, snapshot.lines.lon, snapshot.lines.signature, snapshot.lines.ids,
         snapshot.lines.names])
    warnings = part([[w.id, w.domain, w.severity, w.geometry, w.hover] for w in snapshot.warnings])
    blob = _pack({"v": snapshot.version, "limits": _limits_list(limits), "at": time.time(),
                  "built_ms": snapshot.built_ms, "points": points, "lines": lines,
                  "warnings": warnings})
    return blob, parts


def publish(r: redis.Redis, domain: str, limits: Thresholds) -> bool:
    """Build ``domain``'s map snapshot from the store and publish it; False when another thread
    of this process is publishing that domain (it publishes once more when it is done)."""
    lock = _publish_locks[domain]
    if not lock.acquire(blocking=False):
        with _pending_lock:
            _publish_pending[domain] = True
        return False
    try:
        while True:
            with _pending_lock:
                _publish_pending[domain] = False
            _publish_once(r, domain, limits)
            with _pending_lock:
                if not _publish_pending[domain]:
                    return True
    finally:
        lock.release()


def _publish_once(r: redis.Redis, domain: str, limits: Thresholds) -> None:
    # The version is read before the data: the snapshot holds that version's data or newer.
    version = store.map_snapshots.versions(r)[0][domain][0]
    snapshot = mapdata.build_domain_snapshot(r, domain, version, limits)
    if snapshot.quiet_due is None:
        _quiet_due.pop(domain, None)
    else:
        _quiet_due[domain] = snapshot.quiet_due
    blob, parts = encode(snapshot, limits)
    digests = sorted(parts)
    # Parts are mostly unchanged between versions: send only the ones Redis lacks.
    stored, missing = store.map_snapshots.write(r, domain, version, blob, digests, {})
    if missing:
        packed = {key: zlib.compress(parts[key], 1) for key in missing}
        stored, missing = store.map_snapshots.write(r, domain, version, blob, digests, packed)
    if missing:
        log.warning("map snapshot of %s not published: parts %s went missing", domain, missing)


def publish_quiet(r: redis.Redis, limits: Thresholds, now: float | None = None) -> list[str]:
    """Publish again each domain in which a thing has gone silent since its last snapshot (a new
    version of what it shows, not of its data): the domains published."""
    now = time.time() if now is None else now
    due = [domain for domain, at in list(_quiet_due.items()) if at <= now]
    for domain in due:
        _quiet_due.pop(domain, None)
        store.status.bump_version_only(r, domain)
        publish(r, domain, limits)
    return due


# -- reading (the web workers) ------------------------------------------------------------------------
_parts: OrderedDict[tuple[str, str], Any] = OrderedDict()
_parts_lock = threading.Lock()


def _decoded_parts(r: redis.Redis, domain: str, digests: list[str]) -> dict[str, Any] | None:
    found: dict[str, Any] = {}
    wanted = []
    with _parts_lock:
        for key in digests:
            held = _parts.get((domain, key))
            if held is None:
                wanted.append(key)
            else:
                _parts.move_to_end((domain, key))
                found[key] = held
    if wanted:
        for key, raw in zip(wanted, store.map_snapshots.read_parts(r, domain, wanted), strict=True):
            if raw is None:
                return None  # replaced since the snapshot was read: build it here instead
            found[key] = msgpack.unpackb(zlib.decompress(raw), raw=False)
        with _parts_lock:
            for key in wanted:
                _parts[(domain, key)] = found[key]
            while len(_parts) > _PARTS_CACHE_SIZE:
                _parts.popitem(last=False)
    return found


def _object_array(values: list[str]) -> np.ndarray:
    array = np.empty(len(values), dtype=object)
    array[:] = values
    return array


def decode(r: redis.Redis, domain: str, data: dict[str, Any]) -> DomainSnapshot | None:
    """The snapshot a published (unpacked) blob describes (None when one of its parts is gone)."""
    digests = [p[3] for p in data["points"].values()] + [data["warnings"]]
    if data["lines"] is not None:
        digests.append(data["lines"])
    parts = _decoded_parts(r, domain, digests)
    if parts is None:
        return None
    points = {}
    for name, (lat, lon, cls, key) in data["points"].items():
        labels = parts[key]
        if not isinstance(labels, tuple):  # first use in this worker: keep the numpy arrays
            # ... and one dict of the labels worded per language, shared by every version that
            # publishes these labels: a tick that only moved vehicles words nothing again.
            labels = (_object_array(labels[0]), _object_array(labels[1]), {})
            with _parts_lock:
                _parts[(domain, key)] = labels
        points[name] = PointSet(labels[0], np.frombuffer(lat, np.float32).astype(np.float64),
                                np.frombuffer(lon, np.float32).astype(np.float64),
                                np.frombuffer(cls, np.uint8), labels[1], labels[2])
    lines = None
    if data["lines"] is not None:
        # A snapshot published before the routes' ids travelled has three fields.
        lat, lon, signature, *named = parts[data["lines"]]
        lines = Lines(lat, lon, signature, *named)
    warnings = tuple(Warning(w[0], w[1], int(w[2]), w[3], w[4]) for w in parts[data["warnings"]])
    return DomainSnapshot(domain, int(data["v"]), points, warnings, lines,
                          built_ms=float(data.get("built_ms") or 0.0))


def load(r: redis.Redis, domain: str, version: int, limits: Thresholds) -> DomainSnapshot | None:
    """The published snapshot of ``domain`` at ``version`` with these limits, else None."""
    blob = store.map_snapshots.read(r, domain)
    if blob is None:
        return None
    try:
        data = msgpack.unpackb(blob, raw=False)
        if int(data.get("v", -1)) != version or data.get("limits") != _limits_list(limits):
            return None
        return decode(r, domain, data)
    except (ValueError, TypeError, KeyError, AttributeError, zlib.error) as exc:
        # Not what publish() writes (another version, a foreign writer): the worker builds the
        # snapshot itself rather than failing the tick.
        log.warning("published map snapshot of %s unusable (%s); building it here", domain, exc)
        return None


def read_versions(r: redis.Redis, now: float | None = None) -> dict[str, int]:
    """The version of each domain the map shows, and the alerts' version.

    While the runner publishes a newer version (at most ``PUBLISH_GRACE_S``), the map keeps the
    published one; a domain nobody publishes shows its stored version (built by the worker).
    """
    now = time.time() if now is None else now
    versions = {}
    domains, alerts_version = store.map_snapshots.versions(r)
    for domain, (version, updated_at, published) in domains.items():
        catching_up = (0 < published < version and updated_at is not None
                       and now - updated_at < PUBLISH_GRACE_S)
        versions[domain] = published if catching_up else version
    versions[ALERTS] = alerts_version
    return versions


def domain_snapshot(r: redis.Redis, domain: str, version: int, limits: Thresholds) -> DomainSnapshot:
    """The domain's snapshot at ``version``: this worker's cache, else the published one, else
    built here (see :func:`app.mapdata.domain_snapshot`)."""
    cached = mapdata.cached_snapshot(domain)
    if cached is not None and cached.version == version:
        return cached
    if domain != ALERTS:
        with mapdata.build_lock(domain):
            cached = mapdata.cached_snapshot(domain)
            if cached is not None and cached.version == version:
                return cached
            loaded = load(r, domain, version, limits)
            if loaded is not None:
                mapdata.keep_snapshot(loaded)
                return loaded
    return mapdata.domain_snapshot(r, domain, version, limits)
