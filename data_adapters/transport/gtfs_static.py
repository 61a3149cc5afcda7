"""GTFS static (schedule) zip bytes to stop and route Entities (pure; pandas).

Reads stops.txt and routes.txt (at least one is needed), and, when present, trips.txt and
shapes.txt for each route's representative shape and stop_times.txt for its stop count. Columns
are found by header name (feeds order them differently and add their own); every value is read as
text and converted here, so "NA" stays a stop code and "0001" an id.
"""

from __future__ import annotations

import heapq
import io
import math
import re
import zipfile
import zlib
from dataclasses import dataclass, field
from typing import Any, Iterator

import numpy as np
import pandas as pd

from app.model.geo import valid_position
from app.model.records import Entity, FeedHeader, ParseItem, Rejected
from data_adapters.base import ParseError, check_size

DOMAIN = "transport"
MAX_SHAPE_POINTS = 500
# stop_times.txt only feeds a nice-to-have count; past this size (uncompressed) it is skipped.
STOP_TIMES_LIMIT_BYTES = 64 * 1024 * 1024
# A member larger than this (uncompressed) is refused rather than inflated into memory.
MEMBER_LIMIT_BYTES = 1024 * 1024 * 1024
# CSV deflates about 5 to 20 times; a member past this ratio (and past the floor, so that tiny
# files of repeated lines pass) is a zip bomb: a few KB that would inflate to gigabytes.
MAX_COMPRESSION_RATIO = 100
RATIO_FLOOR_BYTES = 1024 * 1024
# Stored and deflated members only: zipfile inflates bzip2 and LZMA in unbounded steps, and
# cannot read Deflate64 at all.
_READABLE_METHODS = {zipfile.ZIP_STORED: "stored", zipfile.ZIP_DEFLATED: "deflated"}
_HEX_COLOR = re.compile(r"[0-9A-Fa-f]{6}")
# GTFS stops.txt: stop_lat/stop_lon are required for stops, stations and entrances (0, 1, 2) and
# optional for generic nodes (3) and boarding areas (4); those without one are kept unlocated.
UNPLACED_TYPES = frozenset({3, 4})


@dataclass
class _Table:
    """One CSV member: its rows as text (missing cells are ""), and the lines pandas refused."""

    name: str
    frame: pd.DataFrame
    bad_lines: list[list[str]] = field(default_factory=list)

    def column(self, name: str) -> list[str]:
        """The stripped values of a column, or "" for each row when the feed has no such column."""
        if name not in self.frame.columns:
            return [""] * len(self.frame)
        return [value.strip() for value in self.frame[name].tolist()]


def parse_gtfs_zip(data: bytes, feed: str, fetched_at: float, *,
                   id_prefix: str | None = None) -> Iterator[ParseItem]:
    """Yield a FeedHeader, then stop and route Entities (and Rejected rows) of a GTFS zip.

    ``id_prefix`` (default: ``feed``) starts every id, as in parse_feed_message. Raises
    ParseError when the payload is not a zip, or has neither a readable stops.txt nor a readable
    routes.txt.
    """
    archive = _open_zip(data)
    members = _members(archive)
    if "stops.txt" not in members and "routes.txt" not in members:
        raise ParseError("GTFS zip has neither stops.txt nor routes.txt", ", ".join(archive.namelist()))
    problems: list[Rejected] = []
    stops = _read_member(archive, members, "stops.txt", problems, strict=True)
    routes = _read_member(archive, members, "routes.txt", problems, strict=True)
    if stops is None and routes is None:
        detail = "; ".join(problem.reason for problem in problems)
        raise ParseError(f"GTFS zip has no readable stops.txt or routes.txt: {detail}", data[:256])
    prefix = id_prefix or feed
    stop_list = list(stop_items(stops, prefix, feed, fetched_at)) if stops is not None else []
    route_list: list[Entity | Rejected] = []
    if routes is not None:
        route_list = list(route_items(routes, prefix, feed, fetched_at,
                                      *_route_extras(archive, members)))
    # A full dataset retires what it does not list: a table none of whose rows is usable (say
    # ";"-separated, so no stop_id column) must not empty the map of that feed's stops.
    replaces = tuple(kind for kind, items in (("stop", stop_list), ("route", route_list))
                     if any(isinstance(item, Entity) for item in items))
    if not replaces:
        reasons = [item.reason for item in [*problems, *stop_list, *route_list]
                   if isinstance(item, Rejected)]
        raise ParseError(f"GTFS zip has no usable stop or route: {'; '.join(reasons[:3])}",
                         data[:256])
    yield FeedHeader(None, full_dataset=True, replaces=replaces)
    yield from problems
    yield from stop_list
    yield from route_list


