"""GTFS-Realtime FeedMessage bytes to normalized transport records (pure; gtfs-realtime-bindings).

One message may mix VehiclePositions, TripUpdates and Alerts entities; each becomes:

- vehicle     -> Entity(kind="vehicle"), unlocated (lat/lon None) when it has no position (trip-only
                 vehicles are valid GTFS-rt), or Rejected (invalid position, duplicate vehicle id)
- trip_update -> Observation(metric="delay_s") for the trip, and for its vehicle when named
- alert       -> Event(kind="service_alert")
- is_deleted  -> Removed

Reading a field of a upb message costs 0.1 to 0.3 us, so a 20k-vehicle feed is dominated by field
access: the vehicle path reads each field once, calls HasField only where the default value is also
a real value, and decodes a string only when upb hands back bytes (invalid UTF-8).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Iterable, Iterator, Sequence

from google.protobuf.message import DecodeError
from google.transit import gtfs_realtime_pb2 as rt

from app.model.records import (
    LATEST_TIME,
    Entity,
    Event,
    FeedHeader,
    Observation,
    ParseItem,
    Rejected,
    Removed,
    valid_time,
)
from data_adapters.base import ParseError, check_size, gc_paused

DOMAIN = "transport"
DEFAULT_LANGUAGES: tuple[str, ...] = ("en", "zh")
NO_TITLE = "(no title)"

# Larger POSIX times can only be milliseconds (1e11 s is the year 5138).
_MS_THRESHOLD = 1e11
_INF = float("inf")

_OCCUPANCY: dict[int, str] = {num: name for name, num in rt.VehiclePosition.OccupancyStatus.items()}
_STOP_STATUS: dict[int, str] = {num: name for name, num in rt.VehiclePosition.VehicleStopStatus.items()}
_CAUSE: dict[int, str] = {num: name for name, num in rt.Alert.Cause.items()}
_EFFECT: dict[int, str] = {num: name for name, num in rt.Alert.Effect.items()}
_SEVERITY: dict[int, str] = {rt.Alert.UNKNOWN_SEVERITY: "info", rt.Alert.INFO: "info",
                             rt.Alert.WARNING: "warning", rt.Alert.SEVERE: "major"}
# proto2 enums are closed: upb keeps an unknown number as an unknown field, so these maps are total.
# current_status is declared [default = IN_TRANSIT_TO]: only that value needs a presence test.
_STATUS_DEFAULT = rt.VehiclePosition.IN_TRANSIT_TO
_FULL_DATASET = rt.FeedHeader.FULL_DATASET
# Unbound methods save creating a bound method for each call in the per-entity path.
_entity_has = rt.FeedEntity.HasField
_vehicle_has = rt.VehiclePosition.HasField
_position_has = rt.Position.HasField
_trip_has = rt.TripDescriptor.HasField
_IGNORED_STU = (rt.TripUpdate.StopTimeUpdate.SKIPPED, rt.TripUpdate.StopTimeUpdate.NO_DATA)


def parse_feed_message(data: bytes, feed: str, fetched_at: float, *,
                       languages: Iterable[str] = DEFAULT_LANGUAGES, expect: Iterable[str] = (),
                       id_prefix: str | None = None) -> Iterator[ParseItem]:
    """Yield a FeedHeader, then the records and rejections of one GTFS-rt FeedMessage.

    ``languages`` orders the preferred alert languages. ``expect`` names the kinds ("vehicle",
    "service_alert") the URL serves, so that an empty full dataset still retires them.
    ``id_prefix`` (default: ``feed``) starts every id, so that TripUpdates polled as one feed
    can name the vehicles of a VehiclePositions feed polled as another.
    Raises ParseError when the payload is not a usable FeedMessage.
    """
    message = decode_feed_message(data)
    header = message.header
    default_ts = _seconds(header.timestamp) or float(fetched_at)
    with gc_paused():
        items, kinds = _collect(message.entity, id_prefix or feed, feed, default_ts,
                                tuple(languages))
    yield feed_header(header, message.HasField("header"), kinds | set(expect))
    yield from items


def decode_feed_message(data: bytes) -> rt.FeedMessage:
    """The decoded FeedMessage, or ParseError when it is empty, corrupt or holds nothing."""
    if not data:
        raise ParseError("empty payload", data)
    check_size(data)
    message = rt.FeedMessage()
    try:
        message.ParseFromString(data)
    except DecodeError as exc:
        raise ParseError(f"not a GTFS-realtime FeedMessage: {exc}", data) from exc
    if not message.HasField("header") and not message.entity:
        raise ParseError("FeedMessage without header and without entities", data)
    return message


def feed_header(header: rt.FeedHeader, has_header: bool, kinds: set[str]) -> FeedHeader:
    """The FeedHeader item; only a FULL_DATASET (or unstated) message replaces its kinds."""
    # A message without its required header is malformed: never let it retire anything.
    full = has_header and header.incrementality == _FULL_DATASET
    replaces = tuple(kind for kind in ("vehicle", "service_alert") if kind in kinds) if full else ()
    return FeedHeader(_seconds(header.timestamp), full, replaces)


def _seconds(value: int) -> float | None:
    """POSIX seconds from a GTFS-rt timestamp; 0 is unset, values past 1e11 are milliseconds.

    A time no datetime can hold (a corrupt uint64) counts as unset.
    """
    if not value:
        return None
    seconds = value / 1000.0 if value > _MS_THRESHOLD else float(value)
    return seconds if valid_time(seconds) else None


def _text(value: str | bytes) -> str:
    """A string field as str: upb returns bytes for a string field that is not valid UTF-8."""
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return value


def _collect(entities: Sequence[rt.FeedEntity], prefix: str, source: str, default_ts: float,
             languages: tuple[str, ...]) -> tuple[list[ParseItem], set[str]]:
    """All items of the entities (vehicles last, once duplicates are settled) and the kinds seen."""
    out: list[ParseItem] = []
    vehicles: dict[str, Entity] = {}
    # Where each kept vehicle came from, as an index: holding 20k message wrappers would not be free.
    origin: dict[str, int] = {}
    saw_vehicle = saw_alert = False
    for index, entity in enumerate(entities):
        has_vehicle = _entity_has(entity, "vehicle")
        has_trip = _entity_has(entity, "trip_update")
        has_alert = _entity_has(entity, "alert")
        saw_vehicle = saw_vehicle or has_vehicle
        saw_alert = saw_alert or has_alert
        if entity.is_deleted:
            out.append(removed_item(entity, prefix, has_vehicle, has_alert))
            continue
        if has_vehicle:
            record = vehicle_entity(entity, prefix, source, default_ts)
            if isinstance(record, Rejected):
                out.append(record)
            elif record.id in vehicles:
                out.append(_settle_duplicate(entities, vehicles, origin, record, index))
            else:
                vehicles[record.id] = record
                origin[record.id] = index
        # GTFS-rt 1.0 lets one entity carry several payloads, so these are not elifs.
        if has_trip:
            out.extend(trip_delays(entity.trip_update, prefix, default_ts))
        if has_alert:
            out.append(alert_event(entity, prefix, source, default_ts, languages)
                       if entity.id else Rejected.of("alert without an entity id", str(entity)))
        if not (has_vehicle or has_trip or has_alert):
            out.append(Rejected.of("entity has no vehicle, trip_update or alert", str(entity)))
    out.extend(vehicles.values())
    kinds = {kind for kind, seen in (("vehicle", saw_vehicle), ("service_alert", saw_alert)) if seen}
    return out, kinds


def _settle_duplicate(entities: Sequence[rt.FeedEntity], vehicles: dict[str, Entity],
                      origin: dict[str, int], record: Entity, index: int) -> Rejected:
    """Keep the newer of two claims on one vehicle id; the Rejected for the other."""
    loser = index
    # On equal timestamps the first claim stays: the later one cannot show it is fresher.
    if record.observed_at > vehicles[record.id].observed_at:
        loser = origin[record.id]
        vehicles[record.id] = record
        origin[record.id] = index
    return Rejected.of(f"duplicate vehicle {record.id}: another entity with a newer or equal "
                       "timestamp claims it", str(entities[loser]))


def removed_item(entity: rt.FeedEntity, prefix: str, has_vehicle: bool,
                 has_alert: bool) -> Removed | Rejected:
    """The Removed for an is_deleted entity, in the id form of the record it had made."""
    if has_vehicle:  # a vehicle's id is vehicle.vehicle.id, else entity.id (as vehicle_entity)
        kind, key = "vehicle", _text(entity.vehicle.vehicle.id) or _text(entity.id)
    else:
        kind, key = "alert" if has_alert else "entity", _text(entity.id)
    if not key:  # an empty id names nothing that could be removed
        return Rejected.of("deleted entity without an id", str(entity))
    return Removed(DOMAIN, f"{prefix}:{kind}:{key}")


# -- vehicles ---------------------------------------------------------------------------------------
def vehicle_entity(entity: rt.FeedEntity, prefix: str, source: str,
                   default_ts: float) -> Entity | Rejected:
    """The vehicle Entity of a VehiclePosition entity (unlocated without a position), or Rejected
    when the position it sends is impossible."""
    # The hot path of a large feed, hence one function with each field read once.
    vp = entity.vehicle
    position = vp.position
    lat = position.latitude
    lon = position.longitude
    # valid_position() inlined (a call per vehicle is a tenth of this function's time); NaN
    # fails every comparison, so it is rejected with the out-of-range values.
    if not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0) or (
            -1e-6 < lat < 1e-6 and -1e-6 < lon < 1e-6):
        if vp.HasField("position"):
            return Rejected.of(f"invalid position: {lat},{lon}", str(entity))
        # The spec makes position optional: whole subway systems publish trip-only vehicles.
        # Such a vehicle is kept with its trip and status, listed but never drawn.
        lat = lon = None  # type: ignore[assignment]
    descriptor = vp.vehicle
    vid: Any = descriptor.id or entity.id
    if not vid:
        return Rejected.of("vehicle without vehicle.id or entity id", str(entity))
    if vid.__class__ is not str:
        vid = _text(vid)
    trip = vp.trip
    attrs: dict[str, Any] = {}
    value: Any = trip.route_id
    if value:
        attrs["route_id"] = value if value.__class__ is str else _text(value)
    value = trip.trip_id
    if value:
        attrs["trip_id"] = value if value.__class__ is str else _text(value)
    value = trip.direction_id
    if value or _trip_has(trip, "direction_id"):  # 0 is a real direction
        attrs["direction_id"] = value
    value = trip.start_date
    if value:
        attrs["start_date"] = value if value.__class__ is str else _text(value)
    value = descriptor.label
    if value:
        attrs["label"] = value if value.__class__ is str else _text(value)
    value = position.bearing
    # 0 is north; NaN fails both comparisons, so it is dropped like any out-of-range bearing.
    if (value or _position_has(position, "bearing")) and 0.0 <= value <= 360.0:
        attrs["bearing"] = value
    value = position.speed
    if (value or _position_has(position, "speed")) and 0.0 <= value < _INF:
        attrs["speed_mps"] = value
    value = vp.occupancy_status
    if value or _vehicle_has(vp, "occupancy_status"):  # EMPTY is 0, the unset default
        attrs["occupancy"] = _OCCUPANCY[value]
    value = vp.current_status
    if value != _STATUS_DEFAULT or _vehicle_has(vp, "current_status"):
        attrs["current_status"] = _STOP_STATUS[value]
    value = vp.stop_id
    if value:
        attrs["stop_id"] = value if value.__class__ is str else _text(value)
    value = vp.timestamp
    observed_at = (value / 1000.0 if value > _MS_THRESHOLD else float(value)) if value else default_ts
    if observed_at >= LATEST_TIME:
        # A uint64 cannot be negative: only the far end can be out of range. Kept, such a time
        # would block every later position of the vehicle (the store keeps the newest).
        return Rejected.of(f"vehicle timestamp {value} is out of range", str(entity))
    return _make_entity({"domain": DOMAIN, "kind": "vehicle", "id": f"{prefix}:vehicle:{vid}",
                         "lat": lat, "lon": lon, "status": "in_service", "observed_at": observed_at,
                         "source": source, "attrs": attrs})


def _fast_entity(values: dict[str, Any]) -> Entity:
    """An Entity from its field values without the frozen __init__ (3x cheaper: no __setattr__)."""
    record: Entity = _new(Entity)
    record.__dict__.update(values)
    return record


def _slow_entity(values: dict[str, Any]) -> Entity:
    """An Entity through its constructor."""
    return Entity(**values)


_new = object.__new__
# The shortcut is exact only for a plain frozen dataclass with these fields: otherwise construct.
_PLAIN_ENTITY = (not hasattr(Entity, "__post_init__") and not hasattr(Entity, "__slots__")
                 and [f.name for f in dataclasses.fields(Entity)]
                 == ["domain", "kind", "id", "lat", "lon", "status", "observed_at", "source", "attrs"])
_make_entity = _fast_entity if _PLAIN_ENTITY else _slow_entity


# -- trip updates -----------------------------------------------------------------------------------
def trip_delays(tu: rt.TripUpdate, prefix: str, default_ts: float) -> list[Observation | Rejected]:
    """delay_s Observations of a TripUpdate for its trip and its vehicle; [] without delay info."""
    observed_at = _seconds(tu.timestamp) or default_ts
    delay = trip_delay(tu, observed_at)
    if delay is None:
        return []
    trip_id = _text(tu.trip.trip_id)
    vid = _text(tu.vehicle.id)
    ids = [f"{prefix}:{kind}:{key}" for kind, key in (("trip", trip_id), ("vehicle", vid)) if key]
    if not ids:
        return [Rejected.of("trip update with a delay but no trip_id or vehicle id", str(tu))]
    return [Observation(entity_id, "delay_s", float(delay), "s", observed_at) for entity_id in ids]


def trip_delay(tu: rt.TripUpdate, now: float) -> int | None:
    """The trip's current delay in seconds, or None when the update says nothing about it.

    TripUpdate.delay when set. Otherwise from the StopTimeUpdates (SKIPPED and NO_DATA ignored):
    the delay of the latest one whose event time is not after ``now`` (the stop just served),
    else of the first one that has a delay (the next stop). A StopTimeUpdate's delay is its
    departure delay when set (the later event at that stop), else its arrival delay.
    """
    if tu.HasField("delay"):
        return tu.delay
    first: int | None = None
    past: int | None = None
    past_time = -_INF
    for stu in tu.stop_time_update:
        if stu.schedule_relationship in _IGNORED_STU:
            continue
        found = _stop_delay(stu)
        if found is None:
            continue
        delay, when = found
        if first is None:
            first = delay
        if when is not None and past_time <= when <= now:
            past, past_time = delay, when
    return past if past is not None else first


def _stop_delay(stu: rt.TripUpdate.StopTimeUpdate) -> tuple[int, float | None] | None:
    """(delay, time of that event or None) of one StopTimeUpdate, or None without a delay."""
    for name in ("departure", "arrival"):
        if stu.HasField(name):
            event = getattr(stu, name)
            if event.HasField("delay"):
                return event.delay, _seconds(event.time)
    return None


# -- alerts -----------------------------------------------------------------------------------------
def alert_event(entity: rt.FeedEntity, prefix: str, source: str, observed_at: float,
                languages: tuple[str, ...] = DEFAULT_LANGUAGES) -> Event:
    """The service_alert Event of an Alert entity."""
    alert = entity.alert
    attrs: dict[str, Any] = {"cause": _CAUSE.get(alert.cause, str(alert.cause)),
                             "effect": _EFFECT.get(alert.effect, str(alert.effect))}
    for key, field_name in (("description", "description_text"), ("url", "url")):
        text = pick_translation(getattr(alert, field_name), languages)
        if text:
            attrs[key] = text
    attrs["informed_entities"] = [sel for sel in map(_selector, alert.informed_entity) if sel]
    starts_at, ends_at = active_span(alert.active_period)
    return Event(DOMAIN, "service_alert", f"{prefix}:alert:{_text(entity.id)}",
                 pick_translation(alert.header_text, languages) or NO_TITLE, observed_at, source,
                 severity=_SEVERITY.get(alert.severity_level, "info"),
                 starts_at=starts_at, ends_at=ends_at, attrs=attrs)


def pick_translation(translated: rt.TranslatedString, languages: Iterable[str]) -> str:
    """The text in the first preferred language ("en" takes "en-US"), else the first text, else ""."""
    texts = [(_language_tag(t.language), _text(t.text)) for t in translated.translation]
    texts = [(lang, text) for lang, text in texts if text.strip()]
    for wanted in map(_language_tag, languages):
        primary = wanted.split("-")[0]
        exact = [text for lang, text in texts if lang == wanted]
        close = [text for lang, text in texts if lang.split("-")[0] == primary]
        if exact or close:
            return (exact or close)[0]
    return texts[0][1] if texts else ""


def _language_tag(tag: str | bytes) -> str:
    """A BCP 47 tag in one spelling: lower case, "-" separated ("en_US" -> "en-us")."""
    return _text(tag).strip().lower().replace("_", "-")


def _selector(sel: rt.EntitySelector) -> dict[str, Any]:
    """The set fields of an informed_entity selector ({} when it names nothing)."""
    out: dict[str, Any] = {}
    for key in ("agency_id", "route_id"):
        value = getattr(sel, key)
        if value:
            out[key] = _text(value)
    if sel.HasField("route_type"):  # 0 (tram) is a real route type
        out["route_type"] = sel.route_type
    if sel.stop_id:
        out["stop_id"] = _text(sel.stop_id)
    if sel.trip.trip_id:
        out["trip_id"] = _text(sel.trip.trip_id)
    return out


def active_span(periods: Iterable[rt.TimeRange]) -> tuple[float | None, float | None]:
    """(earliest start, latest end) of the active periods; a missing bound is unbounded (None)."""
    spans = [(_seconds(p.start), _seconds(p.end)) for p in periods]
    starts = [start for start, _ in spans]
    ends = [end for _, end in spans]
    start = None if not spans or None in starts else min(s for s in starts if s is not None)
    end = None if not spans or None in ends else max(e for e in ends if e is not None)
    return start, end
