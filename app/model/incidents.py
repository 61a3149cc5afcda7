"""The incident vocabulary: levels I-IV, incident and task states, ids, text limits and incident areas.

An incident is the command center's answer to something that needs several departments: it has a
level on the four-level scale of Chinese emergency plans (I red, the gravest, to IV blue), a status
that moves ``declared -> responding -> stabilised -> closed``, an area (a point with a radius or a
polygon) and tasks for departments, which move ``open -> accepted -> done`` or end as ``cannot``.
Everything here is pure: the store, the service and the pages share these names.
"""

from __future__ import annotations

import math
import re
import secrets
from typing import Any, Mapping

# -- levels -------------------------------------------------------------------------------------------
LEVELS: tuple[str, ...] = ("I", "II", "III", "IV")  # the gravest first
LEVEL_RANK: dict[str, int] = {level: i for i, level in enumerate(LEVELS)}
# The colour each level is announced with (the plans name them: red, orange, yellow, blue) and the
# colour screens draw it in.
LEVEL_COLOURS: dict[str, str] = {"I": "red", "II": "orange", "III": "yellow", "IV": "blue"}
LEVEL_HEX: dict[str, str] = {"I": "#d32f2f", "II": "#f57c00", "III": "#f9a825", "IV": "#1565c0"}
# Our alert severities and the levels: a level's severity is the one its incident counts as on
# the wall; an alert's severity suggests the level of an incident declared from it.
LEVEL_SEVERITY: dict[str, str] = {"I": "critical", "II": "major", "III": "minor", "IV": "warning"}
SEVERITY_LEVEL: dict[str, str] = {"critical": "I", "major": "II", "minor": "III", "warning": "IV",
                                  "info": "IV"}


def level_of(severity: str) -> str:
    """The level an alert of ``severity`` suggests (IV for anything unknown)."""
    return SEVERITY_LEVEL.get(severity, "IV")


def graver(*levels: str) -> str:
    """The gravest of ``levels`` (IV when none is a level)."""
    known = [level for level in levels if level in LEVEL_RANK]
    return min(known, key=LEVEL_RANK.__getitem__) if known else "IV"


def raised(level: str) -> str:
    """The level one step graver (I stays I)."""
    return LEVELS[max(LEVEL_RANK.get(level, len(LEVELS) - 1) - 1, 0)]


# -- incident states ------------------------------------------------------------------------------------
STATUSES: tuple[str, ...] = ("declared", "responding", "stabilised", "closed")
CLOSED = "closed"
OPEN_STATUSES = frozenset(STATUSES) - {CLOSED}
# Where each status may go. A false alarm is closed straight from "declared"; a responding
# incident is stabilised before it closes, and a stabilised one that flares up responds again.
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "declared": ("responding", "closed"),
    "responding": ("stabilised",),
    "stabilised": ("responding", "closed"),
    "closed": (),
}


def comes_from(status: str) -> tuple[str, ...]:
    """The statuses from which ``status`` may be reached."""
    return tuple(origin for origin, targets in TRANSITIONS.items() if status in targets)


# -- tasks -----------------------------------------------------------------------------------------------
TASK_STATES: tuple[str, ...] = ("open", "accepted", "done", "cannot")
TASK_OPEN = frozenset({"open", "accepted"})
TASK_ACTIONS: tuple[str, ...] = ("take", "finish", "cannot", "note", "reassign")
# What the system can do itself when a step of a procedure falls due (docs/incidents.md).
SOP_ACTIONS: tuple[str, ...] = ("notify", "publish_cap", "raise_level")
INCIDENT_ACTIONS: tuple[str, ...] = ("status", "level", "commander", "area", "public", "link",
                                     "unlink", "step", "note")
PROPOSAL_STATES: tuple[str, ...] = ("pending", "accepted", "dismissed")

