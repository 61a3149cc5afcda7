"""An alert as an OASIS CAP 1.2 message (checked against the OASIS schema and read back by the CAP
adapter's parser in the tests).

One identifier is one message. The first export of an alert version issues its message (recorded
in app/store/cap_messages.py); exporting the same version again gives that message, with the same
``sent``, and a changed alert (a new version) gets a new identifier. Messages about one alert form
chains: an Alert, then Updates while it stays active, then a Cancel once it has cleared; each
Update and Cancel references the messages of its chain that were actually issued. An alert that
reopens after a Cancel starts a new chain with a new Alert.

Everything written is text a person reads (``event`` is the kind of incident, ``areaDesc`` a place,
parameters are named and valued in words) and is made legal for XML first (app/model/text.py):
feed text may hold control characters that would make the document ill-formed.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Mapping

import redis

from app import i18n, store
from app.model.cap import CAP_SEVERITY_OF
from app.model.text import xml_safe
from app.store import cap_messages

CAP_NS = "urn:oasis:names:tc:emergency:cap:1.2"
# CAP says sender identifies the originator and must not hold spaces, commas, "<" or "&".
CAP_SENDER = "cityops"
CAP_CATEGORY = {"transport": "Transport", "water": "Infra", "medical": "Health", "city": "Safety"}
CAP_LANG = "en"  # <info><language> en-US: the export's texts are the catalogue's English
CLEARED = frozenset({"cleared_unack", "cleared_ack"})
EVENT_SOURCES = frozenset({"manual", "rule", "staleness", "gtfs_rt", "cap"})


@dataclass(frozen=True)
class CapMessage:
    """One issued CAP message: its identifier, when it was sent (Unix seconds), its msgType, and
    the (identifier, sent) of the messages it references."""

    identifier: str
    sent: float
    msg_type: str
    references: tuple[tuple[str, float], ...] = ()

    def as_record(self) -> dict[str, Any]:
        return {"identifier": self.identifier, "sent": self.sent, "msg_type": self.msg_type,
                "references": [list(ref) for ref in self.references]}

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> CapMessage:
        return cls(str(record["identifier"]), float(record["sent"]), str(record["msg_type"]),
                   tuple((str(i), float(s)) for i, s in record.get("references") or ()))


# -- which message ----------------------------------------------------------------------------------
def cap_time(ts: float) -> str:
    """A CAP dateTime: whole seconds, UTC written as "-00:00" (CAP forbids "Z")."""
    moment = datetime.fromtimestamp(round(ts), timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + "-00:00"


def plan_message(alert: Mapping[str, Any], issued: Mapping[int, CapMessage], now: float) -> CapMessage:
    """The message to issue for the alert's current version, given those issued before.

    Active: an Update of the open chain, or a new Alert when no chain is open (never issued, or
    the last chain was cancelled). Cleared: a Cancel of the last chain, or, when nothing was ever
    issued, an Alert whose urgency says it is past.
    """
    version = int(alert["version"])
    chain: list[CapMessage] = []
    open_chain = False
    for earlier in (issued[v] for v in sorted(issued) if v < version):
        if earlier.msg_type == "Alert":
            chain, open_chain = [earlier], True
        elif earlier.msg_type == "Update" and open_chain:
            chain.append(earlier)
        elif earlier.msg_type == "Cancel":
            open_chain = False  # the chain stays what a repeated Cancel refers to
    if alert["state"] in CLEARED:
        msg_type = "Cancel" if chain else "Alert"
    else:
        msg_type = "Update" if open_chain else "Alert"
    references = tuple((m.identifier, m.sent) for m in chain) if msg_type != "Alert" else ()
    # Whole seconds: CAP's dateTime has no fractions, and a reference must match what was sent.
    return CapMessage(f"{alert['id']}.v{version}", float(round(now)), msg_type, references)


def issue_message(r: redis.Redis, alert: Mapping[str, Any], now: float) -> tuple[CapMessage, bool]:
    """The message of the alert's current version: the one issued before, or a new one recorded
    now. Returns (message, True when it was issued by this call)."""
    issued = {v: CapMessage.from_record(m)
              for v, m in cap_messages.read(r, alert["id"]).items()}
    version = int(alert["version"])
    if version in issued:
        return issued[version], False
    planned = plan_message(alert, issued, now)
    recorded = CapMessage.from_record(cap_messages.record(r, alert["id"], version,
                                                                planned.as_record()))
    return recorded, recorded == planned


# -- what it says ---------------------------------------------------------------------------------
def describe(r: redis.Redis, alert: Mapping[str, Any]) -> tuple[str, str]:
    """(event, areaDesc) in words: the kind of incident and the place, never internal ids.

    An imported CAP warning keeps its own event and area description; an alert about a live entity
    with a name is placed by that name; else the domain and the position (or the whole city).
    """
    event, place = "", ""
    if alert.get("source") == "cap" and alert.get("entity"):
        stored = store.entities.read_event(r, alert["domain"], alert["entity"]) or {}
        attrs = stored.get("attrs") or {}
        event, place = str(attrs.get("event") or ""), str(attrs.get("areaDesc") or "")
    elif alert.get("entity"):
        entity = store.entities.read_entity(r, alert["domain"], alert["entity"]) or {}
        place = str((entity.get("attrs") or {}).get("name") or "")
    source = alert.get("source") if alert.get("source") in EVENT_SOURCES else "other"
    with i18n.use_language(CAP_LANG):
        domain = i18n.label("domain", str(alert["domain"]))
        if not xml_safe(event).strip():
            event = i18n.t(f"cap.event.{source}", domain=domain)
        if not xml_safe(place).strip():
            place = (i18n.t("cap.area_point", domain=domain, lat=f"{alert['lat']:.4f}",
                            lon=f"{alert['lon']:.4f}")
                     if alert.get("lat") is not None and alert.get("lon") is not None
                     else i18n.t("cap.area_city", domain=domain))
    return event.strip(), place.strip()


def _polygons(area: Mapping[str, Any] | None) -> list[str]:
    """The outer rings of a GeoJSON Polygon/MultiPolygon as CAP polygons ("lat,lon lat,lon ...")."""
    if not area:
        return []
    coords = area.get("coordinates") or []
    rings = ([coords[0]] if area.get("type") == "Polygon" and coords
             else [p[0] for p in coords if p] if area.get("type") == "MultiPolygon" else [])
    return [" ".join(f"{p[1]:.6f},{p[0]:.6f}" for p in ring) for ring in rings if len(ring) >= 4]


def _parameters(alert: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The alert's own facts as CAP parameters, named and valued in words."""
    t = i18n.t
    with i18n.use_language(CAP_LANG):
        return [(t("cap.param.status"), i18n.label("alert_state", str(alert["state"]))),
                (t("cap.param.domain"), i18n.label("domain", str(alert["domain"]))),
                (t("cap.param.count"), str(alert["count"])),
                (t("cap.param.acked_by"), alert["acked_by"] or t("cap.nobody")),
                (t("cap.param.assignee"), alert["assignee"] or t("cap.nobody")),
                (t("cap.param.escalated"), t("cap.yes" if alert["escalated"] else "cap.no"))]


