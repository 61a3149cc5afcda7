"""Incidents and their tasks to the outside: each timeline entry of an incident becomes an
``incident.changed`` or ``task.changed`` event for the receivers that asked, tasks given to a
department and the SOP's "notify" steps become e-mails to the department's address."""

from __future__ import annotations

import time
from typing import Any, Mapping, Sequence

import orjson
import redis

from app import store
from app.config import Settings
from app.incidents import sop
from app.incidents.queries import get_incident, get_task, incident_tasks
from app.model.outbound import Receiver
from app.outbound import events, mail, notices

CURSOR = store.outbound.INCIDENTS_CURSOR
START = store.outbound.INCIDENTS_START
SLACK_S = 5.0  # changes stamped a little before the last one read are read again (and skipped)
FORGET_AFTER_S = 86_400.0
TASK_ACTIONS_PREFIX = "task_"
# Timeline actions that give a department a task (e-mailed to the department's address).
TASK_GIVEN = frozenset({"declared", "step_added", "task_reassigned"})


def incident_data(incident: Mapping[str, Any], public_url: str | None) -> dict[str, Any]:
    """What an event says about an incident."""
    return {"id": incident["id"], "number": incident["number"], "title": incident["title"],
            "type": incident["type"], "level": incident["level"], "severity": incident["severity"],
            "status": incident["status"], "commander": incident["commander"],
            "domains": incident["domains"], "public": incident["public"],
            "lat": incident["lat"], "lon": incident["lon"], "radius_m": incident["radius_m"],
            "area": incident["area"], "tasks": incident["tasks"],
            "declared_at": events.rfc3339(incident.get("declared_at")),
            "link": f"{public_url}/incidents?incident={incident['id']}" if public_url else ""}


def task_data(task: Mapping[str, Any]) -> dict[str, Any]:
    """What an event says about a task."""
    return {"id": task["id"], "title": task["title"], "department": task["department"],
            "state": task["state"], "owner": task["owner"], "required": task["required"],
            "due_at": events.rfc3339(task.get("due_at")), "overdue": task["overdue"],
            "reason": task["reason"]}


