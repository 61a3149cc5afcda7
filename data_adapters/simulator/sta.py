"""The water network as an OGC SensorThings API v1.1 service (read-only, JSON), computed on request.

Entity sets: Things (one per sensor), Locations (GeoJSON points), Datastreams, Sensors (one per
sensor kind), ObservedProperties, FeaturesOfInterest (the Thing's place) and Observations (every
reading of the last 24 hours, nothing before). HistoricalLocations is served, always empty.
Paths: ``/Set``, ``/Set(id)``, ``/Set(id)/Navigation``. Query options: ``$top`` (default 100, at
most 1000), ``$skip``, ``$count``, ``$orderby``, ``$select``, ``$expand`` (nested, with options,
``A/B`` paths), and on Observations a ``$filter`` of ``phenomenonTime``/``resultTime`` comparisons
(``gt ge lt le eq``) and ``Datastream/@iot.id eq N`` joined by ``and``. Anything else is a 400
with an error document, an unknown entity a 404. Collections page with an absolute
``@iot.nextLink``. Observation ids encode (time, datastream), so a page is found by counting
readings per datastream (each reports on a fixed period) instead of storing any.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from dataclasses import dataclass, field
from typing import Any, Mapping
from urllib.parse import parse_qsl, quote, urlencode

import numpy as np

from data_adapters.simulator.patterns import iso_utc
from data_adapters.simulator.water import KIND_LABELS, KIND_MEASUREMENTS, MEASUREMENTS, WaterNetwork

ROOT_PATH = "/sta/v1.1"
DEFAULT_TOP = 100
MAX_TOP = 1000
RETENTION_S = 24 * 3600
OBSERVATION_ID_BASE = 100_000  # observation id = time * base + datastream id
OM_MEASUREMENT = "http://www.opengis.net/def/observationType/OGC-OM/2.0/OM_Measurement"
GEOJSON = "application/geo+json"
DEFINITIONS = "https://cityops.invalid/def"
CONFORMANCE = (
    "http://www.opengis.net/spec/iot_sensing/1.1/req/datamodel",
    "http://www.opengis.net/spec/iot_sensing/1.1/req/resource-path/resource-path-to-entities",
    "http://www.opengis.net/spec/iot_sensing/1.1/req/request-data",
)

SETS: dict[str, str] = {
    "Things": "Thing", "Locations": "Location", "HistoricalLocations": "HistoricalLocation",
    "Datastreams": "Datastream", "Sensors": "Sensor", "ObservedProperties": "ObservedProperty",
    "FeaturesOfInterest": "FeatureOfInterest", "Observations": "Observation",
}
SET_OF = {kind: name for name, kind in SETS.items()}
# kind -> navigation property -> (target kind, to many)
NAVIGATION: dict[str, dict[str, tuple[str, bool]]] = {
    "Thing": {"Locations": ("Location", True), "HistoricalLocations": ("HistoricalLocation", True),
              "Datastreams": ("Datastream", True)},
    "Location": {"Things": ("Thing", True), "HistoricalLocations": ("HistoricalLocation", True)},
    "HistoricalLocation": {"Thing": ("Thing", False), "Locations": ("Location", True)},
    "Datastream": {"Thing": ("Thing", False), "Sensor": ("Sensor", False),
                   "ObservedProperty": ("ObservedProperty", False), "Observations": ("Observation", True)},
    "Sensor": {"Datastreams": ("Datastream", True)},
    "ObservedProperty": {"Datastreams": ("Datastream", True)},
    "FeatureOfInterest": {"Observations": ("Observation", True)},
    "Observation": {"Datastream": ("Datastream", False), "FeatureOfInterest": ("FeatureOfInterest", False)},
}
SENSOR_KINDS: tuple[str, ...] = tuple(KIND_MEASUREMENTS)
# ObservedProperties: reservoir level and river stage are both a water level.
PROPERTIES: tuple[tuple[str, str, str], ...] = (
    ("pressure", "Water pressure", "Gauge pressure of drinking water in the distribution network"),
    ("flow", "Volume flow rate", "Volume of drinking water passing the meter per hour"),
    ("turbidity", "Turbidity", "Cloudiness of the water (nephelometric, ISO 7027)"),
    ("free-chlorine", "Free chlorine", "Free residual chlorine concentration"),
    ("water-level", "Water level", "Height of the water surface above the gauge datum"),
)
PROPERTY_OF_MEASUREMENT = (1, 2, 3, 4, 5, 5)
OPTIONS = frozenset({"$top", "$skip", "$count", "$orderby", "$select", "$expand", "$filter",
                     "$resultFormat"})
_PATH = re.compile(r"^/([A-Za-z]+)(?:\(([^)]*)\))?(?:/([A-Za-z]+))?/?$")
_TIME_CLAUSE = re.compile(r"^(phenomenonTime|resultTime)\s+(gt|ge|lt|le|eq)\s+(\S+)$", re.IGNORECASE)
_DATASTREAM_CLAUSE = re.compile(r"^Datastream/(?:@iot\.)?id\s+eq\s+'?(\d+)'?$", re.IGNORECASE)
_ORDER = re.compile(r"^(phenomenonTime|resultTime|@iot\.id|id)(?:\s+(asc|desc))?$", re.IGNORECASE)


class StaError(Exception):
    """A request the service answers with an error document."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class Query:
    """The query options of a request, or of one $expand item."""

    top: int | None = None
    skip: int = 0
    count: bool = False
    descending: bool = False
    order_by_id: bool = True
    filter: str | None = None
    select: list[str] | None = None
    expand: dict[str, "Query"] = field(default_factory=dict)


