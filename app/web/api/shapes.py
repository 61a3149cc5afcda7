"""The shapes of the API's answers as JSON Schema (2020-12, the dialect of OpenAPI 3.1).

A view names the shape of each answer in its declaration (``inputs(answers=...)``); the OpenAPI
document (app/web/api/openapi.py) lists these as its components, and its tests check every
documented operation's answer against them. Each shape names the fields the API always gives and
their types; objects stay open (an entity carries its feed's own attributes, and a field added
later breaks no client), so a shape says what a client may rely on, not all there is.
"""

from __future__ import annotations

from typing import Any

from app.model.alerts import SEVERITIES, STATES
from app.model.domains import DOMAINS
from app.model.feeds import FEED_STATES
from app.model.incidents import LEVELS, PROPOSAL_STATES, STATUSES

Schema = dict[str, Any]

TEXT: Schema = {"type": "string"}
INT: Schema = {"type": "integer"}
NUMBER: Schema = {"type": "number"}
FLAG: Schema = {"type": "boolean"}
TIME: Schema = {"type": ["number", "null"], "description": "Unix seconds (null: not known)."}
ISO: Schema = {"type": ["string", "null"], "format": "date-time",
               "description": "The same time in ISO 8601, UTC."}
MAYBE_NUMBER: Schema = {"type": ["number", "null"]}
TEXTS: Schema = {"type": "array", "items": TEXT}


def ref(name: str) -> Schema:
    """A reference to the shape ``name`` among the document's components."""
    return {"$ref": f"#/components/schemas/{name}"}


def obj(required: dict[str, Schema], optional: dict[str, Schema] | None = None,
        description: str = "") -> Schema:
    """An open object: ``required`` fields always given, ``optional`` ones sometimes."""
    shape: Schema = {"type": "object", "properties": {**required, **(optional or {})},
                     "required": sorted(required)}
    if description:
        shape["description"] = description
    return shape


def times(*names: str) -> dict[str, Schema]:
    """Each time both ways, as the incidents API gives them: ``<name>`` and ``<name>_iso``."""
    return {field: schema for name in names for field, schema in ((name, TIME), (f"{name}_iso", ISO))}


def page(item: str, key: str, description: str) -> Schema:
    """A page of a list: its items under ``key`` and, unless it is the last page, ``next``."""
    return obj({key: {"type": "array", "items": ref(item)}},
               {"next": {"type": "string", "description": "The cursor of the next page (absent "
                                                          "on the last page)."}},
               description)


READING = obj({"value": {"type": ["number", "string", "boolean", "null"]}, "unit": TEXT,
               "observed_at": NUMBER},
              {"observed_at_iso": ISO}, "The newest reading of one metric.")
ENTITY = obj({"id": TEXT, "kind": TEXT, "domain": {"enum": list(DOMAINS)}, "status": TEXT,
              "lat": MAYBE_NUMBER, "lon": MAYBE_NUMBER, "observed_at": NUMBER, "source": TEXT,
              "observed_at_iso": ISO},
             {"readings": {"type": "object", "additionalProperties": ref("Reading"),
                           "description": "metric -> its newest reading"},
              "delay_s": MAYBE_NUMBER, "route_id": {"type": ["string", "null"]}},
             "A live thing of the city with its feed's attributes beside its own fields.")
EVENT = obj({"id": TEXT, "kind": TEXT, "title": TEXT, "severity": TEXT, "domain": TEXT,
             "observed_at": NUMBER},
            {"starts_at": MAYBE_NUMBER, "ends_at": MAYBE_NUMBER, "area": {}, "attrs": {}})
KPI = obj({"name": TEXT, "domain": TEXT, "title": TEXT, "value": MAYBE_NUMBER, "unit": TEXT,
           "target": TEXT, "status": {"enum": ["ok", "warn", "bad", "unknown"]},
           "computed_at": NUMBER}, {"subject": {"type": ["string", "null"]}, "group": TEXT})
FEED = obj({"feed": TEXT, "domain": TEXT, "adapter": TEXT,
            "state": {"enum": list(FEED_STATES)}, "last_success": TIME,
            "last_error": TEXT, "consecutive_failures": INT, "accepted": INT, "rejected": INT,
            # issue 19: an admin paused it on /admin or with `cityops feeds pause` (read-only here)
            "paused": FLAG, "paused_at": TIME, "paused_by": TEXT})
ALERT = obj({"id": TEXT, "state": {"enum": list(STATES)}, "severity": {"enum": list(SEVERITIES)},
             "domain": TEXT, "title": TEXT, "description": TEXT, "count": INT, "source": TEXT,
             "acked_by": TEXT, "assignee": TEXT, "escalated": FLAG, "notes": INT, "version": INT,
             "lat": MAYBE_NUMBER, "lon": MAYBE_NUMBER, "first_seen": TIME, "last_seen": TIME},
            {"group": {}, "area": {}})
