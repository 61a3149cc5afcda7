"""The incidents API (/api/v1/incidents, /api/v1/tasks, /api/v1/sop, /api/v1/notices): declare,
change and read incidents, act on tasks, accept or dismiss proposals, the CAP 1.2 public warning.

Every role may read; operators and admins declare incidents and judge proposals; the incident's
commander, operators and admins change it; a user of a task's department (and they) act on the
task; officials and wall tokens never change anything (403). Every body field is checked: a
missing, mistyped or over-long one is a 400 naming the field. Two people acting at once: one
wins, the other gets 409 ``{"error", "reason", "by", "at", "at_iso"}``. Times are given in Unix
seconds and, beside each, in ISO 8601 (``<name>_iso``).
"""

from __future__ import annotations

import time
from typing import Any, Callable, NoReturn

from flask import Blueprint, Response, abort, g, jsonify

from app import incidents
from app.incidents import cap, sop
from app.incidents.queries import iso
from app.model.incidents import (
    LEVELS,
    MAX_ALERTS,
    MAX_AREA_TEXT,
    MAX_DESCRIPTION,
    MAX_DUE_MINUTES,
    MAX_NOTE,
    MAX_RADIUS_M,
    MAX_TITLE,
    MIN_RADIUS_M,
    PROPOSAL_STATES,
    STATUSES,
    TASK_OPEN,
)
from app.model.principal import Principal
from app.web.api.schema import Field, bad_request, inputs
from app.web.context import client_addr, current_principal, redis_client, require_roles, settings

api_incidents = Blueprint("api_incidents", __name__, url_prefix="/api/v1")
MAX_LIMIT = 1000
MAX_VERSION = 1e12
YES_NO = ("yes", "no")

# -- input schema ----------------------------------------------------------------------------------
# What each endpoint accepts (app.web.api.schema.inputs checks it before the view runs; tests walk it).
LIST_QUERY = (Field("status", "choices", choices=STATUSES),
              Field("type", "text", max_length=40),
              Field("limit", "int", low=1, high=MAX_LIMIT))
TASKS_QUERY = (Field("department", "text", max_length=40),
               Field("state", "choices", choices=tuple(sorted(TASK_OPEN))),
               Field("owner", "text", max_length=64),
               Field("overdue", "choice", choices=YES_NO),
               Field("limit", "int", low=1, high=MAX_LIMIT))
PROPOSALS_QUERY = (Field("state", "choices", choices=PROPOSAL_STATES),
                   Field("limit", "int", low=1, high=MAX_LIMIT))
NOTICES_QUERY = (Field("department", "text", max_length=40),
                 Field("count", "int", low=1, high=MAX_LIMIT))
_POINT = (Field("lat", "number", low=-90.0, high=90.0),
          Field("lon", "number", low=-180.0, high=180.0),
          Field("radius_m", "number", low=MIN_RADIUS_M, high=MAX_RADIUS_M),
          Field("area", "text", max_length=MAX_AREA_TEXT))
_VERSION = Field("version", "number", low=0, high=MAX_VERSION)
_NOTE = Field("note", "text", max_length=MAX_NOTE, multiline=True)
DECLARE_BODY = (Field("title", "text", required=True, max_length=MAX_TITLE),
                Field("type", "text", required=True, max_length=40),
                Field("level", "choice", max_length=8, choices=LEVELS),
                Field("commander", "text", max_length=64),
                Field("alerts", "text", max_length=MAX_ALERTS * 21),  # comma-separated alert ids
                *_POINT,
                Field("description", "text", max_length=MAX_DESCRIPTION, multiline=True))
INCIDENT_BODIES: dict[str, tuple[Field, ...]] = {
    "status": (Field("status", "choice", required=True, max_length=16, choices=STATUSES), _NOTE,
               _VERSION),
    "level": (Field("level", "choice", required=True, max_length=8, choices=LEVELS), _NOTE,
              _VERSION),
    "commander": (Field("commander", "text", required=True, max_length=64), _VERSION),
    "area": (*_POINT, _VERSION),
    "public": (Field("public", "choice", required=True, max_length=8, choices=YES_NO), _VERSION),
    "link": (Field("alert", "text", required=True, max_length=40), _NOTE),
    "unlink": (Field("alert", "text", required=True, max_length=40), _NOTE),
    "step": (Field("title", "text", required=True, max_length=MAX_TITLE),
             Field("title_zh", "text", max_length=MAX_TITLE),
             Field("department", "text", required=True, max_length=40),
             Field("due_minutes", "number", required=True, low=0, high=MAX_DUE_MINUTES),
             Field("required", "choice", max_length=8, choices=YES_NO)),
    "note": (Field("text", "text", required=True, max_length=MAX_NOTE, multiline=True),),
}
PROPOSAL_BODIES: dict[str, tuple[Field, ...]] = {
    "accept": (Field("title", "text", max_length=MAX_TITLE),
               Field("type", "text", max_length=40),
               Field("level", "choice", max_length=8, choices=LEVELS),
               Field("commander", "text", max_length=64),
               Field("description", "text", max_length=MAX_DESCRIPTION, multiline=True)),
    "dismiss": (Field("reason", "text", max_length=MAX_NOTE, multiline=True),),
}
TASK_BODIES: dict[str, tuple[Field, ...]] = {
    "take": (_NOTE,),
    "finish": (_NOTE,),
    "cannot": (Field("reason", "text", required=True, max_length=MAX_NOTE, multiline=True),),
    "note": (Field("text", "text", required=True, max_length=MAX_NOTE, multiline=True),),
    "reassign": (Field("department", "text", required=True, max_length=40),
                 Field("owner", "text", max_length=64),
                 Field("expected", "text", max_length=64), _NOTE),
}


