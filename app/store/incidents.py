"""Incidents, their tasks and proposals in Redis: the lifecycle scripts and the reads (slot {incidents}).

Every change is one Lua script over keys of the ``{incidents}`` hash tag (app/store/lua/
incident_*.lua): declaring an incident writes it, its tasks and its alert links at once; each later
step (status, level, commander, area, public flag, link, step, each task step) is one script, so two
people acting at once meet one winner and the loser is answered from the same atomic read with who
acted and when. The timeline entry is written in the same step as the change it records. The
alert's side of a link lives in the ``{alerts}`` slot and is a second step (:func:`alert_side`).
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping, Sequence

import orjson
import redis

from app.store.keys import Keys
from app.store.scripts import script

Answer = list[str]
# A script answers {'retry'} when the tasks or departments it was given are no longer all there
# is (a step added, a task reassigned meanwhile): the caller reads again, this many times at most.
RETRIES = 5


def _answer(raw: Sequence[Any]) -> Answer:
    return [str(v) for v in raw]


def _incident_keys(incident_id: str) -> list[str]:
    return [Keys.incident(incident_id), Keys.incident_timeline(incident_id), Keys.incidents_index,
            Keys.incidents_open, Keys.incidents_meta]


def _at(now: float) -> str:
    return f"{now:.3f}"


# -- declaring and changing ----------------------------------------------------------------------------
def declare(r: redis.Redis, incident_id: str, fields: Mapping[str, str],
            alerts: Sequence[tuple[str, str]], tasks: Sequence[Mapping[str, Any]], *,
            proposal: str = "", actor: str, addr: str, now: float) -> Answer:
    """Write a new incident, its tasks (``{"id", "fields"}``; fields include ``department`` and
    ``due_at``) and its links to ``alerts`` ((id, title)) in one step. The answer: ['ok', number],
    ['exists'], ['missing_proposal'] or ['conflict', reason, why, by, at]."""
    keys = _incident_keys(incident_id) + [
        Keys.incident_tasks(incident_id), Keys.incident_alerts(incident_id), Keys.incidents_linked,
        Keys.incident_tasks_open, Keys.proposal(proposal or "none"), Keys.incident_proposals,
        Keys.incident_proposals_index]
    for task in tasks:
        keys += [Keys.task(task["id"]), Keys.department_tasks(task["fields"]["department"])]
    spec = {"fields": dict(fields), "alerts": [list(a) for a in alerts],
            "tasks": [{"id": t["id"], "fields": dict(t["fields"])} for t in tasks],
            "proposal": proposal}
    return _answer(r.eval(script("incident_declare", "incident_prelude"), len(keys), *keys,
                          incident_id, _at(now), actor, addr, orjson.dumps(spec).decode()))


def change(r: redis.Redis, incident_id: str, action: str, *, value: str = "", note: str = "",
           version: str = "", allowed: Sequence[str] = (), actor: str, addr: str,
           now: float) -> Answer:
    """Change an incident's status, level, commander, area (``value``: JSON of lat, lon,
    radius_m, area), public flag, or add a note. ``allowed`` are the statuses a new status may be
    reached from; ``version`` the version the caller saw ('' to skip that check). The answer:
    ['ok', status], ['missing'] or ['conflict', reason, why, by, at]."""
    for _ in range(RETRIES):
        closing = action == "status" and value == "closed"
        task_ids = list(r.zrange(Keys.incident_tasks(incident_id), 0, -1)) if closing else []
        departments = sorted(set(_task_departments(r, task_ids)))
        keys = _incident_keys(incident_id) + [
            Keys.incidents_linked, Keys.incident_alerts(incident_id), Keys.incident_tasks_open,
            Keys.incident_tasks(incident_id)]
        keys += [Keys.task(t) for t in task_ids] + [Keys.department_tasks(d) for d in departments]
        answer = _answer(r.eval(script("incident_change", "incident_prelude"), len(keys), *keys,
                                incident_id, _at(now), actor, addr, action, value, note, version,
                                ",".join(allowed), len(task_ids), len(departments), *task_ids,
                                *departments))
        if answer[0] != "retry":
            return answer
    raise redis.RedisError(f"incident {incident_id} kept changing while it was being closed")


def _task_departments(r: redis.Redis, task_ids: Sequence[str]) -> list[str]:
    with r.pipeline(transaction=False) as pipe:
        for task_id in task_ids:
            pipe.hget(Keys.task(task_id), "department")
        return [d for d in pipe.execute() if d]


def link(r: redis.Redis, incident_id: str, op: str, alert_id: str, alert_title: str, *,
         note: str = "", actor: str, addr: str, now: float) -> Answer:
    """Link (``op`` "link", or "autolink" for the automatic job) or unlink an alert. The answer:
    ['ok', number], ['noop'], ['missing'] or ['conflict', reason, why, by, at]."""
    keys = _incident_keys(incident_id) + [Keys.incident_alerts(incident_id), Keys.incidents_linked]
    return _answer(r.eval(script("incident_link", "incident_prelude"), len(keys), *keys,
                          incident_id, _at(now), actor, addr, op, alert_id, alert_title, note))


def add_step(r: redis.Redis, incident_id: str, task: Mapping[str, Any], most: int, *, actor: str,
             addr: str, now: float) -> Answer:
    """Add a task (``{"id", "fields"}``) to an open incident: ['ok', status], ['missing'],
    ['full'] or ['conflict', ...]."""
    keys = _incident_keys(incident_id) + [
        Keys.incident_tasks(incident_id), Keys.incident_tasks_open, Keys.task(task["id"]),
        Keys.department_tasks(task["fields"]["department"])]
    spec = {"id": task["id"], "fields": dict(task["fields"])}
    return _answer(r.eval(script("incident_step", "incident_prelude"), len(keys), *keys,
                          incident_id, _at(now), actor, addr, orjson.dumps(spec).decode(), most))


def task_act(r: redis.Redis, task_id: str, action: str, *, actor: str, addr: str, now: float,
             text: str = "", department: str = "", owner: str = "", expected: str = "",
             arg: str = "") -> Answer:
    """One step on a task (see incident_task.lua): ['ok', state], ['noop', state], ['missing'] or
    ['conflict', reason, why, by, at]. ``department`` is where a reassignment moves it; ``arg``
    what the system did itself (auto)."""
    for _ in range(RETRIES):
        row = r.hmget(Keys.task(task_id), "department", "incident")
        current, incident_id = row[0] or "", row[1] or ""
        if not current:
            return ["missing"]
        target = department if action == "reassign" else current
        keys = [Keys.task(task_id), Keys.incident(incident_id), Keys.incident_timeline(incident_id),
                Keys.incidents_index, Keys.incidents_meta, Keys.incident_tasks_open,
                Keys.department_tasks(current), Keys.department_tasks(target)]
        answer = _answer(r.eval(script("incident_task"), len(keys), *keys, task_id, _at(now), actor,
                                addr, action, text, target if action == "reassign" else arg,
                                expected, current, owner))
        if answer[0] != "retry":
            return answer
    raise redis.RedisError(f"task {task_id} kept moving between departments")


def alert_side(r: redis.Redis, alert_id: str, action: str, detail: str, *, actor: str, addr: str,
               now: float) -> bool:
    """The alert's timeline says it was linked to or unlinked from an incident (slot {alerts})."""
    keys = [Keys.alert(alert_id), Keys.alert_timeline(alert_id), Keys.alerts_meta]
    answer = r.eval(script("incident_alert_side"), len(keys), *keys, _at(now), actor, addr, action,
                    detail)
    return str(answer[0]) == "ok"


