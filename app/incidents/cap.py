"""An incident as an OASIS CAP 1.2 message: the public warning the SOP's "publish_cap" step issues.

Built here, beside the alerts' own export (app/alerts/cap_export.py), with ElementTree, which
escapes every text it writes. Until the incident is public the message is a Draft; once public it
is Actual; msgType is Alert when it has just been published, Update after any later change, and
Cancel once the incident is closed. The texts a person wrote (title, description) are sent as
written, in one info block per language (English and Simplified Chinese) naming the event.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import datetime, timezone
from typing import Any, Mapping

from app.model.cap import CAP_SEVERITY_OF
from app.model.incidents import LEVEL_COLOURS, LEVEL_SEVERITY

CAP_NS = "urn:oasis:names:tc:emergency:cap:1.2"
SENDER = "cityops"
CATEGORY = {"transport": "Transport", "water": "Infra", "medical": "Health", "city": "Safety"}
LEVEL_NAMES_ZH = {"I": "Ⅰ级（红色）", "II": "Ⅱ级（橙色）", "III": "Ⅲ级（黄色）", "IV": "Ⅳ级（蓝色）"}


def cap_time(ts: float) -> str:
    """A CAP dateTime: whole seconds, UTC written as "-00:00" (CAP forbids "Z")."""
    return datetime.fromtimestamp(round(ts), timezone.utc).strftime("%Y-%m-%dT%H:%M:%S") + "-00:00"


def msg_type(incident: Mapping[str, Any]) -> str:
    """Cancel once closed; Alert when the last change was its publication; else Update."""
    if incident["status"] == "closed":
        return "Cancel"
    just_published = incident["public"] and incident["public_at"] == incident["updated_at"]
    return "Alert" if just_published or not incident["public"] else "Update"


def _polygon(area: Mapping[str, Any] | None) -> list[str]:
    if not area:
        return []
    coords = area.get("coordinates") or []
    rings = [coords[0]] if area.get("type") == "Polygon" else [p[0] for p in coords if p]
    return [" ".join(f"{p[1]:.6f},{p[0]:.6f}" for p in ring) for ring in rings if len(ring) >= 4]


def cap_document(incident: Mapping[str, Any], sent: float) -> bytes:
    """The incident as one CAP 1.2 <alert>."""
    def sub(parent: ET.Element, name: str, value: str | None = None) -> ET.Element:
        element = ET.SubElement(parent, f"{{{CAP_NS}}}{name}")
        if value is not None:
            element.text = value
        return element

    kind = msg_type(incident)
    root = ET.Element(f"{{{CAP_NS}}}alert")
    sub(root, "identifier", incident["id"] if kind == "Alert" else
        f"{incident['id']}.v{incident['version']}")
    sub(root, "sender", SENDER)
    sub(root, "sent", cap_time(sent))
    sub(root, "status", "Actual" if incident["public"] else "Draft")
    sub(root, "msgType", kind)
    sub(root, "scope", "Public")
    if kind != "Alert":
        sub(root, "references", f"{SENDER},{incident['id']},{cap_time(incident['declared_at'])}")
    level = incident["level"]
    for language, event, level_name in (
            ("en-US", incident["type_name"], f"Level {level} ({LEVEL_COLOURS.get(level, '')})"),
            ("zh-CN", incident["type_name_zh"], LEVEL_NAMES_ZH.get(level, level))):
        info = sub(root, "info")
        sub(info, "language", language)
        for domain in incident["domains"][:1] or ["city"]:
            sub(info, "category", CATEGORY.get(domain, "Other"))
        sub(info, "event", event or incident["type"])
        sub(info, "urgency", "Past" if kind == "Cancel" else "Immediate")
        sub(info, "severity", CAP_SEVERITY_OF.get(LEVEL_SEVERITY.get(level, ""), "Unknown"))
        sub(info, "certainty", "Observed")
        sub(info, "onset", cap_time(incident["declared_at"]))
        sub(info, "senderName", "CityOps command center")
        sub(info, "headline", incident["title"])
        if incident.get("description"):
            sub(info, "description", incident["description"])
        for name, value in (("level", level_name), ("status", incident["status"]),
                            ("incident", f"#{incident['number']}")):
            parameter = sub(info, "parameter")
            sub(parameter, "valueName", name)
            sub(parameter, "value", value)
        polygons = _polygon(incident.get("area"))
        if polygons or incident.get("lat") is not None:
            area = sub(info, "area")
            sub(area, "areaDesc", incident["title"])
            for polygon in polygons:
                sub(area, "polygon", polygon)
            if not polygons and incident.get("lat") is not None:
                radius_km = (incident.get("radius_m") or 0.0) / 1000.0
                sub(area, "circle", f"{incident['lat']:.6f},{incident['lon']:.6f} {radius_km:g}")
    return ET.tostring(root, encoding="utf-8", xml_declaration=True, default_namespace=CAP_NS)
