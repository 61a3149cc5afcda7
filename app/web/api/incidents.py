"""The incidents API (/api/v1/incidents, /api/v1/tasks, /api/v1/sop, /api/v1/notices): declare,
change and read incidents, act on tasks, accept or dismiss proposals, the CAP 1.2 public warning.

Every role may read; operators and admins declare incidents and judge proposals; the incident's
commander, operators and admins change it; a user of a task's department (and they) act on the
task; officials and wall tokens never change anything (403). Every body field is checked: a
missing, mistyped or over-long one is a 400 naming the field. Two people acting at once: one
wins, the other gets 409 ``{"error", "reason", "by", "at", "at_iso"}``. Times are given in Unix
seconds and, beside each, in ISO 8601 (``<name>_iso``). Lists come in pages (app/web/api/paging.py).
"""

from __future__ import annotations

import time
from typing import Any, Callable, Mapping, NoReturn

from flask import Blueprint, Response, abort, g, jsonify

from app import incidents
from app.incidents import cap, sop
from app.incidents.queries import iso
from app.model.incidents import (
    CLOSED,
    LEVEL_RANK,
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
from app.web.api import paging
from app.web.api.schema import Answer, Field, bad_request, inputs
from app.web.context import client_addr, current_principal, redis_client, require_roles, settings

api_incidents = Blueprint("api_incidents", __name__, url_prefix="/api/v1")
MAX_NOTICES = 1000
MAX_VERSION = 1e12
YES_NO = ("yes", "no")

# -- input schema ----------------------------------------------------------------------------------
# What each endpoint accepts (app.web.api.schema.inputs checks it before the view runs; tests walk it).
LIST_QUERY = (Field("status", "choices", choices=STATUSES, description="Only these statuses.",
                    example="declared,responding"),
              Field("type", "text", max_length=40, description="Only this incident type (SOP).",
                    example="water_main_burst"),
              *paging.PAGE_QUERY)
TASKS_QUERY = (Field("department", "text", max_length=40, description="One department's tasks.",
                     example="water_bureau"),
               Field("state", "choices", choices=tuple(sorted(TASK_OPEN)),
                     description="Only these states.", example="open"),
               Field("owner", "text", max_length=64, description="Only the tasks this user took.",
                     example="operator1"),
               Field("overdue", "choice", choices=YES_NO, description="`yes`: only overdue tasks.",
                     example="no"),
               *paging.PAGE_QUERY)
PROPOSALS_QUERY = (Field("state", "choices", choices=PROPOSAL_STATES,
                         description="These states (default: pending).", example="pending"),
                   *paging.PAGE_QUERY)
NOTICES_QUERY = (Field("department", "text", max_length=40,
                       description="One department (default: the caller's own).",
                       example="water_bureau"),
                 Field("count", "int", low=1, high=MAX_NOTICES,
                       description="How many, newest first (default 50).", example=10))
_POINT = (Field("lat", "number", low=-90.0, high=90.0, description="With `lon`, or neither.",
                example=28.56),
          Field("lon", "number", low=-180.0, high=180.0, example=112.35),
          Field("radius_m", "number", low=MIN_RADIUS_M, high=MAX_RADIUS_M, example=300.0),
          Field("area", "text", max_length=MAX_AREA_TEXT,
                description="A GeoJSON Polygon as text (instead of a radius)."))
_VERSION = Field("version", "number", low=0, high=MAX_VERSION,
                 description="The incident's version you saw: if it changed meanwhile, the answer "
                             "is 409.")
_NOTE = Field("note", "text", max_length=MAX_NOTE, multiline=True, example="crews out")
_TITLE = Field("title", "text", required=True, max_length=MAX_TITLE, example="Burst main")


def _user(name: str, required: bool = False) -> Field:
    """A field naming a user (their name, such as operator1)."""
    return Field(name, "text", required=required, max_length=64, example="operator1")


DECLARE_BODY = (_TITLE,
                Field("type", "text", required=True, max_length=40,
                      description="An incident type of the SOP catalogue (GET /api/v1/sop).",
                      example="water_main_burst"),
                Field("level", "choice", max_length=8, choices=LEVELS, example="III"),
                _user("commander"),
                Field("alerts", "text", max_length=MAX_ALERTS * 21,
                      description="Alert ids, comma-separated."),
                *_POINT,
                Field("description", "text", max_length=MAX_DESCRIPTION, multiline=True,
                      example="Reported by phone"))
INCIDENT_BODIES: dict[str, tuple[Field, ...]] = {
    "status": (Field("status", "choice", required=True, max_length=16, choices=STATUSES,
                     example="responding"), _NOTE, _VERSION),
    "level": (Field("level", "choice", required=True, max_length=8, choices=LEVELS, example="II"),
              _NOTE, _VERSION),
    "commander": (_user("commander", required=True), _VERSION),
    "area": (*_POINT, _VERSION),
    "public": (Field("public", "choice", required=True, max_length=8, choices=YES_NO,
                     example="yes"), _VERSION),
    "link": (Field("alert", "text", required=True, max_length=40, description="An alert id."),
             _NOTE),
    "unlink": (Field("alert", "text", required=True, max_length=40, description="An alert id."),
               _NOTE),
    "step": (Field("title", "text", required=True, max_length=MAX_TITLE, example="Sandbags"),
             Field("title_zh", "text", max_length=MAX_TITLE, example="沙袋"),
             Field("department", "text", required=True, max_length=40, example="city_management"),
             Field("due_minutes", "number", required=True, low=0, high=MAX_DUE_MINUTES,
                   example=30),
             Field("required", "choice", max_length=8, choices=YES_NO, example="yes")),
    "note": (Field("text", "text", required=True, max_length=MAX_NOTE, multiline=True,
                   example="crews on site"),),
}
PROPOSAL_BODIES: dict[str, tuple[Field, ...]] = {
    "accept": (Field("title", "text", max_length=MAX_TITLE, example="Storm"),
               Field("type", "text", max_length=40, example="urban_flooding"),
               Field("level", "choice", max_length=8, choices=LEVELS, example="II"),
               _user("commander"),
               Field("description", "text", max_length=MAX_DESCRIPTION, multiline=True,
                     example="from the wall")),
    "dismiss": (Field("reason", "text", max_length=MAX_NOTE, multiline=True, example="a drill"),),
}
TASK_BODIES: dict[str, tuple[Field, ...]] = {
    "take": (_NOTE,),
    "finish": (_NOTE,),
    "cannot": (Field("reason", "text", required=True, max_length=MAX_NOTE, multiline=True,
                     example="no crew free"),),
    "note": (Field("text", "text", required=True, max_length=MAX_NOTE, multiline=True,
                   example="valve 7 stuck"),),
    "reassign": (Field("department", "text", required=True, max_length=40, example="fire_rescue"),
                 _user("owner"),
                 Field("expected", "text", max_length=64,
                       description="The owner you saw (\"\" for none): 409 if it changed.",
                       example=""), _NOTE),
}
INCIDENT_ANSWER = (Answer(200, "IncidentDetail", "The incident as it is now."),)
CONFLICT = Answer(409, "Conflict", "Someone else acted first (who and when), or the state does "
                                   "not allow it (reason).")
INCIDENT_ACT_ANSWERS: dict[str, tuple[Answer, ...]] = {
    action: ((Answer(201, "Task", "The task the new step made."),) if action == "step"
             else INCIDENT_ANSWER) + (CONFLICT,) for action in INCIDENT_BODIES}
PROPOSAL_ANSWERS: dict[str, tuple[Answer, ...]] = {
    "accept": (Answer(201, "IncidentDetail", "The incident declared from the proposal."), CONFLICT),
    "dismiss": (Answer(200, "Proposal", "The proposal, dismissed."), CONFLICT)}


def _incident_order(row: Mapping[str, Any]) -> tuple[bool, int, float, str]:
    """The service's order (open first, gravest level, most recently changed) with the id."""
    return (row.get("status") == CLOSED, LEVEL_RANK.get(row.get("level", ""), 9),
            -float(row.get("updated_at") or 0), str(row.get("id", "")))


def _task_order(task: Mapping[str, Any]) -> tuple[float, str]:
    """Soonest due first, then by id."""
    due = task.get("due_at")
    return (float(due) if due is not None else 1e18, str(task.get("id", "")))  # undue: last


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
@inputs(query=LIST_QUERY, answers=(Answer(200, "IncidentPage", "A page of incidents."),))
def list_incidents() -> Response:
    """Incidents by ``?status=`` (comma-separated) and ``?type=``: open ones first, gravest first."""
    asked, r = g.query, redis_client()
    found, next_cursor = paging.fetched_page(
        lambda n: incidents.list_incidents(r, statuses=asked["status"],
                                           types=[asked["type"]] if asked["type"] else None,
                                           limit=n), _incident_order)
    return paging.answer("incidents", found, next_cursor)


@api_incidents.post("/incidents")
@require_roles(incidents.DECLARERS)
@inputs(body=DECLARE_BODY, answers=(Answer(201, "IncidentDetail", "The incident declared."),))
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
@inputs(answers=INCIDENT_ANSWER)
def get_incident(incident_id: str) -> Response:
    """One incident with its timeline, its tasks and every alert linked to it now or before."""
    return jsonify(_incident_in_full(incident_id))


@api_incidents.post("/incidents/<incident_id>/<incident_action>")
@require_roles(incidents.ACTORS)
@inputs(body=INCIDENT_BODIES, body_by="incident_action", answers=INCIDENT_ACT_ANSWERS)
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
@inputs(answers=(Answer(200, "", "The public CAP 1.2 warning (XML).",
                        media="application/cap+xml"),))
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
@inputs(query=PROPOSALS_QUERY, answers=(Answer(200, "ProposalPage", "A page of proposals."),))
def list_proposals() -> Response:
    """Incidents proposed from clustered alerts, newest first: the pending ones, or those of
    ``?state=``."""
    r = redis_client()
    states = set(g.query["state"] or ("pending",))
    pending_only = states == {"pending"}
    # The pending ones are kept by when they were proposed, all of them by their last change.
    stamp = "created_at" if pending_only else "updated_at"
    found, next_cursor = paging.fetched_page(
        lambda n: incidents.list_proposals(r, pending_only=pending_only, limit=n),
        lambda p: (-float(p.get(stamp) or p.get("created_at") or 0), str(p["id"])),
        keep=lambda p: p["state"] in states)
    return paging.answer("proposals", found, next_cursor)


@api_incidents.post("/incidents/proposals/<proposal_id>/<proposal_action>")
@require_roles(incidents.DECLARERS)
@inputs(body=PROPOSAL_BODIES, body_by="proposal_action", answers=PROPOSAL_ANSWERS)
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
@inputs(query=TASKS_QUERY, answers=(Answer(200, "TaskPage", "A page of tasks."),))
def list_tasks() -> Response:
    """Open and accepted tasks of open incidents, soonest due first: ``?department=`` (one),
    ``?state=``, ``?owner=``, ``?overdue=yes``."""
    asked, r = g.query, redis_client()
    found, next_cursor = paging.fetched_page(
        lambda n: incidents.list_tasks(r, department=asked["department"], states=asked["state"],
                                       owner=asked["owner"],
                                       overdue_only=asked["overdue"] == "yes", limit=n),
        _task_order)
    return paging.answer("tasks", found, next_cursor)


@api_incidents.get("/tasks/<task_id>")
@require_roles(incidents.READERS)
@inputs(answers=(Answer(200, "TaskDetail", "The task with its part of the timeline."),))
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
@inputs(body=TASK_BODIES, body_by="task_action",
        answers=(Answer(200, "Task", "The task as it is now."), CONFLICT))
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
@inputs(answers=(Answer(200, "Sop", "The SOP catalogue."),))
def catalogue() -> Response:
    """The SOP catalogue in force: departments, incident types with their steps, the proposal rule."""
    found, error = sop.current(settings().incidents.sop_file)
    return jsonify(dict(sop.catalogue_json(found), error=error or ""))


@api_incidents.get("/notices")
@require_roles(incidents.READERS)
@inputs(query=NOTICES_QUERY, answers=(Answer(200, "NoticeList", "Notices, newest first."),))
def notices() -> Response:
    """What the system told a department (``?department=``; without it, the caller's own)."""
    r = redis_client()
    asked = g.query
    departments = ([asked["department"]] if asked["department"]
                   else list(incidents.departments_of(r, _principal().name)))
    return jsonify({"notices": incidents.notices(r, departments, asked["count"] or 50)})
