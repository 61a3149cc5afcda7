"""Geometry on WGS84 positions: plausibility, points in GeoJSON areas, an area's centre."""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence


def valid_position(lat: float | None, lon: float | None) -> bool:
    """True for a plausible WGS84 position (finite, in range, and not the 0,0 of a missing fix)."""
    if lat is None or lon is None:
        return False
    if not (math.isfinite(lat) and math.isfinite(lon)):
        return False
    if not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0):
        return False
    return not (abs(lat) < 1e-6 and abs(lon) < 1e-6)


def point_in_ring(lon: float, lat: float, ring: Sequence[Sequence[float]]) -> bool:
    """Ray casting: is the point inside the closed ring of [lon, lat] vertices?"""
    inside = False
    for (x1, y1), (x2, y2) in zip(ring, list(ring[1:]) + [ring[0]], strict=True):
        if (y1 > lat) != (y2 > lat):
            cross = x1 + (lat - y1) * (x2 - x1) / (y2 - y1)
            if lon < cross:
                inside = not inside
    return inside


def point_in_area(lat: float, lon: float, area: Mapping[str, Any] | None) -> bool:
    """True when the point lies in a GeoJSON Polygon or MultiPolygon (holes respected)."""
    if not area:
        return False
    kind = area.get("type")
    polygons = ([area.get("coordinates") or []] if kind == "Polygon"
                else area.get("coordinates") or [] if kind == "MultiPolygon" else [])
    for polygon in polygons:
        rings = [[(float(p[0]), float(p[1])) for p in ring] for ring in polygon if len(ring) >= 3]
        if rings and point_in_ring(lon, lat, rings[0]) and not any(
                point_in_ring(lon, lat, hole) for hole in rings[1:]):
            return True
    return False


def area_center(area: Mapping[str, Any] | None) -> tuple[float, float] | None:
    """(lat, lon): the mean vertex of the first outer ring of a Polygon/MultiPolygon."""
    if not area:
        return None
    coords = area.get("coordinates") or []
    ring = (coords[0] if area.get("type") == "Polygon" and coords
            else coords[0][0] if area.get("type") == "MultiPolygon" and coords and coords[0] else [])
    points = ring[:-1] if len(ring) > 1 and ring[0] == ring[-1] else ring
    if not points:
        return None
    return (sum(p[1] for p in points) / len(points), sum(p[0] for p in points) / len(points))
