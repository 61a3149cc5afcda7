"""Read models of live entities for the API and the pages (the store holds them packed)."""

from __future__ import annotations

from typing import Any

import redis

from app import store

# Attributes too large for lists; asked for explicitly.
HEAVY_ATTRS = ("shape",)


def _suffix(entity_id: str, marker: str) -> str | None:
    """The feed's own id in ``<feed>:<marker>:<id>`` (feeds prefix ids with their name)."""
    _, sep, rest = entity_id.partition(f":{marker}:")
    return rest if sep else None


def flat_entity(record: dict[str, Any], include_heavy: bool = False) -> dict[str, Any]:
    """One stored entity as an API row: its fields with its attributes beside them."""
    attrs = {k: v for k, v in (record.get("attrs") or {}).items()
             if include_heavy or k not in HEAVY_ATTRS}
    row = {k: v for k, v in record.items() if k != "attrs"}
    for key, value in attrs.items():
        row.setdefault(key, value)
    return row


def transport_entities(r: redis.Redis, kind: str | None = None,
                       include_heavy: bool = False) -> list[dict[str, Any]]:
    """Transport entities, vehicles with the delay of their trip (or their own) as ``delay_s``."""
    records = store.read_entities(r, "transport")
    delays = store.read_latest(r, "transport", "delay_s")
    by_trip: dict[str, float] = {}
    by_vehicle: dict[str, float] = {}
    for key, (value, _unit, _at) in delays.items():
        trip = _suffix(key, "trip")
        if trip is not None:
            by_trip[trip] = value
        vehicle = _suffix(key, "vehicle")
        if vehicle is not None:
            by_vehicle[vehicle] = value
    rows = []
    for record in records:
        if kind and record.get("kind") != kind:
            continue
        row = flat_entity(record, include_heavy)
        if record.get("kind") == "vehicle":
            # The vehicle's own delay first: frequency-based trips share one trip_id among
            # several buses, so a trip's delay is only the fallback.
            delay = by_vehicle.get(_suffix(record["id"], "vehicle") or "")
            trip_id = row.get("trip_id")
            if delay is None and trip_id:
                delay = by_trip.get(trip_id)
            row["delay_s"] = delay
            row.setdefault("route_id", None)
        rows.append(row)
    rows.sort(key=lambda row: row["id"])
    return rows


def domain_entities(r: redis.Redis, domain: str, kind: str | None = None,
                    include_heavy: bool = False) -> list[dict[str, Any]]:
    """Entities of any domain as API rows."""
    if domain == "transport":
        return transport_entities(r, kind, include_heavy)
    rows = [flat_entity(rec, include_heavy) for rec in store.read_entities(r, domain)
            if not kind or rec.get("kind") == kind]
    return sorted(rows, key=lambda row: row["id"])