# -- helpers ----------------------------------------------------------------------------------------
def _principal() -> Principal:
    principal = current_principal()
    assert principal is not None  # require_roles refused anonymous callers already
    return principal


def _catalogue() -> sop.Catalogue:
    return sop.current(settings().incidents.sop_file)[0]


def _refused(exc: incidents.IncidentError) -> NoReturn:
    """The HTTP answer of a refused operation: 404, 403, 409 with who and when, or 400."""
    if isinstance(exc, incidents.IncidentNotFound):
        abort(404, description=str(exc))
    if isinstance(exc, incidents.NotPermitted):
        abort(403, description=str(exc))
    if isinstance(exc, incidents.Conflict):
        response = jsonify({"error": exc.why, "reason": exc.reason, "by": exc.by, "at": exc.at,
                            "at_iso": iso(exc.at)})
        response.status_code = 409
        abort(response)
    bad_request(str(exc) if exc.field else f"'{exc.field or 'body'}': {exc}")


def _run(step: Callable[[], Any]) -> Any:
    try:
        return step()
    except incidents.IncidentError as exc:
        _refused(exc)


def _version(body: dict[str, Any]) -> int | None:
    value = body.get("version")
    if value is None:
        return None
    if value != int(value):
        bad_request("'version' must be a whole number")
    return int(value)


def _incident_in_full(incident_id: str) -> dict[str, Any]:
    r = redis_client()
    incident = incidents.get_incident(r, incident_id)
    if incident is None:
        abort(404, description=f"no incident '{incident_id[:40]}'")
    return dict(incident, timeline=incidents.timeline(r, incident_id),
                task_list=incidents.incident_tasks(r, incident_id),
                links=incidents.alert_links(r, incident_id))


# -- incidents ----------------------------------------------------------------------------------------
@api_incidents.get("/incidents")
@require_roles(incidents.READERS)
@inputs(query=LIST_QUERY)
def list_incidents() -> Response:
    """Incidents by ``?status=`` (comma-separated) and ``?type=``: open ones first, gravest first."""
    asked = g.query
    found = incidents.list_incidents(redis_client(), statuses=asked["status"],
                                     types=[asked["type"]] if asked["type"] else None,
                                     limit=asked["limit"] or 200)
    return jsonify({"incidents": found})


@api_incidents.post("/incidents")
@require_roles(incidents.DECLARERS)
@inputs(body=DECLARE_BODY)
def declare() -> tuple[Response, int]:
    """Declare an incident from alerts (``alerts``: comma-separated ids) or from nothing."""
    body = g.body
    incident = _run(lambda: incidents.declare(
        redis_client(), _principal(), _catalogue(), title=body["title"], kind=body["type"],
        level=body["level"], commander=body["commander"],
        alert_ids=[a for a in body["alerts"].split(",") if a.strip()], lat=body["lat"],
        lon=body["lon"], radius_m=body["radius_m"], area=body["area"] or None,
        description=body["description"], addr=client_addr()))
    return jsonify(_incident_in_full(incident["id"])), 201


@api_incidents.get("/incidents/<incident_id>")
@require_roles(incidents.READERS)
@inputs()
def get_incident(incident_id: str) -> Response:
    """One incident with its timeline, its tasks and every alert linked to it now or before."""
    return jsonify(_incident_in_full(incident_id))


@api_incidents.post("/incidents/<incident_id>/<incident_action>")
@require_roles(incidents.ACTORS)
@inputs(body=INCIDENT_BODIES, body_by="incident_action")
def act(incident_id: str, incident_action: str) -> Response | tuple[Response, int]:
    """status, level, commander, area, public, link, unlink, step (201 with the task), note."""
    r, principal, body, addr = redis_client(), _principal(), g.body, client_addr()
    if incident_action in ("link", "unlink"):
        _run(lambda: incidents.link(r, principal, incident_id, body["alert"],
                                    unlink=incident_action == "unlink", note=body["note"],
                                    addr=addr))
    elif incident_action == "step":
        task = _run(lambda: incidents.add_step(
            r, principal, _catalogue(), incident_id, title=body["title"],
            title_zh=body["title_zh"], department=body["department"],
            due_minutes=body["due_minutes"], required=body["required"] != "no", addr=addr))
        return jsonify(task), 201
    else:
        _run(lambda: incidents.change(
            r, principal, _catalogue(), incident_id, incident_action,
            status=body.get("status", ""), level=body.get("level", ""),
            commander=body.get("commander", ""), public=body.get("public") == "yes",
            lat=body.get("lat"), lon=body.get("lon"), radius_m=body.get("radius_m"),
            area=body.get("area") or None, note=body.get("note", body.get("text", "")),
            version=_version(body), addr=addr))
    return jsonify(_incident_in_full(incident_id))


