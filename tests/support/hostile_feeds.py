"""Hostile payloads of every feed format, taken through the real adapters into a test Redis (issue 8).

Every text field of every format carries one of :data:`PAYLOADS` (script tags, event handlers,
template-literal and backtick tricks, ``javascript:`` URLs, a Markdown link), prefixed by a tag
naming the field (``xss.cap.headline <img src=x onerror=alert(2)>``), so a test can look up what
a page must show for that field: :class:`Hostile` remembers every string it handed out.

The payloads are built with each format's own library (gtfs-realtime-bindings, zipfile + csv,
ElementTree for CAP, json) and served on a loopback HTTP server; the production runner polls them
(fetch, parse, one atomic batch, dead letters, feed health, KPIs) and the alert rules evaluate the
result, so feed alerts carry hostile titles and descriptions. :func:`raise_by_api` then raises a
manual alert and adds notes through the JSON API, as an operator's script would.
"""

from __future__ import annotations

import csv
import io
import json
import time
import urllib.request
import xml.etree.ElementTree as ET
import zipfile
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any, Mapping
from urllib.parse import urlsplit

import redis
from google.transit import gtfs_realtime_pb2 as rt

from app import kpis, store
from app.alerts import evaluation
from app.config import load_settings
from app.model.domains import DOMAINS
from app.model.records import Event
from app.ops.runner_process import build_runner
from app.pipeline.runner import FeedSchedule
from data_adapters import registry
from data_adapters.base import Adapter
from data_adapters.city.open311 import parse_services
from tests.support.local_http import LocalHttpServer

PAYLOADS: tuple[str, ...] = (
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(2)>",
    "${alert(3)}",
    "`${alert(4)}`",
    "javascript:alert(5)",
    '"><svg onload=alert(6)>',
    "</textarea><script>alert(7)</script>",
    "[x](javascript:alert(8))",
)
SCRIPT, IMG, TEMPLATE, BACKTICK, JS_URL, SVG, TEXTAREA, MARKDOWN = range(len(PAYLOADS))
CAP_NS = "urn:oasis:names:tc:emergency:cap:1.2"
ID_PREFIX = "xss-transit"  # shared by the GTFS and GTFS-rt feeds, so an alert finds its stop

# Where each thing stands on the map: apart, so that hovering one never picks another.
HOSPITAL = (28.565, 112.330)
STOP = (28.540, 112.345)
VEHICLE = (28.556, 112.386)
SENML_SENSOR = (28.534, 112.372)
STA_SENSOR = (28.571, 112.366)
STA_SENSOR2 = (28.575, 112.374)  # the second Datastream's Thing: its own marker, not under the first
REQUEST = (28.546, 112.398)
MANUAL_ALERT = (28.576, 112.349)
CAP_RING = ((28.515, 112.300), (28.515, 112.320), (28.530, 112.320), (28.530, 112.300))


@dataclass
class Hostile:
    """Hands out one tagged hostile string per field and remembers which field got which."""

    fields: dict[str, str] = field(default_factory=dict)

    def text(self, name: str, payload: int | None = None) -> str:
        """``name`` followed by a hostile payload (the next in turn unless one is asked for)."""
        if name in self.fields:
            return self.fields[name]
        chosen = PAYLOADS[len(self.fields) % len(PAYLOADS) if payload is None else payload]
        self.fields[name] = f"{name} {chosen}"
        return self.fields[name]

    def url(self, name: str) -> str:
        """A ``javascript:`` URL for a field that holds a link (the tag rides in a JS comment)."""
        self.fields.setdefault(name, f"{PAYLOADS[JS_URL]}//{name}")
        return self.fields[name]

    def __getitem__(self, name: str) -> str:
        return self.fields[name]


