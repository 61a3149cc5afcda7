"""Transit disruptions, lines running late and water supply problems by zone, as the public reads them.

Disruptions are the GTFS-rt service alerts the transport feeds stored, active now. A line runs
late when the median delay of its vehicles heard lately is past the on-time limit the transport
KPIs use; it is named by its GTFS short or long name (a line without a name is only counted: its
feed id is not a name). Water problems come from the water KPIs per zone (low pressure, quality
outside limits, a suspected leak) and from the open water alerts, placed in a zone by their
sensor's zone or their subject; their texts are not shown, only that a problem was reported.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

import redis

from app import alerts, store
from app.kpis.transport import ON_TIME_LATE_S, SILENT_AFTER_S
from app.live.entities import transport_entities
from app.model.alerts import ACTIVE, SEVERITY_RANK
from app.public.content import MAX_TEXT, clean

SERVICE_ALERT = "service_alert"
MAX_LINES = 20  # lines named on the page; the rest are counted
MAX_NAME = 120  # a zone or line name (KPI subjects are at most 80 characters)
# A water KPI group off target -> what the public reads (app.i18n "public.water.<problem>").
WATER_PROBLEMS: dict[str, str] = {"min_pressure": "low_pressure",
                                  "water_quality_compliance": "quality", "night_flow": "leak"}
KPI_SEVERITY: dict[str, str] = {"bad": "major", "warn": "minor"}
# Alerts about our own data (a silent feed) are not a problem of the water supply.
NOT_SUPPLY = frozenset({"staleness"})


@dataclass(frozen=True)
class Disruption:
    """A service alert in force: its texts, the named lines it affects, and when it ends."""

    severity: str
    headline: str
    description: str
    lines: tuple[str, ...]
    until: float | None
    sent: float


@dataclass(frozen=True)
class LateLine:
    """A line whose vehicles run late: its public name and their median delay."""

    name: str
    delay_s: float
    vehicles: int


@dataclass(frozen=True)
class ZoneProblem:
    """A supply zone with problems: its name ("" for reports placed in no zone), what is wrong
    (keys of WATER_PROBLEMS' values) and how many open alerts were reported there."""

    zone: str
    severity: str
    problems: tuple[str, ...]
    reported: int


def transport_rows(r: redis.Redis) -> list[dict[str, Any]]:
    """Every transport entity (routes, and vehicles with their delays), read once per render."""
    return transport_entities(r)


def route_names(rows: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """Route entity id -> the name people know it by (short name, else long name)."""
    names = {}
    for row in rows:
        if row.get("kind") != "route":
            continue
        name = clean(row.get("short_name") or row.get("long_name") or "", MAX_NAME)
        if name:
            names[row["id"]] = name
    return names


def _prefix(entity_id: str, kind: str) -> str:
    return entity_id.partition(f":{kind}:")[0]


def disruptions(r: redis.Redis, now: float, names: Mapping[str, str]) -> list[Disruption]:
    """Service alerts in force now (their period holds ``now``), gravest first; lines named by
    ``names`` (route_names)."""
    found = []
    for event in store.entities.read_events(r, "transport"):
        if event.get("kind") != SERVICE_ALERT:
            continue
        starts, ends = event.get("starts_at"), event.get("ends_at")
        if (starts is not None and starts > now) or (ends is not None and ends < now):
            continue
        attrs = event.get("attrs") or {}
        prefix = _prefix(str(event.get("id") or ""), "alert")
        lines = []
        for selector in attrs.get("informed_entities") or ():
            route = selector.get("route_id") if isinstance(selector, Mapping) else None
            name = names.get(f"{prefix}:route:{route}") if route else None
            if name and name not in lines:
                lines.append(name)
        found.append(Disruption(str(event.get("severity") or "info"), clean(event.get("title")),
                                clean(attrs.get("description"), MAX_TEXT), tuple(lines), ends,
                                float(event.get("observed_at") or now)))
    return sorted(found, key=lambda d: (SEVERITY_RANK.get(d.severity, 9), -d.sent))


def late_lines(rows: Iterable[Mapping[str, Any]], now: float, names: Mapping[str, str]
               ) -> tuple[list[LateLine], int]:
    """(named lines running late, latest first; how many more run late) from the vehicles among
    ``rows`` (transport_rows) heard in the last SILENT_AFTER_S, and their delays."""
    delays: dict[str, list[float]] = {}
    for vehicle in rows:
        if vehicle.get("kind") != "vehicle":
            continue
        delay, route = vehicle.get("delay_s"), vehicle.get("route_id")
        if delay is None or not route or now - float(vehicle.get("observed_at") or 0) > SILENT_AFTER_S:
            continue
        key = f"{_prefix(vehicle['id'], 'vehicle')}:route:{route}"
        delays.setdefault(key, []).append(float(delay))
    late = [(key, statistics.median(values), len(values)) for key, values in delays.items()
            if statistics.median(values) > ON_TIME_LATE_S]
    named = sorted((LateLine(names[key], delay, count) for key, delay, count in late if key in names),
                   key=lambda line: (-line.delay_s, line.name))
    shown = named[:MAX_LINES]
    return shown, len(late) - len(shown)


def _zone_of_alerts(r: redis.Redis, open_alerts: Iterable[Mapping[str, Any]],
                    zones: set[str]) -> list[tuple[str, str]]:
    """(zone or "", severity) of each open water alert: its subject when that is a zone, else the
    zone of the sensor it is about."""
    out = []
    for alert in open_alerts:
        entity = str(alert.get("entity") or "")
        zone = entity if entity in zones else ""
        if not zone and entity:
            record = store.entities.read_entity(r, "water", entity) or {}
            found = (record.get("attrs") or {}).get("zone")
            zone = found if isinstance(found, str) else ""
        out.append((zone, str(alert.get("severity") or "info")))
    return out


def water_problems(r: redis.Redis) -> list[ZoneProblem]:
    """Zones whose water KPIs are off target or that have open water alerts, gravest first."""
    problems: dict[str, set[str]] = {}
    severity: dict[str, str] = {}

    def graver(zone: str, level: str) -> None:
        current = severity.get(zone)
        if current is None or SEVERITY_RANK.get(level, 9) < SEVERITY_RANK.get(current, 9):
            severity[zone] = level

    kpis = store.kpis.read(r, "water")
    zones = {str(k["subject"]) for k in kpis if k.get("subject") and k.get("group") in WATER_PROBLEMS}
    for kpi in kpis:
        problem = WATER_PROBLEMS.get(str(kpi.get("group")))
        if problem and kpi.get("subject") and kpi.get("status") in KPI_SEVERITY:
            zone = clean(kpi["subject"], MAX_NAME)
            problems.setdefault(zone, set()).add(problem)
            graver(zone, KPI_SEVERITY[kpi["status"]])
    open_alerts = [a for a in alerts.list_alerts(r, domains=["water"], states=ACTIVE, open_only=True,
                                                 limit=1000) if a.get("source") not in NOT_SUPPLY]
    reported: dict[str, int] = {}
    for zone, level in _zone_of_alerts(r, open_alerts, zones):
        zone = clean(zone, MAX_NAME)
        reported[zone] = reported.get(zone, 0) + 1
        problems.setdefault(zone, set())
        graver(zone, level)
    order = list(WATER_PROBLEMS.values())
    found = [ZoneProblem(zone, severity[zone], tuple(sorted(found, key=order.index)),
                         reported.get(zone, 0)) for zone, found in problems.items()]
    # Zones by gravity then name; reports placed in no zone last.
    return sorted(found, key=lambda z: (z.zone == "", SEVERITY_RANK.get(z.severity, 9), z.zone))
