"""After-action figures of an incident: time to acknowledge its alerts, to declare it, to the first
task accepted, each task's duration and who did what, from its stored record (docs/incidents.md).

:func:`read_record` reads an incident's record once (the incident, its timeline, its tasks, every
alert linked to it now or before with that alert's own timeline); everything else here is a pure
function of that record, so the figures can be checked on a record built with known times. The
JSON and CSV exports are made here; the offline HTML document in :mod:`.after_action_html`.
"""

from __future__ import annotations

import csv
import io
import statistics
import time
from typing import Any, Iterable, Mapping, Sequence

import redis

from app import i18n
from app.alerts.queries import get_alert
from app.alerts.queries import timeline as alert_timeline
from app.incidents.queries import alert_links, get_incident, incident_tasks, iso, list_incidents, timeline
from app.situation.report import csv_cell, iso_time

Record = Mapping[str, Any]
# Timeline entries in which a person accepted a task: taking it, or finishing it straight away.
ACCEPTING = ("task_taken", "task_done")
# An alert's timeline entries that (re)open it, and those that acknowledge it (resolving an
# alert nobody acknowledged acknowledges it too).
OPENING = ("raised", "reopened")
ACKNOWLEDGING = ("ack", "resolve")
# The action under which an alert's acknowledgement shows in "who did what".
ALERT_ACK = "alert_ack"
# The incident-wide figures, in the order a report lists them: (name, from, to).
MEASURES: tuple[tuple[str, str, str], ...] = (
    ("to_acknowledge", "first_alert_at", "first_acknowledged_at"),
    ("to_declare", "first_alert_at", "declared_at"),
    ("to_first_task_accepted", "declared_at", "first_task_accepted_at"),
    ("to_respond", "declared_at", "responding_at"),
    ("to_stabilise", "declared_at", "stabilised_at"),
    ("to_close", "declared_at", "closed_at"),
)
# The figures /official lists per incident.
LISTED = ("to_acknowledge", "to_declare", "to_first_task_accepted")
CSV_COLUMNS: tuple[str, ...] = ("part", "item", "measure", "who", "start", "end", "seconds", "state")
MAX_LISTED = 200


# -- reading ---------------------------------------------------------------------------------------
def read_record(r: redis.Redis, incident_id: str, now: float | None = None) -> dict[str, Any] | None:
    """The incident's whole record, or None when there is no such incident."""
    incident = get_incident(r, incident_id, now)
    if incident is None:
        return None
    links = alert_links(r, incident_id)
    alerts: dict[str, dict[str, Any]] = {}
    for link in links:
        alert = get_alert(r, link["alert"])
        alerts[link["alert"]] = {"alert": alert,
                                 "timeline": alert_timeline(r, link["alert"]) if alert else []}
    return {"incident": incident, "timeline": timeline(r, incident_id),
            "tasks": incident_tasks(r, incident_id, now), "links": links, "alerts": alerts}


# -- pure figures -------------------------------------------------------------------------------------
def span(start: float | None, end: float | None) -> float | None:
    """Seconds from ``start`` to ``end``; None when either is unknown or the end comes first."""
    if start is None or end is None or end < start:
        return None
    return round(end - start, 3)


def occurrence(alert: Mapping[str, Any] | None, story: Sequence[Mapping[str, Any]],
               linked_at: float | None) -> dict[str, Any]:
    """When the alert opened (the occurrence the incident dealt with: the last opening before it
    was linked) and who acknowledged that occurrence, when."""
    openings = [e for e in story if e.get("action") in OPENING and e.get("at") is not None]
    if not openings:  # no timeline: the alert's own fields (its current occurrence)
        alert = alert or {}
        return {"opened_at": alert.get("opened_at") or alert.get("first_seen"),
                "acknowledged_at": alert.get("acked_at"), "acknowledged_by": alert.get("acked_by", "")}
    before = [e for e in openings if linked_at is None or e["at"] <= linked_at]
    opened = (before or openings)[-1]["at"]
    reopened = next((e["at"] for e in openings if e["at"] > opened), None)
    ack = next((e for e in story if e.get("action") in ACKNOWLEDGING and e.get("at") is not None
                and e["at"] >= opened and (reopened is None or e["at"] < reopened)), None)
    return {"opened_at": opened, "acknowledged_at": ack["at"] if ack else None,
            "acknowledged_by": ack["actor"] if ack else ""}