# -- payloads ----------------------------------------------------------------------------------------
def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def _csv(rows: list[list[str]]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue()


def gtfs_zip(h: Hostile) -> bytes:
    """A GTFS static zip: agency, one stop and one route, every name hostile (ids too)."""
    members = {
        "agency.txt": [["agency_id", "agency_name", "agency_url", "agency_timezone"],
                       ["a1", h.text("xss.gtfs.agency"), h.url("xss.gtfs.agency_url"),
                        "Asia/Shanghai"]],
        "stops.txt": [["stop_id", "stop_code", "stop_name", "stop_lat", "stop_lon"],
                      [h.text("xss.gtfs.stop_id", SVG), h.text("xss.gtfs.stop_code"),
                       h.text("xss.gtfs.stop_name", SCRIPT), str(STOP[0]), str(STOP[1])]],
        "routes.txt": [["route_id", "agency_id", "route_short_name", "route_long_name", "route_type"],
                       ["r1", "a1", h.text("xss.gtfs.route_short", TEXTAREA),
                        h.text("xss.gtfs.route_long", IMG), "3"]],
    }
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, rows in members.items():
            archive.writestr(name, _csv(rows))
    return out.getvalue()


def gtfs_rt(h: Hostile, now: float) -> bytes:
    """A GTFS-rt message: a vehicle, its trip's delay and a service alert, all text hostile."""
    message = rt.FeedMessage()
    message.header.gtfs_realtime_version = "2.0"
    message.header.incrementality = rt.FeedHeader.FULL_DATASET
    message.header.timestamp = int(now)
    entity = message.entity.add()
    entity.id = "v1"
    vp = entity.vehicle
    vp.position.latitude, vp.position.longitude = VEHICLE
    vp.vehicle.id = h.text("xss.rt.vehicle_id", IMG)
    vp.vehicle.label = h.text("xss.rt.label", SVG)
    vp.trip.trip_id = h.text("xss.rt.trip_id", BACKTICK)
    vp.trip.route_id = h.text("xss.rt.route_id", SCRIPT)
    vp.stop_id = h.text("xss.rt.stop_id")
    vp.timestamp = int(now)
    update = message.entity.add()
    update.id = "tu1"
    update.trip_update.trip.trip_id = h["xss.rt.trip_id"]
    update.trip_update.vehicle.id = h["xss.rt.vehicle_id"]
    update.trip_update.delay = 420
    alert_entity = message.entity.add()
    alert_entity.id = h.text("xss.rt.alert_id", TEMPLATE)
    alert = alert_entity.alert
    alert.severity_level = rt.Alert.SEVERE
    for target, text in ((alert.header_text, h.text("xss.rt.header", SCRIPT)),
                         (alert.description_text, h.text("xss.rt.description", TEXTAREA)),
                         (alert.url, h.url("xss.rt.url"))):
        translation = target.translation.add()
        translation.text = text
        translation.language = "en"
    informed = alert.informed_entity.add()
    informed.stop_id = h["xss.gtfs.stop_id"]
    informed.route_id = h["xss.rt.route_id"]
    return message.SerializeToString()


def senml(h: Hostile, now: float) -> bytes:
    """A SenML pack: a positioned sensor whose unit is hostile, then records a resolver must refuse
    (a hostile name, a hostile text value)."""
    pack = [
        {"bn": "xss-senml-1/", "bt": now, "n": "temperature", "u": h.text("xss.senml.unit", IMG),
         "v": 12.5},
        {"n": "pressure", "u": "kPa", "v": 150.0},
        {"n": "lat", "u": "lat", "v": SENML_SENSOR[0]},
        {"n": "lon", "u": "lon", "v": SENML_SENSOR[1]},
        {"n": "status", "vs": h.text("xss.senml.vs")},
        {"bn": h.text("xss.senml.name", SCRIPT), "n": "pressure", "u": "bar", "v": 3.0},
    ]
    return json.dumps(pack).encode()


def sensorthings(h: Hostile, now: float) -> bytes:
    """SensorThings Observations with their Datastream, ObservedProperty and Thing expanded: every
    name, description and unit hostile; a second Datastream whose unit is only a hostile symbol."""
    thing = {"@iot.id": 7, "name": h.text("xss.sta.thing", TEXTAREA),
             "description": h.text("xss.sta.thing_desc"),
             "properties": {"role": h.text("xss.sta.role")},
             "Locations": [{"name": h.text("xss.sta.location"), "encodingType": "application/geo+json",
                            "location": {"type": "Point",
                                         "coordinates": [STA_SENSOR[1], STA_SENSOR[0]]}}]}

    # The second Datastream (its unit only a hostile symbol: kept as a generic reading) is on a
    # Thing of its own elsewhere, so that each sensor's marker can be clicked on its own.
    other = {**thing, "@iot.id": 8, "Locations": [{**thing["Locations"][0], "location": {
        "type": "Point", "coordinates": [STA_SENSOR2[1], STA_SENSOR2[0]]}}]}

    def stream(ref: int, unit: dict[str, str]) -> dict[str, Any]:
        return {"@iot.id": ref, "name": h.text(f"xss.sta.ds{ref}", SVG if ref == 1 else None),
                "description": h.text(f"xss.sta.ds{ref}_desc"), "unitOfMeasurement": unit,
                "ObservedProperty": {"name": h.text(f"xss.sta.op{ref}", BACKTICK if ref == 1 else None),
                                     "definition": h.url(f"xss.sta.op{ref}_def")},
                "Thing": thing if ref == 1 else other}

    good = stream(1, {"name": h.text("xss.sta.unit_name"), "symbol": h.text("xss.sta.symbol"),
                      "definition": "ucum:kPa"})
    bad = stream(2, {"name": h.text("xss.sta.unit2_name"), "symbol": h.text("xss.sta.symbol2")})
    rows = [{"@iot.id": 100 + i, "phenomenonTime": _iso(now - 60 * (i + 1)), "result": 310.0,
             "Datastream": ds} for i, ds in enumerate((good, bad))]
    return json.dumps({"value": rows, "@iot.nextLink": h.url("xss.sta.next_link")}).encode()


def fhir(h: Hostile, now: float) -> bytes:
    """A FHIR searchset: an Organization, its hospital Location and a nearly full SANER report."""
    organization = {
        "resourceType": "Organization", "id": "org1", "active": True,
        "name": h.text("xss.fhir.org_name", IMG),
        "address": [{"text": h.text("xss.fhir.org_address")}],
        "telecom": [{"system": "url", "value": h.url("xss.fhir.org_url")}],
    }
    location = {
        "resourceType": "Location", "id": "h1", "status": "active",
        "meta": {"lastUpdated": _iso(now)},
        "name": h.text("xss.fhir.loc_name", SVG),
        "address": {"line": [h.text("xss.fhir.loc_line", SCRIPT)], "city": h.text("xss.fhir.loc_city")},
        "telecom": [{"system": "url", "value": h.url("xss.fhir.loc_url")},
                    {"system": "phone", "value": h.text("xss.fhir.loc_phone")}],
        "position": {"latitude": HOSPITAL[0], "longitude": HOSPITAL[1]},
        "managingOrganization": {"reference": "Organization/org1",
                                 "display": h.text("xss.fhir.org_display")},
    }
    saner = "http://hl7.org/fhir/uv/saner/CodeSystem/MeasuredValues"
    populations = [{"code": {"coding": [{"system": saner, "code": code}],
                             "text": h.text(f"xss.fhir.pop_{code}")}, "count": count}
                   for code, count in (("numbeds", 100), ("numBedsOcc", 99), ("numICUBeds", 10),
                                       ("numICUBedsOcc", 10))]
    report = {"resourceType": "MeasureReport", "id": "mr1", "status": "complete", "type": "summary",
              "measure": "http://hl7.org/fhir/uv/saner/Measure/CDCPatientImpactAndHospitalCapacity",
              "subject": {"reference": "Location/h1", "display": h.text("xss.fhir.subject_display")},
              "date": _iso(now - 120), "period": {"start": _iso(now - 86_400), "end": _iso(now - 120)},
              "group": [{"population": populations}]}
    bundle = {"resourceType": "Bundle", "type": "searchset", "timestamp": _iso(now),
              "entry": [{"fullUrl": f"http://127.0.0.1/fhir/{r['resourceType']}/{r['id']}",
                         "resource": r} for r in (organization, location, report)]}
    return json.dumps(bundle).encode()


def open311_requests(h: Hostile, now: float) -> bytes:
    """An Open311 requests.json: one request past its expected time, every text field hostile."""
    return json.dumps([{
        "service_request_id": h.text("xss.311.id", TEMPLATE),
        "status": h.text("xss.311.status"),
        "status_notes": h.text("xss.311.status_notes", TEXTAREA),
        "service_name": h.text("xss.311.service_name", IMG),
        "service_code": h.text("xss.311.service_code"),
        "description": h.text("xss.311.description", SCRIPT),
        "agency_responsible": h.text("xss.311.agency"),
        "address": h.text("xss.311.address", SVG),
        "media_url": h.url("xss.311.media_url"),
        "requested_datetime": _iso(now - 3 * 86_400),
        "updated_datetime": _iso(now - 3600),
        "expected_datetime": _iso(now - 86_400),
        "lat": REQUEST[0], "long": REQUEST[1],
    }]).encode()


def open311_services(h: Hostile) -> bytes:
    """An Open311 services.json whose name, description, group and keywords are hostile."""
    return json.dumps([{"service_code": h.text("xss.311svc.code"),
                        "service_name": h.text("xss.311svc.name", BACKTICK),
                        "description": h.text("xss.311svc.description", MARKDOWN),
                        "group": h.text("xss.311svc.group"), "keywords": h.text("xss.311svc.keywords"),
                        "metadata": False, "type": "realtime"}]).encode()


def open311_error(h: Hostile) -> bytes:
    """An Open311 error answer: its description becomes the feed's last error on screens."""
    return json.dumps([{"code": 403, "description": h.text("xss.311.error", SCRIPT)}]).encode()


def cap(h: Hostile, now: float) -> bytes:
    """A CAP 1.2 alert (Extreme, over part of the city) whose every text element is hostile."""
    def sub(parent: ET.Element, name: str, text: str | None = None) -> ET.Element:
        element = ET.SubElement(parent, f"{{{CAP_NS}}}{name}")
        element.text = text
        return element

    def cap_time(ts: float) -> str:
        return datetime.fromtimestamp(int(ts), timezone(timedelta(hours=8))).isoformat()

    root = ET.Element(f"{{{CAP_NS}}}alert")
    sub(root, "identifier", h.text("xss.cap.identifier"))
    sub(root, "sender", h.text("xss.cap.sender"))
    sub(root, "sent", cap_time(now - 60))
    sub(root, "status", "Actual")
    sub(root, "msgType", "Alert")
    sub(root, "scope", "Public")
    sub(root, "note", h.text("xss.cap.note"))
    info = sub(root, "info")
    sub(info, "language", "en-US")
    sub(info, "category", "Met")
    sub(info, "event", h.text("xss.cap.event", TEMPLATE))
    sub(info, "urgency", "Immediate")
    sub(info, "severity", "Extreme")
    sub(info, "certainty", "Observed")
    sub(info, "expires", cap_time(now + 86_400))
    sub(info, "senderName", h.text("xss.cap.sender_name"))
    sub(info, "headline", h.text("xss.cap.headline", IMG))
    sub(info, "description", h.text("xss.cap.description", SVG))
    sub(info, "instruction", h.text("xss.cap.instruction", TEXTAREA))
    sub(info, "web", h.url("xss.cap.web"))
    sub(info, "contact", h.text("xss.cap.contact"))
    area = sub(info, "area")
    sub(area, "areaDesc", h.text("xss.cap.area", BACKTICK))
    ring = list(CAP_RING) + [CAP_RING[0]]
    sub(area, "polygon", " ".join(f"{lat},{lon}" for lat, lon in ring))
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


# -- serving and polling ----------------------------------------------------------------------------
class FeedServer(LocalHttpServer):
    """Serves fixed payloads by path (the query is ignored, as the adapters add their own)."""

    def __init__(self, payloads: Mapping[str, tuple[int, str, bytes]]) -> None:
        self.payloads = dict(payloads)
        super().__init__()

    def respond(self, request: BaseHTTPRequestHandler) -> tuple[int, dict[str, str], bytes]:
        """The payload of the request's path, or 404."""
        found = self.payloads.get(urlsplit(request.path).path)
        if found is None:
            return 404, {"Content-Type": "text/plain"}, b"not found"
        status, content_type, body = found
        return status, {"Content-Type": content_type}, body


def feed_configs(origin: str) -> list[dict[str, Any]]:
    """The feeds of the hostile city, as an installation would configure them."""
    return [
        {"name": "xss-gtfs", "adapter": "gtfs_static", "url": f"{origin}/gtfs.zip",
         "id_prefix": ID_PREFIX},
        {"name": "xss-rt", "adapter": "gtfs_rt", "url": f"{origin}/rt.pb", "id_prefix": ID_PREFIX},
        {"name": "xss-senml", "adapter": "senml_http", "url": f"{origin}/senml.json"},
        {"name": "xss-sta", "adapter": "sensorthings", "url": f"{origin}/sta/v1.1",
         "metrics": {"xss.sta.ds": "pressure"}},
        {"name": "xss-fhir", "adapter": "fhir", "url": f"{origin}/fhir/Location"},
        {"name": "xss-311", "adapter": "open311", "base_url": f"{origin}/open311"},
        {"name": "xss-311-broken", "adapter": "open311", "url": f"{origin}/broken/requests.json"},
        {"name": "xss-cap", "adapter": "cap", "url": f"{origin}/cap.xml"},
    ]


def payloads(h: Hostile, now: float) -> dict[str, tuple[int, str, bytes]]:
    """Path -> (status, content type, body) of every hostile feed."""
    json_type = "application/json"
    return {
        "/gtfs.zip": (200, "application/zip", gtfs_zip(h)),
        "/rt.pb": (200, "application/x-protobuf", gtfs_rt(h, now)),
        "/senml.json": (200, "application/senml+json", senml(h, now)),
        "/sta/v1.1/Observations": (200, json_type, sensorthings(h, now)),
        "/fhir/Location": (200, "application/fhir+json", fhir(h, now)),
        "/open311/requests.json": (200, json_type, open311_requests(h, now)),
        "/broken/requests.json": (200, json_type, open311_error(h)),
        "/cap.xml": (200, "application/cap+xml", cap(h, now)),
    }


@dataclass
class HostileCity:
    """What :func:`ingest_hostile_city` stored: the strings, the adapters, the alerts it raised."""

    hostile: Hostile
    adapters: list[Adapter]
    raised: list[str]


def ingest_hostile_city(r: redis.Redis, redis_url: str, data_dir: Path,
                        now: float | None = None) -> HostileCity:
    """Poll every hostile feed once with the production runner, refresh the KPIs and evaluate the
    alert rules: the store then holds hostile entities, events, KPIs, feed errors and alerts."""
    now = time.time() if now is None else now
    h = Hostile()
    server = FeedServer(payloads(h, now))
    try:
        settings = load_settings(environ={"CITYOPS_DATA_DIR": str(data_dir),
                                          "CITYOPS_REDIS_URL": redis_url})
        adapters = [registry.build(config) for config in feed_configs(server.origin)]
        runner = build_runner(settings, redis_url, adapters, owner="xss-test")
        for adapter in adapters:
            runner.poll(r, FeedSchedule(adapter))
    finally:
        server.close()
    # The adapter polls only requests; services come from services.json through the same parser.
    services = list(parse_services(open311_services(h), "xss-311", now))
    store.entities.write_batch(r, "city", "xss-311", events=[s for s in services if isinstance(s, Event)])
    for domain in DOMAINS:
        kpis.refresh(r, domain, now)
    result = evaluation.evaluate(r, now)
    return HostileCity(h, adapters, result.raised)


# -- the JSON API -----------------------------------------------------------------------------------
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def api(base_url: str, token: str, path: str, body: Mapping[str, Any]) -> dict[str, Any]:
    """POST ``body`` to the API as the token's holder (loopback only, never through a proxy)."""
    assert urlsplit(base_url).hostname == "127.0.0.1", base_url
    request = urllib.request.Request(
        f"{base_url}/api/v1{path}", data=json.dumps(body).encode(), method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    with _DIRECT.open(request, timeout=15) as response:
        return json.loads(response.read())  # type: ignore[no-any-return]


def raise_by_api(h: Hostile, base_url: str, token: str) -> str:
    """A manual alert with a hostile title and description, then a hostile note and an
    acknowledgement with a hostile note, all through the API; returns the alert's id."""
    alert = api(base_url, token, "/alerts", {
        "title": h.text("xss.api.title", SVG), "domain": "medical", "severity": "critical",
        "lat": MANUAL_ALERT[0], "lon": MANUAL_ALERT[1],
        "description": h.text("xss.api.description", MARKDOWN)})
    alert_id = str(alert["id"])
    api(base_url, token, f"/alerts/{alert_id}/note", {"text": h.text("xss.api.note", TEXTAREA)})
    api(base_url, token, f"/alerts/{alert_id}/ack", {"note": h.text("xss.api.ack_note", BACKTICK)})
    return alert_id
