"""The handover sheet: what the outgoing shift leaves the incoming one (open incidents with their
open tasks, unacknowledged and escalated alerts, feeds down, the notable log entries, a note),
written once and acknowledged once, both recorded."""

from __future__ import annotations

import time
import uuid
from typing import Any

import orjson
import redis

from app import audit, store
from app.alerts.queries import list_alerts
from app.incidents.queries import incident_tasks, list_incidents
from app.live.feeds import read_health
from app.model.alerts import UNACKED
from app.model.incidents import TASK_OPEN
from app.model.principal import Principal
from app.model.shifts import DUTY_ROLES, HANDOVER_ID_PREFIX, MAX_NOTE, NOTABLE_LOOKBACK_S
from app.shifts import duty
from app.shifts.errors import HandoverNotFound, HandoverTaken, NotOnDuty, NotPermitted, ShiftError

FEED_DOWN = frozenset({"down", "stale"})


def compose(r: redis.Redis, now: float, note: str = "", written_by: str = "") -> dict[str, Any]:
    """The sheet as it stands at ``now`` (pure reading: nothing is stored)."""
    incidents = []
    for incident in list_incidents(r, open_only=True, now=now):
        tasks = [t for t in incident_tasks(r, incident["id"], now) if t["state"] in TASK_OPEN]
        incidents.append({
            "id": incident["id"], "number": incident["number"], "title": incident["title"],
            "type_name": incident["type_name"], "type_name_zh": incident["type_name_zh"],
            "level": incident["level"], "status": incident["status"],
            "commander": incident["commander"], "declared_at": incident.get("declared_at"),
            "tasks": [{"id": t["id"], "title": t["title"], "title_zh": t["title_zh"],
                       "department": t["department"], "state": t["state"], "owner": t["owner"],
                       "due_at": t.get("due_at"), "overdue": t["overdue"]} for t in tasks]})
    alerts = list_alerts(r, open_only=True, limit=10_000)

    def alert_row(a: dict[str, Any]) -> dict[str, Any]:
        return {"id": a["id"], "title": a["title"], "title_zh": a["title_zh"],
                "severity": a["severity"],
                "domain": a["domain"], "state": a["state"], "opened_at": a.get("opened_at"),
                "count": a["count"], "escalated": a["escalated"], "assignee": a["assignee"]}

    previous = store.shifts.last_handover_at(r)
    since = max(previous or 0.0, now - NOTABLE_LOOKBACK_S)
    return {
        "written_at": now, "written_by": written_by, "note": note,
        "since": since, "on_duty": duty.on_duty(r),
        "incidents": incidents,
        "alerts_unacknowledged": [alert_row(a) for a in alerts if a["state"] in UNACKED],
        "alerts_escalated": [alert_row(a) for a in alerts if a["escalated"]],
        "feeds_down": [{"feed": h.feed, "domain": h.domain, "state": h.state,
                        "last_success": h.last_success, "last_error": h.last_error}
                       for h in read_health(r, now) if h.state in FEED_DOWN],
        "log": list(reversed(duty.read_log(r, since=since, notable_only=True))),
    }


def write(r: redis.Redis, principal: Principal, note: str = "", addr: str = "",
          now: float | None = None) -> dict[str, Any]:
    """The outgoing shift writes the sheet (they must be on duty); returns it stored."""
    if principal.kind != "user" or principal.role not in DUTY_ROLES:
        raise NotPermitted("only operators and admins hand over a shift")
    if not isinstance(note, str) or len(note) > MAX_NOTE:
        raise ShiftError(f"the handover note holds at most {MAX_NOTE} characters", field="note")
    if principal.name not in store.shifts.on_duty(r):
        raise NotOnDuty("only someone on duty hands over: sign on first")
    moment = time.time() if now is None else now
    sheet = compose(r, moment, note.strip(), principal.name)
    handover_id = f"{HANDOVER_ID_PREFIX}{uuid.uuid4().hex[:12]}"
    store.shifts.write_handover(r, handover_id, sheet, principal.name, moment)
    audit.record(r, principal.name, "shift_handover", target=handover_id, addr=addr,
                 detail=f"{len(sheet['incidents'])} incidents, "
                        f"{len(sheet['alerts_unacknowledged'])} unacknowledged alerts, "
                        f"{len(sheet['feeds_down'])} feeds down")
    return get(r, handover_id)


def acknowledge(r: redis.Redis, principal: Principal, handover_id: str, note: str = "",
                addr: str = "", now: float | None = None) -> dict[str, Any]:
    """The incoming shift acknowledges the sheet: someone on duty who did not write it, once."""
    if principal.kind != "user" or principal.role not in DUTY_ROLES:
        raise NotPermitted("only operators and admins take over a shift")
    if not isinstance(note, str) or len(note) > MAX_NOTE:
        raise ShiftError(f"the note holds at most {MAX_NOTE} characters", field="note")
    answer = store.shifts.acknowledge_handover(r, handover_id, principal.name, note.strip(),
                                               time.time() if now is None else now)
    if answer[0] == "missing":
        raise HandoverNotFound(f"no handover sheet {handover_id[:40]}")
    if answer[0] == "conflict":
        raise HandoverTaken(answer[1], float(answer[2]) if answer[2] else None)
    if answer[0] == "off_duty":
        raise NotOnDuty("sign on duty before taking over the shift")
    if answer[0] == "own":
        raise ShiftError("the incoming shift acknowledges the sheet, not the one who wrote it")
    audit.record(r, principal.name, "shift_handover_ack", target=handover_id, addr=addr)
    return get(r, handover_id)


def get(r: redis.Redis, handover_id: str) -> dict[str, Any]:
    """One handover: its sheet, who wrote it and when, who acknowledged it and when."""
    row = store.shifts.read_handover(r, handover_id) if handover_id.startswith(
        HANDOVER_ID_PREFIX) else None
    if row is None:
        raise HandoverNotFound(f"no handover sheet {handover_id[:40]}")
    return {"id": handover_id, "sheet": orjson.loads(row["sheet"]),
            "created_by": row.get("created_by", ""),
            "created_at": float(row["created_at"]) if row.get("created_at") else None,
            "acknowledged_by": row.get("acknowledged_by", ""),
            "acknowledged_at": float(row["acknowledged_at"]) if row.get("acknowledged_at") else None,
            "ack_note": row.get("ack_note", "")}


def recent(r: redis.Redis, limit: int = 20) -> list[dict[str, Any]]:
    """The newest handovers first (with their sheets)."""
    out = []
    for handover_id in store.shifts.handover_ids(r, limit):
        try:
            out.append(get(r, handover_id))
        except HandoverNotFound:  # removed by retention meanwhile
            continue
    return out
