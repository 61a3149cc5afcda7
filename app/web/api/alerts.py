"""The alerts API (/api/v1/alerts, /api/v1/audit): list, raise, act, CAP 1.2 export, audit log.

Every role may read; operators and admins act on every alert, emergency staff on the domains set
on their user (every domain when none is set), officials and wall tokens never (403). Every body
field is checked: a missing, mistyped or over-long one is a 400 naming the field, and so is an
assignee who could not act on the alert (role or domains; issue 19). Two people
acting at once: one wins, the other gets 409 ``{"error", "by", "at"}``; a claim never takes an
alert from its holder (that is ``takeover``). Lists come in pages (app/web/api/paging.py); alert
answers carry an ETag made from the alerts' version, so a poller that is up to date gets 304.
"""

from __future__ import annotations

import time
from typing import Any, Mapping

import redis
from flask import Blueprint, Response, abort, g, jsonify

from app import accounts, alerts, audit
from app.accounts import admin
from app.alerts.cap_export import cap_document, describe, issue_message
from app.alerts.screens import version as alerts_version
from app.model import roles
from app.model.alerts import ALERT_ID, MAX_DESCRIPTION, MAX_NOTE, MAX_TITLE, SEVERITIES, STATES, UNACKED
from app.model.domains import DOMAINS
from app.model.geo import valid_position
from app.web.api import paging
from app.web.api.etags import versioned
from app.web.api.schema import Answer, Field, bad_request, inputs
from app.web.context import client_addr, current_principal, redis_client, require_roles

api_alerts = Blueprint("api_alerts", __name__, url_prefix="/api/v1")
MAX_AUDIT = paging.MAX_LIMIT


# -- input schema ----------------------------------------------------------------------------------
# What each endpoint accepts (app.web.api.schema.inputs checks it before the view runs; tests walk it).
LIST_QUERY = (Field("state", "choices", choices=STATES, description="Only these states.",
                    example="active_unack,active_ack"),
              Field("domain", "choices", choices=DOMAINS, description="Only these domains.",
                    example="water"),
              Field("severity", "choices", choices=SEVERITIES,
                    description="Only these severities.", example="critical,major"),
              *paging.PAGE_QUERY)
AUDIT_QUERY = (*paging.PAGE_QUERY,
               Field("count", "int", low=1, high=MAX_AUDIT,
                     description="The same as `limit` (kept for scripts written before paging)."))
RAISE_BODY = (Field("title", "text", required=True, max_length=MAX_TITLE, example="Burst main"),
              Field("domain", "choice", required=True, max_length=32, choices=DOMAINS,
                    example="water"),
              Field("severity", "choice", required=True, max_length=32, choices=SEVERITIES,
                    example="major"),
              Field("lat", "number", low=-90.0, high=90.0, description="With `lon`, or neither.",
                    example=28.56),
              Field("lon", "number", low=-180.0, high=180.0, example=112.35),
              Field("description", "text", max_length=MAX_DESCRIPTION, multiline=True,
                    example="Reported by phone"))
_NOTE = Field("note", "text", max_length=MAX_NOTE, multiline=True, example="seen")
ACTION_BODIES: dict[str, tuple[Field, ...]] = {
    "ack": (_NOTE,),
    "assign": (Field("user", "text", required=True, max_length=64,
                     description="The user to assign it to: an enabled user who may act on this "
                                 "alert (role and domains), else 400.", example="operator1"),
               Field("expected", "text", max_length=64,
                     description="The assignee you saw (\"\" for none): if someone assigned it "
                                 "meanwhile, the answer is 409.", example="")),
    "claim": (),
    "takeover": (Field("expected", "text", max_length=64,
                       description="The holder you confirmed taking it from (\"\" for none): if "
                                   "someone else holds it by now, the answer is 409.",
                       example=""),),
    "note": (Field("text", "text", required=True, max_length=MAX_NOTE, multiline=True,
                   example="valve closed"),),
    "resolve": (_NOTE,),
}
ACTIONS = tuple(ACTION_BODIES)
BULK_ACK_BODY = (Field("ids", "list", required=True, max_length=40, high=alerts.MAX_BULK,
                       description="The alerts to acknowledge (at most "
                                   f"{alerts.MAX_BULK}).", example=["al-0123456789abcdef"]),
                 _NOTE)
ALERT_ANSWER = (Answer(200, "Alert", "The alert as it is now."),
                Answer(409, "Conflict", "Someone else acted first: who and when."))


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
def _alerts_version(**_url: Any) -> str:
    """The alerts' version: every lifecycle step and link bumps it (app/store/lua/alert_*.lua)."""
    return str(alerts_version(redis_client()))


