"""The alerts API (/api/v1/alerts, /api/v1/audit): list, raise, act, CAP 1.2 export, audit log.

Every role may read; operators and admins act on every alert, emergency staff on the domains set
on their user, officials and wall tokens never (403). Every body field is checked: a missing,
mistyped or over-long one is a 400 naming the field. Two people acting at once: one wins, the
other gets 409 ``{"error", "by", "at"}``.
"""

from __future__ import annotations

import math
import time
import xml.etree.ElementTree as ET
from datetime import datetime, timezone
from typing import Any, Mapping

import redis
from flask import Blueprint, Response, abort, jsonify, request

from app import accounts, alerts, roles, store
from app.context import client_addr, current_principal, redis_client, require_roles
from data_adapters.base import valid_position
from data_adapters.cap.parse import CAP_SEVERITY_OF

api_alerts = Blueprint("api_alerts", __name__, url_prefix="/api/v1")
MAX_LIMIT = 1000
MAX_AUDIT = 1000
ACTIONS = ("ack", "assign", "note", "resolve")

CAP_NS = "urn:oasis:names:tc:emergency:cap:1.2"
# CAP says sender identifies the originator and must not hold spaces, commas, "<" or "&".
CAP_SENDER = "cityops"
CAP_CATEGORY = {"transport": "Transport", "water": "Infra", "medical": "Health", "city": "Safety"}


# -- validation -------------------------------------------------------------------------------------
def _bad(message: str) -> None:
    abort(400, description=message)