# -- query parsing -----------------------------------------------------------------------------------
def split_top(text: str, separator: str) -> list[str]:
    """``text`` split at ``separator`` outside parentheses and quotes."""
    parts, depth, quoted, start = [], 0, False, 0
    for k, char in enumerate(text):
        if char == "'":
            quoted = not quoted
        elif not quoted and char == "(":
            depth += 1
        elif not quoted and char == ")":
            depth -= 1
            if depth < 0:
                raise StaError(400, f"unbalanced parentheses in {text!r}")
        elif not quoted and depth == 0 and char == separator:
            parts.append(text[start:k])
            start = k + 1
    if depth != 0 or quoted:
        raise StaError(400, f"unbalanced parentheses or quotes in {text!r}")
    parts.append(text[start:])
    return [p.strip() for p in parts if p.strip()]


def parse_query(options: Mapping[str, str]) -> Query:
    """The Query of a request's (or an expand item's) options; StaError(400) when one is invalid."""
    unknown = sorted(k for k in options if k not in OPTIONS)
    if unknown:
        raise StaError(400, f"unsupported query option(s): {', '.join(unknown)}")
    query = Query()
    if "$top" in options:
        query.top = min(_non_negative(options["$top"], "$top"), MAX_TOP)
    if "$skip" in options:
        query.skip = _non_negative(options["$skip"], "$skip")
    if "$count" in options:
        value = options["$count"].strip().lower()
        if value not in ("true", "false"):
            raise StaError(400, "$count must be true or false")
        query.count = value == "true"
    if "$orderby" in options:
        keys = split_top(options["$orderby"], ",")
        match = _ORDER.match(keys[0]) if len(keys) == 1 else None
        if match is None:
            raise StaError(400, f"unsupported $orderby {options['$orderby']!r}: use phenomenonTime, "
                                "resultTime or @iot.id, asc or desc")
        query.descending = (match.group(2) or "asc").lower() == "desc"
        query.order_by_id = match.group(1).lower() in ("@iot.id", "id")
    if options.get("$filter", "").strip():
        query.filter = options["$filter"].strip()
    if "$select" in options:
        query.select = [s.strip() for s in options["$select"].split(",") if s.strip()]
    if options.get("$resultFormat") not in (None, "", "default"):
        raise StaError(400, "only the default $resultFormat is supported")
    if options.get("$expand", "").strip():
        query.expand = parse_expand(options["$expand"])
    return query


def parse_expand(text: str) -> dict[str, Query]:
    """``Datastream($expand=Thing;$select=name),FeatureOfInterest`` or ``Datastream/Thing`` as a tree."""
    tree: dict[str, Query] = {}
    for item in split_top(text, ","):
        head, _, inner = item.partition("(")
        if inner and not inner.endswith(")"):
            raise StaError(400, f"malformed $expand item {item!r}")
        path = [p.strip() for p in head.split("/")]
        options: dict[str, str] = {}
        for option in split_top(inner[:-1], ";") if inner else []:
            key, eq, value = option.partition("=")
            if not eq:
                raise StaError(400, f"malformed option {option!r} in $expand")
            options[key.strip()] = value.strip()
        leaf = parse_query(options)
        node = tree
        for name in path[:-1]:
            node = node.setdefault(name, Query()).expand
        if path[-1] in node:
            node[path[-1]].expand.update(leaf.expand)
        else:
            node[path[-1]] = leaf
    return tree