def _list_order(alert: dict[str, Any]) -> tuple[int, float, str]:
    """The lists' order (app.model.alerts.newest_unacked_first) with the id to break ties."""
    return (0 if alert["state"] in UNACKED else 1, -(alert.get("last_seen") or 0.0), alert["id"])


@api_alerts.get("/alerts")
@require_roles(roles.API_READERS)
@inputs(query=LIST_QUERY, answers=(Answer(200, "AlertPage", "A page of alerts."),))
@versioned(_alerts_version)
def list_alerts() -> Response:
    """Alerts by ``?state=&domain=&severity=`` (comma-separated), newest unacknowledged first."""
    asked, r = g.query, redis_client()
    found, next_cursor = paging.fetched_page(
        lambda n: alerts.list_alerts(r, states=asked["state"], domains=asked["domain"],
                                     severities=asked["severity"], limit=n), _list_order)
    return paging.answer("alerts", found, next_cursor)


@api_alerts.get("/alerts/<alert_id>")
@require_roles(roles.API_READERS)
@inputs(answers=(Answer(200, "AlertDetail", "The alert with its timeline."),))
@versioned(_alerts_version)
def get_alert(alert_id: str) -> Response:
    """One alert with its whole timeline."""
    r = redis_client()
    alert = _grouped(r, _alert_or_404(r, alert_id))
    return jsonify(dict(alert, timeline=alerts.timeline(r, alert_id)))


def _entry_order(entry: dict[str, Any]) -> tuple[int, int]:
    """Newest first: the stream id ("<ms>-<seq>") backwards."""
    ms, _, seq = str(entry["id"]).partition("-")
    return (-int(ms), -int(seq or 0))


@api_alerts.get("/audit", endpoint="audit")
@require_roles(roles.ADMINS)
@inputs(query=AUDIT_QUERY, answers=(Answer(200, "AuditPage", "A page of the audit log."),))
def audit_log() -> Response:
    """The audit log, newest first (admins)."""
    if g.query["count"] is not None:
        if g.query["limit"] is not None:
            bad_request("give 'limit' or 'count', not both")
        g.query["limit"] = g.query["count"]
    r = redis_client()
    # count > 1: one entry standing for repeated refusals of an anonymous client (window_s).
    found, next_cursor = paging.fetched_page(
        lambda n: [e.as_json() for e in audit.recent(r, n)], _entry_order)
    return paging.answer("audit", found, next_cursor)


# -- changing ----------------------------------------------------------------------------------------
@api_alerts.post("/alerts")
@require_roles(alerts.RAISERS)
@inputs(body=RAISE_BODY, answers=(Answer(201, "Alert", "The alert raised."),))
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


@api_alerts.post("/alerts/ack")
@require_roles(alerts.ACTORS)
@inputs(body=BULK_ACK_BODY, answers=(Answer(200, "AckSummary", "What was acknowledged and what "
                                                               "was refused, and why."),))
def acknowledge_many() -> Response:
    """Acknowledge several alerts at once {ids, note}: each one its own atomic step and audit
    line; the answer lists those acknowledged and those refused (missing, not permitted, or
    already acknowledged: by whom and when)."""
    body = g.body
    bad = [alert_id for alert_id in body["ids"] if not ALERT_ID.match(alert_id)]
    if bad:
        bad_request(f"'ids': '{bad[0][:40]}' is not an alert id")
    result = alerts.acknowledge_many(redis_client(), _principal(), body["ids"],
                                     note=body["note"] or "", addr=client_addr())
    return jsonify(result.as_json())


@api_alerts.post("/alerts/<alert_id>/<action>")
@require_roles(alerts.ACTORS)
@inputs(body=ACTION_BODIES, body_by="action", answers=ALERT_ANSWER)
def act(alert_id: str, action: str) -> Response | tuple[Response, int]:
    """ack {note}, assign {user, expected}, claim {} (only an alert nobody holds: 409 names the
    holder and since when), takeover {expected} (take it from the holder you confirmed), note
    {text}, resolve {note}: 200 with the alert."""
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
    except alerts.NotAssignable as exc:
        bad_request(f"'user': {exc}")  # someone who could not act on it (issue 19), audited
    except alerts.Conflict as exc:
        return jsonify({"error": exc.why, "by": exc.by, "at": exc.at}), 409
    except alerts.AlertNotFound as exc:
        abort(404, description=str(exc))
    return jsonify(_grouped(r, changed))


@api_alerts.get("/alerts/<alert_id>/cap")
@require_roles(roles.API_READERS)
@inputs(answers=(Answer(200, "", "The CAP 1.2 message (XML).", media="application/cap+xml"),))
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