# -- reading the archive ----------------------------------------------------------------------------
def _open_zip(data: bytes) -> zipfile.ZipFile:
    """The archive, or ParseError when the bytes are not a zip."""
    check_size(data)
    try:
        return zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError, NotImplementedError) as exc:  # "zip file version 8.4"
        raise ParseError(f"not a zip archive: {exc}", data) from exc


def _members(archive: zipfile.ZipFile) -> dict[str, zipfile.ZipInfo]:
    """GTFS file name (lower case) -> member; files zipped inside a folder count, the shallowest wins."""
    found: dict[str, zipfile.ZipInfo] = {}
    for info in sorted(archive.infolist(), key=lambda i: i.filename.count("/")):
        # A central directory entry may name no file at all (found by fuzzing): ZipInfo.is_dir()
        # would raise IndexError on it, and it names no GTFS file anyway.
        if not info.filename or info.is_dir() or info.filename.startswith("__MACOSX/"):
            continue
        found.setdefault(info.filename.rsplit("/", 1)[-1].lower(), info)
    return found


def _read_member(archive: zipfile.ZipFile, members: dict[str, zipfile.ZipInfo], name: str,
                 problems: list[Rejected], *, strict: bool = False,
                 columns: tuple[str, ...] | None = None) -> _Table | None:
    """One CSV member as text columns, or None (with a Rejected in ``problems``) when unusable.

    ``strict`` reads row by row so that each malformed line is reported (stops, routes); the
    supporting files are read by the fast C parser, which skips such lines.
    """
    info = members.get(name)
    if info is None:
        return None
    refusal = _refusal(info)
    if refusal is not None:
        problems.append(Rejected.of(f"{name}: {refusal}", ""))
        return None
    bad_lines: list[list[str]] = []
    wanted = set(columns) if columns else None
    try:
        raw = archive.read(info)
        frame = pd.read_csv(io.BytesIO(raw), dtype=str, keep_default_na=False, na_filter=False,
                            encoding="utf-8-sig", encoding_errors="replace", skip_blank_lines=True,
                            engine="python" if strict else "c",
                            on_bad_lines=bad_lines.append if strict else "skip",
                            usecols=(lambda c: c.strip() in wanted) if wanted else None)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError, zipfile.BadZipFile,
            zlib.error, NotImplementedError, OSError, EOFError) as exc:
        problems.append(Rejected.of(f"{name}: unreadable ({exc})", _head(archive, info)))
        return None
    frame.columns = [str(c).strip() for c in frame.columns]
    # "stop_id, stop_id " names one column twice once stripped: the first one is read.
    frame = frame.loc[:, ~frame.columns.duplicated()]
    return _Table(name, frame.fillna(""), bad_lines)


def _refusal(info: zipfile.ZipInfo) -> str | None:
    """Why a member is not inflated (size, ratio, encryption, compression method), or None."""
    if info.file_size > MEMBER_LIMIT_BYTES:
        return f"{info.file_size} bytes uncompressed, over the limit of {MEMBER_LIMIT_BYTES}"
    if (info.file_size > RATIO_FLOOR_BYTES
            and info.file_size > MAX_COMPRESSION_RATIO * max(info.compress_size, 1)):
        return (f"{info.file_size} bytes from {info.compress_size} compressed: a compression "
                f"ratio over {MAX_COMPRESSION_RATIO} (a zip bomb?)")
    if info.flag_bits & 0x1:
        return "encrypted"
    if info.compress_type not in _READABLE_METHODS:
        return (f"compression method {info.compress_type} is not supported (only "
                f"{' and '.join(_READABLE_METHODS.values())})")
    return None


