"""Reading incidents, tasks and proposals: their API form (times in Unix seconds and ISO 8601), lists.

Every time is given both ways: ``<name>`` in Unix seconds and ``<name>_iso`` in ISO 8601 (UTC).
"""

from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Any, Iterable, Mapping, Sequence

import orjson
import redis

from app import store
from app.model.incidents import (
    CLOSED,
    INCIDENT_ID,
    LEVEL_COLOURS,
    LEVEL_RANK,
    LEVEL_SEVERITY,
    PROPOSAL_ID,
    TASK_ID,
    TASK_OPEN,
    TASK_STATES,
)

_INCIDENT_TIMES = ("declared_at", "status_at", "level_at", "commander_at", "area_at", "public_at",
                   "closed_at", "updated_at")
_TASK_TIMES = ("due_at", "taken_at", "done_at", "cannot_at", "escalated_at", "reassigned_at",
               "created_at", "updated_at")
_PROPOSAL_TIMES = ("created_at", "updated_at", "judged_at", "first_at", "last_at")


def _float(value: str | None) -> float | None:
    try:
        return float(value) if value else None
    except ValueError:
        return None


def iso(ts: float | None) -> str | None:
    """A Unix time as ISO 8601 in UTC ("2026-01-01T00:00:00Z"), None when unknown."""
    if ts is None:
        return None
    return datetime.fromtimestamp(round(ts, 3), timezone.utc).isoformat(
        timespec="seconds").replace("+00:00", "Z")


def _times(out: dict[str, Any], row: Mapping[str, str], names: Iterable[str]) -> None:
    """Each time both ways: ``<name>`` in Unix seconds and ``<name>_iso`` in ISO 8601."""
    for name in names:
        out[name] = _float(row.get(name))
        out[f"{name}_iso"] = iso(out[name])


def _json(raw: str | None) -> Any:
    try:
        return orjson.loads(raw) if raw else None
    except orjson.JSONDecodeError:
        return None


def _csv(raw: str | None) -> list[str]:
    return [part for part in (raw or "").split(",") if part]


# -- incidents -------------------------------------------------------------------------------------------
def incident_json(row: Mapping[str, str], links: Mapping[str, Mapping[str, Any]] | None = None,
                  tasks: Sequence[Mapping[str, Any]] = ()) -> dict[str, Any]:
    """An incident as the API and the screens use it: typed fields, the alerts linked now and
    the counts of its tasks by state (with the overdue ones)."""
    level = row.get("level", "IV")
    out: dict[str, Any] = {
        "id": row.get("id", ""), "number": int(row.get("number") or 0),
        "title": row.get("title", ""), "description": row.get("description", ""),
        "type": row.get("type", ""), "type_name": row.get("type_name", ""),
        "type_name_zh": row.get("type_name_zh", ""), "domains": _csv(row.get("domains")),
        "level": level, "level_colour": LEVEL_COLOURS.get(level, ""),
        "severity": LEVEL_SEVERITY.get(level, "warning"), "status": row.get("status", ""),
        "commander": row.get("commander", ""), "declared_by": row.get("declared_by", ""),
        "status_by": row.get("status_by", ""), "level_by": row.get("level_by", ""),
        "commander_by": row.get("commander_by", ""), "area_by": row.get("area_by", ""),
        "public": row.get("public") == "1", "public_by": row.get("public_by", ""),
        "closed_by": row.get("closed_by", ""), "updated_by": row.get("updated_by", ""),
        "lat": _float(row.get("lat")), "lon": _float(row.get("lon")),
        "radius_m": _float(row.get("radius_m")), "area": _json(row.get("area")),
        "source": row.get("source", ""), "proposal": row.get("proposal", ""),
        "notes": int(row.get("notes") or 0), "version": int(row.get("version") or 0),
        "alerts": sorted(a for a, link in (links or {}).items() if link.get("state") == "linked"),
        "tasks": task_counts(tasks),
    }
    _times(out, row, _INCIDENT_TIMES)
    return out