def _body(allowed: set[str]) -> dict[str, Any]:
    """The request's JSON object, with no field but ``allowed``."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        _bad("send a JSON object (Content-Type: application/json)")
    unknown = sorted(set(body) - allowed)  # type: ignore[arg-type]
    if unknown:
        _bad(f"unknown field '{unknown[0]}': expected {', '.join(sorted(allowed))}")
    return body  # type: ignore[return-value]


def _text(body: Mapping[str, Any], name: str, limit: int, required: bool = False) -> str:
    """A string field: present when ``required``, a string, not blank when required, not too long."""
    if name not in body or body[name] is None:
        if required:
            _bad(f"'{name}' is required")
        return ""
    value = body[name]
    if not isinstance(value, str):
        _bad(f"'{name}' must be a string")
    if len(value) > limit:
        _bad(f"'{name}' is longer than {limit} characters")
    if required and not value.strip():
        _bad(f"'{name}' must not be empty")
    return value.strip()


def _choice(body: Mapping[str, Any], name: str, allowed: tuple[str, ...]) -> str:
    value = _text(body, name, 32, required=True)
    if value not in allowed:
        _bad(f"'{name}' must be one of {', '.join(allowed)}")
    return value


def _coordinate(body: Mapping[str, Any], name: str) -> float | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        _bad(f"'{name}' must be a number")
    return float(value)


def _position(body: Mapping[str, Any]) -> tuple[float | None, float | None]:
    lat, lon = _coordinate(body, "lat"), _coordinate(body, "lon")
    if (lat is None) != (lon is None):
        _bad("give both 'lat' and 'lon', or neither")
    if lat is not None and not valid_position(lat, lon):
        _bad("'lat' must be within -90..90 and 'lon' within -180..180 (and not 0,0)")
    return lat, lon


def _filter(name: str, allowed: tuple[str, ...]) -> list[str] | None:
    """A ``?name=a,b`` filter: None when absent, 400 for a value not in ``allowed``."""
    raw = request.args.get(name)
    if raw is None or raw == "":
        return None
    if len(raw) > 200:
        _bad(f"'{name}' is too long")
    values = [v.strip() for v in raw.split(",") if v.strip()]
    unknown = [v for v in values if v not in allowed]
    if unknown:
        _bad(f"unknown {name} '{unknown[0][:40]}': use one of {', '.join(allowed)}")
    return values


def _int_arg(name: str, default: int, top: int) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= top:
        _bad(f"'{name}' must be a whole number from 1 to {top}")
    return int(raw)


def _principal() -> accounts.Principal:
    principal = current_principal()
    assert principal is not None  # require_roles refused anonymous callers already
    return principal


def _alert_or_404(r: redis.Redis, alert_id: str) -> dict[str, Any]:
    alert = alerts.get_alert(r, alert_id)
    if alert is None:
        abort(404, description=f"no alert '{alert_id[:40]}'")
    return alert  # type: ignore[return-value]


def _grouped(r: redis.Redis, alert: dict[str, Any]) -> dict[str, Any]:
    """One alert with its area group, judged against the open CAP warnings."""
    warnings = [a for a in alerts.list_alerts(r, open_only=True) if a["source"] == "cap"
                and a["id"] != alert["id"]]
    probe = dict(alert)
    alerts.assign_groups(warnings + [probe])
    return probe


# -- reading -----------------------------------------------------------------------------------------
@api_alerts.get("/alerts")
@require_roles(roles.API_READERS)
def list_alerts() -> Response:
    """Alerts by ``?state=&domain=&severity=`` (comma-separated), newest unacknowledged first."""
    found = alerts.list_alerts(
        redis_client(), states=_filter("state", alerts.STATES),
        domains=_filter("domain", store.DOMAINS), severities=_filter("severity", alerts.SEVERITIES),
        limit=_int_arg("limit", 200, MAX_LIMIT))
    return jsonify({"alerts": found})


@api_alerts.get("/alerts/<alert_id>")
@require_roles(roles.API_READERS)
def get_alert(alert_id: str) -> Response:
    """One alert with its whole timeline."""
    r = redis_client()
    alert = _grouped(r, _alert_or_404(r, alert_id))
    return jsonify(dict(alert, timeline=alerts.timeline(r, alert_id)))


@api_alerts.get("/audit")
@require_roles(roles.ADMINS)
def audit() -> Response:
    """The newest ``?count=`` (100) entries of the audit log, newest first (admins)."""
    entries = store.read_audit(redis_client(), _int_arg("count", 100, MAX_AUDIT))
    return jsonify({"audit": [{"id": e.id, "at": e.at, "actor": e.actor, "action": e.action,
                               "target": e.target, "addr": e.addr, "outcome": e.outcome,
                               "detail": e.detail} for e in entries]})


# -- changing ----------------------------------------------------------------------------------------
@api_alerts.post("/alerts")
@require_roles(alerts.RAISERS)
def raise_alert() -> tuple[Response, int]:
    """An incident raised by hand: title, domain, severity, optional lat/lon and description."""
    body = _body({"title", "domain", "severity", "lat", "lon", "description"})
    title = _text(body, "title", alerts.MAX_TITLE, required=True)
    domain = _choice(body, "domain", store.DOMAINS)
    severity = _choice(body, "severity", alerts.SEVERITIES)
    lat, lon = _position(body)
    description = _text(body, "description", alerts.MAX_DESCRIPTION)
    alert = alerts.raise_manual(redis_client(), title=title, domain=domain, severity=severity,
                                lat=lat, lon=lon, description=description,
                                actor=_principal().name, addr=client_addr())
    return jsonify(alert), 201


def _assignee(r: redis.Redis, body: Mapping[str, Any]) -> str:
    name = _text(body, "user", 64, required=True)
    try:
        name = accounts.validate_name(name)
    except accounts.AccountError as exc:
        _bad(f"'user': {exc}")
    user = store.get_user(r, name)
    if user is None:
        _bad(f"'user': no user '{name}'")
    if user.get("disabled") == "1":  # type: ignore[union-attr]
        _bad(f"'user': '{name}' is disabled")
    return name


@api_alerts.post("/alerts/<alert_id>/<action>")
@require_roles(alerts.ACTORS)
def act(alert_id: str, action: str) -> Response | tuple[Response, int]:
    """ack {note}, assign {user, expected}, note {text}, resolve {note}: 200 with the alert."""
    if action not in ACTIONS:
        abort(404, description=f"no action '{action[:20]}': use one of {', '.join(ACTIONS)}")
    r = redis_client()
    principal = _principal()
    if action == "assign":
        body = _body({"user", "expected"})
        user = _assignee(r, body)
        expected = _text(body, "expected", 64)
    elif action == "note":
        body = _body({"text"})
        text = _text(body, "text", alerts.MAX_NOTE, required=True)
    else:
        body = _body({"note"})
        text = _text(body, "note", alerts.MAX_NOTE)
    alert = _alert_or_404(r, alert_id)
    if not alerts.may_act(principal, alert):
        store.audit(r, principal.name, f"alert_{action}", target=alert_id, addr=client_addr(),
                    outcome="denied")
        abort(403, description=f"your role may not act on alerts of the {alert['domain']} domain")
    addr = client_addr()
    try:
        if action == "ack":
            changed = alerts.acknowledge(r, alert_id, principal.name, note=text, addr=addr)
        elif action == "assign":
            changed = alerts.assign(r, alert_id, principal.name, user, expected=expected, addr=addr)
        elif action == "note":
            changed = alerts.add_note(r, alert_id, principal.name, text, addr=addr)
        else:
            changed = alerts.resolve(r, alert_id, principal.name, note=text, addr=addr)
    except alerts.Conflict as exc:
        return jsonify({"error": exc.why, "by": exc.by, "at": exc.at}), 409
    except alerts.AlertNotFound as exc:
        abort(404, description=str(exc))
    return jsonify(_grouped(r, changed))


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


@api_alerts.get("/alerts/<alert_id>/cap")
@require_roles(roles.API_READERS)
def alert_cap(alert_id: str) -> Response:
    """The alert as CAP 1.2 XML; msgType Alert, Update or Cancel as its state says."""
    alert = _alert_or_404(redis_client(), alert_id)
    return Response(cap_document(alert, time.time()), mimetype="application/cap+xml",
                    headers={"Content-Disposition": f'inline; filename="{alert_id}.cap.xml"'})