def alert_rows(record: Record) -> list[dict[str, Any]]:
    """Every alert linked to the incident now or before: when it opened, who acknowledged it and
    how long that took, and how it came to the incident."""
    rows = []
    for link in record["links"]:
        found = record["alerts"].get(link["alert"]) or {}
        alert = found.get("alert") or {}
        seen = occurrence(alert, found.get("timeline") or [], link.get("at"))
        rows.append({
            "id": link["alert"], "title": alert.get("title", ""), "severity": alert.get("severity", ""),
            "domain": alert.get("domain", ""), "link": link.get("state", ""), "how": link.get("how", ""),
            "linked_by": link.get("by", ""), "linked_at": link.get("at"), **seen,
            "to_acknowledge_s": span(seen["opened_at"], seen["acknowledged_at"])})
    return sorted(rows, key=lambda row: (row["opened_at"] is None, row["opened_at"] or 0, row["id"]))


def _first(entries: Iterable[Mapping[str, Any]], actions: Sequence[str],
           people_only: bool = False) -> Mapping[str, Any] | None:
    for entry in entries:
        if entry.get("action") in actions and entry.get("at") is not None and not (
                people_only and is_system(str(entry.get("actor", "")))):
            return entry
    return None


def is_system(actor: str) -> bool:
    """True for what CityOps did itself (the runner's jobs), not a person."""
    return actor.startswith("system:")


def status_reached(story: Sequence[Mapping[str, Any]], status: str) -> float | None:
    """When the incident first reached ``status`` (its timeline's status changes)."""
    entry = next((e for e in story if e.get("action") == "status" and e.get("detail") == status
                  and e.get("at") is not None), None)
    return entry["at"] if entry else None


def task_rows(record: Record) -> list[dict[str, Any]]:
    """Each task: when it was set, taken and finished (and by whom), the time to take it, its
    duration (set to finished), the work (taken to finished) and how late it finished."""
    declared = record["incident"].get("declared_at")
    rows = []
    for task in record["tasks"]:
        story = [e for e in record["timeline"] if e.get("task") == task["id"]]
        accepted = _first(story, ACCEPTING, people_only=True)
        created = task.get("created_at") or declared
        finished = task.get("done_at") if task["state"] == "done" else (
            task.get("cannot_at") if task["state"] == "cannot" else None)
        due = task.get("due_at")
        rows.append({
            "id": task["id"], "title": task.get("title", ""), "title_zh": task.get("title_zh", ""),
            "department": task.get("department", ""), "state": task["state"],
            "required": task.get("required", True), "auto": task.get("auto", False),
            "left_open": task.get("left_open", False), "escalated": task.get("escalated", False),
            "created_at": created, "due_at": due,
            "taken_at": accepted["at"] if accepted else None,
            "taken_by": accepted["actor"] if accepted else "",
            "finished_at": finished,
            "finished_by": task.get("done_by", "") if task["state"] == "done" else task.get("cannot_by", ""),
            "to_take_s": span(created, accepted["at"] if accepted else None),
            "duration_s": span(created, finished),
            "work_s": span(accepted["at"] if accepted else None, finished),
            "late_s": span(due, finished) if finished is not None and due is not None
            and finished > due else None})
    return rows