def _head(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
    """The first bytes of a member, for an excerpt (b"" when even that fails)."""
    try:
        with archive.open(info) as member:
            return member.read(512)
    except (zipfile.BadZipFile, zlib.error, NotImplementedError, OSError, EOFError, ValueError):
        return b""


# -- stops ------------------------------------------------------------------------------------------
def stop_items(table: _Table, prefix: str, source: str, fetched_at: float
               ) -> Iterator[Entity | Rejected]:
    """A stop Entity for each row of stops.txt, or a Rejected (reason starting "stops.txt:")."""
    for line in table.bad_lines:
        yield Rejected.of("stops.txt: malformed row (more fields than the header)", ",".join(line))
    frame = table.frame
    ids, names, codes = table.column("stop_id"), table.column("stop_name"), table.column("stop_code")
    lats, lons = table.column("stop_lat"), table.column("stop_lon")
    types, parents = table.column("location_type"), table.column("parent_station")
    seen: set[str] = set()
    for row, stop_id in enumerate(ids):
        problem = _id_problem(stop_id, seen, "stop_id")
        lat, lon = _float(lats[row]), _float(lons[row])
        location_type = _int(types[row])
        if (problem is None and location_type in UNPLACED_TYPES and not lats[row]
                and not lons[row]):
            lat = lon = None  # a generic node or boarding area need not say where it is
        elif problem is None and not valid_position(lat, lon):
            problem = f"stop {stop_id}: invalid position {lats[row]!r},{lons[row]!r}"
        if problem is not None:
            yield Rejected.of(f"stops.txt: {problem}", _row_text(frame, row))
            continue
        seen.add(stop_id)
        attrs = _present({"name": names[row], "code": codes[row], "parent_station": parents[row]})
        if location_type is not None:
            attrs["location_type"] = location_type
        yield Entity(DOMAIN, "stop", f"{prefix}:stop:{stop_id}", lat, lon, "active", fetched_at,
                     source, attrs)


# -- routes -----------------------------------------------------------------------------------------
def route_items(table: _Table, prefix: str, source: str, fetched_at: float,
                shapes: dict[str, list[list[float]]] | None = None,
                stop_counts: dict[str, int] | None = None) -> Iterator[Entity | Rejected]:
    """A route Entity for each row of routes.txt, or a Rejected (reason starting "routes.txt:")."""
    for line in table.bad_lines:
        yield Rejected.of("routes.txt: malformed row (more fields than the header)", ",".join(line))
    shapes = shapes or {}
    stop_counts = stop_counts or {}
    ids = table.column("route_id")
    short_names, long_names = table.column("route_short_name"), table.column("route_long_name")
    types, colors = table.column("route_type"), table.column("route_color")
    seen: set[str] = set()
    for row, route_id in enumerate(ids):
        problem = _id_problem(route_id, seen, "route_id")
        if problem is not None:
            yield Rejected.of(f"routes.txt: {problem}", _row_text(table.frame, row))
            continue
        seen.add(route_id)
        attrs = _present({"short_name": short_names[row], "long_name": long_names[row]})
        route_type = _int(types[row])
        if route_type is not None:
            attrs["type"] = route_type
        if _HEX_COLOR.fullmatch(colors[row]):
            attrs["color"] = "#" + colors[row].upper()
        if route_id in stop_counts:
            attrs["stop_count"] = stop_counts[route_id]
        if route_id in shapes:
            attrs["shape"] = shapes[route_id]
        yield Entity(DOMAIN, "route", f"{prefix}:route:{route_id}", None, None, "active", fetched_at,
                     source, attrs)


def _route_extras(archive: zipfile.ZipFile, members: dict[str, zipfile.ZipInfo]
                  ) -> tuple[dict[str, list[list[float]]], dict[str, int]]:
    """(route_id -> representative shape, route_id -> distinct stops) from the optional files."""
    ignored: list[Rejected] = []  # these files only enrich routes; a broken one just leaves gaps
    trips = _read_member(archive, members, "trips.txt", ignored,
                         columns=("route_id", "trip_id", "shape_id"))
    if trips is None:
        return {}, {}
    trip_frame = pd.DataFrame({"route_id": trips.column("route_id"), "trip_id": trips.column("trip_id"),
                               "shape_id": trips.column("shape_id")})
    shapes: dict[str, list[list[float]]] = {}
    chosen = _main_shape_ids(trip_frame)
    if chosen and "shapes.txt" in members:
        points = _read_member(archive, members, "shapes.txt", ignored,
                              columns=("shape_id", "shape_pt_lat", "shape_pt_lon", "shape_pt_sequence"))
        if points is not None:
            lines = shape_lines(points.frame, set(chosen.values()))
            shapes = {route: lines[shape] for route, shape in chosen.items() if shape in lines}
    counts: dict[str, int] = {}
    info = members.get("stop_times.txt")
    if info is not None and info.file_size <= STOP_TIMES_LIMIT_BYTES:
        stop_times = _read_member(archive, members, "stop_times.txt", ignored,
                                  columns=("trip_id", "stop_id"))
        if stop_times is not None:
            counts = _stop_counts(trip_frame, stop_times)
    return shapes, counts


def _main_shape_ids(trips: pd.DataFrame) -> dict[str, str]:
    """route_id -> the shape_id most of its trips follow (ties: the smallest shape_id)."""
    trips = trips[(trips["route_id"] != "") & (trips["shape_id"] != "")]
    if trips.empty:
        return {}
    counts = trips.groupby(["route_id", "shape_id"]).size().reset_index(name="n")
    counts = counts.sort_values(["route_id", "n", "shape_id"], ascending=[True, False, True])
    best = counts.drop_duplicates("route_id")
    return dict(zip(best["route_id"], best["shape_id"], strict=True))


def _stop_counts(trips: pd.DataFrame, stop_times: _Table) -> dict[str, int]:
    """route_id -> number of distinct stops its trips serve."""
    pairs = pd.DataFrame({"trip_id": stop_times.column("trip_id"), "stop_id": stop_times.column("stop_id")})
    pairs = pairs[pairs["stop_id"] != ""].drop_duplicates()
    joined = pairs.merge(trips[["trip_id", "route_id"]].drop_duplicates("trip_id"), on="trip_id")
    counts = joined.groupby("route_id")["stop_id"].nunique()
    return {str(route): int(n) for route, n in counts.items()}


def shape_lines(frame: pd.DataFrame, wanted: set[str]) -> dict[str, list[list[float]]]:
    """shape_id -> [[lon, lat], ...] in sequence order, simplified to at most MAX_SHAPE_POINTS."""
    needed = {"shape_id", "shape_pt_lat", "shape_pt_lon", "shape_pt_sequence"}
    if not needed <= set(frame.columns):
        return {}
    frame = frame[frame["shape_id"].str.strip().isin(wanted)]
    points = pd.DataFrame({
        "shape_id": frame["shape_id"].str.strip(),
        "lat": pd.to_numeric(frame["shape_pt_lat"], errors="coerce"),
        "lon": pd.to_numeric(frame["shape_pt_lon"], errors="coerce"),
        "seq": pd.to_numeric(frame["shape_pt_sequence"], errors="coerce"),
    }).dropna()
    points = points[points["lat"].between(-90, 90) & points["lon"].between(-180, 180)]
    points = points.sort_values(["shape_id", "seq"], kind="stable")
    lines: dict[str, list[list[float]]] = {}
    for shape_id, group in points.groupby("shape_id", sort=False):
        coords = simplify_line(group[["lon", "lat"]].to_numpy(dtype=float))
        if len(coords) >= 2:
            lines[str(shape_id)] = np.round(coords, 6).tolist()
    return lines


def simplify_line(coords: np.ndarray, limit: int = MAX_SHAPE_POINTS) -> np.ndarray:
    """At most ``limit`` of a polyline's [lon, lat] points, ends kept, the most telling ones first.

    A greedy Douglas-Peucker: the segment whose farthest point deviates most is split first, so
    the result is the best outline the point budget allows without tuning a tolerance.
    """
    count = len(coords)
    if count <= limit:
        return coords
    # Degrees of longitude shrink with latitude; scale them so distances are comparable.
    xy = coords * np.array([math.cos(math.radians(float(np.mean(coords[:, 1])))), 1.0])
    keep = np.zeros(count, dtype=bool)
    keep[[0, count - 1]] = True
    heap: list[tuple[float, int, int, int]] = []
    _push_farthest(heap, xy, 0, count - 1)
    kept = 2
    while heap and kept < limit:
        _neg_dist, start, end, index = heapq.heappop(heap)
        keep[index] = True
        kept += 1
        _push_farthest(heap, xy, start, index)
        _push_farthest(heap, xy, index, end)
    return coords[keep]


def _push_farthest(heap: list[tuple[float, int, int, int]], xy: np.ndarray, start: int, end: int) -> None:
    """Queue the point between start and end that lies farthest from the chord start-end."""
    if end - start < 2:
        return
    inner = xy[start + 1:end] - xy[start]
    chord = xy[end] - xy[start]
    length = math.hypot(chord[0], chord[1])
    if length == 0.0:  # a closed loop: measure from the shared end point
        dist = np.hypot(inner[:, 0], inner[:, 1])
    else:
        dist = np.abs(chord[0] * inner[:, 1] - chord[1] * inner[:, 0]) / length
    offset = int(np.argmax(dist))
    heapq.heappush(heap, (-float(dist[offset]), start, end, start + 1 + offset))


# -- small conversions ------------------------------------------------------------------------------
def _id_problem(value: str, seen: set[str], column: str) -> str | None:
    """Why a row's id is unusable (missing or repeated), or None."""
    if not value:
        return f"row without {column}"
    if value in seen:
        return f"duplicate {column} {value}"
    return None


def _float(text: str) -> float | None:
    """A decimal number, or None for empty or malformed text."""
    try:
        return float(text)
    except ValueError:
        return None


def _int(text: str) -> int | None:
    """An integer (GTFS enums are small integers), or None for empty, malformed or huge text."""
    try:
        value = int(text)
    except ValueError:
        return None
    # A 30-digit "route type" is no enum, and no 64-bit field of the stored record could hold it.
    return value if -2**31 <= value < 2**31 else None


def _present(values: dict[str, str]) -> dict[str, Any]:
    """The entries whose text is not empty."""
    return {key: value for key, value in values.items() if value}


def _row_text(frame: pd.DataFrame, row: int) -> str:
    """One row as header=value pairs, for a rejection's excerpt."""
    return ", ".join(f"{key}={value}" for key, value in frame.iloc[row].items())
