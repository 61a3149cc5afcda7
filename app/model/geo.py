"""Geometry on WGS84 positions: plausibility, points in GeoJSON areas, distances, areas with a radius."""

from __future__ import annotations

import math
from dataclasses import dataclass
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


# The radius of Redis's GEO commands, so that distances computed here agree with a GEOSEARCH.
EARTH_RADIUS_M = 6_372_797.560856


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres between two WGS84 positions (haversine)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


@dataclass(frozen=True)
class Area:
    """Where something happens: a point with a radius, or a GeoJSON Polygon/MultiPolygon shape.

    ``lat``/``lon`` is the centre (a shape's mean vertex) and ``radius_m`` the distance that holds
    all of it (a shape's farthest vertex), so a search can start with a circle and test the shape.
    """

    lat: float
    lon: float
    radius_m: float
    shape: Mapping[str, Any] | None = None

    @classmethod
    def circle(cls, lat: float, lon: float, radius_m: float) -> Area:
        """A point and a radius in metres (a radius of 0 is the point alone)."""
        if not valid_position(lat, lon) or not (math.isfinite(radius_m) and radius_m >= 0):
            raise ValueError("an area needs a valid position and a radius of 0 or more metres")
        return cls(float(lat), float(lon), float(radius_m))

    @classmethod
    def of_shape(cls, shape: Mapping[str, Any]) -> Area:
        """A GeoJSON Polygon or MultiPolygon (a CAP warning's area, one drawn on the map)."""
        center = area_center(shape)
        if center is None:
            raise ValueError("an area shape is a GeoJSON Polygon or MultiPolygon with points")
        coords = shape.get("coordinates") or []
        polygons = [coords] if shape.get("type") == "Polygon" else coords
        farthest = max(distance_m(center[0], center[1], float(p[1]), float(p[0]))
                       for polygon in polygons for ring in polygon[:1] for p in ring)
        return cls(center[0], center[1], farthest, shape)

    def contains(self, lat: float, lon: float) -> bool:
        """True when the position lies in the area (inside the shape, or within the radius)."""
        if self.shape is not None:
            return point_in_area(lat, lon, self.shape)
        return distance_m(self.lat, self.lon, lat, lon) <= self.radius_m
