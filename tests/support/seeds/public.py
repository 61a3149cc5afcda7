"""A city for the public status page's tests: warnings, disruptions, late lines, water problems and
incidents, with hostile feed text and what must never reach the public page.

The CAP warnings and the GTFS-rt alert and vehicles are made with ElementTree and
gtfs-realtime-bindings and read by the real parsers, then stored as one batch each, as the runner
stores a poll; routes, water sensors and KPIs are stored as their adapters and the KPI job write
them. Incidents are declared and made public through the incident service, as an operator does.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import redis

from app import alerts, incidents, store
from app.model.records import Entity, Event, Observation
from data_adapters.cap.parse import parse_cap
from data_adapters.transport.gtfs_rt import parse_feed_message
from tests.support.incidents import CATALOGUE, SQUARE, person
from tests.support.transport_fixtures import add_alert, add_vehicle, new_message

CAP_NS = "urn:oasis:names:tc:emergency:cap:1.2"
HOSTILE = '<script>alert(1)</script><img src=x onerror=alert(2)>"><svg onload=alert(3)>'
OPERATOR = "duty-officer-liu"  # declares and commands the incidents: never on the public page
PREFIX = "pt"  # the transit feed's id prefix


@dataclass
class PublicCity:
    """What was seeded: texts the page must show, and texts and ids it must never show."""

    shown: dict[str, str] = field(default_factory=dict)
    hidden: list[str] = field(default_factory=list)
    incident_id: str = ""
    hidden_incident_id: str = ""


def cap_time(ts: float) -> str:
    return datetime.fromtimestamp(round(ts), timezone.utc).strftime("%Y-%m-%dT%H:%M:%S") + "-00:00"


def cap_alert(identifier: str, headline: str, now: float, *, scope: str = "Public",
              expires: float | None = None, description: str = "", instruction: str = "",
              area_desc: str = "", severity: str = "Severe", sent: str | None = None,
              category: str = "Met") -> bytes:
    """One CAP 1.2 alert document, made with ElementTree (which escapes every text)."""
    def sub(parent: ET.Element, name: str, text: str | None = None) -> ET.Element:
        element = ET.SubElement(parent, f"{{{CAP_NS}}}{name}")
        element.text = text
        return element

    root = ET.Element(f"{{{CAP_NS}}}alert")
    for name, text in (("identifier", identifier), ("sender", "weather@yiyang.example"),
                       ("sent", sent or cap_time(now - 600)), ("status", "Actual"),
                       ("msgType", "Alert"), ("scope", scope)):
        sub(root, name, text)
    info = sub(root, "info")
    for name, text in (("language", "en-US"), ("category", category), ("event", "Rainstorm"),
                       ("urgency", "Expected"), ("severity", severity), ("certainty", "Likely"),
                       ("onset", cap_time(now - 600))):
        sub(info, name, text)
    if expires is not None:
        sub(info, "expires", cap_time(expires))
    sub(info, "headline", headline)
    if description:
        sub(info, "description", description)
    if instruction:
        sub(info, "instruction", instruction)
    area = sub(info, "area")
    sub(area, "areaDesc", area_desc or "Yiyang")
    sub(area, "polygon", "28.50,112.30 28.50,112.40 28.60,112.40 28.60,112.30 28.50,112.30")
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def _store_cap(r: redis.Redis, documents: list[bytes], now: float) -> None:
    events = [item for doc in documents for item in parse_cap(doc, "weather", now)
              if isinstance(item, Event)]
    assert len(events) == len(documents)
    store.entities.write_batch(r, "city", "weather", events=events)


def seed_warnings(r: redis.Redis, now: float, city: PublicCity) -> None:
    """A public warning with hostile text; a restricted one and an expired one (never shown)."""
    headline = f"Rainstorm red warning {HOSTILE}"
    description = f"Heavy rain expected {HOSTILE}\nSecond line"
    instruction = "Stay indoors <b>now</b>"
    area = "Heshan & Ziyang districts"
    city.shown.update(warning=headline, warning_description="Heavy rain expected",
                      instruction=instruction, area=area)
    city.hidden += ["Restricted briefing for responders", "Yesterday's heat warning"]
    _store_cap(r, [
        cap_alert("YY-2026-0042", headline, now, description=description, instruction=instruction,
                  area_desc=area),
        cap_alert("YY-2026-0043", "Restricted briefing for responders", now, scope="Restricted"),
        cap_alert("YY-2026-0040", "Yesterday's heat warning", now, expires=now - 3600,
                  severity="Moderate"),
    ], now)


def seed_transport(r: redis.Redis, now: float, city: PublicCity) -> None:
    """Routes; vehicles late on lines 12 and Riverside Line and on an unnamed line, on time on
    line 5; a service alert with hostile text on line 12."""
    routes = [Entity("transport", "route", f"{PREFIX}:route:{route}", None, None, "active", now,
                     "gtfs", attrs) for route, attrs in (
                         ("R12", {"short_name": "12"}), ("R7", {"long_name": "Riverside Line"}),
                         ("R99", {}), ("R5", {"short_name": "5"}))]
    store.entities.write_batch(r, "transport", "gtfs", entities=routes)
    message = new_message(int(now))
    delays = {"R12": (600, 3), "R7": (420, 2), "R99": (900, 1), "R5": (60, 2)}
    for route, (delay, count) in delays.items():
        for k in range(count):
            trip = f"{route}-t{k}"
            add_vehicle(message, f"v-{trip}", f"bus-{trip}", timestamp=int(now), trip_id=trip,
                        route_id=route, lat=28.55 + k * 1e-3, lon=112.36)
            update = message.entity.add()
            update.id = f"tu-{trip}"
            update.trip_update.trip.trip_id = trip
            update.trip_update.vehicle.id = f"bus-{trip}"
            update.trip_update.timestamp = int(now)
            update.trip_update.delay = delay
    alert = add_alert(message, "detour-12", [("en", f"Detour on line 12 {HOSTILE}")])
    alert.description_text.translation.add(text="Kangfu Road closed", language="en")
    alert.informed_entity.add(route_id="R12")
    period = alert.active_period.add()
    period.start, period.end = int(now - 600), int(now + 3600)
    alert.severity_level = alert.WARNING
    items = list(parse_feed_message(message.SerializeToString(), "transit", now, id_prefix=PREFIX))
    store.entities.write_batch(
        r, "transport", "transit", entities=[i for i in items if isinstance(i, Entity)],
        observations=[i for i in items if isinstance(i, Observation)],
        events=[i for i in items if isinstance(i, Event)])
    city.shown.update(disruption=f"Detour on line 12 {HOSTILE}", disruption_text="Kangfu Road closed",
                      late_12="12", late_riverside="Riverside Line")
    city.hidden += [f"{PREFIX}:route:R99", "R99", "bus-R12-t0", f"{PREFIX}:vehicle"]


def seed_water(r: redis.Redis, now: float, city: PublicCity) -> None:
    """Zone KPIs off target in three zones (one on target), an open alert on a sensor of a fourth
    zone, and a stale-feed alert (our data, not the supply's: not a problem of any zone)."""
    sensor = Entity("water", "sensor", "wf:sensor:HB-07", 28.56, 112.37, "active", now, "water",
                    {"zone": "Harbour", "metrics": ["pressure_bar"]})
    store.entities.write_batch(r, "water", "water", entities=[sensor])

    def kpi(group: str, zone: str, status: str) -> dict[str, Any]:
        return {"name": f"{group}:{zone}", "domain": "water", "title": f"{group}: {zone}",
                "value": 1.0, "unit": "bar", "target": "", "status": status, "computed_at": now,
                "subject": zone, "group": group, "rank": 1}

    store.kpis.write(r, "water", [
        {"name": "min_pressure", "domain": "water", "title": "Lowest pressure", "value": 1.0,
         "unit": "bar", "target": "", "status": "bad", "computed_at": now, "rank": 0},
        kpi("min_pressure", f"North {HOSTILE}", "bad"), kpi("water_quality_compliance", "East", "warn"),
        kpi("night_flow", "South", "warn"), kpi("min_pressure", "West", "ok")])
    alerts.raise_alert(r, fingerprint="public:harbour", title="Pressure low at HB-07 (internal)",
                       severity="critical", domain="water", source="rule",
                       entity="wf:sensor:HB-07", now=now)
    alerts.raise_alert(r, fingerprint="public:stale", title="Water feed stale", severity="major",
                       domain="water", source="staleness", entity="water", now=now)
    city.shown.update(zone_north=f"North {HOSTILE}", zone_east="East", zone_south="South",
                      zone_harbour="Harbour")
    city.hidden += ["West", "Pressure low at HB-07 (internal)", "HB-07", "Water feed stale"]


def seed_incidents(r: redis.Redis, now: float, city: PublicCity) -> None:
    """A public incident with hostile text, declared and commanded by an operator; one that was
    never made public."""
    operator = person(OPERATOR)
    made = incidents.declare(r, operator, CATALOGUE, title=f"Burst main on Kangfu Road {HOSTILE}",
                             kind=next(iter(CATALOGUE.types)), level="II", area=SQUARE,
                             description=f"Water off until evening {HOSTILE}", now=now - 300)
    incidents.change(r, operator, CATALOGUE, made["id"], "public", public=True, now=now - 200)
    secret = incidents.declare(r, operator, CATALOGUE, title="Suspicious parcel at the station",
                               kind=next(iter(CATALOGUE.types)), level="III", now=now - 100)
    city.incident_id, city.hidden_incident_id = made["id"], secret["id"]
    city.shown.update(incident=f"Burst main on Kangfu Road {HOSTILE}",
                      incident_text=f"Water off until evening {HOSTILE}")
    city.hidden += ["Suspicious parcel at the station", OPERATOR, made["id"], secret["id"]]


def seed_public_city(r: redis.Redis, now: float) -> PublicCity:
    """Every part of the city the public page shows, and what it must not."""
    city = PublicCity()
    seed_warnings(r, now, city)
    seed_transport(r, now, city)
    seed_water(r, now, city)
    seed_incidents(r, now, city)
    return city