TIMELINE_ENTRY = obj({"at": TIME, "actor": TEXT, "action": TEXT, "detail": TEXT})
AUDIT_ENTRY = obj({"id": TEXT, "at": NUMBER, "actor": TEXT, "action": TEXT, "target": TEXT,
                   "addr": TEXT, "outcome": TEXT, "detail": TEXT, "count": INT, "window_s": INT})
HISTORY_POINT = obj({"at": NUMBER, "at_iso": ISO, "value": NUMBER})
_WINDOW: dict[str, Schema] = {**times("since", "until"), "step_s": MAYBE_NUMBER, "unit": TEXT,
                              "points": {"type": "array", "items": ref("HistoryPoint")}}
INCIDENT = obj({"id": TEXT, "number": INT, "title": TEXT, "type": TEXT,
                "level": {"enum": list(LEVELS)}, "status": {"enum": list(STATUSES)},
                "commander": TEXT, "public": FLAG, "version": INT, "alerts": TEXTS,
                "tasks": {"type": "object", "additionalProperties": INT},
                **times("declared_at", "updated_at")})
TASK = obj({"id": TEXT, "incident": TEXT, "title": TEXT, "department": TEXT, "state": TEXT,
            "owner": TEXT, "required": FLAG, "overdue": FLAG, "version": INT,
            **times("due_at", "created_at")})
PROPOSAL = obj({"id": TEXT, "state": {"enum": list(PROPOSAL_STATES)}, "alerts": TEXTS,
                "domains": TEXTS, "level": TEXT, "incident": TEXT, **times("created_at")})
NOTICE = obj({"department": TEXT, "at": TIME, "at_iso": ISO, "incident": TEXT, "title": TEXT,
              "type": TEXT, "level": TEXT, "task": TEXT})

SHAPES: dict[str, Schema] = {
    "Error": obj({"error": TEXT}, description="A refusal: what is wrong (400 names the field)."),
    "Conflict": obj({"error": TEXT, "by": TEXT, "at": TIME},
                    {"reason": TEXT, "at_iso": ISO},
                    "Someone else acted first: who, and when."),
    "Me": obj({"name": TEXT, "role": TEXT, "kind": {"enum": ["user", "token"]},
               "domains": TEXTS}),
    "Reading": READING,
    "Entity": ENTITY,
    "EntityPage": page("Entity", "entities", "Entities by id."),
    "Event": EVENT,
    "EventPage": page("Event", "events", "Events by id."),
    "Kpi": KPI,
    "KpiList": obj({"kpis": {"type": "array", "items": ref("Kpi")}}),
    "Feed": FEED,
    "FeedPage": page("Feed", "feeds", "Feeds by name."),
    "Alert": ALERT,
    "AlertDetail": {"allOf": [ref("Alert"), obj(
        {"timeline": {"type": "array", "items": ref("TimelineEntry")}})]},
    "AckSummary": obj({"acknowledged": TEXTS, "refused": {"type": "array", "items": obj(
        {"id": TEXT, "reason": TEXT, "by": TEXT, "at": TIME})}},
        description="Acknowledged ids; refused ones with why (missing, not permitted, already "
                    "acknowledged), by whom and when."),
    "AlertPage": page("Alert", "alerts", "Alerts, unacknowledged first, then newest first."),
    "TimelineEntry": TIMELINE_ENTRY,
    "AuditEntry": AUDIT_ENTRY,
    "AuditPage": page("AuditEntry", "audit", "The audit log, newest first."),
    "HistoryPoint": HISTORY_POINT,
    "ReadingHistory": obj({"domain": TEXT, "entity": TEXT, "metric": TEXT, **_WINDOW}),
    "KpiHistory": obj({"domain": TEXT, "kpi": TEXT, "title": TEXT, **_WINDOW}),
    "Incident": INCIDENT,
    "IncidentDetail": {"allOf": [ref("Incident"), obj(
        {"timeline": {"type": "array", "items": {"type": "object"}},
         "task_list": {"type": "array", "items": ref("Task")},
         "links": {"type": "array", "items": {"type": "object"}}})]},
    "IncidentPage": page("Incident", "incidents", "Open incidents first, gravest first."),
    "Task": TASK,
    "TaskDetail": {"allOf": [ref("Task"), obj(
        {"timeline": {"type": "array", "items": {"type": "object"}}})]},
    "TaskPage": page("Task", "tasks", "Tasks, soonest due first."),
    "Proposal": PROPOSAL,
    "ProposalPage": page("Proposal", "proposals", "Proposals, newest first."),
    "Notice": NOTICE,
    "NoticeList": obj({"notices": {"type": "array", "items": ref("Notice")}}),
    "Sop": obj({"source": TEXT, "departments": {"type": "array", "items": {"type": "object"}},
                "types": {"type": "array", "items": {"type": "object"}},
                "proposals": {"type": "object"}, "error": TEXT}),
    "ArchiveConfirmed": obj({"archived_through": TEXT, "removed": INT, "retention_days": NUMBER}),
    "Unlocked": obj({"user": TEXT, "lifted": FLAG}),
    "Document": obj({"openapi": TEXT, "info": {"type": "object"}, "paths": {"type": "object"}},
                    description="An OpenAPI 3.1 document."),
}
