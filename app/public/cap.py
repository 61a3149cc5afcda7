"""The public feed's CAP 1.2 messages: a warning from a feed passed on as it was sent, an incident
made public written as our own warning.

A feed's warning keeps its identifier, sender, sent time and references, so a platform that also
takes the original source sees one message, not two; values the OASIS schema would refuse (a time
in "Z", a category or urgency outside CAP's lists, a language tag that is not one) are replaced
by what CAP allows. An incident's message names no internal id, number or operator: its
identifier is a digest of the incident and of when it was made public, an Update references
that Alert, and a closed incident is a Cancel. Every text is written by ElementTree (which
escapes it) after app.public.content.clean dropped what XML forbids.
"""

from __future__ import annotations

import hashlib
import re
import xml.etree.ElementTree as ET
from datetime import datetime, timezone
from typing import Any, Mapping

from app import i18n
from app.model.cap import CAP_SEVERITY_OF
from app.public.content import PublicWarning, clean

CAP_NS = "urn:oasis:names:tc:emergency:cap:1.2"
SENDER = "cityops"
CATEGORIES = frozenset({"Geo", "Met", "Safety", "Security", "Rescue", "Fire", "Health", "Env",
                        "Transport", "Infra", "CBRNE", "Other"})
DOMAIN_CATEGORY = {"transport": "Transport", "water": "Infra", "medical": "Health", "city": "Safety"}
URGENCIES = frozenset({"Immediate", "Expected", "Future", "Past", "Unknown"})
SEVERITIES = frozenset({"Extreme", "Severe", "Moderate", "Minor", "Unknown"})
CERTAINTIES = frozenset({"Observed", "Likely", "Possible", "Unlikely", "Unknown"})
PASSED_ON_TYPES = frozenset({"Alert", "Update", "Cancel"})
_CAP_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[-+]\d\d:\d\d")
_LANGUAGE = re.compile(r"[A-Za-z]{1,8}(-[A-Za-z0-9]{1,8})*")
# CAP: sender and identifier hold no spaces, commas or restricted characters (< and &).
_TOKEN = re.compile(r"[^\s,<&]+")
_WEB = re.compile(r"https?://[^\s<>\"]+")
LANGUAGE_TAGS = {"en": "en-US", "zh": "zh-CN"}

ET.register_namespace("cap", CAP_NS)


def cap_time(ts: float) -> str:
    """A CAP dateTime: whole seconds, UTC written as "-00:00" (CAP forbids "Z")."""
    return datetime.fromtimestamp(round(ts), timezone.utc).strftime("%Y-%m-%dT%H:%M:%S") + "-00:00"


def _digest(*parts: object) -> str:
    return hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()[:20]


def incident_identifier(incident: Mapping[str, Any]) -> str:
    """The identifier of the Alert that published the incident (a digest, not its id)."""
    return f"{SENDER}-warning-{_digest(incident['id'], incident.get('public_at'))}"


def _sub(parent: ET.Element, name: str, text: object = None) -> ET.Element:
    element = ET.SubElement(parent, f"{{{CAP_NS}}}{name}")
    if text is not None:
        element.text = clean(text, 100_000)
    return element


def _polygons(area: Mapping[str, Any] | None) -> list[str]:
    """The outer rings of a GeoJSON Polygon or MultiPolygon as CAP polygons ("lat,lon ...")."""
    if not isinstance(area, Mapping):
        return []
    coords = area.get("coordinates") or []
    rings = ([coords[0]] if area.get("type") == "Polygon" and coords
             else [p[0] for p in coords if p] if area.get("type") == "MultiPolygon" else [])
    out = []
    for ring in rings:
        try:
            points = [f"{float(p[1]):.6f},{float(p[0]):.6f}" for p in ring]
        except (TypeError, ValueError, IndexError):
            continue
        if len(points) >= 4:
            out.append(" ".join(points))
    return out


def _header(root: ET.Element, identifier: str, sender: str, sent: str, msg_type: str,
            references: str = "") -> None:
    _sub(root, "identifier", identifier)
    _sub(root, "sender", sender)
    _sub(root, "sent", sent)
    _sub(root, "status", "Actual")
    _sub(root, "msgType", msg_type)
    _sub(root, "scope", "Public")
    if references:
        _sub(root, "references", references)


def _area(info: ET.Element, description: str, polygons: list[str], circles: list[str]) -> None:
    if not (description or polygons or circles):
        return
    area = _sub(info, "area")
    _sub(area, "areaDesc", description or i18n.t("public.area_mapped", lang=i18n.EN))
    for polygon in polygons:
        _sub(area, "polygon", polygon)
    for circle in circles:
        _sub(area, "circle", circle)


def _feed_references(attrs: Mapping[str, Any]) -> str:
    refs = []
    for ref in attrs.get("references") or ():
        if (isinstance(ref, (list, tuple)) and len(ref) == 3
                and all(isinstance(p, str) and _TOKEN.fullmatch(p) for p in ref)):
            refs.append(",".join(ref))
    return " ".join(refs)


def _circles(attrs: Mapping[str, Any]) -> list[str]:
    out = []
    for circle in attrs.get("circles") or ():
        try:
            out.append(f"{float(circle['lat']):.6f},{float(circle['lon']):.6f} "
                       f"{float(circle['radius_km']):g}")
        except (TypeError, ValueError, KeyError):
            continue
    return out


