"""Finding a place of the city by name or by position: for raising an incident without coordinates.

The places are the city's transit stops, hospitals, water sensors and reservoirs (the live store)
and its named streets and districts (the offline basemap, assets/basemap/). Searching is a
substring match over names folded for comparison (NFKC, case-folded), every word of the query
has to occur; a name starting with the query ranks first, then a word of it starting so, then
the rest, shorter names first. At most ``MAX_RESULTS`` come back.

Cost: reading a domain's entities is the costly step (HVALS and JSON), so each process keeps an
index per domain and rebuilds it only when the domain's version moved and either its number of
entities changed or the index is older than ``REFRESH_S`` (vehicles move every few seconds; stops
and hospitals hardly ever change). A search
is then a pass over the folded names: about 10 ms at 20,000 places (tests/integration/
test_places.py measures it).

Names come from feeds and are untrusted: they are returned as sent (cut to ``MAX_NAME``) and the
page shows them as text; anything putting them into markup (plotly's hover labels) escapes them.
"""

from __future__ import annotations

import math
import threading
import time
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import orjson
import redis

from app import i18n, store
from app.model.geo import EARTH_RADIUS_M, area_center
from app.situation.linkage import _distances
from app.situation.linkage import _name as entity_name
from app.situation.report.map_layers import default_basemap_dir

MAX_RESULTS = 10
MAX_QUERY = 80  # characters of a query looked at (a longer one is cut, not refused)
MAX_NAME = 120  # characters of a name kept (a feed may send a page of text as a name)
REFRESH_S = 60.0
NEAR_PLACE_M = 250.0  # a click this close to a stop or hospital is "near" it
NEAR_STREET_M = 80.0  # and this close to a street's line, near the street
# The kinds of place per domain of the live store (vehicles and requests are not places).
DOMAIN_KINDS: dict[str, tuple[str, ...]] = {
    "transport": ("stop",), "medical": ("hospital",), "water": ("reservoir", "sensor")}
# The order of kinds among results of the same rank: what an operator names a place by first.
KIND_ORDER: tuple[str, ...] = ("stop", "hospital", "street", "district", "reservoir", "sensor")
BASEMAP_KINDS = ("street", "district")


@dataclass(frozen=True)
class Place:
    """A named place: its kind (``KIND_ORDER``), its name as sent, names in other languages
    (language -> name) and its position."""

    kind: str
    name: str
    lat: float
    lon: float
    local: tuple[tuple[str, str], ...] = ()

    def name_in(self, lang: str) -> str:
        """The name in ``lang`` when the source gives one, else as sent."""
        return dict(self.local).get(lang, self.name)


@dataclass(frozen=True)
class Found:
    """A place as the reader sees it: its name in the reader's language, its kind in words, its
    position (and how far it is from a clicked point, for ``nearest``)."""

    kind: str
    kind_words: str
    name: str
    lat: float
    lon: float
    distance_m: float | None = None

    def as_json(self) -> dict[str, Any]:
        """A plain dict (a page keeps the results in a store)."""
        return {"kind": self.kind, "kind_words": self.kind_words, "name": self.name,
                "lat": self.lat, "lon": self.lon, "distance_m": self.distance_m}


# One place as searched: every name folded and joined by a newline, the same with a space in front
# of each name (a word start is " " + word), the kind's rank, the name's length, the place.
_Row = tuple[str, str, int, int, "Place"]


@dataclass(frozen=True)
class _Index:
    places: tuple[Place, ...]
    rows: tuple[_Row, ...]
    version: int
    built_at: float
    count: int  # the domain's entities (vehicles too) when it was built


_indexes: dict[tuple[Any, str], _Index] = {}
_lock = threading.Lock()


