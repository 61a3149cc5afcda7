"""SenML (RFC 8428) JSON packs to resolved records and normalized water records (pure).

Resolution (RFC 8428 section 4.6) turns each record into a self-contained one: name = bn + n,
time = bt + t (times below 2**28 are relative to "now"), unit = u or bu, v = bv + v, s = bs + s.
The water mapping then turns resolved records into Observations in our metric names and units,
and one Entity per sensor, at the position its pack gives (lat/lon records, RFC 8428 section
5.1.5) or unlocated. A record whose name or unit is outside our water vocabulary (an LwM2M
resource such as ``/3424/0/1`` in ``m3``, a distance) is valid SenML: it is stored as a generic
reading under its own name and unit; only what RFC 8428 forbids is refused.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any, Iterator, Mapping

from app.model.geo import valid_position
from app.model.records import Entity, FeedHeader, Observation, ParseItem, Rejected, valid_time
from data_adapters.base import ParseError
from data_adapters.feed_settings import setting
from data_adapters.json_payload import decode_json

DOMAIN = "water"
# RFC 8428 4.5.3: times below 2**28 (about 8.5 years of seconds) are relative to now.
RELATIVE_LIMIT = 2.0 ** 28
# The SenML version this resolver implements (RFC 8428 4.4); a pack asking for more is refused.
SENML_VERSION = 10
# SenML records are flat objects: anything nested this deep is not SenML (stricter than the
# decoder's general limit).
MAX_DEPTH = 32

_BASE_FIELDS = ("bn", "bt", "bu", "bv", "bs", "bver")
_VALUE_FIELDS = ("v", "vs", "vb", "vd")
# Which JSON type each known label must have (bool is excluded from numbers below).
_STRING_FIELDS = frozenset({"bn", "bu", "n", "u", "vs", "vd"})
_NUMBER_FIELDS = frozenset({"bt", "bv", "bs", "bver", "t", "v", "s", "ut"})
# RFC 8428 4.5.1: the concatenated name's alphabet and first character.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9\-:./_]*\Z")
# A measurement name (the last name segment) starts with a letter; "2001:db8::3" ends in "3",
# which is part of an address, not a measurement.
_MEASUREMENT = re.compile(r"[A-Za-z][A-Za-z0-9\-._]*\Z")

# Our metric for a measurement name: (metric, target unit, {SenML unit: factor to target}).
_METRICS: dict[str, tuple[str, str, dict[str, float]]] = {
    "pressure": ("pressure_bar", "bar", {"Pa": 1e-5, "kPa": 1e-2, "hPa": 1e-3, "bar": 1.0}),
    "flow": ("flow_m3h", "m3/h", {"m3/s": 3600.0, "l/s": 3.6, "m3/h": 1.0}),
    "level": ("level_m", "m", {"m": 1.0}),
    "turbidity": ("turbidity_ntu", "NTU", {"NTU": 1.0}),
    "chlorine": ("free_chlorine_mgl", "mg/L", {"mg/L": 1.0, "mg/l": 1.0, "kg/m3": 1000.0}),
}
_ALIASES = {"free_chlorine": "chlorine", "free-chlorine": "chlorine", "water_level": "level",
            "flow_rate": "flow"}
# A name that is only the sensor (RFC 8428 example 4: no n) still says what it measures by unit.
_UNIT_MEASUREMENT = {"Pa": "pressure", "kPa": "pressure", "bar": "pressure", "m3/s": "flow",
                     "l/s": "flow", "m3/h": "flow", "NTU": "turbidity", "Cel": "temperature",
                     "%RH": "humidity", "%EL": "battery", "V": "voltage", "A": "current"}
# The metric of a record that names no measurement and whose unit implies none (an LwM2M
# resource path, a vendor's own name): a generic reading of its sensor, in its unit as sent.
GENERIC = "reading"
MAX_METRIC_CHARS = 64
# The sum of a flow (its unit times seconds) is a volume: what a water meter counts.
_FLOW_SUM = {"m3/s": 1.0, "l/s": 1e-3}
_LAT_NAMES = frozenset({"lat", "latitude"})
_LON_NAMES = frozenset({"lon", "long", "longitude"})


@dataclass(frozen=True)
class _Resolved:
    """A resolved record, or the rejection of a raw one, with the base name it was read under."""

    record: dict[str, Any] | None
    base_name: str
    name: str
    rejected: Rejected | None = None


# -- resolution -------------------------------------------------------------------------------------
def resolve_pack(data: bytes, *, now: float | None = None,
                 rejected: list[Rejected] | None = None) -> list[dict[str, Any]]:
    """The RFC 8428 resolved records of a SenML JSON pack; ParseError if the pack is unusable.

    ``now`` (default: the current time) anchors relative times. Records that cannot be resolved
    (a field of the wrong type, an invalid name) are left out and, if ``rejected`` is given,
    appended to it.
    """
    out: list[dict[str, Any]] = []
    for item in _resolve(data, time.time() if now is None else float(now)):
        if item.record is not None:
            out.append(item.record)
        elif rejected is not None and item.rejected is not None:
            rejected.append(item.rejected)
    return out


def decode_pack(data: bytes) -> list[dict[str, Any]]:
    """The records of a SenML JSON pack, or ParseError when it is not an array of objects."""
    # NaN/Infinity decode as floats, so that the type check rejects their record, not the pack.
    pack = decode_json(data, what="a SenML pack", max_depth=MAX_DEPTH)
    if isinstance(pack, dict) and isinstance(pack.get("e"), list):
        # draft-jennings-senml (pre-RFC): an object with an "e" array, with other meanings of
        # sv/bv/ver. Reading it as RFC 8428 would misattribute values, so it is refused by name.
        raise ParseError("legacy SenML draft format (object with an 'e' array), not RFC 8428", data)
    if not isinstance(pack, list):
        raise ParseError(f"a SenML pack is a JSON array, not {type(pack).__name__}", data)
    # An empty array is what a gateway with nothing new answers: an answer, not an error.
    if not all(isinstance(record, dict) for record in pack):
        raise ParseError("a SenML pack is an array of objects", data)
    for record in pack:
        for label in record:
            # RFC 8428 4.4: labels ending in "_" must be understood; we understand none.
            if label.endswith("_"):
                raise ParseError(f"unknown must-understand field '{label}'", data)
    return pack


def _type_error(record: Mapping[str, Any]) -> str | None:
    """Why a record's known fields have the wrong JSON types, or None when they are right."""
    for label, value in record.items():
        if label in _STRING_FIELDS and not isinstance(value, str):
            return f"field '{label}' must be a string, not {type(value).__name__}"
        if label in _NUMBER_FIELDS:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                return f"field '{label}' must be a number, not {type(value).__name__}"
            if not _finite(value):
                return f"field '{label}' must be finite, not {value}"
        if label == "vb" and not isinstance(value, bool):
            return f"field 'vb' must be a boolean, not {type(value).__name__}"
    return None


