"""Read models of live entities for the API and the pages (the store holds them packed)."""

from __future__ import annotations

from typing import Any

import redis

from app import store

# Attributes too large for lists; asked for explicitly.
HEAVY_ATTRS = ("shape",)


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
    """Transport entities, vehicles with their own delay (else their trip's) as ``delay_s``.

    Delays are matched by full id (``<prefix>:vehicle:<id>``, ``<prefix>:trip:<id>``), so one
    transit system's delays never land on another system's vehicle of the same bare id. The
    vehicle's own delay comes first: frequency-based trips share one trip_id among buses.
    """
    records = store.entities.read_entities(r, "transport")
    delays = store.entities.read_latest(r, "transport", "delay_s")
    rows = []
    for record in records:
        if kind and record.get("kind") != kind:
            continue
        row = flat_entity(record, include_heavy)
        if record.get("kind") == "vehicle":
            entry = delays.get(record["id"])
            trip_id = row.get("trip_id")
            if entry is None and trip_id:
                prefix = record["id"].partition(":vehicle:")[0]
                entry = delays.get(f"{prefix}:trip:{trip_id}")
            row["delay_s"] = entry[0] if entry else None
            row.setdefault("route_id", None)
        rows.append(row)
    rows.sort(key=lambda row: row["id"])
    return rows


def domain_entities(r: redis.Redis, domain: str, kind: str | None = None,
                    include_heavy: bool = False) -> list[dict[str, Any]]:
    """Entities of any domain as API rows."""
    if domain == "transport":
        return transport_entities(r, kind, include_heavy)
    rows = [flat_entity(rec, include_heavy) for rec in store.entities.read_entities(r, domain)
            if not kind or rec.get("kind") == kind]
    return sorted(rows, key=lambda row: row["id"])


def domain_events(r: redis.Redis, domain: str) -> list[dict[str, Any]]:
    """The stored events of a domain (service alerts, CAP warnings, service catalogues)."""
    return store.entities.read_events(r, domain)


def with_readings(r: redis.Redis, domain: str, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``rows`` (API rows of ``domain``) each with ``readings``: metric -> value, unit and time of
    the entity's newest reading, for every metric it has (one round trip for all of them)."""
    metrics = store.entities.metric_names(r, domain)
    found = store.entities.read_readings(r, domain, metrics, [row["id"] for row in rows])
    for i, row in enumerate(rows):
        row["readings"] = {metric: {"value": entry[0], "unit": entry[1], "observed_at": entry[2]}
                           for metric in metrics if (entry := found[metric][i])}
    return rows


def entity(r: redis.Redis, domain: str, entity_id: str, readings: bool = True
           ) -> dict[str, Any] | None:
    """One live entity as an API row (with its readings), or None."""
    record = store.entities.read_entity(r, domain, entity_id)
    if record is None:
        return None
    row = flat_entity(record, include_heavy=True)
    return with_readings(r, domain, [row])[0] if readings else row