def fold(text: str) -> str:
    """Text as names are compared: NFKC (full-width letters become ASCII), case-folded, spaces
    collapsed."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def _clean(text: Any) -> str:
    """A name as kept: control characters dropped (they only garble a line), cut to MAX_NAME."""
    return "".join(c for c in str(text) if unicodedata.category(c)[0] != "C")[:MAX_NAME].strip()


def _entity_place(record: Mapping[str, Any]) -> Place | None:
    lat, lon = record.get("lat"), record.get("lon")
    if not isinstance(lat, (int, float)) or not isinstance(lon, (int, float)):
        return None
    if not (math.isfinite(lat) and math.isfinite(lon)):
        return None
    attrs = record.get("attrs") or {}
    # A feed may name a place in several languages as name_<lang> (name_zh).
    local = tuple((lang, _clean(attrs[f"name_{lang}"])) for lang in i18n.LANGUAGES
                  if isinstance(attrs.get(f"name_{lang}"), str) and attrs[f"name_{lang}"].strip())
    name = _clean(entity_name(record, str(record.get("id", ""))))
    return Place(str(record.get("kind")), name, float(lat), float(lon), local) if name else None


def _server(r: redis.Redis) -> Any:
    """Which server an index belongs to (tests and tools talk to more than one)."""
    pool = getattr(r, "connection_pool", None)
    kwargs = getattr(pool, "connection_kwargs", {}) or {}
    return (kwargs.get("host"), kwargs.get("port"), kwargs.get("path"), kwargs.get("db"))


def _domain_index(r: redis.Redis, domain: str, version: int, now: float) -> _Index:
    key = (_server(r), domain)
    index = _indexes.get(key)
    if index is not None and index.version == version:
        return index
    # Moved on: vehicles move every few seconds, so a recent index stays unless the domain gained
    # or lost something (a new stop is found at once; a renamed one within REFRESH_S).
    count = store.entities.count(r, domain)
    if (index is not None and index.version < version and now - index.built_at < REFRESH_S
            and index.count == count):
        return index
    with _lock:
        kinds = DOMAIN_KINDS[domain]
        places = [place for record in store.entities.read_entities(r, domain)
                  if record.get("kind") in kinds and (place := _entity_place(record)) is not None]
        index = _Index(tuple(places), _rows(places), version, now, count)
        _indexes[key] = index
    return index


def _rows(places: Sequence[Place]) -> tuple[_Row, ...]:
    """The search's rows, worked out once per index so a search only compares."""
    rows = []
    for place in places:
        names = "\n".join(fold(n) for n in (place.name, *(name for _, name in place.local)))
        kind = KIND_ORDER.index(place.kind) if place.kind in KIND_ORDER else len(KIND_ORDER)
        rows.append((names, " " + names.replace("\n", " "), kind, len(place.name), place))
    # In the order results of one rank are listed: a search then keeps the first few it meets.
    return tuple(sorted(rows, key=lambda row: row[2:4] + row[:1]))


# -- the basemap: streets and districts -----------------------------------------------------------
@dataclass(frozen=True)
class _Basemap:
    places: tuple[Place, ...]
    rows: tuple[_Row, ...]
    # every street segment (start and end, lat and lon) and the place it belongs to
    segments: np.ndarray  # float64 (n, 4): lat1, lon1, lat2, lon2
    segment_place: np.ndarray  # int: index into places


@lru_cache(maxsize=4)
def _basemap(folder: Path, _stamp: float) -> _Basemap:
    """Streets (a point at the middle of each named road) and districts (their middle) of the
    basemap's GeoJSON files; ``_stamp`` (the folder's newest change) renews the cache."""
    places: list[Place] = []
    segments: list[tuple[float, float, float, float]] = []
    owners: list[int] = []
    for path in sorted(folder.glob("*.geojson")):
        try:
            features = orjson.loads(path.read_bytes()).get("features") or []
        except (OSError, orjson.JSONDecodeError, AttributeError):
            continue  # an unreadable file names no place; the live places still do
        for feature in features:
            place, line = _basemap_place(feature)
            if place is None:
                continue
            for (lon1, lat1), (lon2, lat2) in zip(line, line[1:], strict=False):
                segments.append((lat1, lon1, lat2, lon2))
                owners.append(len(places))
            places.append(place)
    return _Basemap(tuple(places), _rows(places),
                    np.array(segments, dtype=np.float64).reshape(-1, 4),
                    np.array(owners, dtype=np.int64))