def task_counts(tasks: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """How many tasks are in each state, and how many of the open ones are overdue."""
    counts = {state: 0 for state in TASK_STATES} | {"overdue": 0, "total": 0}
    for task in tasks:
        counts["total"] += 1
        if task["state"] in counts:
            counts[task["state"]] += 1
        counts["overdue"] += 1 if task.get("overdue") else 0
    return counts


def get_incident(r: redis.Redis, incident_id: str, now: float | None = None) -> dict[str, Any] | None:
    """One incident (API form), or None (also for anything that is not an incident id)."""
    row = store.incidents.read_incident(r, incident_id) if INCIDENT_ID.match(incident_id) else None
    if row is None:
        return None
    tasks = [task_json(t, now) for t in store.incidents.read_tasks(
        r, store.incidents.task_ids(r, incident_id))]
    return incident_json(row, store.incidents.incident_alerts(r, incident_id), tasks)


def list_incidents(r: redis.Redis, *, statuses: Iterable[str] | None = None,
                   types: Iterable[str] | None = None, open_only: bool = False, limit: int = 200,
                   now: float | None = None) -> list[dict[str, Any]]:
    """Incidents matching the filters (None: any), gravest level first among the open ones, then
    most recently changed; closed ones after the open ones."""
    status_set, type_set = set(statuses or ()), set(types or ())
    closed_wanted = not open_only and (not status_set or CLOSED in status_set)
    ids = store.incidents.ids(r, open_only=True, limit=10_000)
    if closed_wanted:
        ids = list(dict.fromkeys(ids + store.incidents.ids(r, limit=max(limit * 2, 500))))
    rows = [row for row in store.incidents.read_incidents(r, ids)
            if (not status_set or row.get("status") in status_set)
            and (not type_set or row.get("type") in type_set)]
    rows.sort(key=lambda row: (row.get("status") == CLOSED, LEVEL_RANK.get(row.get("level", ""), 9),
                               -float(row.get("updated_at") or 0)))
    rows = rows[:limit]
    out = []
    for row in rows:
        tasks = [task_json(t, now) for t in store.incidents.read_tasks(
            r, store.incidents.task_ids(r, row["id"]))]
        out.append(incident_json(row, store.incidents.incident_alerts(r, row["id"]), tasks))
    return out


def timeline(r: redis.Redis, incident_id: str) -> list[dict[str, Any]]:
    """An incident's whole story, oldest first: at (and at_iso), actor, action, addr, the task
    or alert concerned, detail and note."""
    out = []
    for entry in store.incidents.read_timeline(r, incident_id):
        at = _float(entry.get("at"))
        out.append({"at": at, "at_iso": iso(at), "actor": entry.get("actor", ""),
                    "action": entry.get("action", ""), "addr": entry.get("addr", ""),
                    "task": entry.get("task", ""), "alert": entry.get("alert", ""),
                    "detail": entry.get("detail", ""), "note": entry.get("note", "")})
    return out


def alert_links(r: redis.Redis, incident_id: str) -> list[dict[str, Any]]:
    """Every alert linked to the incident now or before: alert, state (linked or unlinked), by,
    at, how (declared, hand, auto)."""
    out = []
    for alert_id, link in sorted(store.incidents.incident_alerts(r, incident_id).items()):
        at = _float(str(link.get("at") or ""))
        out.append({"alert": alert_id, "state": link.get("state", ""), "by": link.get("by", ""),
                    "at": at, "at_iso": iso(at), "how": link.get("how", "")})
    return out


# -- tasks ---------------------------------------------------------------------------------------------
def task_json(row: Mapping[str, str], now: float | None = None) -> dict[str, Any]:
    """A task as the API and the screens use it; ``overdue`` is judged at ``now``."""
    state = row.get("state", "")
    out: dict[str, Any] = {
        "id": row.get("id", ""), "incident": row.get("incident", ""), "step": row.get("step", ""),
        "title": row.get("title", ""), "title_zh": row.get("title_zh", ""),
        "department": row.get("department", ""), "required": row.get("required") == "1",
        "action": row.get("action", ""), "notify": _csv(row.get("notify")), "state": state,
        "owner": row.get("owner", ""), "done_by": row.get("done_by", ""),
        "cannot_by": row.get("cannot_by", ""), "reason": row.get("reason", ""),
        "reassigned_by": row.get("reassigned_by", ""), "created_by": row.get("created_by", ""),
        "updated_by": row.get("updated_by", ""), "notes": int(row.get("notes") or 0),
        "escalated": row.get("escalated") == "1", "left_open": row.get("left_open") == "1",
        "auto": row.get("auto") == "1", "order": int(row.get("order") or 0),
        "version": int(row.get("version") or 0),
    }
    _times(out, row, _TASK_TIMES)
    moment = time.time() if now is None else now
    # A step the system does itself is not overdue while nobody has taken it: the runner's job
    # does it when it falls due.
    out["overdue"] = (state in TASK_OPEN and not out["left_open"] and out["due_at"] is not None
                      and out["due_at"] < moment and not (out["action"] and state == "open"))
    return out


def get_task(r: redis.Redis, task_id: str, now: float | None = None) -> dict[str, Any] | None:
    """One task (API form), or None (also for anything that is not a task id)."""
    row = store.incidents.read_task(r, task_id) if TASK_ID.match(task_id) else None
    return task_json(row, now) if row else None


def incident_tasks(r: redis.Redis, incident_id: str, now: float | None = None) -> list[dict[str, Any]]:
    """An incident's tasks in the order of its steps."""
    return [task_json(t, now) for t in store.incidents.read_tasks(
        r, store.incidents.task_ids(r, incident_id))]


def list_tasks(r: redis.Redis, *, department: str | None = None, states: Iterable[str] | None = None,
               owner: str | None = None, overdue_only: bool = False, limit: int = 200,
               now: float | None = None) -> list[dict[str, Any]]:
    """The open and accepted tasks of open incidents (one department's, or everyone's), soonest
    due first, filtered by state, owner and overdue."""
    state_set = set(states or ())
    rows = store.incidents.read_tasks(r, store.incidents.open_task_ids(r, department=department))
    tasks = [task_json(row, now) for row in rows]
    picked = [t for t in tasks if (not state_set or t["state"] in state_set)
              and (owner is None or t["owner"] == owner) and (not overdue_only or t["overdue"])]
    return picked[:limit]


# -- proposals -------------------------------------------------------------------------------------------
def proposal_json(row: Mapping[str, str]) -> dict[str, Any]:
    """A proposal of an incident: the alerts that clustered, their domains, where, and what
    became of it (pending, accepted with its incident, dismissed with a reason)."""
    out: dict[str, Any] = {
        "id": row.get("id", ""), "state": row.get("state", ""), "alerts": _csv(row.get("alerts")),
        "domains": _csv(row.get("domains")), "lat": _float(row.get("lat")),
        "lon": _float(row.get("lon")), "radius_m": _float(row.get("radius_m")),
        "area": _json(row.get("area")), "level": row.get("level", ""),
        "suggested_type": row.get("suggested_type", ""), "title": row.get("title", ""),
        "judged_by": row.get("judged_by", ""), "reason": row.get("reason", ""),
        "incident": row.get("incident", ""),
    }
    _times(out, row, _PROPOSAL_TIMES)
    return out


def get_proposal(r: redis.Redis, proposal_id: str) -> dict[str, Any] | None:
    """One proposal (API form), or None."""
    row = store.incidents.read_proposal(r, proposal_id) if PROPOSAL_ID.match(proposal_id) else None
    return proposal_json(row) if row else None


def list_proposals(r: redis.Redis, pending_only: bool = True, limit: int = 200) -> list[dict[str, Any]]:
    """Proposals, newest first (the pending ones unless ``pending_only`` is False)."""
    return [proposal_json(row) for row in store.incidents.read_proposals(r, pending_only, limit)]


# -- the departments' notices ----------------------------------------------------------------------------
def notices(r: redis.Redis, departments: Iterable[str], count: int = 50) -> list[dict[str, Any]]:
    """What the system told ``departments`` (the SOP's notify steps), newest first."""
    found = []
    for department in dict.fromkeys(departments):
        for entry in store.incidents.notices(r, department, count):
            at = _float(entry.get("at"))
            found.append({"department": department, "at": at, "at_iso": iso(at),
                          "incident": entry.get("incident", ""),
                          "number": int(entry.get("number") or 0),
                          "title": entry.get("title", ""), "type": entry.get("type", ""),
                          "level": entry.get("level", ""), "task": entry.get("task", "")})
    return sorted(found, key=lambda n: -(n["at"] or 0))[:count]


# -- for screens that poll -----------------------------------------------------------------------
def version(r: redis.Redis) -> int:
    """A number that moves whenever any incident, task or proposal changed (one HGET): screens
    poll it every second and redraw only when it moved."""
    return store.incidents.version(r)
