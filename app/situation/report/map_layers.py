"""What the report's map draws besides the alerts: located places, CAP warning areas, the basemap."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Mapping

import orjson
import redis

from app import store
from app.model.domains import DOMAINS

# Stops and routes are the network, not the situation; thousands of them would bury the markers.
MAP_SKIPPED_KINDS = frozenset({"stop", "route", "shape", "trip"})
MAX_ENTITY_MARKERS = 3000


@dataclass(frozen=True)
class MapLayers:
    """What the report's map draws besides the alerts: located entities and CAP warning areas."""

    entities: tuple[dict[str, Any], ...] = ()
    areas: tuple[dict[str, Any], ...] = ()
    left_out: int = 0  # located entities beyond MAX_ENTITY_MARKERS
    basemap: tuple[tuple[str, dict[str, Any]], ...] = field(default_factory=tuple)


def located(record: Mapping[str, Any]) -> bool:
    """True when ``record`` has a latitude and a longitude that are numbers on the globe."""
    lat, lon = record.get("lat"), record.get("lon")
    return (isinstance(lat, (int, float)) and isinstance(lon, (int, float))
            and -90 <= lat <= 90 and -180 <= lon <= 180)


def _event_active(event: Mapping[str, Any], now: float) -> bool:
    starts, ends = event.get("starts_at"), event.get("ends_at")
    return (starts is None or starts <= now) and (ends is None or now <= ends)


def read_map_layers(r: redis.Redis, now: float | None = None,
                    basemap_dir: Path | None = None) -> MapLayers:
    """Located entities (not stops or routes), active CAP warning areas, the city's basemap."""
    now = time.time() if now is None else now
    entities: list[dict[str, Any]] = []
    areas: list[dict[str, Any]] = []
    for domain in DOMAINS:
        entities += [e for e in store.entities.read_entities(r, domain)
                     if e.get("kind") not in MAP_SKIPPED_KINDS and located(e)]
        areas += [dict(ev, domain=domain) for ev in store.entities.read_events(r, domain)
                  if ev.get("kind") == "cap_warning" and ev.get("area") and _event_active(ev, now)]
    entities.sort(key=lambda e: (DOMAINS.index(e["domain"]) if e.get("domain") in DOMAINS
                                 else 9, str(e.get("id"))))
    shown = entities[:MAX_ENTITY_MARKERS]
    return MapLayers(entities=tuple(shown), areas=tuple(areas),
                     left_out=len(entities) - len(shown),
                     basemap=read_basemap(basemap_dir if basemap_dir is not None
                                          else default_basemap_dir()))


def default_basemap_dir() -> Path:
    """assets/basemap/: the city's own GeoJSON layers (districts, river, main roads)."""
    return Path(str(resources.files("assets"))) / "basemap"


def read_basemap(folder: Path) -> tuple[tuple[str, dict[str, Any]], ...]:
    """(layer name, geometry-only FeatureCollection) of every *.geojson in ``folder``.

    Properties are dropped: the report needs only shapes, and nothing but shapes reaches the page.
    A feature's ``layer`` property (district, river, road) picks its style; else the file name.
    """
    if not folder.is_dir():
        return ()
    layers: dict[str, list[dict[str, Any]]] = {}
    for path in sorted(folder.glob("*.geojson")):
        try:
            data = orjson.loads(path.read_bytes())
        except (OSError, orjson.JSONDecodeError):
            continue
        features = data.get("features", []) if isinstance(data, dict) else []
        for feature in features:
            if not isinstance(feature, dict) or not isinstance(feature.get("geometry"), dict):
                continue
            props = feature.get("properties") or {}
            name = str(props.get("layer") or path.stem)
            layers.setdefault(name, []).append(
                {"type": "Feature", "properties": {}, "geometry": feature["geometry"]})
    return tuple((name, {"type": "FeatureCollection", "features": feats})
                 for name, feats in layers.items())