def _finite(value: int | float) -> bool:
    """True for a number a float can hold: not NaN or infinite, no integer past float's range."""
    try:
        return math.isfinite(value)
    except OverflowError:  # an integer of 309 digits or more
        return False


def _range_error(record: Mapping[str, Any]) -> str | None:
    """Why a resolved record's time or numbers cannot be stored (overflowed sums), or None."""
    if not valid_time(record["t"]):
        return f"time {record['t']} is out of range"
    for label in ("v", "s"):
        if label in record and not math.isfinite(record[label]):
            return f"resolved '{label}' {record[label]} is not finite"
    return None


def _resolve(data: bytes, now: float) -> list[_Resolved]:
    """Every record of the pack resolved, or rejected with its reason (pure but for ``now``)."""
    pack = decode_pack(data)
    bn, bt, bu, bv, bs = "", 0.0, None, None, None
    out: list[_Resolved] = []
    for raw in pack:
        problem = _type_error(raw)
        if problem and any(label in raw for label in _BASE_FIELDS):
            # A broken base field would misname or misdate every later record of the pack.
            raise ParseError(f"base field of the wrong type: {problem}", json.dumps(raw))
        if problem:
            out.append(_Resolved(None, bn, "", Rejected.of(problem, json.dumps(raw))))
            continue
        version = raw.get("bver", SENML_VERSION)
        if version > SENML_VERSION:
            raise ParseError(f"SenML version {version} is newer than {SENML_VERSION}",
                             json.dumps(raw))
        bn = raw.get("bn", bn)
        bt = raw.get("bt", bt)
        bu = raw.get("bu", bu)
        bv = raw.get("bv", bv)
        bs = raw.get("bs", bs)
        # A record of base fields only (example 9's {"bn": ...}) sets context; it measures nothing.
        if all(label in _BASE_FIELDS for label in raw):
            continue
        values = [label for label in _VALUE_FIELDS if label in raw]
        if len(values) > 1:
            out.append(_Resolved(None, bn, "", Rejected.of(
                f"more than one value field: {', '.join(values)}", json.dumps(raw))))
            continue
        name = bn + raw.get("n", "")
        if not _NAME.match(name):
            out.append(_Resolved(None, bn, name, Rejected.of(
                f"invalid name {name!r}", json.dumps(raw))))
            continue
        resolved: dict[str, Any] = {"n": name}
        unit = raw.get("u", bu)
        if unit is not None:
            resolved["u"] = unit
        when = bt + raw.get("t", 0.0)
        resolved["t"] = now + when if when < RELATIVE_LIMIT else when
        if "v" in raw:
            resolved["v"] = raw["v"] + bv if bv is not None else raw["v"]
        for label in ("vs", "vb", "vd"):
            if label in raw:
                resolved[label] = raw[label]
        if "s" in raw:
            resolved["s"] = raw["s"] + bs if bs is not None else raw["s"]
        # Fields this resolver does not know (ut, ex8's dropped "l") travel on unchanged.
        for label, value in raw.items():
            if label not in resolved and label not in _BASE_FIELDS and label not in ("n", "t"):
                resolved[label] = value
        problem = _range_error(resolved)
        if problem:
            out.append(_Resolved(None, bn, name, Rejected.of(problem, json.dumps(raw))))
            continue
        out.append(_Resolved(resolved, bn, name))
    return out