def feed_alert(warning: PublicWarning) -> ET.Element:
    """A CAP warning from a feed, passed on with its own identity and what it said."""
    event = warning.source
    attrs = event.get("attrs") or {}
    identifier, sender = str(attrs.get("identifier") or ""), str(attrs.get("sender") or "")
    if not (_TOKEN.fullmatch(identifier) and _TOKEN.fullmatch(sender)):
        # Not a valid CAP identity: passed on under our own, digested from the stored one.
        identifier, sender = f"{SENDER}-relay-{_digest(warning.key)}", SENDER
    sent = str(attrs.get("sent") or "").strip()
    msg_type = "Cancel" if warning.cancelled else str(attrs.get("msgType") or "Alert")
    root = ET.Element(f"{{{CAP_NS}}}alert")
    _header(root, identifier, sender, sent if _CAP_TIME.fullmatch(sent) else cap_time(warning.sent),
            msg_type if msg_type in PASSED_ON_TYPES else "Alert", _feed_references(attrs))
    info = _sub(root, "info")
    language = str(attrs.get("language") or "")
    _sub(info, "language", language if _LANGUAGE.fullmatch(language) else "en-US")
    categories = [c for c in attrs.get("category") or () if c in CATEGORIES] or ["Other"]
    for category in dict.fromkeys(categories):
        _sub(info, "category", category)
    _sub(info, "event", warning.event or warning.headline or "Warning")
    urgency = attrs.get("urgency")
    _sub(info, "urgency", urgency if urgency in URGENCIES else "Unknown")
    severity = attrs.get("cap_severity")
    _sub(info, "severity", severity if severity in SEVERITIES
         else CAP_SEVERITY_OF.get(warning.severity, "Unknown"))
    certainty = attrs.get("certainty")
    _sub(info, "certainty", certainty if certainty in CERTAINTIES else "Unknown")
    if warning.onset is not None:
        _sub(info, "onset", cap_time(warning.onset))
    if warning.expires is not None:
        _sub(info, "expires", cap_time(warning.expires))
    if warning.headline:
        _sub(info, "headline", warning.headline)
    if warning.description:
        _sub(info, "description", warning.description)
    if warning.instruction:
        _sub(info, "instruction", warning.instruction)
    web = str(attrs.get("web") or "")
    if _WEB.fullmatch(web) and len(web) <= 2000:
        _sub(info, "web", web)
    _area(info, warning.area, _polygons(event.get("area")), _circles(attrs))
    return root


def incident_alert(warning: PublicWarning) -> ET.Element:
    """An incident made public as our own warning, in English and Chinese."""
    incident = warning.source
    first = incident_identifier(incident)
    public_at = float(incident.get("public_at") or warning.sent)
    if warning.cancelled:
        msg_type, identifier, sent = "Cancel", f"{first}-end", incident.get("closed_at") or warning.updated
    elif warning.updated > public_at:
        msg_type, identifier = "Update", f"{first}-{_digest(incident.get('version'), warning.updated)}"
        sent = warning.updated
    else:
        msg_type, identifier, sent = "Alert", first, public_at
    root = ET.Element(f"{{{CAP_NS}}}alert")
    _header(root, identifier, SENDER, cap_time(float(sent)), msg_type,
            "" if msg_type == "Alert" else f"{SENDER},{first},{cap_time(public_at)}")
    for lang, event in ((i18n.EN, warning.event), (i18n.ZH, warning.event_zh)):
        info = _sub(root, "info")
        _sub(info, "language", LANGUAGE_TAGS[lang])
        for domain in (incident.get("domains") or ["city"])[:1]:
            _sub(info, "category", DOMAIN_CATEGORY.get(domain, "Other"))
        _sub(info, "event", event or warning.headline)
        if warning.cancelled:
            _sub(info, "responseType", "AllClear")
        _sub(info, "urgency", "Past" if warning.cancelled else "Immediate")
        _sub(info, "severity", CAP_SEVERITY_OF.get(warning.severity, "Unknown"))
        _sub(info, "certainty", "Observed")
        if warning.onset is not None:
            _sub(info, "onset", cap_time(warning.onset))
        _sub(info, "senderName", i18n.t("cap.sender_name", lang=lang))
        _sub(info, "headline", warning.headline)
        if warning.description:
            _sub(info, "description", warning.description)
        with i18n.use_language(lang):
            for name, value in ((i18n.t("public.level"), i18n.label("incident_level", warning.level)),
                                (i18n.t("cap.param.status"),
                                 i18n.label("incident_status", warning.status))):
                parameter = _sub(info, "parameter")
                _sub(parameter, "valueName", name)
                _sub(parameter, "value", value)
        circles = []
        if not _polygons(incident.get("area")) and incident.get("lat") is not None:
            radius_km = (incident.get("radius_m") or 0.0) / 1000.0
            circles.append(f"{incident['lat']:.6f},{incident['lon']:.6f} {radius_km:g}")
        _area(info, warning.headline, _polygons(incident.get("area")), circles)
    return root


def alert_element(warning: PublicWarning) -> ET.Element:
    """The CAP <alert> element of a warning, whatever its origin."""
    return incident_alert(warning) if warning.origin == "incident" else feed_alert(warning)


def alert_identity(element: ET.Element) -> tuple[str, str, str]:
    """(sender, identifier, sent) of a CAP <alert> element built here."""
    def text(name: str) -> str:
        found = element.find(f"{{{CAP_NS}}}{name}")
        return found.text or "" if found is not None else ""
    return text("sender"), text("identifier"), text("sent")
