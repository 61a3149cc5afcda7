"""The alerts API (/api/v1/alerts, /api/v1/audit): list, raise, act, CAP 1.2 export, audit log.

Every role may read; operators and admins act on every alert, emergency staff on the domains set
on their user, officials and wall tokens never (403). Every body field is checked: a missing,
mistyped or over-long one is a 400 naming the field. Two people acting at once: one wins, the
other gets 409 ``{"error", "by", "at"}``.
"""

from __future__ import annotations

import time
from typing import Any, Mapping

import redis
from flask import Blueprint, Response, abort, g, jsonify

from app import accounts, alerts, audit
from app.accounts import admin
from app.alerts.cap_export import cap_document, describe, issue_message
from app.model import roles
from app.model.alerts import MAX_DESCRIPTION, MAX_NOTE, MAX_TITLE, SEVERITIES, STATES
from app.model.domains import DOMAINS
from app.model.geo import valid_position
from app.web.api.schema import Field, bad_request, inputs
from app.web.context import client_addr, current_principal, redis_client, require_roles

api_alerts = Blueprint("api_alerts", __name__, url_prefix="/api/v1")
MAX_LIMIT = 1000
MAX_AUDIT = 1000


# -- input schema ----------------------------------------------------------------------------------
# What each endpoint accepts (app.web.api.schema.inputs checks it before the view runs; tests walk it).
LIST_QUERY = (Field("state", "choices", choices=STATES),
              Field("domain", "choices", choices=DOMAINS),
              Field("severity", "choices", choices=SEVERITIES),
              Field("limit", "int", low=1, high=MAX_LIMIT))
AUDIT_QUERY = (Field("count", "int", low=1, high=MAX_AUDIT),)
RAISE_BODY = (Field("title", "text", required=True, max_length=MAX_TITLE),
              Field("domain", "choice", required=True, max_length=32, choices=DOMAINS),
              Field("severity", "choice", required=True, max_length=32, choices=SEVERITIES),
              Field("lat", "number", low=-90.0, high=90.0),
              Field("lon", "number", low=-180.0, high=180.0),
              Field("description", "text", max_length=MAX_DESCRIPTION, multiline=True))
ACTION_BODIES: dict[str, tuple[Field, ...]] = {
    "ack": (Field("note", "text", max_length=MAX_NOTE, multiline=True),),
    "assign": (Field("user", "text", required=True, max_length=64),
               Field("expected", "text", max_length=64)),
    "note": (Field("text", "text", required=True, max_length=MAX_NOTE, multiline=True),),
    "resolve": (Field("note", "text", max_length=MAX_NOTE, multiline=True),),
}
ACTIONS = tuple(ACTION_BODIES)


def _position(body: Mapping[str, Any]) -> tuple[float | None, float | None]:
    """Both coordinates or neither, and not the (0, 0) of a missing fix."""
    lat, lon = body["lat"], body["lon"]
    if (lat is None) != (lon is None):
        bad_request("give both 'lat' and 'lon', or neither")
    if lat is not None and not valid_position(lat, lon):
        bad_request("'lat' must be within -90..90 and 'lon' within -180..180 (and not 0,0)")
    return lat, lon


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
@inputs(query=LIST_QUERY)
def list_alerts() -> Response:
    """Alerts by ``?state=&domain=&severity=`` (comma-separated), newest unacknowledged first."""
    asked = g.query
    found = alerts.list_alerts(redis_client(), states=asked["state"], domains=asked["domain"],
                               severities=asked["severity"], limit=asked["limit"] or 200)
    return jsonify({"alerts": found})


@api_alerts.get("/alerts/<alert_id>")
@require_roles(roles.API_READERS)
@inputs()
def get_alert(alert_id: str) -> Response:
    """One alert with its whole timeline."""
    r = redis_client()
    alert = _grouped(r, _alert_or_404(r, alert_id))
    return jsonify(dict(alert, timeline=alerts.timeline(r, alert_id)))


@api_alerts.get("/audit", endpoint="audit")
@require_roles(roles.ADMINS)
@inputs(query=AUDIT_QUERY)
def audit_log() -> Response:
    """The newest ``?count=`` (100) entries of the audit log, newest first (admins)."""
    entries = audit.recent(redis_client(), g.query["count"] or 100)
    # count > 1: one entry standing for repeated refusals of an anonymous client (window_s).
    return jsonify({"audit": [e.as_json() for e in entries]})


# -- changing ----------------------------------------------------------------------------------------
@api_alerts.post("/alerts")
@require_roles(alerts.RAISERS)
@inputs(body=RAISE_BODY)
def raise_alert() -> tuple[Response, int]:
    """An incident raised by hand: title, domain, severity, optional lat/lon and description."""
    body = g.body
    lat, lon = _position(body)
    alert = alerts.raise_manual(redis_client(), title=body["title"], domain=body["domain"],
                                severity=body["severity"], lat=lat, lon=lon,
                                description=body["description"], actor=_principal().name,
                                addr=client_addr())
    return jsonify(alert), 201


def _assignee(r: redis.Redis, name: str) -> str:
    """An enabled user's normalized name, or 400 naming the field."""
    try:
        name = accounts.validate_name(name)
    except accounts.AccountError as exc:
        bad_request(f"'user': {exc}")
    user = admin.get_user(r, name)
    if user is None:
        bad_request(f"'user': no user '{name}'")
    if user.get("disabled") == "1":
        bad_request(f"'user': '{name}' is disabled")
    return name


@api_alerts.post("/alerts/<alert_id>/<action>")
@require_roles(alerts.ACTORS)
@inputs(body=ACTION_BODIES, body_by="action")
def act(alert_id: str, action: str) -> Response | tuple[Response, int]:
    """ack {note}, assign {user, expected}, note {text}, resolve {note}: 200 with the alert."""
    r = redis_client()
    principal = _principal()
    body = g.body
    user = _assignee(r, body["user"]) if action == "assign" else ""
    text = body["text"] if action == "note" else body.get("note", "")
    try:
        changed = alerts.act(r, principal, alert_id, action, text=text, user=user,
                             expected=body.get("expected", ""), addr=client_addr())
    except alerts.NotPermitted as exc:
        abort(403, description=str(exc))
    except alerts.Conflict as exc:
        return jsonify({"error": exc.why, "by": exc.by, "at": exc.at}), 409
    except alerts.AlertNotFound as exc:
        abort(404, description=str(exc))
    return jsonify(_grouped(r, changed))


@api_alerts.get("/alerts/<alert_id>/cap")
@require_roles(roles.API_READERS)
@inputs()
def alert_cap(alert_id: str) -> Response:
    """The alert as CAP 1.2 XML: the message issued for its current version (issued now, and
    audited, if this is the first export of that version); msgType Alert, Update or Cancel."""
    r = redis_client()
    alert = _alert_or_404(r, alert_id)
    message, issued = issue_message(r, alert, time.time())
    if issued:
        principal = _principal()
        audit.record(r, principal.name, "cap_issue", target=alert_id, addr=client_addr(),
                     detail=f"{message.msg_type} {message.identifier}")
    event, place = describe(r, alert)
    return Response(cap_document(alert, message, event, place), mimetype="application/cap+xml",
                    headers={"Content-Disposition": f'inline; filename="{alert_id}.cap.xml"'})