def _non_negative(text: str, name: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise StaError(400, f"{name} must be a non-negative integer, not {text!r}") from None
    if value < 0:
        raise StaError(400, f"{name} must be a non-negative integer, not {text!r}")
    return value


def parse_time(text: str) -> float:
    """An ISO 8601 date-time with a zone as POSIX seconds (StaError 400 otherwise)."""
    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise StaError(400, f"not an ISO 8601 date-time: {text!r}") from None
    if moment.tzinfo is None:
        raise StaError(400, f"a date-time in $filter needs a time zone: {text!r}")
    return moment.timestamp()


@dataclass
class ObservationFilter:
    """Whole-second bounds (inclusive) and a datastream restriction from a $filter."""

    low: float = -math.inf
    high: float = math.inf
    datastream: int | None = None


def parse_observation_filter(text: str | None) -> ObservationFilter:
    """The bounds of an Observations $filter; StaError(400) for anything outside the supported subset."""
    found = ObservationFilter()
    if not text:
        return found
    for clause in re.split(r"\s+and\s+", text.strip(), flags=re.IGNORECASE):
        # Grouping parentheses change nothing in a conjunction; dates never contain any.
        clause = clause.strip().strip("()").strip()
        time_match = _TIME_CLAUSE.match(clause)
        if time_match:
            op, when = time_match.group(2).lower(), parse_time(time_match.group(3))
            # Readings fall on whole seconds: strict bounds become inclusive ones.
            if op in ("gt", "ge", "eq"):
                found.low = max(found.low, math.floor(when) + 1 if op == "gt" else math.ceil(when))
            if op in ("lt", "le", "eq"):
                found.high = min(found.high, math.ceil(when) - 1 if op == "lt" else math.floor(when))
            continue
        ds_match = _DATASTREAM_CLAUSE.match(clause)
        if ds_match:
            found.datastream = int(ds_match.group(1))
            continue
        raise StaError(400, f"unsupported $filter clause {clause!r}: the demo server filters "
                            "Observations on phenomenonTime/resultTime and Datastream/@iot.id")
    return found


# -- the service ---------------------------------------------------------------------------------------
class SensorThingsService:
    """Answers SensorThings requests over a :class:`WaterNetwork` at a given time."""

    def __init__(self, network: WaterNetwork) -> None:
        self.network = network
        self._streams_of_sensor: dict[int, list[int]] = {}
        for d in network.datastreams:
            self._streams_of_sensor.setdefault(d.sensor, []).append(d.index)

    # -- entry point ---------------------------------------------------------------------------
    def handle(self, root: str, path: str, query_string: str, now: float) -> tuple[int, bytes]:
        """(HTTP status, JSON body) for ``path`` (below the service root) and its query string."""
        try:
            options = dict(parse_qsl(query_string, keep_blank_values=True))
            document = _Request(self, root.rstrip("/"), float(now), options).resolve(path)
            return 200, json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()
        except StaError as exc:
            body = {"code": exc.status, "type": "error", "message": exc.message}
            return exc.status, json.dumps(body).encode()

    # -- ids ------------------------------------------------------------------------------------
    def count(self, kind: str) -> int:
        """How many entities of ``kind`` exist (Observations are counted by a query)."""
        net = self.network
        places = len(net.sensors)
        return {"Thing": places, "Location": places, "FeatureOfInterest": places,
                "Datastream": len(net.datastreams), "Sensor": len(SENSOR_KINDS),
                "ObservedProperty": len(PROPERTIES), "HistoricalLocation": 0}[kind]

    def streams_of_sensor(self, sensor: int) -> list[int]:
        """Datastream indexes of a sensor."""
        return self._streams_of_sensor.get(sensor, [])

    # -- observations: counting readings on their fixed periods ----------------------------------
    def window(self, now: float) -> tuple[int, int]:
        """The inclusive whole-second span of existing readings at ``now``."""
        return math.ceil(now - RETENTION_S), math.floor(now)

    def counts(self, ds: np.ndarray, low: int, high: int) -> np.ndarray:
        """Readings of each datastream in [low, high] (inclusive, whole seconds)."""
        period, offset = self.network.ds_period[ds], self.network.ds_offset[ds]
        last = (high - offset) // period
        first = -((offset - low) // period)
        return np.maximum(last - first + 1, 0)

    def enumerate(self, ds: np.ndarray, low: int, high: int) -> tuple[np.ndarray, np.ndarray]:
        """(datastream, time) of every reading in [low, high], ordered by time then datastream."""
        period, offset = self.network.ds_period[ds], self.network.ds_offset[ds]
        m = self.counts(ds, low, high)
        first = low + np.mod(offset - low, period)
        total = int(m.sum())
        rep_ds = np.repeat(ds, m)
        k = np.arange(total) - np.repeat(np.cumsum(m) - m, m)
        times = np.repeat(first, m) + k * np.repeat(period, m)
        order = np.lexsort((rep_ds, times))
        return rep_ds[order], times[order]

    def page(self, ds: np.ndarray, low: int, high: int, skip: int, top: int,
             descending: bool) -> tuple[np.ndarray, np.ndarray, int]:
        """(datastreams, times, total) of the readings ranked skip..skip+top in [low, high]."""
        total = int(self.counts(ds, low, high).sum()) if high >= low else 0
        if skip >= total or top == 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), total
        end = min(skip + top, total)
        if descending:
            # Rank from the newest end: newer(t) readings lie in [t, high], fewer as t grows.
            def newer(t: int) -> int:
                return int(self.counts(ds, t, high).sum())
            stop_t = _search(low, high, lambda t: newer(t) >= skip + 1, last_true=True)
            start_t = _search(low, high, lambda t: newer(t) >= end, last_true=True)
            before = int(self.counts(ds, stop_t + 1, high).sum())
            got_ds, got_t = self.enumerate(ds, start_t, stop_t)
            got_ds, got_t = got_ds[::-1], got_t[::-1]
        else:
            def older(t: int) -> int:
                return int(self.counts(ds, low, t).sum())
            start_t = _search(low, high, lambda t: older(t) >= skip + 1, last_true=False)
            stop_t = _search(low, high, lambda t: older(t) >= end, last_true=False)
            before = int(self.counts(ds, low, start_t - 1).sum())
            got_ds, got_t = self.enumerate(ds, start_t, stop_t)
        cut = skip - before
        return got_ds[cut:cut + end - skip], got_t[cut:cut + end - skip], total


def _search(low: int, high: int, test: Any, last_true: bool) -> int:
    """The first t in [low, high] where the monotone ``test`` holds (or the last one, ``last_true``)."""
    lo, hi = low, high
    if last_true:  # test holds on [low, x], fails after: find x
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if test(mid):
                lo = mid
            else:
                hi = mid - 1
        return lo
    while lo < hi:  # test fails on [low, x), holds after: find x
        mid = (lo + hi) // 2
        if test(mid):
            hi = mid
        else:
            lo = mid + 1
    return lo


class _Request:
    """One request: resolves the path and renders entities with the request's options."""

    def __init__(self, service: SensorThingsService, root: str, now: float, options: dict[str, str]) -> None:
        self.service, self.root, self.now, self.options = service, root, now, options
        self.net = service.network
        self._datastream_cache: dict[tuple[int, int], dict[str, Any]] = {}
        self._bodies = {"Thing": self._thing, "Location": self._location, "Datastream": self._datastream,
                        "Sensor": self._sensor, "ObservedProperty": self._observed_property,
                        "FeatureOfInterest": self._feature_of_interest,
                        "HistoricalLocation": self._historical_location}

    def link(self, kind: str, entity_id: int, nav: str | None = None) -> str:
        """The absolute URL of an entity (or of one of its navigation properties)."""
        url = f"{self.root}/{SET_OF[kind]}({entity_id})"
        return f"{url}/{nav}" if nav else url

    # -- paths ---------------------------------------------------------------------------------
    def resolve(self, path: str) -> dict[str, Any]:
        """The JSON document of a resource path (StaError for what is not there or not supported)."""
        if path in ("", "/"):
            return {"value": [{"name": name, "url": f"{self.root}/{name}"} for name in SETS],
                    "serverSettings": {"conformance": list(CONFORMANCE)}}
        match = _PATH.match(path)
        if match is None or match.group(1) not in SETS:
            raise StaError(404, f"no such resource: {path}")
        kind = SETS[match.group(1)]
        query = parse_query(self.options)
        if match.group(2) is None:
            if match.group(3):
                raise StaError(404, f"no such resource: {path}")
            if kind == "Observation":
                return self.observations(None, query, f"{self.root}/Observations")
            return self.collection(kind, list(range(1, self.service.count(kind) + 1)), query,
                                   f"{self.root}/{match.group(1)}")
        entity_id = self.entity_id(kind, match.group(2))
        nav = match.group(3)
        if nav is None:
            return self.entity(kind, entity_id, query.expand, query.select)
        if nav not in NAVIGATION[kind]:
            raise StaError(404, f"{kind} has no navigation property {nav}")
        target, many = NAVIGATION[kind][nav]
        url = self.link(kind, entity_id, nav)
        if target == "Observation":
            return self.observations(self.streams_for(kind, entity_id), query, url)
        related = self.related(kind, entity_id, nav)
        if many:
            return self.collection(target, related, query, url)
        return self.entity(target, related[0], query.expand, query.select)

    def entity_id(self, kind: str, text: str) -> int:
        """The id in ``Set(id)`` if such an entity exists, else StaError(404)."""
        try:
            entity_id = int(text.strip("'"))
        except ValueError:
            raise StaError(404, f"no {kind} with id {text}") from None
        if kind == "Observation":
            if self.observation_key(entity_id) is None:
                raise StaError(404, f"no Observation with id {entity_id}")
        elif not 1 <= entity_id <= self.service.count(kind):
            raise StaError(404, f"no {kind} with id {entity_id}")
        return entity_id

    def observation_key(self, entity_id: int) -> tuple[int, int] | None:
        """(datastream index, time) of an observation id, or None when no such reading exists."""
        when, ds = divmod(entity_id, OBSERVATION_ID_BASE)
        ds -= 1
        low, high = self.service.window(self.now)
        if not 0 <= ds < len(self.net.datastreams) or not low <= when <= high:
            return None
        if (when - self.net.ds_offset[ds]) % self.net.ds_period[ds]:
            return None
        return ds, when

    def related(self, kind: str, entity_id: int, nav: str) -> list[int]:
        """Ids of what a navigation property of an entity points to (never Observations)."""
        net = self.net
        if kind in ("Thing", "Location", "FeatureOfInterest") and nav in ("Locations", "Things"):
            return [entity_id]
        if nav == "HistoricalLocations":
            return []
        if kind == "Thing" and nav == "Datastreams":
            return [d + 1 for d in self.service.streams_of_sensor(entity_id - 1)]
        if kind == "Datastream":
            d = net.datastreams[entity_id - 1]
            return {"Thing": [d.sensor + 1], "Sensor": [SENSOR_KINDS.index(net.sensors[d.sensor].kind) + 1],
                    "ObservedProperty": [PROPERTY_OF_MEASUREMENT[d.measurement]]}[nav]
        if kind == "Sensor":
            wanted = SENSOR_KINDS[entity_id - 1]
            return [d.index + 1 for d in net.datastreams if net.sensors[d.sensor].kind == wanted]
        if kind == "ObservedProperty":
            return [d.index + 1 for d in net.datastreams
                    if PROPERTY_OF_MEASUREMENT[d.measurement] == entity_id]
        if kind == "Observation":
            key = self.observation_key(entity_id)
            assert key is not None  # checked when the id was read
            return [key[0] + 1] if nav == "Datastream" else [net.datastreams[key[0]].sensor + 1]
        raise StaError(404, f"{kind} has no navigation property {nav}")

    def streams_for(self, kind: str, entity_id: int) -> np.ndarray:
        """Datastream indexes whose Observations a Datastream or FeatureOfInterest lists."""
        if kind == "Datastream":
            return np.array([entity_id - 1], dtype=np.int64)
        return np.array(self.service.streams_of_sensor(entity_id - 1), dtype=np.int64)

    # -- collections ---------------------------------------------------------------------------
    def collection(self, kind: str, ids: list[int], query: Query, url: str | None) -> dict[str, Any]:
        """A page of a finite entity set."""
        if query.filter:
            raise StaError(400, f"$filter is supported on Observations only, not on {SET_OF[kind]}")
        if not query.order_by_id:
            raise StaError(400, f"{SET_OF[kind]} are ordered by @iot.id only")
        ordered = ids[::-1] if query.descending else ids
        top = DEFAULT_TOP if query.top is None else query.top
        chosen = ordered[query.skip:query.skip + top]
        document: dict[str, Any] = {}
        if query.count:
            document["@iot.count"] = len(ids)
        if url is not None and query.skip + top < len(ids):
            document["@iot.nextLink"] = self.next_link(url, query.skip + top, top)
        document["value"] = [self.entity(kind, k, query.expand, query.select) for k in chosen]
        return document

    def observations(self, ds: np.ndarray | None, query: Query, url: str | None) -> dict[str, Any]:
        """A page of Observations of ``ds`` (all datastreams when None), ordered by time."""
        bounds = parse_observation_filter(query.filter)
        streams = np.arange(len(self.net.datastreams), dtype=np.int64) if ds is None else ds
        if bounds.datastream is not None:
            streams = streams[streams == bounds.datastream - 1]
        low, high = self.service.window(self.now)
        low, high = int(max(low, bounds.low)), int(min(high, bounds.high))
        top = DEFAULT_TOP if query.top is None else query.top
        got_ds, got_t, total = self.service.page(streams, low, high, query.skip, top, query.descending)
        values = self.net.values(got_ds, got_t)
        document: dict[str, Any] = {}
        if query.count:
            document["@iot.count"] = total
        if url is not None and query.skip + top < total:
            document["@iot.nextLink"] = self.next_link(url, query.skip + top, top)
        rows = zip(got_ds.tolist(), got_t.tolist(), values.tolist(), strict=True)
        document["value"] = [self.observation(d, t, v, query.expand, query.select) for d, t, v in rows]
        return document

    def next_link(self, url: str, skip: int, top: int) -> str:
        """The URL of the next page: the same options with $skip moved on."""
        options = {k: v for k, v in self.options.items() if k not in ("$skip", "$top")}
        options.update({"$top": str(top), "$skip": str(skip)})
        return f"{url}?{urlencode(options, quote_via=quote, safe='$/,:()')}"

    # -- entities -----------------------------------------------------------------------------
    def entity(self, kind: str, entity_id: int, expand: dict[str, Query],
               select: list[str] | None) -> dict[str, Any]:
        """One entity with its navigation links, expanded properties and $select applied."""
        if kind == "Observation":
            key = self.observation_key(entity_id)
            if key is None:
                raise StaError(404, f"no Observation with id {entity_id}")
            value = float(self.net.values(np.array([key[0]]), np.array([key[1]]))[0])
            return self.observation(key[0], key[1], value, expand, select)
        body = self._bodies[kind](entity_id)
        document = {"@iot.id": entity_id, "@iot.selfLink": self.link(kind, entity_id), **body}
        for nav in NAVIGATION[kind]:
            document[f"{nav}@iot.navigationLink"] = self.link(kind, entity_id, nav)
        document = _select(document, select)
        self.expand_into(document, kind, entity_id, expand)
        return document

    def expand_into(self, document: dict[str, Any], kind: str, entity_id: int,
                    expand: dict[str, Query]) -> None:
        """Embed the expanded navigation properties of an entity."""
        for nav, sub in expand.items():
            if nav not in NAVIGATION[kind]:
                raise StaError(400, f"{kind} has no navigation property {nav} to expand")
            target, many = NAVIGATION[kind][nav]
            if target == "Observation":
                page = self.observations(self.streams_for(kind, entity_id), sub, None)
                document[nav] = page["value"]
                continue
            related = self.related(kind, entity_id, nav)
            if many:
                document[nav] = self.collection(target, related, sub, None)["value"]
            else:
                document[nav] = self.entity(target, related[0], sub.expand, sub.select)

    def observation(self, ds: int, when: int, value: float, expand: dict[str, Query],
                    select: list[str] | None) -> dict[str, Any]:
        """One Observation (a reading of datastream index ``ds`` at ``when``)."""
        entity_id = when * OBSERVATION_ID_BASE + ds + 1
        stamp = iso_utc(when, millis=True)
        document: dict[str, Any] = {
            "@iot.id": entity_id, "@iot.selfLink": self.link("Observation", entity_id),
            "phenomenonTime": stamp, "resultTime": stamp, "result": value,
            "Datastream@iot.navigationLink": self.link("Observation", entity_id, "Datastream"),
            "FeatureOfInterest@iot.navigationLink": self.link("Observation", entity_id, "FeatureOfInterest"),
        }
        document = _select(document, select)
        for nav, sub in expand.items():
            if nav == "Datastream":
                key = (ds, id(sub))
                if key not in self._datastream_cache:  # one rendering per datastream per page
                    self._datastream_cache[key] = self.entity("Datastream", ds + 1, sub.expand, sub.select)
                document[nav] = self._datastream_cache[key]
            elif nav == "FeatureOfInterest":
                sensor = self.net.datastreams[ds].sensor
                document[nav] = self.entity("FeatureOfInterest", sensor + 1, sub.expand, sub.select)
            else:
                raise StaError(400, f"Observation has no navigation property {nav} to expand")
        return document

    def _point(self, sensor: int) -> dict[str, Any]:
        s = self.net.sensors[sensor]
        return {"type": "Point", "coordinates": [s.lon, s.lat]}

    def _thing(self, entity_id: int) -> dict[str, Any]:
        s = self.net.sensors[entity_id - 1]
        zone = self.net.zones[s.zone] if s.zone >= 0 else None
        properties: dict[str, Any] = {"sensorId": s.id, "kind": s.kind}
        if zone is not None:
            properties.update({"supplyZone": zone.code, "district": zone.district.name})
        return {"name": s.name, "description": f"{KIND_LABELS[s.kind].capitalize()} {s.id}",
                "properties": properties}

    def _location(self, entity_id: int) -> dict[str, Any]:
        s = self.net.sensors[entity_id - 1]
        return {"name": f"{s.id} site", "description": f"Where {s.name} is installed",
                "encodingType": GEOJSON, "location": self._point(entity_id - 1)}

    def _feature_of_interest(self, entity_id: int) -> dict[str, Any]:
        s = self.net.sensors[entity_id - 1]
        return {"name": f"Water at {s.id}", "description": f"The water measured by {s.name}",
                "encodingType": GEOJSON, "feature": self._point(entity_id - 1)}

    def _historical_location(self, entity_id: int) -> dict[str, Any]:
        raise StaError(404, f"no HistoricalLocation with id {entity_id}")

    def _sensor(self, entity_id: int) -> dict[str, Any]:
        kind = SENSOR_KINDS[entity_id - 1]
        label = KIND_LABELS[kind]
        return {"name": label.capitalize(), "description": f"The demo city's {label}s",
                "encodingType": "text/html", "metadata": f"{DEFINITIONS}/sensor/{kind}"}

    def _observed_property(self, entity_id: int) -> dict[str, Any]:
        slug, name, description = PROPERTIES[entity_id - 1]
        return {"name": name, "definition": f"{DEFINITIONS}/observedProperty/{slug}",
                "description": description}

    def _datastream(self, entity_id: int) -> dict[str, Any]:
        d = self.net.datastreams[entity_id - 1]
        s = self.net.sensors[d.sensor]
        m = MEASUREMENTS[d.measurement]
        low, high = self.service.window(self.now)
        first = low + (d.offset_s - low) % d.period_s
        last = high - (high - d.offset_s) % d.period_s
        span = f"{iso_utc(first, millis=True)}/{iso_utc(last, millis=True)}"
        properties: dict[str, Any] = {"measurement": m.name, "reportingIntervalSeconds": d.period_s}
        if s.zone >= 0:
            properties["supplyZone"] = self.net.zones[s.zone].code
        return {"name": f"{s.id} {m.label}", "description": f"{m.label} measured by {s.name}",
                "observationType": OM_MEASUREMENT,
                "unitOfMeasurement": {"name": m.unit_name, "symbol": m.unit,
                                      "definition": unit_definition(m.unit)},
                "observedArea": self._point(d.sensor), "phenomenonTime": span, "resultTime": span,
                "properties": properties}


def unit_definition(symbol: str) -> str:
    """The definition URI of a unit: its UCUM code ("ucum:m3/h", as FROST servers write it).

    UCUM has no turbidity unit, so NTU points at the standard that defines it (ISO 7027-1).
    """
    if symbol == "NTU":
        return "https://www.iso.org/standard/62801.html"
    return f"ucum:{symbol}"


def _select(document: dict[str, Any], select: list[str] | None) -> dict[str, Any]:
    """Only the $select-ed properties (``id`` selects ``@iot.id``); everything without $select."""
    if not select:
        return document
    wanted = set(select) | ({"@iot.id"} if "id" in select else set())
    return {k: v for k, v in document.items() if k in wanted}