# -- the water mapping ------------------------------------------------------------------------------
def split_name(base_name: str, name: str) -> tuple[str, str]:
    """(sensor, measurement) of a resolved name; measurement is "" when the name is the sensor."""
    rest = name[len(base_name):]
    cut = max(rest.rfind("/"), rest.rfind(":"))
    if cut >= 0 and _MEASUREMENT.match(rest[cut + 1:]):
        sensor, measurement = base_name + rest[:cut], rest[cut + 1:]
    elif rest and base_name.rstrip("/:") and _MEASUREMENT.match(rest):
        sensor, measurement = base_name, rest
    else:
        # No base name, or a name that does not end in a measurement: the name is the sensor.
        sensor, measurement = name, ""
    return sensor.rstrip("/:") or name, measurement


def zones_setting(what: str = "sensor name prefix") -> Any:
    """The ``zones`` field of a water feed's settings: {name prefix: supply zone}."""
    return setting({}, expected=f"a table of {what} = supply zone (text = text)",
                   description=f"table: {what} = supply zone (the longest matching prefix wins)")


def zone_of(sensor: str, zones: Mapping[str, str] | None) -> str | None:
    """The supply zone of the longest ``zones`` prefix that starts the sensor name."""
    if not zones:
        return None
    matches = [prefix for prefix in zones if sensor.startswith(prefix)]
    return zones[max(matches, key=len)] if matches else None


def observation_of(entity_id: str, measurement: str, record: Mapping[str, Any]
                   ) -> list[Observation] | Rejected:
    """The Observations of one resolved record (its value, its sum), or why it is unusable.

    What our vocabulary knows is mapped (``pressure`` in kPa -> ``pressure_bar``); a measurement
    it does not know, or a known one in a unit it cannot convert, is kept under its own name in
    its own unit, and a record naming no measurement is a ``reading`` of its sensor.
    """
    unit = record.get("u")
    key = _ALIASES.get(measurement.lower(), measurement.lower()) if measurement else \
        _UNIT_MEASUREMENT.get(unit or "", GENERIC)
    if len(key) > MAX_METRIC_CHARS:
        key = GENERIC  # a metric names a store key: a name of any length is kept as a reading
    out: list[Observation] = []
    when = record["t"]
    if "v" in record or "vb" in record:
        # A boolean (a pump running, a valve open) is stored as 1/0 of the dimensionless unit.
        value = float(record["v"]) if "v" in record else float(record["vb"])
        if key in _METRICS and "v" in record and unit in _METRICS[key][2]:
            metric, target, factors = _METRICS[key]
            value *= factors[unit]
            if not math.isfinite(value):  # 1e308 m3/s is finite; in m3/h it is not
                return Rejected.of(f"{key} {record['v']} {unit} is out of range",
                                   json.dumps(record))
            out.append(Observation(entity_id, metric, value, target, when))
        else:
            out.append(Observation(entity_id, key, value, "1" if "vb" in record else unit or "1",
                                   when))
    if "s" in record:
        if key == "flow" and unit in _FLOW_SUM:
            # The factors are at most 1: the product of a finite sum stays finite.
            out.append(Observation(entity_id, "volume_m3", record["s"] * _FLOW_SUM[unit], "m3",
                                   when))
        else:
            # RFC 8428 4.2: a sum is in the record's unit times seconds.
            out.append(Observation(entity_id, f"{key}_sum", float(record["s"]),
                                   f"{unit}.s" if unit else "s", when))
    if not out:
        kind = "vs" if "vs" in record else "vd"
        return Rejected.of(f"{kind} (text or data) value is not a numeric reading",
                           json.dumps(record))
    return out


