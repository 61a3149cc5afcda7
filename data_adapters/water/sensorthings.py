"""OGC SensorThings API v1.1 Observations (each with its Datastream expanded) to water records (pure).

A payload is an Observations collection (``{"value": [...]}``), a bare array of Observations, or
one Observation. Each Observation must carry its ``Datastream`` (``$expand=Datastream``); the
Datastream says what is measured (its ObservedProperty or name, or a configured mapping) and in
which unit (``unitOfMeasurement``: a UCUM ``definition``, else its ``symbol``). Metric names and
the conversion to our units are those of the SenML side (``senml.observation_of``); this module
only translates UCUM codes into the units SenML converts from. Each Datastream becomes a sensor
Entity, positioned by its Thing's Location, its ``observedArea`` or the FeatureOfInterest.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Iterator, Mapping
from urllib.parse import unquote

from app.model.geo import valid_position
from app.model.records import Entity, FeedHeader, Observation, ParseItem, Rejected, valid_time
from data_adapters.base import ParseError
from data_adapters.json_payload import decode_json
from data_adapters.water.senml import GENERIC, observation_of, zone_of

DOMAIN = "water"
IGNORE = "ignore"
# What a Datastream may measure, in the order a name mentioning several is read.
MEASUREMENTS = ("chlorine", "turbidity", "level", "flow", "pressure")
MAX_ID_LENGTH = 128
MAX_TEXT = 200  # attrs are small: a name longer than this is cut

_WORDS = {"chlorine": "chlorine", "turbidity": "turbidity", "level": "level", "flow": "flow",
          "flowrate": "flow", "discharge": "flow", "pressure": "pressure"}
# The demo city's utilities name their datastreams in Chinese.
_CJK_TERMS = {"余氯": "chlorine", "游离氯": "chlorine", "浊度": "turbidity", "水位": "level",
              "液位": "level", "流量": "flow", "压力": "pressure"}
# Words that make a keyword mean something else: total chlorine is not free chlorine, a battery
# level is no water level, and barometric pressure would drag a zone's pressure down to ~1 bar.
_EXCLUDES = {"chlorine": frozenset({"total", "combined"}),
             "level": frozenset({"battery", "signal", "noise", "sound"}),
             "pressure": frozenset({"barometric", "atmospheric", "air"})}
# A Datastream whose name says nothing still says what it measures by its unit.
_UNIT_MEASUREMENT = {
    **dict.fromkeys(("Pa", "hPa", "kPa", "MPa", "bar", "mbar", "[psi]", "m[H2O]"), "pressure"),
    **dict.fromkeys(("m3/s", "m3/min", "m3/h", "m3/d", "L/s", "l/s", "L/min", "l/min", "L/h",
                     "l/h", "[gal_us]/min"), "flow"),
    **dict.fromkeys(("NTU", "[NTU]"), "turbidity"),
}
# UCUM codes SenML does not convert from, as (a unit it does, factor). UCUM defines m[H2O] as
# 9.80665 kPa; a psi is 6894.757293168361 Pa; a US gallon is 3.785411784 L.
_TO_SENML: dict[str, tuple[str, float]] = {
    "mbar": ("hPa", 1.0), "MPa": ("kPa", 1000.0), "[psi]": ("kPa", 6.894757293168361),
    "m[H2O]": ("kPa", 9.80665),
    "L/s": ("l/s", 1.0), "L/min": ("l/s", 1 / 60), "l/min": ("l/s", 1 / 60),
    "L/h": ("l/s", 1 / 3600), "l/h": ("l/s", 1 / 3600), "m3/min": ("m3/s", 1 / 60),
    "m3/d": ("m3/h", 1 / 24), "[gal_us]/min": ("l/s", 3.785411784 / 60),
    "cm": ("m", 0.01), "mm": ("m", 0.001),
    "[NTU]": ("NTU", 1.0), "ug/L": ("mg/L", 0.001), "mg/l": ("mg/L", 1.0),
}
# Symbols seen instead of UCUM codes.
_SYMBOLS = {"°C": "Cel", "℃": "Cel", "m³/h": "m3/h", "m³/s": "m3/s", "m³/d": "m3/d",
            "psi": "[psi]", "µS/cm": "uS/cm", "μS/cm": "uS/cm", "ntu": "NTU"}
# UCUM as a definition: "ucum:mbar" (FROST), the OGC definition server, an OGC URN, or an anchor of
# the UCUM page (whose "#para-30" style anchors name a section, not a unit).
_UCUM_DEFINITION = re.compile(
    r"(?:ucum:|urn:ogc:def:uom:ucum::|https?://www\.opengis\.net/def/uom/ucum/(?:0/)?"
    r"|https?://unitsofmeasure\.org/ucum\.html#)(?P<code>.+)\Z", re.IGNORECASE)
_SPEC_ANCHOR = re.compile(r"(para|section)-[\d.]+\Z", re.IGNORECASE)
_INSTANT = re.compile(r"\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?"
                      r"(Z|z|[+-]\d{2}(:?\d{2})?)?)?\Z")
_NUMBER = re.compile(r"\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*\Z")
_METRIC_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}\Z")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z])")


# -- small readers ----------------------------------------------------------------------------------
def _int_or_float(text: str) -> int | float:
    """A JSON integer; one too long for int() (Python's digit limit) becomes a float (inf)."""
    try:
        return int(text)
    except ValueError:
        return float(text)


def load_json(data: bytes) -> Any:
    """The JSON document of a payload; ParseError when it is empty, not UTF-8 or not JSON."""
    # NaN/Infinity (as floats) and integers past int()'s digit limit (as inf) reject their row,
    # not the payload.
    return decode_json(data, what="a SensorThings Observations collection",
                       parse_int=_int_or_float)


def observations_in(doc: Any) -> list[Any] | None:
    """The Observations of a decoded payload, or None when it is no Observations document."""
    if isinstance(doc, list):
        return doc
    if isinstance(doc, dict):
        if isinstance(doc.get("value"), list):
            return doc["value"]
        if "value" not in doc and ("phenomenonTime" in doc or "result" in doc):
            return [doc]
    return None


def decode_observations(data: bytes) -> list[Any]:
    """The Observations of a payload, or ParseError when it is not an Observations document."""
    doc = load_json(data)
    rows = observations_in(doc)
    if rows is not None:
        return rows
    if isinstance(doc, dict) and isinstance(doc.get("message"), str):
        # FROST and others answer errors as {"code": 400, "type": "error", "message": ...}.
        raise ParseError(f"server error document: {doc['message'][:200]}", data)
    kind = "an object without a 'value' array" if isinstance(doc, dict) else \
        f"a JSON {type(doc).__name__}"
    raise ParseError(f"not a SensorThings Observations collection: {kind}", data)


def _instant(text: str, tz: dt.tzinfo) -> dt.datetime | None:
    """The UTC moment of one ISO 8601 date or date-time, or None."""
    if not _INSTANT.match(text):
        return None
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:  # month 13, a leap second
        return None
    # STA times carry a zone; some servers leave it out (PSNC): read those in the configured zone.
    try:
        moment = (moment if moment.tzinfo else moment.replace(tzinfo=tz)).astimezone(dt.timezone.utc)
    except OverflowError:  # 9999-12-31T23:00-05:00 is in the year 10000 in UTC
        return None
    return moment if valid_time(moment.timestamp()) else None


def sta_time(value: Any, tz: dt.tzinfo = dt.timezone.utc) -> dt.datetime | None:
    """The UTC moment of a SensorThings time: an ISO 8601 instant, or the end of "start/end"."""
    if not isinstance(value, str) or len(value) > 80:
        return None
    text = value.strip()
    if "/" in text:
        start, _, end = text.partition("/")
        # "start/PT1H" (a duration) and "start/end/..." are not read.
        if _instant(start, tz) is None:
            return None
        text = end
    return _instant(text, tz)


def iso_z(moment: dt.datetime) -> str:
    """A UTC moment as ISO 8601 with "Z", to the microsecond when it has any (for $filter)."""
    moment = moment.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return moment.isoformat(timespec="microseconds" if moment.microsecond else "seconds") + "Z"


def numeric_result(value: Any) -> float | str:
    """An Observation's result as a finite number, or the reason it is not a numeric reading."""
    if isinstance(value, bool):
        return "boolean result is not a numeric reading"
    if isinstance(value, (int, float)):
        try:
            number = float(value)
        except OverflowError:
            return "result is too large"
    elif isinstance(value, str):
        if not _NUMBER.match(value):
            return f"text result {value[:40]!r} is not a number"
        number = float(value)
    elif value is None:
        return "result is null"
    elif isinstance(value, dict):
        return "object result is not a numeric reading"
    else:
        return f"{type(value).__name__} result is not a numeric reading"
    if not math.isfinite(number):
        return f"result {value!r} is not finite"
    return number


def ucum_code(uom: Any) -> str | None:
    """The UCUM code of a unitOfMeasurement: from a UCUM ``definition``, else its ``symbol``."""
    if not isinstance(uom, Mapping):
        return None
    definition = uom.get("definition")
    if isinstance(definition, str):
        match = _UCUM_DEFINITION.match(definition.strip())
        if match:
            code = unquote(match["code"]).strip()
            if code and not _SPEC_ANCHOR.match(code):
                return code
        if definition.rstrip("/").upper().endswith("UNITLESS"):  # QUDT's unitless
            return "1"
    symbol = uom.get("symbol")
    if isinstance(symbol, str) and symbol.strip():
        return _SYMBOLS.get(symbol.strip(), symbol.strip())
    return None


def _mentions(text: str) -> tuple[set[str], set[str]]:
    """(measurements a name mentions, its lower-case words)."""
    words = set(re.findall(r"[a-z]+", _CAMEL.sub(" ", text).lower()))
    found = {m for word, m in _WORDS.items() if word in words}
    found |= {m for term, m in _CJK_TERMS.items() if term in text}
    return found, words


def measurement_in(text: str) -> str | None:
    """The water measurement a name speaks of ("Free Chlorine" -> chlorine), or None."""
    found, words = _mentions(text)
    return next((m for m in MEASUREMENTS
                 if m in found and not _EXCLUDES.get(m, frozenset()) & words), None)


def check_metrics(table: Any) -> dict[str, str]:
    """The ``metrics`` overrides (name part -> measurement, own metric or "ignore"), checked."""
    if table is None:
        return {}
    if not isinstance(table, Mapping):
        raise ValueError("metrics must be a table of name part = measurement")
    out: dict[str, str] = {}
    for key, value in table.items():
        if not isinstance(key, str) or not key.strip() or not isinstance(value, str):
            raise ValueError(f"metrics entry {key!r} = {value!r}: both must be non-empty text")
        target = value.strip().lower()
        if target != IGNORE and target not in MEASUREMENTS and not _METRIC_NAME.match(target):
            raise ValueError(f"metrics entry {key!r} = {value!r}: use one of "
                             f"{', '.join(MEASUREMENTS)}, '{IGNORE}', or a metric name "
                             "(a-z, 0-9, _)")
        out[key.strip().lower()] = target
    return out


def geometry_point(geometry: Any) -> tuple[float, float] | None:
    """(lat, lon) of GeoJSON: a Point's position, else the centre of the geometry's bounding box."""
    if isinstance(geometry, Mapping) and geometry.get("type") == "Feature":
        geometry = geometry.get("geometry")
    if not isinstance(geometry, Mapping) or not isinstance(geometry.get("type"), str):
        return None
    positions = list(_positions(geometry.get("coordinates"), 0))
    if not positions or (geometry["type"] == "Point" and len(positions) != 1):
        return None
    lats, lons = [p[1] for p in positions], [p[0] for p in positions]
    return (min(lats) + max(lats)) / 2, (min(lons) + max(lons)) / 2


def _positions(value: Any, depth: int) -> Iterator[tuple[float, float]]:
    """The [lon, lat, ...] positions nested in GeoJSON coordinates (nothing if any is broken)."""
    if not isinstance(value, list) or not value or depth > 4:
        return
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
        if len(value) >= 2:
            try:
                yield float(value[0]), float(value[1])
            except OverflowError:  # an integer past float's range: no position
                return
        return
    for part in value:
        yield from _positions(part, depth + 1)


def _text(value: Any) -> str:
    """A feed string for attrs: text only, cut to MAX_TEXT characters."""
    return value.strip()[:MAX_TEXT] if isinstance(value, str) else ""


def _mapping(value: Any) -> Mapping[str, Any]:
    """An expanded entity, or an empty one when it is absent or not an object."""
    return value if isinstance(value, Mapping) else {}


def _ref(value: Any) -> str | None:
    """An @iot.id as text (integer or string ids), or None when it cannot name an entity."""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        return None
    text = str(value)
    if not text or len(text) > MAX_ID_LENGTH or _CONTROL.search(text):
        return None
    return text


# -- Datastreams -------------------------------------------------------------------------------------
@dataclass
class _Stream:
    """What one Datastream maps to, worked out once per payload."""

    ref: str
    entity_id: str
    measurement: str | None
    unit: str | None  # the unit handed to the SenML conversion
    factor: float
    attrs: dict[str, Any]
    position: tuple[float, float] | None = None
    bad_positions: list[str] = field(default_factory=list)
    observations: list[Observation] = field(default_factory=list)
    newest_at: float | None = None
    newest_foi: Any = None  # the FeatureOfInterest of the newest accepted row, if expanded


def _measurement_of(names: list[str], code: str | None, overrides: Mapping[str, str]) -> str | None:
    """The measurement (or own metric, or "ignore") of a Datastream known by ``names``."""
    lowered = [name.lower() for name in names if name]
    matches = [key for key in overrides if any(key in name for name in lowered)]
    if matches:
        return overrides[max(matches, key=len)]
    for name in names:
        found = measurement_in(name) if name else None
        if found:
            return found
    if any(_mentions(name)[0] for name in names if name):
        return None  # "Barometric Pressure" in mbar: the unit must not overrule the veto
    return _UNIT_MEASUREMENT.get(code or "")


def _place(stream: _Stream, geometry: Any, source: str) -> None:
    """Position ``stream`` from ``geometry`` unless placed already; note a position that is bad."""
    if stream.position is not None or geometry is None:
        return
    point = geometry_point(geometry)
    if point is not None and valid_position(*point):
        stream.position = point
        stream.attrs["located_by"] = source
    else:
        stream.bad_positions.append(f"{source} {json.dumps(geometry)[:300]}")


def _stream_of(ds: Mapping[str, Any], ref: str, prefix: str, overrides: Mapping[str, str],
               zones: Mapping[str, str] | None) -> _Stream:
    """The mapping of one expanded Datastream: entity, measurement, unit, position, zone."""
    name = _text(ds.get("name"))
    prop, thing = _mapping(ds.get("ObservedProperty")), _mapping(ds.get("Thing"))
    prop_name, thing_name = _text(prop.get("name")), _text(thing.get("name"))
    code = ucum_code(ds.get("unitOfMeasurement"))
    measurement = _measurement_of([prop_name, name], code, overrides)
    unit, factor = _TO_SENML.get(code or "", (code, 1.0))
    attrs: dict[str, Any] = {"datastream_id": ref, "name": name}
    if prop_name:
        attrs["observed_property"] = prop_name
    if thing_name:
        attrs["thing"] = thing_name
    thing_ref = _ref(thing.get("@iot.id"))
    if thing_ref is not None:
        attrs["thing_id"] = thing_ref
    zone = next((z for z in (zone_of(n, zones) for n in (thing_name, name) if n) if z), None)
    if zone is not None:
        attrs["zone"] = zone
    # A meter's place in the network (e.g. "inlet": a zone's flow is its inlets', not the sum
    # of every meter inside it), as the Thing's or Datastream's properties give it.
    for source in (ds.get("properties"), thing.get("properties")):
        role = _mapping(source).get("role")
        if isinstance(role, str) and role.strip():
            attrs["role"] = role.strip()[:40]
            break
    if measurement is None:
        # Valid SensorThings outside our water vocabulary (a temperature, a barometric
        # pressure): kept as a generic reading in its own unit; the metrics table can name it.
        measurement = GENERIC
        attrs["generic"] = True
    stream = _Stream(ref, f"{prefix}:sensor:{ref}", measurement, unit, factor, attrs)
    locations = thing.get("Locations")
    for location in locations if isinstance(locations, list) else []:
        if isinstance(location, Mapping):
            _place(stream, location.get("location"), "thing_location")
    _place(stream, ds.get("observedArea"), "observed_area")
    return stream


def _excerpt(row: Mapping[str, Any]) -> str:
    """A row as JSON for the dead letters: its Datastream cut to what names it, links left out."""
    small = {k: v for k, v in row.items() if not k.endswith("@iot.navigationLink")}
    ds = row.get("Datastream")
    if isinstance(ds, Mapping):
        small["Datastream"] = {k: ds[k] for k in ("@iot.id", "name", "unitOfMeasurement")
                               if k in ds}
    return json.dumps(small, ensure_ascii=False, default=str)


class Newest:
    """The newest phenomenonTime offered, ignoring those after ``limit`` (POSIX s) if given."""

    def __init__(self, limit: float | None = None) -> None:
        self.limit = limit
        self.value: dt.datetime | None = None

    def offer(self, moment: dt.datetime) -> None:
        """Keep ``moment`` if it is the newest so far and not past the limit."""
        if self.limit is not None and moment.timestamp() > self.limit:
            return
        if self.value is None or moment > self.value:
            self.value = moment


# -- the payload -------------------------------------------------------------------------------------
def parse_observations(data: bytes, feed: str, *, id_prefix: str | None = None,
                       zones: Mapping[str, str] | None = None,
                       metrics: Mapping[str, str] | None = None,
                       tz: dt.tzinfo = dt.timezone.utc, newest: Newest | None = None,
                       counts: Counter[str] | None = None) -> Iterator[ParseItem]:
    """Yield a FeedHeader, sensor Entities, Observations (oldest first) and Rejecteds.

    ``metrics`` (from check_metrics) maps lower-case parts of ObservedProperty or Datastream names
    to a measurement, an own metric name or "ignore"; ``zones`` maps Thing or Datastream name
    prefixes to supply zones; ``tz`` reads times without a zone. ``newest`` collects the newest
    phenomenonTime of every row that has one; ``counts`` counts rows skipped without a rejection
    (``ignored``, ``duplicate``). Raises ParseError only when the payload is no Observations
    document: a collection whose rows are all rejected yields just the rejections.
    """
    prefix = id_prefix or feed
    overrides = metrics or {}
    streams: dict[str, _Stream] = {}
    rejected: list[Rejected] = []
    seen: set[tuple[str, str]] = set()
    for row in decode_observations(data):
        if not isinstance(row, dict):
            rejected.append(Rejected.of("an Observation must be a JSON object", json.dumps(row)))
            continue
        when = sta_time(row.get("phenomenonTime"), tz)
        if when is not None and newest is not None:
            newest.offer(when)
        ds = row.get("Datastream")
        if not isinstance(ds, Mapping):
            rejected.append(Rejected.of(
                "Observation without its Datastream (request $expand=Datastream)", _excerpt(row)))
            continue
        ref = _ref(ds.get("@iot.id"))
        if ref is None:
            rejected.append(Rejected.of("Datastream without a usable @iot.id", _excerpt(row)))
            continue
        row_ref = _ref(row.get("@iot.id"))
        if row_ref is not None:
            if (ref, row_ref) in seen:  # pages that overlap while the server inserts rows
                if counts is not None:
                    counts["duplicate"] += 1
                continue
            seen.add((ref, row_ref))
        stream = streams.get(ref)
        if stream is None:
            stream = streams[ref] = _stream_of(ds, ref, prefix, overrides, zones)
        if stream.measurement == IGNORE:
            if counts is not None:
                counts["ignored"] += 1
            continue
        if when is None:
            rejected.append(Rejected.of(
                f"phenomenonTime {str(row.get('phenomenonTime'))[:60]!r} is neither an ISO 8601 "
                "instant nor a start/end interval", _excerpt(row)))
            continue
        value = numeric_result(row.get("result"))
        if isinstance(value, str):
            rejected.append(Rejected.of(f"Datastream {ref}: {value}", _excerpt(row)))
            continue
        scaled = value * stream.factor
        if not math.isfinite(scaled):
            rejected.append(Rejected.of(f"Datastream {ref}: result {value!r} is out of range",
                                        _excerpt(row)))
            continue
        result = observation_of(stream.entity_id, stream.measurement,
                                {"u": stream.unit, "t": when.timestamp(), "v": scaled})
        if isinstance(result, Rejected):
            rejected.append(Rejected.of(f"Datastream {ref}: {result.reason}", _excerpt(row)))
            continue
        stream.observations.extend(result)
        if stream.newest_at is None or when.timestamp() >= stream.newest_at:
            stream.newest_at, stream.newest_foi = when.timestamp(), row.get("FeatureOfInterest")
    yield from _records(streams, feed, rejected)


def _records(streams: Mapping[str, _Stream], feed: str,
             rejected: list[Rejected]) -> Iterator[ParseItem]:
    """The header, entities and time-ordered observations of the mapped streams, then rejections."""
    entities: list[Entity] = []
    observations: list[Observation] = []
    for stream in streams.values():
        if not stream.observations:
            continue
        if isinstance(stream.newest_foi, Mapping):
            _place(stream, stream.newest_foi.get("feature"), "feature_of_interest")
        if stream.position is None and stream.bad_positions:
            rejected.append(Rejected.of(
                f"Datastream {stream.ref}: no valid position (shown unlocated)",
                "; ".join(stream.bad_positions)))
        first = stream.observations[0]
        lat, lon = stream.position if stream.position is not None else (None, None)
        attrs = {**stream.attrs, "metrics": [first.metric], "unit": first.unit}
        entities.append(Entity(DOMAIN, "reservoir" if first.metric == "level_m" else "sensor",
                               stream.entity_id, lat, lon, "active",
                               max(o.observed_at for o in stream.observations), feed, attrs))
        observations.extend(stream.observations)
    # The store keeps the last reading of a batch as the latest: oldest first, newest last.
    observations.sort(key=lambda o: o.observed_at)
    if observations:
        yield FeedHeader(observations[-1].observed_at, full_dataset=False)
    yield from entities
    yield from observations
    yield from rejected
