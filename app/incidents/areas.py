"""An incident's area: a point with a radius or a polygon, entered by hand or taken from its alerts."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

import orjson

from app.incidents.errors import IncidentError
from app.model.geo import area_center, valid_position
from app.model.incidents import (
    MAX_AREA_TEXT,
    MAX_RADIUS_M,
    MIN_RADIUS_M,
    check_polygon,
    in_area,
)


@dataclass(frozen=True)
class Area:
    """Where an incident is: a centre (the point, or the polygon's middle), the radius around it,
    and the polygon when it has one (the polygon then decides what is inside)."""

    lat: float | None = None
    lon: float | None = None
    radius_m: float | None = None
    polygon: Mapping[str, Any] | None = None

    def fields(self) -> dict[str, str]:
        """The incident hash's fields for this area ('' for what it lacks)."""
        return {"lat": "" if self.lat is None else f"{self.lat:.6f}",
                "lon": "" if self.lon is None else f"{self.lon:.6f}",
                "radius_m": "" if self.radius_m is None else f"{self.radius_m:g}",
                "area": orjson.dumps(self.polygon).decode() if self.polygon else ""}

    def contains(self, lat: float | None, lon: float | None) -> bool:
        """True when the position lies in the area (never for an unknown position or no area)."""
        if lat is None or lon is None:
            return False
        centre = (self.lat, self.lon) if self.lat is not None and self.lon is not None else None
        return in_area(lat, lon, centre=centre, radius_m=self.radius_m or 0.0,
                       polygon=self.polygon)

    @property
    def known(self) -> bool:
        """True when there is an area at all."""
        return self.polygon is not None or self.lat is not None


def of_incident(incident: Mapping[str, Any]) -> Area:
    """The area of an incident in its API form."""
    return Area(incident.get("lat"), incident.get("lon"), incident.get("radius_m"),
                incident.get("area"))


def _polygon(area: Any) -> Mapping[str, Any]:
    if isinstance(area, str):
        if len(area) > MAX_AREA_TEXT:
            raise IncidentError(f"at most {MAX_AREA_TEXT} characters of GeoJSON", "area")
        try:
            area = orjson.loads(area)
        except orjson.JSONDecodeError:
            raise IncidentError("not GeoJSON: send a Polygon or MultiPolygon as JSON text",
                                "area") from None
    try:
        return check_polygon(area)
    except ValueError as exc:
        raise IncidentError(f"expected {exc}", "area") from None


def entered(lat: float | None, lon: float | None, radius_m: float | None, area: Any,
            default_radius_m: float) -> Area | None:
    """The area someone entered: a polygon (GeoJSON, text or object) and/or a point with an
    optional radius; None when they entered none. IncidentError names the field at fault."""
    if (lat is None) != (lon is None):
        raise IncidentError("give both 'lat' and 'lon', or neither", "lat" if lat is None else "lon")
    if lat is not None and not valid_position(lat, lon):
        raise IncidentError("'lat' within -90..90 and 'lon' within -180..180 (and not 0,0)", "lat")
    if radius_m is not None and (not math.isfinite(radius_m)
                                 or not MIN_RADIUS_M <= radius_m <= MAX_RADIUS_M):
        raise IncidentError(f"a radius from {MIN_RADIUS_M:g} to {MAX_RADIUS_M:g} metres", "radius_m")
    polygon = _polygon(area) if area not in (None, "") else None
    if polygon is None and lat is None:
        return None
    if lat is None and polygon is not None:
        centre = area_center(polygon)
        lat, lon = centre if centre else (None, None)
    return Area(lat, lon, radius_m if radius_m is not None else default_radius_m, polygon)


def from_alerts(alerts: Iterable[Mapping[str, Any]], radius_m: float) -> Area | None:
    """The area an incident takes from its alerts: the first CAP warning's area, else the first
    located alert's position with ``radius_m``; None when no alert says where."""
    alerts = list(alerts)
    for alert in alerts:
        if alert.get("source") == "cap" and alert.get("area"):
            try:
                polygon = check_polygon(alert["area"])
            except ValueError:
                continue  # a malformed warning area places nothing; the next alert may
            centre = area_center(polygon)
            lat, lon = centre if centre else (alert.get("lat"), alert.get("lon"))
            return Area(lat, lon, radius_m, polygon)
    for alert in alerts:
        if alert.get("lat") is not None and alert.get("lon") is not None:
            return Area(alert["lat"], alert["lon"], radius_m, None)
    return None