def _basemap_place(feature: Any) -> tuple[Place | None, list[list[float]]]:
    """A named road's or district's place, and the road's line (empty for a district)."""
    if not isinstance(feature, dict):
        return None, []
    props, geometry = feature.get("properties") or {}, feature.get("geometry") or {}
    name = _clean(props.get("name") or "") if isinstance(props, dict) else ""
    if not name or not isinstance(geometry, dict):
        return None, []
    local = tuple((lang, _clean(props[f"name_{lang}"])) for lang in i18n.LANGUAGES
                  if isinstance(props.get(f"name_{lang}"), str))
    try:
        if props.get("layer") == "road" and geometry.get("type") == "LineString":
            line = [[float(p[0]), float(p[1])] for p in geometry["coordinates"]]
            lon, lat = line[len(line) // 2]
            return Place("street", name, lat, lon, local), line
        if props.get("layer") == "district":
            centre = area_center(geometry)
            if centre is not None:
                return Place("district", name, centre[0], centre[1], local), []
    except (TypeError, ValueError, IndexError, KeyError):
        pass  # a malformed shape names no place
    return None, []


def _basemap_now() -> _Basemap:
    folder = default_basemap_dir()
    try:
        stamp = max((p.stat().st_mtime for p in folder.glob("*.geojson")), default=0.0)
    except OSError:
        stamp = 0.0
    return _basemap(folder, stamp)


# -- asking ------------------------------------------------------------------------------------------
def _indexes_now(r: redis.Redis) -> list[_Index | _Basemap]:
    """The live store's indexes (renewed as needed), then the basemap's."""
    now = time.time()
    versions = store.status.domain_versions(r)
    return [*(_domain_index(r, domain, versions.get(domain, (0, None))[0], now)
              for domain in DOMAIN_KINDS), _basemap_now()]


def _found(place: Place, lang: str, distance_m: float | None = None) -> Found:
    return Found(place.kind, i18n.t(f"place.kind.{place.kind}", lang), place.name_in(lang),
                 place.lat, place.lon, distance_m)


def search(r: redis.Redis, query: str, limit: int = MAX_RESULTS,
           lang: str | None = None) -> list[Found]:
    """The places whose name holds every word of ``query``, best first, at most ``limit``; none
    for a blank query. Names in the reader's language (``lang``, else the request's)."""
    lang = lang or i18n.current_language()
    terms = fold(str(query)[:MAX_QUERY]).split()
    if not terms or limit <= 0:
        return []
    whole = " ".join(terms)
    starts, word = "\n" + whole, " " + terms[0]
    # The longest word first: it rules out the most names with one comparison.
    first, *rest = sorted(terms, key=len, reverse=True)
    # Rows come in listing order, so each rank keeps the first few it meets (a query of one common
    # word matches thousands of stops: no sort of every match). Spare rows cover duplicates.
    keep = limit * 4
    ranks: tuple[list[_Row], list[_Row], list[_Row]] = ([], [], [])
    for index in _indexes_now(r):
        found: tuple[list[_Row], list[_Row], list[_Row]] = ([], [], [])
        for row in index.rows:
            names = row[0]
            if first not in names or not all(term in names for term in rest):
                continue
            rank = 0 if names.startswith(whole) or starts in names else 1 if word in row[1] else 2
            if len(found[rank]) < keep:
                found[rank].append(row)
                if rank == 0 and len(found[0]) == keep:
                    break  # nothing later in this index can come before these
        for mine, theirs in zip(ranks, found, strict=True):
            mine.extend(theirs)
    best = [row for rows in ranks for row in sorted(rows, key=lambda row: row[2:4] + row[:1])]
    results: list[Found] = []
    seen: set[tuple[str, str, float, float]] = set()
    for names, _, _, _, place in best:
        # Two platforms of one stop share a name a few metres apart, and a long street is several
        # lines of the basemap: one entry says each.
        same = (place.kind, names, 0.0, 0.0) if place.kind in BASEMAP_KINDS else (
            place.kind, names, round(place.lat, 3), round(place.lon, 3))
        if same in seen:
            continue
        seen.add(same)
        results.append(_found(place, lang))
        if len(results) >= limit:
            break
    return results


def nearest(r: redis.Redis, lat: float, lon: float, lang: str | None = None) -> Found | None:
    """The known place a clicked point is near: the closest stop, hospital, sensor or reservoir
    within ``NEAR_PLACE_M``, else the closest street within ``NEAR_STREET_M`` of its line; None
    when the point is near nothing named."""
    lang = lang or i18n.current_language()
    best: tuple[float, Place] | None = None
    for index in _indexes_now(r)[:-1]:
        places = index.places
        if not places:
            continue
        lats = np.fromiter((p.lat for p in places), np.float64, len(places))
        lons = np.fromiter((p.lon for p in places), np.float64, len(places))
        distances = _distances(lat, lon, lats, lons)
        i = int(np.argmin(distances))
        if distances[i] <= NEAR_PLACE_M and (best is None or distances[i] < best[0]):
            best = (float(distances[i]), places[i])
    if best is None:
        street = _nearest_street(lat, lon)
        if street is not None and street[0] <= NEAR_STREET_M:
            best = street
    return _found(best[1], lang, round(best[0], 1)) if best else None


def _nearest_street(lat: float, lon: float) -> tuple[float, Place] | None:
    """The street whose line passes closest to the point (a flat projection: streets are short)."""
    basemap = _basemap_now()
    if not len(basemap.segments):
        return None
    k = math.radians(1.0) * EARTH_RADIUS_M  # metres per degree of latitude
    kx = k * math.cos(math.radians(lat))
    seg = basemap.segments
    ay, ax = (seg[:, 0] - lat) * k, (seg[:, 1] - lon) * kx
    by, bx = (seg[:, 2] - lat) * k, (seg[:, 3] - lon) * kx
    dx, dy = bx - ax, by - ay
    length2 = np.maximum(dx * dx + dy * dy, 1e-9)
    # The segment's point closest to the origin (the clicked point), clamped to its ends.
    along = np.clip(-(ax * dx + ay * dy) / length2, 0.0, 1.0)
    distances = np.hypot(ax + along * dx, ay + along * dy)
    i = int(np.argmin(distances))
    return float(distances[i]), basemap.places[int(basemap.segment_place[i])]


def forget() -> None:
    """Drop every index this process holds (tests; a worker serving another installation)."""
    with _lock:
        _indexes.clear()
    _basemap.cache_clear()



def coordinates_words(lat: float, lon: float, lang: str | None = None) -> str:
    """A position as people read it: "28.5501° N, 112.3601° E" (four decimals: about 10 m)."""
    return i18n.t("place.coordinates", lang, lat=f"{abs(lat):.4f}", lon=f"{abs(lon):.4f}",
                  ns=i18n.t("place.north" if lat >= 0 else "place.south", lang),
                  ew=i18n.t("place.east" if lon >= 0 else "place.west", lang))
