"""An alert as an OASIS CAP 1.2 message (read back by the CAP adapter's parser in the tests)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import datetime, timezone
from typing import Any, Mapping

from app.model.cap import CAP_SEVERITY_OF

CAP_NS = "urn:oasis:names:tc:emergency:cap:1.2"
# CAP says sender identifies the originator and must not hold spaces, commas, "<" or "&".
CAP_SENDER = "cityops"
CAP_CATEGORY = {"transport": "Transport", "water": "Infra", "medical": "Health", "city": "Safety"}


# -- CAP 1.2 export ---------------------------------------------------------------------------------
def cap_time(ts: float) -> str:
    """A CAP dateTime: whole seconds, UTC written as "-00:00" (CAP forbids "Z")."""
    moment = datetime.fromtimestamp(round(ts), timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + "-00:00"


def cap_msg_type(alert: Mapping[str, Any]) -> str:
    """Alert when just raised, Update after any change while active, Cancel once cleared."""
    if alert["state"] in ("cleared_unack", "cleared_ack"):
        return "Cancel"
    return "Alert" if alert["version"] <= 1 else "Update"


def _polygons(area: Mapping[str, Any] | None) -> list[str]:
    """The outer rings of a GeoJSON Polygon/MultiPolygon as CAP polygons ("lat,lon lat,lon ...")."""
    if not area:
        return []
    coords = area.get("coordinates") or []
    rings = ([coords[0]] if area.get("type") == "Polygon" and coords
             else [p[0] for p in coords if p] if area.get("type") == "MultiPolygon" else [])
    return [" ".join(f"{p[1]:.6f},{p[0]:.6f}" for p in ring) for ring in rings if len(ring) >= 4]


def cap_document(alert: Mapping[str, Any], sent: float) -> bytes:
    """The alert as one CAP 1.2 <alert> (ElementTree escapes every text it writes)."""
    def sub(parent: ET.Element, name: str, text: str | None = None) -> ET.Element:
        element = ET.SubElement(parent, f"{{{CAP_NS}}}{name}")
        if text is not None:
            element.text = text
        return element

    msg_type = cap_msg_type(alert)
    root = ET.Element(f"{{{CAP_NS}}}alert")
    sub(root, "identifier", alert["id"] if msg_type == "Alert" else f"{alert['id']}.v{alert['version']}")
    sub(root, "sender", CAP_SENDER)
    sub(root, "sent", cap_time(sent))
    sub(root, "status", "Actual")
    sub(root, "msgType", msg_type)
    sub(root, "scope", "Public")
    if msg_type != "Alert":
        sub(root, "references", f"{CAP_SENDER},{alert['id']},{cap_time(alert['first_seen'])}")
    info = sub(root, "info")
    sub(info, "language", "en-US")
    sub(info, "category", CAP_CATEGORY.get(alert["domain"], "Other"))
    sub(info, "event", alert["rule"] or "Incident")
    sub(info, "urgency", "Past" if msg_type == "Cancel" else "Immediate")
    sub(info, "severity", CAP_SEVERITY_OF.get(alert["severity"], "Unknown"))
    sub(info, "certainty", "Observed")
    if alert.get("opened_at"):
        sub(info, "onset", cap_time(alert["opened_at"]))
    sub(info, "senderName", "CityOps command center")
    sub(info, "headline", alert["title"])
    if alert.get("description"):
        sub(info, "description", alert["description"])
    for name, value in (("state", alert["state"]), ("domain", alert["domain"]),
                        ("count", str(alert["count"])), ("acked_by", alert["acked_by"]),
                        ("assignee", alert["assignee"]),
                        ("escalated", "true" if alert["escalated"] else "false")):
        parameter = sub(info, "parameter")
        sub(parameter, "valueName", name)
        sub(parameter, "value", value)
    polygons = _polygons(alert.get("area"))
    if polygons or alert.get("lat") is not None:
        area = sub(info, "area")
        sub(area, "areaDesc", alert.get("entity") or alert["domain"])
        for polygon in polygons:
            sub(area, "polygon", polygon)
        if alert.get("lat") is not None and alert.get("lon") is not None:
            # Radius 0: a point (CAP has no point element).
            sub(area, "circle", f"{alert['lat']:.6f},{alert['lon']:.6f} 0")
    return ET.tostring(root, encoding="utf-8", xml_declaration=True, default_namespace=CAP_NS)