# -- ids and limits --------------------------------------------------------------------------------------
INCIDENT_ID = re.compile(r"^in-[0-9a-f]{12}$")
TASK_ID = re.compile(r"^tk-[0-9a-f]{12}$")
PROPOSAL_ID = re.compile(r"^pr-[0-9a-f]{12}$")
# Departments and incident types are named in the SOP catalogue by such slugs ("water_bureau").
SLUG = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
MAX_TITLE = 200
MAX_DESCRIPTION = 2000
MAX_NOTE = 1000
MAX_ALERTS = 50  # alerts named when declaring
MAX_STEPS = 60  # tasks of one incident (the catalogue's and those the commander adds)
MAX_AREA_TEXT = 20_000  # a drawn polygon as GeoJSON text
MAX_AREA_POINTS = 1000
MIN_RADIUS_M = 10.0
MAX_RADIUS_M = 50_000.0
MAX_DUE_MINUTES = 7 * 24 * 60


def new_id(prefix: str) -> str:
    """A fresh random id: ``in-…`` for incidents, ``tk-…`` tasks, ``pr-…`` proposals."""
    return f"{prefix}-{secrets.token_hex(6)}"


# -- areas -----------------------------------------------------------------------------------------------
EARTH_RADIUS_M = 6_371_008.8


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance between two WGS84 positions, in metres (haversine)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def check_polygon(area: Any) -> dict[str, Any]:
    """``area`` if it is a GeoJSON Polygon or MultiPolygon of WGS84 [lon, lat] rings, each closed
    and of at least four points; ValueError saying what is wrong otherwise."""
    if not isinstance(area, dict) or area.get("type") not in ("Polygon", "MultiPolygon"):
        raise ValueError("a GeoJSON Polygon or MultiPolygon")
    polygons = [area.get("coordinates")] if area["type"] == "Polygon" else area.get("coordinates")
    if not isinstance(polygons, list) or not polygons:
        raise ValueError("a GeoJSON Polygon or MultiPolygon with coordinates")
    points = 0
    for polygon in polygons:
        if not isinstance(polygon, list) or not polygon:
            raise ValueError("each polygon is a list of rings")
        for ring in polygon:
            if not isinstance(ring, list) or len(ring) < 4:
                raise ValueError("each ring has at least four [lon, lat] points")
            for point in ring:
                if (not isinstance(point, list) or len(point) < 2
                        or not all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                   and math.isfinite(v) for v in point[:2])
                        or not (-180 <= point[0] <= 180 and -90 <= point[1] <= 90)):
                    raise ValueError("each point is [lon, lat] within -180..180 and -90..90")
            if ring[0][:2] != ring[-1][:2]:
                raise ValueError("each ring ends where it starts")
            points += len(ring)
    if points > MAX_AREA_POINTS:
        raise ValueError(f"at most {MAX_AREA_POINTS} points")
    return {"type": area["type"], "coordinates": area["coordinates"]}


def _in_ring(lon: float, lat: float, ring: list[Any]) -> bool:
    inside = False
    for (x1, y1, *_), (x2, y2, *_) in zip(ring, ring[1:] + ring[:1], strict=True):
        if (y1 > lat) != (y2 > lat) and lon < x1 + (lat - y1) * (x2 - x1) / (y2 - y1):
            inside = not inside
    return inside


def in_polygon(lat: float, lon: float, area: Mapping[str, Any]) -> bool:
    """True when the point lies in a checked Polygon/MultiPolygon (holes respected)."""
    polygons = [area["coordinates"]] if area["type"] == "Polygon" else area["coordinates"]
    return any(_in_ring(lon, lat, polygon[0]) and not any(_in_ring(lon, lat, hole)
                                                          for hole in polygon[1:])
               for polygon in polygons)


def in_area(lat: float, lon: float, *, centre: tuple[float, float] | None, radius_m: float,
            polygon: Mapping[str, Any] | None) -> bool:
    """True when the point lies in an incident's area: its polygon if it has one, else the circle
    of ``radius_m`` around ``centre`` (an incident with neither has no area)."""
    if polygon is not None:
        return in_polygon(lat, lon, polygon)
    if centre is None:
        return False
    return distance_m(centre[0], centre[1], lat, lon) <= radius_m