def durations(record: Record) -> dict[str, Any]:
    """The incident-wide figures: the moments (``<name>_at``) and the spans between them
    (``<measure>_s``, None when a moment is unknown or not reached), with the task counts."""
    incident, story = record["incident"], record["timeline"]
    alerts = alert_rows(record)
    first_alert = min((a["opened_at"] for a in alerts if a["opened_at"] is not None), default=None)
    accepted = _first(story, ACCEPTING, people_only=True)
    moments = {
        "first_alert_at": first_alert,
        "first_acknowledged_at": min((a["acknowledged_at"] for a in alerts
                                      if a["acknowledged_at"] is not None), default=None),
        "declared_at": incident.get("declared_at"),
        "first_task_accepted_at": accepted["at"] if accepted else None,
        "first_task_accepted_by": accepted["actor"] if accepted else "",
        "responding_at": status_reached(story, "responding"),
        "stabilised_at": status_reached(story, "stabilised"),
        "closed_at": incident.get("closed_at"),
    }
    out: dict[str, Any] = dict(moments)
    for name, start, end in MEASURES:
        out[f"{name}_s"] = span(moments[start], moments[end])  # type: ignore[arg-type]
    tasks = task_rows(record)
    out["tasks"] = {"total": len(tasks), "done": sum(t["state"] == "done" for t in tasks),
                    "cannot": sum(t["state"] == "cannot" for t in tasks),
                    "left_open": sum(bool(t["left_open"]) for t in tasks),
                    "late": sum(t["late_s"] is not None for t in tasks),
                    "escalated": sum(bool(t["escalated"]) for t in tasks)}
    return out


def people(record: Record) -> list[dict[str, Any]]:
    """Who did what: each actor (people and the system) with how many times they did each thing,
    first and last, in the order they first acted."""
    acts = [(str(e.get("actor", "")), str(e.get("action", "")), e.get("at")) for e in record["timeline"]]
    acts += [(row["acknowledged_by"], ALERT_ACK, row["acknowledged_at"]) for row in alert_rows(record)
             if row["acknowledged_by"]]
    found: dict[str, dict[str, Any]] = {}
    for actor, action, at in acts:
        if not actor:
            continue
        person = found.setdefault(actor, {"actor": actor, "system": is_system(actor), "actions": {},
                                          "count": 0, "first_at": None, "last_at": None})
        person["actions"][action] = person["actions"].get(action, 0) + 1
        person["count"] += 1
        if at is not None:
            person["first_at"] = at if person["first_at"] is None else min(person["first_at"], at)
            person["last_at"] = at if person["last_at"] is None else max(person["last_at"], at)
    return sorted(found.values(), key=lambda p: (p["first_at"] is None, p["first_at"] or 0, p["actor"]))


# -- the exports -------------------------------------------------------------------------------------
def _with_iso(row: Mapping[str, Any]) -> dict[str, Any]:
    """``row`` with ``<name>_iso`` (ISO 8601, UTC) beside every ``<name>_at``."""
    out = dict(row)
    for key, value in row.items():
        if key.endswith("_at") and (value is None or isinstance(value, (int, float))):
            out[f"{key}_iso"] = iso(value)
    return out


INCIDENT_FIELDS = ("id", "number", "title", "description", "type", "type_name", "type_name_zh",
                   "level", "status", "commander", "declared_by", "declared_at", "closed_by",
                   "closed_at", "source", "lat", "lon", "radius_m", "area", "public")


def export_json(record: Record, now: float | None = None) -> dict[str, Any]:
    """The after-action record as JSON: the incident, its figures, its alerts and tasks, who did
    what and its whole timeline (times in Unix seconds and, beside each, ISO 8601)."""
    figures = durations(record)
    return {
        "generated_at": time.time() if now is None else now,
        "incident": _with_iso({k: record["incident"].get(k) for k in INCIDENT_FIELDS}),
        "durations": _with_iso({k: v for k, v in figures.items() if k != "tasks"}),
        "task_counts": figures["tasks"],
        "alerts": [_with_iso(row) for row in alert_rows(record)],
        "tasks": [_with_iso(row) for row in task_rows(record)],
        "people": [_with_iso(row) for row in people(record)],
        "timeline": [dict(entry) for entry in record["timeline"]],
    }


def _seconds(value: float | None) -> float | int | None:
    """A span for the CSV: whole seconds as a whole number (300, not 300.0)."""
    if value is None:
        return None
    return int(value) if float(value).is_integer() else round(value, 3)