def parse_senml(data: bytes, feed: str, fetched_at: float, *, id_prefix: str | None = None,
                zones: Mapping[str, str] | None = None,
                counts: Counter[str] | None = None) -> Iterator[ParseItem]:
    """Yield a FeedHeader, then the Observations, sensor Entities and Rejecteds of a SenML pack.

    Times relative to now are taken relative to ``fetched_at``. ``id_prefix`` (default: ``feed``)
    starts every id; ``zones`` maps sensor name prefixes to supply zones (Entity attr ``zone``);
    ``counts``, when given, counts what valid SenML held that is not stored (``text_values``:
    vs and vd records, which are no readings). Every sensor with a reading or a position is an
    Entity, unlocated (lat/lon None) when its pack gives no valid position. An empty pack is an
    answer with nothing in it; ParseError when the pack is unusable or every record is refused.
    """
    prefix = id_prefix or feed
    tally: Counter[str] = counts if counts is not None else Counter()
    items: list[ParseItem] = []
    # Per sensor: its metrics, latest time, and latest (time, value) of lat and of lon.
    metrics: dict[str, set[str]] = {}
    seen_at: dict[str, float] = {}
    where: dict[str, dict[str, tuple[float, float]]] = {}
    for item in _resolve(data, float(fetched_at)):
        if item.record is None:
            items.append(item.rejected or Rejected("unresolvable record"))
            continue
        record = item.record
        sensor, measurement = split_name(item.base_name, item.name)
        entity_id = f"{prefix}:sensor:{sensor}"
        when = record["t"]
        seen_at[sensor] = max(seen_at.get(sensor, when), when)
        metrics.setdefault(sensor, set())
        unit = record.get("u")
        axis = ("lat" if unit == "lat" or measurement.lower() in _LAT_NAMES else
                "lon" if unit == "lon" or measurement.lower() in _LON_NAMES else None)
        if axis:
            if "v" not in record:
                items.append(Rejected.of(f"{axis} without a numeric value", json.dumps(record)))
                continue
            previous = where.setdefault(sensor, {}).get(axis)
            if previous is None or when >= previous[0]:
                where[sensor][axis] = (when, float(record["v"]))
            continue
        if not any(label in record for label in ("v", "vb", "s")):
            # Valid SenML with nothing to store: no value at all, or a text or data value (vs,
            # vd), which is no reading. Counted, not refused.
            if "vs" in record or "vd" in record:
                tally["text_values"] += 1
            continue
        result = observation_of(entity_id, measurement, record)
        if isinstance(result, Rejected):
            items.append(result)
            continue
        items.extend(result)
        metrics[sensor].update(obs.metric for obs in result)
    for sensor, measured in metrics.items():
        lat, lon = _sensor_position(sensor, where.get(sensor), items)
        if lat is None and not measured:
            continue  # neither a reading nor a place: nothing to list
        attrs: dict[str, Any] = {"metrics": sorted(measured)}
        zone = zone_of(sensor, zones)
        if zone is not None:
            attrs["zone"] = zone
        kind = "reservoir" if "level_m" in measured else "sensor"
        items.append(Entity(DOMAIN, kind, f"{prefix}:sensor:{sensor}", lat, lon, "active",
                            seen_at[sensor], feed, attrs))
    if items and not any(not isinstance(item, Rejected) for item in items):
        first = next((f": {item.reason}" for item in items if isinstance(item, Rejected)), "")
        raise ParseError(f"SenML pack holds no usable record{first}", data)
    times = [item.observed_at for item in items if isinstance(item, (Entity, Observation))]
    yield FeedHeader(max(times) if times else None, full_dataset=False)
    yield from items


def _sensor_position(sensor: str, axes: Mapping[str, tuple[float, float]] | None,
                     items: list[ParseItem]) -> tuple[float | None, float | None]:
    """(lat, lon) of a sensor from its latest fixes; (None, None) without a valid one (a position
    that is sent but impossible is also a Rejected in ``items``)."""
    if axes is None:
        return None, None
    lat, lon = axes.get("lat", (0.0, None))[1], axes.get("lon", (0.0, None))[1]
    if not valid_position(lat, lon):
        items.append(Rejected.of(f"invalid position of sensor {sensor}: {lat},{lon}",
                                 json.dumps({"sensor": sensor, "lat": lat, "lon": lon})))
        return None, None
    return lat, lon
