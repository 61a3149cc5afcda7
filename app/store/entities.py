"""Live entities, their newest readings and events: the batch write, retention and reads."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

import msgpack
import orjson
import redis

from app.config import HistorySettings
from app.store import series
from app.store.keys import Keys
from app.store.scripts import script

_ENTITY_JOINT = b'},{"domain":'


def _packed_entities(group: Sequence[Any]) -> bytes | list[bytes]:
    """The entities of ``group`` as compact JSON: one body that the upsert script splits, from one
    orjson call for the whole list, or (when that body cannot be split safely) one per entity.

    orjson packs a list of 20,000 dataclasses in a few ms but takes 3x longer one call at a time,
    and cutting the body into 20,000 pieces costs Python more than it costs Lua. The body splits
    exactly at ``},{"domain":``: inside a JSON string a quote is always escaped, so that sequence
    only occurs where one entity ends and the next begins. Should an attribute hold a nested
    object that starts with "domain", the count is off and each is packed alone.
    """
    if not group:
        return []
    body = orjson.dumps(list(group))[1:-1]
    if body.count(_ENTITY_JOINT) != len(group) - 1 or not body.startswith(b'{"domain":'):
        return [orjson.dumps(e) for e in group]
    return body


def _id_set_digest(ids: Sequence[str]) -> str:
    """A digest of the set of ``ids``, equal for equal sets whatever their order."""
    # Python's string hash is keyed per process: another runner (or a restart) computes other
    # digests, which costs it one full comparison, never a wrong skip. 64 bits and the count
    # make an accidental match between different sets practically impossible.
    unique = set(ids)
    return f"{len(unique)}:{sum(map(hash, unique)) & 0xFFFFFFFFFFFFFFFF:x}"


def _batch_blob(group: Sequence[Any], ids: list[str], indexed: bool = True) -> bytes:
    """The entities of one kind (and their ``ids``) as the upsert script's MessagePack columns."""
    limit = GEO_LAT_LIMIT
    lons: list[Any] = []
    lats: list[Any] = []
    if indexed:
        for e in group:
            lat, lon = e.lat, e.lon
            # Redis GEO covers the Web Mercator band only; polar entities are stored, not indexed.
            if lat is not None and lon is not None and -limit <= lat <= limit and -180 <= lon <= 180:
                lons.append(float(lon))
                lats.append(float(lat))
            else:
                lons.append(False)
                lats.append(False)
    columns = [ids, [float(e.observed_at) for e in group], lons, lats,
               _packed_entities(group)]
    # Redis's cmsgpack reads the classic raw type, not the newer bin type.
    return msgpack.packb(columns, use_bin_type=False)


GEO_LAT_LIMIT = 85.05112878
# Things that move every few seconds are located from their live records; re-indexing tens of
# thousands of them in the GEO set on every poll would cost more than the rest of the write.
# The GEO set indexes places: stops, sensors, reservoirs, hospitals, requests.
MOVING_KINDS = frozenset({"vehicle", "ambulance"})


@dataclass(frozen=True)
class BatchResult:
    """What a batch write changed."""

    accepted: int
    older: int
    retired: int
    removed: int
    observations: int
    events: int


def _dumps(value: Any) -> bytes:
    # orjson: packing is most of the cost of a 20,000-vehicle batch with the json module.
    return orjson.dumps(value)


def pack_entity(entity: Any) -> bytes:
    """The stored form of an Entity: its dataclass fields as compact JSON (orjson packs
    dataclasses natively, which is most of the speed of a large batch)."""
    return orjson.dumps(entity)


def pack_event(event: Any) -> bytes:
    """The stored form of an Event (compact JSON)."""
    return _dumps({"id": event.id, "kind": event.kind, "title": event.title,
                   "severity": event.severity, "observed_at": event.observed_at,
                   "source": event.source, "starts_at": event.starts_at, "ends_at": event.ends_at,
                   "area": event.area, "attrs": dict(event.attrs)})


def write_batch(r: redis.Redis, domain: str, feed: str, *, entities: Sequence[Any] = (),
                observations: Sequence[Any] = (), events: Sequence[Any] = (),
                removed: Sequence[str] = (), replaces: Iterable[str] = (),
                retire_events: bool = False, history: HistorySettings | None = None) -> BatchResult:
    """Write one feed's parsed batch of a domain atomically (MULTI/EXEC).

    ``replaces`` names the entity kinds this batch lists in full: the feed's entities of those
    kinds that it no longer lists are retired. ``retire_events`` does the same for its events.
    With ``history``, every reading newer than the entity's stored newest one is also appended to
    its metric's time series (app/store/series.py) for as long as ``history`` keeps that metric.
    """
    now = f"{time.time():.3f}"
    full_kinds = set(replaces)
    by_kind: dict[str, list[Any]] = {kind: [] for kind in full_kinds}
    for e in entities:
        by_kind.setdefault(e.kind, []).append(e)
    old_events: set[str] = set()
    if retire_events:
        old_events = set(r.smembers(Keys.feed_events(domain, feed)))
    kept = _history_points(r, domain, observations, history) if history is not None else []
    with r.pipeline(transaction=True) as pipe:
        for kind, group in by_kind.items():
            full = kind in full_kinds
            ids = [e.id for e in group]
            # EVAL by name: redis-py's cluster pipeline has no eval() (what redis.Redis's sends).
            pipe.execute_command(
                "EVAL", script("upsert_entities", "live_helpers"), 7, Keys.live(domain),
                Keys.live_times(domain, feed),
                Keys.geo(domain), Keys.feed_entities(domain, feed, kind),
                Keys.domain_meta(domain), Keys.feed_entities_digest(domain, feed, kind),
                Keys.live_times_legacy(domain),
                "1" if full else "0", now, _batch_blob(group, ids, kind not in MOVING_KINDS),
                "0" if kind in MOVING_KINDS else "1", _id_set_digest(ids) if full else "",
                f"{feed}:")
        if removed:
            pipe.hdel(Keys.live(domain), *removed)
            pipe.execute_command("EVAL", script("forget_times", "live_helpers"), 2,
                                 Keys.live_times(domain, feed), Keys.live_times_legacy(domain),
                                 f"{feed}:", *removed)
            pipe.zrem(Keys.geo(domain), *removed)
            for kind in by_kind:
                pipe.execute_command("EVAL", script("forget_feed_ids", "live_helpers"), 1,
                                     Keys.feed_entities(domain, feed, kind), *removed)
                pipe.delete(Keys.feed_entities_digest(domain, feed, kind))
            # A deleted entity may be an event (a GTFS-rt alert with is_deleted).
            pipe.hdel(Keys.events(domain), *removed)
            pipe.srem(Keys.feed_events(domain, feed), *removed)
        # The newest reading of each entity and metric in the batch (a FHIR Bundle may carry
        # several reports of one hospital, in any order).
        newest: dict[tuple[str, str], Any] = {}
        for o in observations:
            key = (o.metric, o.entity_id)
            held = newest.get(key)
            if held is None or o.observed_at >= held.observed_at:
                newest[key] = o
        by_metric: dict[str, dict[str, bytes]] = {}
        for (metric, entity_id), o in newest.items():
            by_metric.setdefault(metric, {})[entity_id] = _dumps([o.value, o.unit, o.observed_at])
        for metric, mapping in by_metric.items():
            pipe.hset(Keys.latest(domain, metric), mapping=mapping)
        if by_metric:
            pipe.sadd(Keys.metrics(domain), *by_metric)
        for keep_days, points in kept:
            series.append(pipe, points, keep_days)
        if events:
            pipe.hset(Keys.events(domain), mapping={ev.id: pack_event(ev) for ev in events})
        gone_events = old_events - {ev.id for ev in events} if retire_events else set()
        if gone_events:
            pipe.hdel(Keys.events(domain), *gone_events)
        if retire_events:
            pipe.delete(Keys.feed_events(domain, feed))
        if events:
            pipe.sadd(Keys.feed_events(domain, feed), *(ev.id for ev in events))
        if removed or observations or events or gone_events:
            pipe.hincrby(Keys.domain_meta(domain), "version", 1)
            pipe.hset(Keys.domain_meta(domain), "updated_at", now)
        results = pipe.execute()
    accepted = older = retired = 0
    for counts in results[:len(by_kind)]:
        accepted, older, retired = (accepted + int(counts[0]), older + int(counts[1]),
                                    retired + int(counts[2]))
    return BatchResult(accepted, older, retired, len(removed), len(observations),
                       len(events) + len(gone_events))


def prune(r: redis.Redis, domain: str, feed: str, kind: str, status: str,
          older_than: float) -> int:
    """Retire ``feed``'s entities of ``kind`` with ``status`` last observed before ``older_than``
    (POSIX s), as a retention limit; returns how many went. One script: readers never see half."""
    return int(r.execute_command(
        "EVAL", script("prune_entities", "live_helpers"), 7, Keys.live(domain),
        Keys.live_times(domain, feed), Keys.geo(domain), Keys.feed_entities(domain, feed, kind),
        Keys.domain_meta(domain), Keys.feed_entities_digest(domain, feed, kind),
        Keys.live_times_legacy(domain), status, repr(float(older_than)), f"{time.time():.3f}",
        f"{feed}:"))


def read_entities(r: redis.Redis, domain: str) -> list[dict[str, Any]]:
    """Every live entity of ``domain`` as stored (parsed JSON)."""
    return [orjson.loads(v) for v in r.hvals(Keys.live(domain))]


def read_entity(r: redis.Redis, domain: str, entity_id: str) -> dict[str, Any] | None:
    """One live entity of ``domain`` as stored, or None."""
    raw = r.hget(Keys.live(domain), entity_id)
    return None if raw is None else orjson.loads(raw)


def read_reading(r: redis.Redis, domain: str, metric: str, entity_id: str
                 ) -> tuple[float, str, float] | None:
    """The newest reading of ``metric`` of one entity: (value, unit, observed_at), or None."""
    raw = r.hget(Keys.latest(domain, metric), entity_id)
    return None if raw is None else tuple(orjson.loads(raw))  # type: ignore[return-value]


def read_event(r: redis.Redis, domain: str, event_id: str) -> dict[str, Any] | None:
    """One stored event of ``domain``, or None."""
    raw = r.hget(Keys.events(domain), event_id)
    return None if raw is None else orjson.loads(raw)


def read_latest(r: redis.Redis, domain: str, metric: str) -> dict[str, tuple[float, str, float]]:
    """entity id -> (value, unit, observed_at) of the newest reading of ``metric``."""
    return {k: tuple(orjson.loads(v)) for k, v in r.hgetall(Keys.latest(domain, metric)).items()}  # type: ignore[misc]


def metric_names(r: redis.Redis, domain: str) -> list[str]:
    """The metrics a domain's feeds have reported, sorted."""
    return sorted(r.smembers(Keys.metrics(domain)))


def read_readings(r: redis.Redis, domain: str, metrics: Sequence[str],
                  entity_ids: Sequence[str]) -> dict[str, list[list[Any] | None]]:
    """metric -> the newest [value, unit, observed_at] of each entity (None without one), in one
    round trip."""
    if not metrics or not entity_ids:
        return {metric: [None] * len(entity_ids) for metric in metrics}
    with r.pipeline(transaction=False) as pipe:
        for metric in metrics:
            pipe.hmget(Keys.latest(domain, metric), list(entity_ids))
        rows = pipe.execute()
    return {metric: [orjson.loads(raw) if raw else None for raw in values]
            for metric, values in zip(metrics, rows, strict=True)}


def read_events(r: redis.Redis, domain: str) -> list[dict[str, Any]]:
    """Every stored event of ``domain`` (parsed JSON)."""
    return [orjson.loads(v) for v in r.hvals(Keys.events(domain))]


def count(r: redis.Redis, domain: str) -> int:
    """How many live entities ``domain`` has."""
    return int(r.hlen(Keys.live(domain)))



def read_live_positions(r: redis.Redis, domain: str,
                        entity_ids: Sequence[str]) -> dict[str, tuple[float, float]]:
    """entity id -> (lat, lon) of the live entities that have a position."""
    if not entity_ids:
        return {}
    out: dict[str, tuple[float, float]] = {}
    for entity_id, raw in zip(entity_ids, r.hmget(Keys.live(domain), list(entity_ids)), strict=True):
        record = orjson.loads(raw) if raw else {}
        if isinstance(record, dict) and record.get("lat") is not None and record.get("lon") is not None:
            out[entity_id] = (float(record["lat"]), float(record["lon"]))
    return out


@dataclass(frozen=True)
class NearAsk:
    """What to read of one domain near a point (see read_near)."""

    domain: str
    lon: float
    lat: float
    radius_m: float  # negative: no search of the GEO index, only ``extra_ids``
    count: int = 0  # the nearest ``count`` only (0: every place within the radius)
    metrics: tuple[str, ...] = ()
    extra_ids: tuple[str, ...] = ()  # moving things located elsewhere (the map's arrays)


@dataclass(frozen=True)
class Near:
    """The answer to a NearAsk: ids nearest first (extra ids last), their distances in metres
    (None for extra ids), records (None when gone) and, per metric, [value, unit, observed_at]."""

    ids: list[str]
    distances: list[float | None]
    records: list[dict[str, Any] | None]
    readings: dict[str, list[list[Any] | None]]


def read_near(r: redis.Redis, asks: Sequence[NearAsk], event_domains: Sequence[str] = ()
              ) -> tuple[list[Near], dict[str, list[dict[str, Any]]]]:
    """Each ask answered by one script in its domain's slot, and the stored events of
    ``event_domains``: all in one pipelined round trip (the linkage of an incident's area)."""
    with r.pipeline(transaction=False) as pipe:
        for ask in asks:
            keys = [Keys.geo(ask.domain), Keys.live(ask.domain),
                    *(Keys.latest(ask.domain, metric) for metric in ask.metrics)]
            pipe.execute_command("EVAL", script("near"), len(keys), *keys, repr(float(ask.lon)),
                                 repr(float(ask.lat)), repr(float(ask.radius_m)), int(ask.count),
                                 *ask.extra_ids)
        for domain in event_domains:
            pipe.hvals(Keys.events(domain))
        rows = pipe.execute()
    answers = []
    for ask, row in zip(asks, rows, strict=False):
        ids = [str(i) for i in row[0]]
        distances = [float(d) if d not in ("", b"", None) else None for d in row[1]]
        records = [orjson.loads(raw) if raw else None for raw in row[2]]
        readings = {metric: [orjson.loads(raw) if raw else None for raw in values]
                    for metric, values in zip(ask.metrics, row[3:], strict=True)}
        answers.append(Near(ids, distances, records, readings))
    events = {domain: [orjson.loads(v) for v in values]
              for domain, values in zip(event_domains, rows[len(asks):], strict=True)}
    return answers, events


def _history_points(r: redis.Redis, domain: str, observations: Sequence[Any],
                    history: HistorySettings) -> list[tuple[float, list[series.Point]]]:
    """(days kept, points) per metric: the batch's readings newer than what is stored, each once.

    A feed that repeats its last reading (a SenML pack polled again) adds nothing; an incremental
    one (SensorThings pages) adds every new observation, at the feed's own resolution.
    """
    by_metric: dict[str, list[Any]] = {}
    for o in observations:
        if history.days_of(o.metric) > 0:
            by_metric.setdefault(o.metric, []).append(o)
    if not by_metric:
        return []
    with r.pipeline(transaction=False) as pipe:
        for metric, group in by_metric.items():
            pipe.hmget(Keys.latest(domain, metric), sorted({o.entity_id for o in group}))
        stored_rows = pipe.execute()
    out = []
    for (metric, group), stored in zip(by_metric.items(), stored_rows, strict=True):
        ids = sorted({o.entity_id for o in group})
        newest = {entity_id: orjson.loads(raw)[2] if raw else -math.inf
                  for entity_id, raw in zip(ids, stored, strict=True)}
        seen: set[tuple[str, float]] = set()
        points = []
        for o in sorted(group, key=lambda o: o.observed_at):
            if o.observed_at > newest[o.entity_id] and (o.entity_id, o.observed_at) not in seen:
                seen.add((o.entity_id, o.observed_at))
                points.append(series.Point(Keys.reading_series(domain, metric, o.entity_id,
                                                               series.day_of(o.observed_at)),
                                           o.observed_at, float(o.value)))
        if points:
            out.append((history.days_of(metric), points))
    return out