def cap_document(alert: Mapping[str, Any], message: CapMessage, event: str, place: str) -> bytes:
    """The alert as the CAP 1.2 <alert> ``message`` (ElementTree escapes markup; every text is
    made legal for XML first)."""
    def sub(parent: ET.Element, name: str, text: object = None) -> ET.Element:
        element = ET.SubElement(parent, f"{{{CAP_NS}}}{name}")
        if text is not None:
            element.text = xml_safe(text)
        return element

    past = message.msg_type == "Cancel" or alert["state"] in CLEARED
    root = ET.Element(f"{{{CAP_NS}}}alert")
    sub(root, "identifier", message.identifier)
    sub(root, "sender", CAP_SENDER)
    sub(root, "sent", cap_time(message.sent))
    sub(root, "status", "Actual")
    sub(root, "msgType", message.msg_type)
    sub(root, "scope", "Public")
    if message.references:
        sub(root, "references", " ".join(f"{CAP_SENDER},{identifier},{cap_time(sent)}"
                                         for identifier, sent in message.references))
    info = sub(root, "info")
    sub(info, "language", "en-US")
    sub(info, "category", CAP_CATEGORY.get(alert["domain"], "Other"))
    sub(info, "event", event)
    if past:
        sub(info, "responseType", "AllClear")
    sub(info, "urgency", "Past" if past else "Immediate")
    sub(info, "severity", CAP_SEVERITY_OF.get(alert["severity"], "Unknown"))
    sub(info, "certainty", "Observed")
    if alert.get("opened_at"):
        sub(info, "onset", cap_time(alert["opened_at"]))
    sub(info, "senderName", i18n.t("cap.sender_name", lang=CAP_LANG))
    sub(info, "headline", alert["title"])
    if xml_safe(alert.get("description") or "").strip():
        sub(info, "description", alert["description"])
    for name, value in _parameters(alert):
        parameter = sub(info, "parameter")
        sub(parameter, "valueName", name)
        sub(parameter, "value", value)
    polygons = _polygons(alert.get("area"))
    area = sub(info, "area")
    sub(area, "areaDesc", place)
    for polygon in polygons:
        sub(area, "polygon", polygon)
    if alert.get("lat") is not None and alert.get("lon") is not None:
        # Radius 0: a point (CAP has no point element).
        sub(area, "circle", f"{alert['lat']:.6f},{alert['lon']:.6f} 0")
    return ET.tostring(root, encoding="utf-8", xml_declaration=True, default_namespace=CAP_NS)