class IncidentFanout:
    """One pass over the incidents changed since the last one (called by the dispatcher)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.next_forget = 0.0

    def step(self, r: redis.Redis, receivers: Sequence[Receiver], queue: Any,
             now: float | None = None) -> int:
        """Queue what the new timeline entries and notices say; returns how many e-mails."""
        now = time.time() if now is None else now
        mails = self._timelines(r, receivers, queue, now)
        mails += self._notices(r)
        if now >= self.next_forget:
            self.next_forget = now + 3600
            store.outbound.forget_incidents_seen(r, now - FORGET_AFTER_S)
        return mails

    # -- timelines --------------------------------------------------------------------------------
    def _timelines(self, r: redis.Redis, receivers: Sequence[Receiver], queue: Any,
                   now: float) -> int:
        cursor = store.outbound.read_cursor(r, CURSOR)
        start = store.outbound.read_cursor(r, START)
        if cursor is None or start is None:
            # A first start announces what happens from now on.
            store.outbound.begin_announcing(r, now)
            return 0
        changed = store.outbound.incidents_changed_since(r, float(cursor) - SLACK_S)
        if not changed:
            return 0
        mails = 0
        seen = store.outbound.read_incident_seen(r, [i for i, _ in changed])
        for (incident_id, _score), last in zip(changed, seen, strict=True):
            entries = store.outbound.timeline_after(r, incident_id, last or start)
            if not entries:
                continue
            incident = get_incident(r, incident_id, now)
            if incident is None:
                continue
            for entry_id, entry in entries:
                mails += self._entry(r, receivers, queue, incident, entry_id, entry, now)
            store.outbound.write_incident_seen(r, incident_id, entries[-1][0])
        store.outbound.write_cursor(r, CURSOR, f"{max(score for _, score in changed):.3f}")
        return mails

    def _entry(self, r: redis.Redis, receivers: Sequence[Receiver], queue: Any,
               incident: Mapping[str, Any], entry_id: str, entry: Mapping[str, str],
               now: float) -> int:
        action = entry.get("action", "")
        task = get_task(r, entry["task"], now) if entry.get("task") else None
        is_task = action.startswith(TASK_ACTIONS_PREFIX) and task is not None
        event_type = "task.changed" if is_task else "incident.changed"
        domains = incident["domains"] or [""]
        targets = [rc.id for rc in receivers
                   if any(rc.wants(event_type, d, incident["severity"]) for d in domains)]
        if targets:
            delivery_id = f"{incident['id']}-{entry_id}"
            change = {"action": action, "by": entry.get("actor", ""),
                      "at": events.rfc3339(float(entry["at"])) if entry.get("at") else None,
                      "detail": entry.get("detail", ""), "note": entry.get("note", "")}
            data: dict[str, Any] = {"incident": incident_data(incident,
                                                              self.settings.outbound.public_url),
                                    "change": change}
            if task is not None:
                data["task"] = task_data(task)
            body = events.event_body(event_type, delivery_id, now, data)
            queue(r, targets, {"id": delivery_id, "type": event_type, "format": "cityops",
                               "body": body})
        if action not in TASK_GIVEN:
            return 0
        tasks = [task] if task is not None and action != "declared" else \
            incident_tasks(r, incident["id"], now)
        return self._mail_departments(r, incident, tasks)

    # -- e-mail -----------------------------------------------------------------------------------
    def _departments(self) -> dict[str, tuple[str, str]]:
        catalogue, _ = sop.current(self.settings.incidents.sop_file)
        return {d.id: (d.name, d.name_zh) for d in catalogue.departments.values()}

    def _mail_departments(self, r: redis.Redis, incident: Mapping[str, Any],
                          tasks: Sequence[Mapping[str, Any]]) -> int:
        mail_settings = self.settings.mail
        if not mail_settings.host or not mail_settings.departments:
            return 0
        by_department: dict[str, list[Mapping[str, Any]]] = {}
        for task in tasks:
            if task["department"] in mail_settings.departments and task["state"] == "open":
                by_department.setdefault(task["department"], []).append(task)
        names = self._departments()
        sent = 0
        for department, given in sorted(by_department.items()):
            notice = notices.tasks_notice(incident, given, names.get(department, (department,) * 2),
                                          mail_settings.language, self.settings.city.timezone,
                                          self.settings.outbound.public_url)
            queued = mail.compose(notice, [mail_settings.departments[department]], mail_settings)
            sent += store.outbound.enqueue_mail(r, orjson.dumps(queued), mail_settings.queue_limit)
        return sent

    def _notices(self, r: redis.Redis) -> int:
        """The SOP's "notify" steps, e-mailed to each notified department that has an address."""
        mail_settings = self.settings.mail
        if not mail_settings.host:
            return 0
        names = self._departments()
        sent = 0
        for department, address in sorted(mail_settings.departments.items()):
            field = f"notices:{department}"
            after = store.outbound.read_cursor(r, field)
            if after is None:
                store.outbound.write_cursor(r, field, store.outbound.last_notice_id(r, department))
                continue
            found = store.outbound.notices_after(r, department, after)
            for _entry_id, notice in found:
                incident = get_incident(r, notice.get("incident", ""))
                if incident is None:
                    continue
                composed = notices.notify_notice(incident, names.get(department, (department,) * 2),
                                                 mail_settings.language, self.settings.city.timezone,
                                                 self.settings.outbound.public_url)
                queued = mail.compose(composed, [address], mail_settings)
                sent += store.outbound.enqueue_mail(r, orjson.dumps(queued),
                                                    mail_settings.queue_limit)
            if found:
                store.outbound.write_cursor(r, field, found[-1][0])
        return sent
