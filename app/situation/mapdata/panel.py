"""What the map's side panel shows for a clicked marker, warning area or grouped cell."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import redis

from app import alerts as alert_model
from app import store
from app.model.domains import DOMAINS
from app.situation.mapdata.cache import cached_snapshot, domain_snapshot, read_versions
from app.situation.mapdata.layers import ALERTS, LAYER_BY_KEY, Thresholds
from app.situation.mapdata.snapshots import DomainSnapshot
from app.situation.mapdata.view import View, cell_members

# -- the side panel -----------------------------------------------------------------------------------
# Readings worth showing beside an entity, by kind (water sensors list their own metrics).
PANEL_METRICS: dict[str, tuple[str, ...]] = {
    "vehicle": ("delay_s",),
    "hospital": ("beds_available", "beds_total", "beds_occupied", "icu_beds_available",
                 "icu_beds_total", "icu_beds_occupied", "ventilators_in_use", "ventilators_total"),
}


@dataclass(frozen=True)
class Details:
    """What the side panel shows for one thing on the map (raw values: the page escapes them)."""

    layer: str
    id: str
    record: dict[str, Any]
    readings: list[tuple[str, float, str, float | None]] = field(default_factory=list)
    alerts: list[dict[str, Any]] = field(default_factory=list)
    counts: list[tuple[str, int]] = field(default_factory=list)  # grouped cells: class -> count


def _snapshot_for(r: redis.Redis, domain: str, limits: Thresholds) -> DomainSnapshot:
    cached = cached_snapshot(domain)
    if cached is not None:
        return cached
    versions = read_versions(r)
    return domain_snapshot(r, domain, versions[domain], limits)


def _entity_alerts(r: redis.Redis, entity_id: str) -> list[dict[str, Any]]:
    return [a for a in alert_model.list_alerts(r, open_only=True) if a.get("entity") == entity_id]


def entity_details(r: redis.Redis, layer_key: str, item: str, limits: Thresholds) -> Details | None:
    """Details of the entity, alert or warning ``item`` of a layer; None when it is gone."""
    layer = LAYER_BY_KEY.get(layer_key)
    if layer is None:
        return None
    snapshot = _snapshot_for(r, layer.domain, limits)
    if layer.geometry == "areas":
        for domain in DOMAINS:
            # A published snapshot (app/map_share.py) carries no records: read the one asked for.
            event = (_snapshot_for(r, domain, limits).events.get(item)
                     or store.entities.read_event(r, domain, item))
            if event is not None:
                return Details(layer_key, item, event)
        return None
    record = snapshot.records.get(item)
    if record is None and layer.domain != ALERTS:
        record = store.entities.read_entity(r, layer.domain, item)
    if record is None:
        return None
    if layer.domain == ALERTS:
        return Details(layer_key, item, record)
    kind = record.get("kind", "")
    metrics = PANEL_METRICS.get(kind) or tuple((record.get("attrs") or {}).get("metrics") or ())
    readings = []
    for metric in metrics:
        source = snapshot.latest.get(metric)
        entry = (source.get(item) if source is not None
                 else store.entities.read_reading(r, layer.domain, metric, item))
        if entry:
            value, unit, at = (list(entry) + [None, None, None])[:3]
            if isinstance(value, (int, float)):
                readings.append((metric, float(value), str(unit or ""),
                                 float(at) if isinstance(at, (int, float)) else None))
    return Details(layer_key, item, record, readings, _entity_alerts(r, item))


def cell_details(r: redis.Redis, layer_key: str, lat: float, lon: float, cut: View,
                 limits: Thresholds) -> Details | None:
    """How many of a grouped layer's markers, by class, the clicked cell of ``cut`` holds."""
    layer = LAYER_BY_KEY.get(layer_key)
    if layer is None or layer.geometry != "points":
        return None
    points = _snapshot_for(r, layer.domain, limits).points.get(layer_key)
    if points is None:
        return None
    rows = cell_members(points, lat, lon, cut)
    counts = np.bincount(points.cls[rows], minlength=len(layer.classes))
    return Details(layer_key, f"{lat:.5f},{lon:.5f}", {"kind": "cell", "count": int(rows.size)},
                   counts=[(c.label, int(n)) for c, n in zip(layer.classes, counts, strict=True)])