@api_incidents.get("/incidents/<incident_id>/cap")
@require_roles(incidents.READERS)
@inputs()
def incident_cap(incident_id: str) -> Response:
    """The incident as CAP 1.2 XML: a Draft until it is public, then Alert, Update or Cancel."""
    incident = incidents.get_incident(redis_client(), incident_id)
    if incident is None:
        abort(404, description=f"no incident '{incident_id[:40]}'")
    return Response(cap.cap_document(incident, time.time()), mimetype="application/cap+xml",
                    headers={"Content-Disposition": f'inline; filename="{incident_id}.cap.xml"'})


# -- proposals ----------------------------------------------------------------------------------------
@api_incidents.get("/incidents/proposals")
@require_roles(incidents.READERS)
@inputs(query=PROPOSALS_QUERY)
def list_proposals() -> Response:
    """Incidents proposed from clustered alerts: the pending ones, or those of ``?state=``."""
    asked = g.query
    states = set(asked["state"] or ("pending",))
    found = incidents.list_proposals(redis_client(), pending_only=states == {"pending"},
                                     limit=MAX_LIMIT)
    return jsonify({"proposals": [p for p in found if p["state"] in states][:asked["limit"] or 200]})


@api_incidents.post("/incidents/proposals/<proposal_id>/<proposal_action>")
@require_roles(incidents.DECLARERS)
@inputs(body=PROPOSAL_BODIES, body_by="proposal_action")
def proposal_act(proposal_id: str, proposal_action: str) -> Response | tuple[Response, int]:
    """accept (201 with the incident declared from it) or dismiss (200 with the proposal)."""
    r, principal, body, addr = redis_client(), _principal(), g.body, client_addr()
    if proposal_action == "dismiss":
        return jsonify(_run(lambda: incidents.dismiss(r, principal, proposal_id, body["reason"],
                                                      addr=addr)))
    incident = _run(lambda: incidents.accept(
        r, principal, _catalogue(), proposal_id, title=body["title"], kind=body["type"],
        level=body["level"], commander=body["commander"], description=body["description"],
        addr=addr))
    return jsonify(_incident_in_full(incident["id"])), 201


# -- tasks -------------------------------------------------------------------------------------------
@api_incidents.get("/tasks")
@require_roles(incidents.READERS)
@inputs(query=TASKS_QUERY)
def list_tasks() -> Response:
    """Open and accepted tasks of open incidents, soonest due first: ``?department=`` (one),
    ``?state=``, ``?owner=``, ``?overdue=yes``."""
    asked = g.query
    found = incidents.list_tasks(redis_client(), department=asked["department"],
                                 states=asked["state"], owner=asked["owner"],
                                 overdue_only=asked["overdue"] == "yes",
                                 limit=asked["limit"] or 200)
    return jsonify({"tasks": found})


@api_incidents.get("/tasks/<task_id>")
@require_roles(incidents.READERS)
@inputs()
def get_task(task_id: str) -> Response:
    """One task with its part of the incident's timeline."""
    r = redis_client()
    task = incidents.get_task(r, task_id)
    if task is None:
        abort(404, description=f"no task '{task_id[:40]}'")
    story = [e for e in incidents.timeline(r, task["incident"]) if e["task"] == task_id]
    return jsonify(dict(task, timeline=story))


@api_incidents.post("/tasks/<task_id>/<task_action>")
@require_roles(incidents.ACTORS)
@inputs(body=TASK_BODIES, body_by="task_action")
def task_act(task_id: str, task_action: str) -> Response:
    """take {note}, finish {note}, cannot {reason}, note {text}, reassign {department, owner,
    expected, note}: 200 with the task."""
    body = g.body
    task = _run(lambda: incidents.act_on_task(
        redis_client(), _principal(), _catalogue(), task_id, task_action,
        text_=body.get("reason") or body.get("text") or body.get("note", ""),
        department=body.get("department", ""), owner=body.get("owner", ""),
        expected=body.get("expected", ""), addr=client_addr()))
    return jsonify(task)


# -- the catalogue and the departments' notices -------------------------------------------------------------
@api_incidents.get("/sop")
@require_roles(incidents.READERS)
@inputs()
def catalogue() -> Response:
    """The SOP catalogue in force: departments, incident types with their steps, the proposal rule."""
    found, error = sop.current(settings().incidents.sop_file)
    return jsonify(dict(sop.catalogue_json(found), error=error or ""))


@api_incidents.get("/notices")
@require_roles(incidents.READERS)
@inputs(query=NOTICES_QUERY)
def notices() -> Response:
    """What the system told a department (``?department=``; without it, the caller's own)."""
    r = redis_client()
    asked = g.query
    departments = ([asked["department"]] if asked["department"]
                   else list(incidents.departments_of(r, _principal().name)))
    return jsonify({"notices": incidents.notices(r, departments, asked["count"] or 50)})
