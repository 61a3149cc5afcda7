"""What an audit entry acted on, in words (issue 19): the alert's or incident's title with a link to
its page, the task's title, the handover's writer and time, the export's name; never the stored id.

The audit trail keeps ids (they stay exact and searchable); this module looks each one up once per
listing through the services that own them. Something no longer kept (an alert past retention, a
removed receiver) is named by its kind only. Titles come from feeds and people: Dash shows them
as text, so markup in them is never interpreted.
"""

from __future__ import annotations

import re
from typing import Any, Callable

import redis
from dash import dcc

from app import alerts, audit, i18n, incidents
from app.accounts import admin
from app.outbound import receivers
from app.shifts import handover
from app.shifts.errors import HandoverNotFound
from layouts.components import format_time
from layouts.incident_parts import task_title

# An audit or shift-log entry id: the stream's milliseconds and a sequence number.
STREAM_ID = re.compile(r"^(\d{10,16})-\d+$")
# The system's own ids (alerts, incidents, tasks, proposals, receivers, handovers): never shown,
# even inside a refused request's path or a name someone typed at the sign-in.
OWN_ID = re.compile(r"(?<![\w-])(?:al|in|tk|pr|wh|ho)-[0-9a-f]{6,}(?![\w-])")
EXPORTS = {"report.html": "official.export_report", "kpis.csv": "official.export_kpis",
           "alerts.csv": "official.export_alerts"}


def _gone(kind: str) -> str:
    return i18n.t(f"audit_target.gone.{kind}")


def _link(text: str, href: str) -> dcc.Link:
    return dcc.Link(text, href=href, className="audit-target-link")


def _alert(r: redis.Redis, alert_id: str) -> Any:
    alert = alerts.get_alert(r, alert_id)
    if alert is None:
        return _gone("alert")
    return _link(alerts.shown_title(alert), f"/alerts?alert={alert['id']}")


def _incident(r: redis.Redis, incident_id: str) -> Any:
    incident = incidents.get_incident(r, incident_id)
    if incident is None:
        return _gone("incident")
    return _link(i18n.t("audit_target.incident", number=incident["number"], title=incident["title"]),
                 f"/incidents?incident={incident['id']}")


def _task(r: redis.Redis, task_id: str) -> Any:
    task = incidents.get_task(r, task_id)
    if task is None:
        return _gone("task")
    return _link(task_title(task), f"/incidents?incident={task['incident']}")


def _proposal(r: redis.Redis, proposal_id: str) -> Any:
    proposal = incidents.get_proposal(r, proposal_id)
    if proposal is None:
        return _gone("proposal")
    words = i18n.t("audit_target.proposal", title=proposal["title"])
    return _link(words, f"/incidents?incident={proposal['incident']}") if proposal["incident"] \
        else words


def _handover(r: redis.Redis, target: str) -> Any:
    handover_id, _, form = target.partition(" ")
    try:
        found = handover.get(r, handover_id)
    except HandoverNotFound:
        return _gone("handover")
    words = i18n.t("audit_target.handover", user=found["created_by"],
                   time=format_time(found["created_at"], with_date=True))
    return i18n.t("audit_target.handover_sheet", sheet=words) if form else words


def _receiver(r: redis.Redis, receiver_id: str) -> Any:
    try:
        return receivers.get(r, receiver_id).name
    except receivers.ReceiverNotFound:
        return _gone("receiver")


def _token(r: redis.Redis, token_id: str) -> Any:
    names = {t["id"]: t["name"] for t in admin.list_tokens(r)}
    return i18n.t("audit_target.token", name=names[token_id]) if token_id in names \
        else _gone("token")


def _moment(key: str) -> Callable[[redis.Redis, str], Any]:
    """An entry of a stream (the audit trail, the shift log), named by its time."""
    def named(_r: redis.Redis, entry_id: str) -> Any:
        match = STREAM_ID.match(entry_id)
        return i18n.t(key, time=format_time(int(match.group(1)) / 1000, with_date=True)) \
            if match else ""
    return named


def _export(r: redis.Redis, target: str) -> Any:
    if target in EXPORTS:
        return i18n.t(EXPORTS[target])
    name, _, rest = target.partition(" ")
    if name == "kpi-history.csv" and f"export.window_{rest}" in i18n.CATALOG:
        return i18n.t("official.export_trends", window=i18n.t(f"export.window_{rest}"))
    if name.startswith("ho-"):
        return _handover(r, target)
    if name == "after-action":
        number = rest.partition(" ")[0].lstrip("#")
        return i18n.t("audit_target.after_action", number=number)
    return target


def _severity(_r: redis.Redis, code: str) -> Any:
    return i18n.label("severity", code)


# action (or its kind before "_") -> how its target is named.
BY_ACTION: dict[str, Callable[[redis.Redis, str], Any]] = {
    "alert_sound": _severity, "cap_issue": _alert, "export": _export,
    "shift_handover": _handover, "shift_handover_ack": _handover,
    "shift_note": _moment("audit_target.shift_note"), "token_revoke": _token,
    "audit_export": _moment("audit_target.audit_through"),
    "audit_archive": _moment("audit_target.audit_through"),
}
BY_KIND: dict[str, Callable[[redis.Redis, str], Any]] = {
    "alert": _alert, "incident": _incident, "task": _task, "proposal": _proposal,
    "webhook": _receiver,
}


def namer(r: redis.Redis) -> Callable[[audit.AuditEntry], Any]:
    """What each entry acted on, in words (a Dash child); one listing's lookups are made once."""
    seen: dict[tuple[str, str], Any] = {}

    def name(entry: audit.AuditEntry) -> Any:
        if not entry.target:
            return ""
        how = BY_ACTION.get(entry.action) or BY_KIND.get(entry.action.partition("_")[0])
        key = (entry.action, entry.target)
        if key not in seen:
            try:
                shown = how(r, entry.target) if how else entry.target
            except redis.RedisError:
                shown = i18n.t("audit_target.unknown")
            seen[key] = OWN_ID.sub("…", shown) if isinstance(shown, str) else shown
        return seen[key]
    return name