# -- proposals -----------------------------------------------------------------------------------------
def propose(r: redis.Redis, proposal_id: str, mode: str, fields: Mapping[str, Any],
            alert_ids: Sequence[str], *, now: float) -> Answer:
    """Create a proposal of ``alert_ids`` or add them to a pending one (``mode`` "create" or
    "extend"): ['created', n], ['extended', n], ['noop'] or ['taken', alert id]."""
    keys = [Keys.proposal(proposal_id), Keys.incident_proposals, Keys.incident_proposals_index,
            Keys.incident_proposed, Keys.incidents_meta]
    return _answer(r.eval(script("incident_propose"), len(keys), *keys, proposal_id, _at(now), mode,
                          orjson.dumps(dict(fields)).decode(), *alert_ids))


def dismiss(r: redis.Redis, proposal_id: str, reason: str, *, actor: str, now: float) -> Answer:
    """Dismiss a pending proposal: ['ok'], ['missing'] or ['conflict', reason, why, by, at]."""
    keys = [Keys.proposal(proposal_id), Keys.incident_proposals, Keys.incident_proposals_index,
            Keys.incidents_meta]
    return _answer(r.eval(script("incident_dismiss"), len(keys), *keys, proposal_id, _at(now), actor,
                          reason))


def read_proposal(r: redis.Redis, proposal_id: str) -> dict[str, str] | None:
    """The stored fields of one proposal, or None."""
    return r.hgetall(Keys.proposal(proposal_id)) or None


def read_proposals(r: redis.Redis, pending_only: bool = True, limit: int = 200) -> list[dict[str, str]]:
    """Proposals, newest first: the pending ones, or every one."""
    key = Keys.incident_proposals if pending_only else Keys.incident_proposals_index
    return _rows(r, [Keys.proposal(p) for p in r.zrevrange(key, 0, max(limit, 1) - 1)])


def proposed_alerts(r: redis.Redis) -> dict[str, str]:
    """alert id -> the proposal it is in (pending, accepted or dismissed)."""
    return r.hgetall(Keys.incident_proposed)