def export_csv(record: Record, tz: str) -> str:
    """The figures as one CSV table (one row per figure: the incident's spans, each alert's time to
    acknowledge, each task's time to take and duration, then every action with who and when).

    The machine form (``?form=machine``): column ids in every language (scripts read them by name),
    times ISO 8601 in the city's time zone; text a spreadsheet would run is defused. The people's
    form, the download's default, is :mod:`app.incidents.after_action_csv`.
    """
    figures = durations(record)
    rows: list[list[object]] = []
    for name, start, end in MEASURES:
        rows.append(["incident", record["incident"].get("title", ""), name,
                     figures["first_task_accepted_by"] if name == "to_first_task_accepted" else "",
                     iso_time(figures[start], tz), iso_time(figures[end], tz), _seconds(figures[f"{name}_s"]),
                     record["incident"].get("status", "")])
    for row in alert_rows(record):
        rows.append(["alert", row["title"], "to_acknowledge", row["acknowledged_by"],
                     iso_time(row["opened_at"], tz), iso_time(row["acknowledged_at"], tz),
                     _seconds(row["to_acknowledge_s"]), row["link"]])
    for row in task_rows(record):
        rows.append(["task", row["title"], "to_take", row["taken_by"], iso_time(row["created_at"], tz),
                     iso_time(row["taken_at"], tz), _seconds(row["to_take_s"]), row["state"]])
        rows.append(["task", row["title"], "duration", row["finished_by"],
                     iso_time(row["created_at"], tz), iso_time(row["finished_at"], tz),
                     _seconds(row["duration_s"]), row["state"]])
    for entry in record["timeline"]:
        rows.append(["action", entry.get("detail", "") if entry.get("action") == "declared" else "",
                     entry.get("action", ""), entry.get("actor", ""), iso_time(entry.get("at"), tz),
                     "", "", ""])
    out = io.StringIO()
    out.write("\ufeff")  # spreadsheet programs then read the UTF-8 (Chinese titles) as UTF-8
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    writer.writerows([csv_cell(v) for v in row] for row in rows)
    return out.getvalue()


# -- incidents of a period (/official) --------------------------------------------------------------
def summary_row(record: Record) -> dict[str, Any]:
    """One incident's line in a list: what it is and its listed figures."""
    incident = record["incident"]
    figures = durations(record)
    return {"id": incident["id"], "number": incident["number"], "title": incident["title"],
            "type_name": incident.get("type_name", ""), "type_name_zh": incident.get("type_name_zh", ""),
            "level": incident["level"], "status": incident["status"],
            "declared_at": incident.get("declared_at"), "closed_at": incident.get("closed_at"),
            **{f"{name}_s": figures[f"{name}_s"] for name in LISTED},
            "tasks": figures["tasks"]}


def declared_since(r: redis.Redis, since: float, now: float | None = None,
                   limit: int = MAX_LISTED) -> list[dict[str, Any]]:
    """The incidents declared since ``since`` (newest first, at most ``limit``) with their figures."""
    found = [i for i in list_incidents(r, limit=max(limit, MAX_LISTED), now=now)
             if (i.get("declared_at") or 0) >= since]
    found.sort(key=lambda i: -(i.get("declared_at") or 0))
    rows = []
    for incident in found[:limit]:
        record = read_record(r, incident["id"], now)
        if record is not None:
            rows.append(summary_row(record))
    return rows


def medians(rows: Sequence[Mapping[str, Any]]) -> dict[str, float | None]:
    """The median of each listed figure over ``rows`` (None when no incident has it)."""
    out: dict[str, float | None] = {}
    for name in LISTED:
        values = [row[f"{name}_s"] for row in rows if row.get(f"{name}_s") is not None]
        out[f"{name}_s"] = statistics.median(values) if values else None
    return out


def duration_text(seconds: float | None, lang: str | None = None) -> str:
    """A span as a person reads it ("4 min 05 s", "1 h 20 min", "2 d 3 h"; "—" when unknown)."""
    if seconds is None:
        return "—"
    whole = int(round(seconds))
    days, rest = divmod(whole, 86_400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return i18n.t("after_action.d_h", lang, d=days, h=hours)
    if hours:
        return i18n.t("after_action.h_m", lang, h=hours, m=f"{minutes:02d}")
    if minutes:
        return i18n.t("after_action.m_s", lang, m=minutes, s=f"{secs:02d}")
    return i18n.t("after_action.s", lang, s=secs)