# -- the system's notices to departments ------------------------------------------------------------------
NOTICES_KEPT = 1000


def notify(r: redis.Redis, departments: Iterable[str], fields: Mapping[str, str]) -> None:
    """Append a notice to each department's stream (the newest NOTICES_KEPT or so are kept)."""
    with r.pipeline(transaction=True) as pipe:
        for department in departments:
            pipe.xadd(Keys.department_notices(department), dict(fields), maxlen=NOTICES_KEPT,
                      approximate=True)
        pipe.hincrby(Keys.incidents_meta, "version", 1)
        pipe.execute()


def notices(r: redis.Redis, department: str, count: int = 50) -> list[dict[str, str]]:
    """A department's newest notices, newest first."""
    return [dict(fields, id=entry_id)
            for entry_id, fields in r.xrevrange(Keys.department_notices(department), count=count)]


# -- reading -------------------------------------------------------------------------------------------
def _rows(r: redis.Redis, keys: Sequence[str]) -> list[dict[str, str]]:
    with r.pipeline(transaction=False) as pipe:
        for key in keys:
            pipe.hgetall(key)
        return [row for row in pipe.execute() if row]


def read_incident(r: redis.Redis, incident_id: str) -> dict[str, str] | None:
    """The stored fields of one incident, or None."""
    return r.hgetall(Keys.incident(incident_id)) or None


def read_incidents(r: redis.Redis, incident_ids: Sequence[str]) -> list[dict[str, str]]:
    """The stored fields of several incidents (missing ones left out), in the order asked."""
    return _rows(r, [Keys.incident(i) for i in incident_ids])


def ids(r: redis.Redis, open_only: bool = False, limit: int = 200) -> list[str]:
    """Incident ids, most recently changed first: every incident, or those not closed."""
    key = Keys.incidents_open if open_only else Keys.incidents_index
    return list(r.zrevrange(key, 0, max(limit, 1) - 1))


def read_timeline(r: redis.Redis, incident_id: str) -> list[dict[str, str]]:
    """An incident's timeline, oldest first."""
    return [dict(fields, id=entry_id)
            for entry_id, fields in r.xrange(Keys.incident_timeline(incident_id))]


def task_ids(r: redis.Redis, incident_id: str) -> list[str]:
    """An incident's task ids, in the order of its steps."""
    return list(r.zrange(Keys.incident_tasks(incident_id), 0, -1))


def read_task(r: redis.Redis, task_id: str) -> dict[str, str] | None:
    """The stored fields of one task, or None."""
    return r.hgetall(Keys.task(task_id)) or None


def read_tasks(r: redis.Redis, ids_: Sequence[str]) -> list[dict[str, str]]:
    """The stored fields of several tasks (missing ones left out), in the order asked."""
    return _rows(r, [Keys.task(t) for t in ids_])


def open_task_ids(r: redis.Redis, due_before: float | None = None,
                  department: str | None = None) -> list[str]:
    """Open and accepted tasks of open incidents, soonest due first: all, those due by
    ``due_before``, or one department's."""
    key = Keys.department_tasks(department) if department else Keys.incident_tasks_open
    top = "+inf" if due_before is None else _at(due_before)
    return list(r.zrangebyscore(key, "-inf", top))


def incident_alerts(r: redis.Redis, incident_id: str) -> dict[str, dict[str, Any]]:
    """alert id -> how it is (or was) linked to the incident: state, by, at, how."""
    return {alert: orjson.loads(raw) for alert, raw in r.hgetall(Keys.incident_alerts(incident_id)).items()}


def linked_alerts(r: redis.Redis) -> dict[str, dict[str, Any]]:
    """alert id -> the open incident it is linked to: incident, number, by, at."""
    return {alert: orjson.loads(raw) for alert, raw in r.hgetall(Keys.incidents_linked).items()}


def version(r: redis.Redis) -> int:
    """A number that changes whenever any incident, task or proposal changed."""
    return int(r.hget(Keys.incidents_meta, "version") or 0)


def write_meta(r: redis.Redis, fields: Mapping[str, str]) -> None:
    """Keep facts about the incident service (the SOP catalogue's status) for the screens."""
    with r.pipeline(transaction=True) as pipe:
        pipe.hset(Keys.incidents_meta, mapping=dict(fields))
        pipe.hincrby(Keys.incidents_meta, "version", 1)
        pipe.execute()


def read_meta(r: redis.Redis) -> dict[str, str]:
    """The incident service's facts (version, sop_status)."""
    return r.hgetall(Keys.incidents_meta)


def acquire_lease(r: redis.Redis, owner: str, ttl_ms: int) -> bool:
    """Hold the lease of the incident jobs, so that one runner across hosts does them."""
    if r.set(Keys.incidents_lease, owner, nx=True, px=ttl_ms):
        return True
    return bool(r.eval(script("renew_lease"), 1, Keys.incidents_lease, owner, ttl_ms))
