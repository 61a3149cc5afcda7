"""Pieces the incident screens share: names from the SOP catalogue in the reader's language, level
and status badges, task progress, a task's line, the timeline, and answers to refused changes.

/incidents, /tasks, the wall's alert panel and the wall's pinned incident all draw incidents and
tasks with these, so a level, a state or a department reads the same everywhere. Nothing here
shows an internal code: states, levels, departments and SOP actions are looked up in the
catalogue (app/i18n) or the SOP catalogue; people's own texts (titles, notes) are shown as written.
"""

from __future__ import annotations

import math
import time
from typing import Any, Iterable, Mapping, Sequence

from dash import html

from app import i18n, incidents
from app.incidents import sop
from app.model.incidents import LEVEL_RANK, LEVELS, TASK_OPEN
from app.web.context import settings
from layouts.components import format_time

RECENT_S = 20 * 3600  # older than this, a time is shown with its date
# Fields the services name when they refuse an input -> the catalogue's name of that field.
FIELD_KEYS: dict[str, str] = {
    "title": "incident.field.title", "type": "incident.field.type",
    "level": "incident.field.level", "commander": "incident.field.commander",
    "alerts": "incident.field.alerts", "lat": "incident.field.lat", "lon": "incident.field.lon",
    "radius_m": "incident.field.radius", "area": "incident.field.area",
    "description": "incident.field.description", "note": "incident.field.note",
    "text": "incident.field.note", "reason": "incident.field.reason",
    "department": "incident.field.department", "due_minutes": "incident.field.due",
    "alert": "incident.field.alert", "status": "incident.field.status",
    "title_zh": "incident.field.title", "owner": "incident.field.commander",
}


def catalogue() -> sop.Catalogue:
    """The SOP catalogue in force (the city's file, re-read when it changes, else the default)."""
    return sop.current(settings().incidents.sop_file)[0]


def chinese() -> bool:
    """True when the reader reads Simplified Chinese."""
    return i18n.current_language() == i18n.ZH


def when(ts: float | None) -> str:
    """A time as a room reads it: the clock time today, with the date when it is older."""
    if ts is None:
        return "—"
    return format_time(ts, with_date=abs(time.time() - ts) > RECENT_S)


# -- names in the reader's language ------------------------------------------------------------------
def type_name(incident: Mapping[str, Any]) -> str:
    """The incident's type as it was named when declared, in the reader's language."""
    if chinese() and incident.get("type_name_zh"):
        return str(incident["type_name_zh"])
    return str(incident.get("type_name") or incident.get("type") or "")


def kind_name(kind: str, found: sop.Catalogue | None = None) -> str:
    """An incident type of the catalogue by its id, in the reader's language."""
    procedure = (found or catalogue()).types.get(kind)
    if procedure is None:
        return kind
    return procedure.name_zh if chinese() and procedure.name_zh else procedure.name


def department_name(department: str, found: sop.Catalogue | None = None) -> str:
    """A department of the catalogue by its id, in the reader's language (a department the
    city's file no longer lists keeps its id: there is no other name for it)."""
    known = (found or catalogue()).departments.get(department)
    if known is None:
        return department
    return known.name_zh if chinese() and known.name_zh else known.name


def department_options(found: sop.Catalogue | None = None) -> list[dict[str, str]]:
    """The catalogue's departments as dropdown options, named in the reader's language."""
    found = found or catalogue()
    return [{"label": department_name(d, found), "value": d} for d in found.departments]


def type_options(found: sop.Catalogue | None = None) -> list[dict[str, str]]:
    """The catalogue's incident types as dropdown options, named in the reader's language."""
    found = found or catalogue()
    return [{"label": kind_name(k, found), "value": k} for k in found.types]


def level_options() -> list[dict[str, str]]:
    """The four levels, gravest first, named with their colours."""
    return [{"label": i18n.label("incident_level", level), "value": level} for level in LEVELS]


def task_title(task: Mapping[str, Any]) -> str:
    """A task's title in the reader's language (copied from its step when it was created)."""
    if chinese() and task.get("title_zh"):
        return str(task["title_zh"])
    return str(task.get("title") or "")


def numbered(incident: Mapping[str, Any]) -> str:
    """"#3 Burst main on Kangfu Road": the number people say, and the title as written."""
    return i18n.t("incident.numbered", number=incident.get("number", 0),
                  title=incident.get("title", ""))


# -- badges and progress -----------------------------------------------------------------------------
def level_badge(level: str) -> html.Span:
    """The level in its colour and in words (the colour is never the only cue)."""
    return html.Span(i18n.label("incident_level", level), className=f"level-badge level-{level}")


def status_badge(status: str) -> html.Span:
    """The incident's status in words."""
    return html.Span(i18n.label("incident_status", status), className=f"status-badge st-{status}")


def task_state_badge(task: Mapping[str, Any]) -> html.Span:
    """A task's state in words; "left open" for a task of a closed incident."""
    if task.get("left_open"):
        return html.Span(i18n.t("task.left_open"), className="task-state state-left")
    return html.Span(i18n.label("task_state", task.get("state", "")),
                     className=f"task-state state-{task.get('state', '')}")


def progress(counts: Mapping[str, int], with_bar: bool = True) -> html.Div:
    """Task progress: a bar of the finished share and the counts in words (overdue loud)."""
    total = int(counts.get("total", 0))
    finished = int(counts.get("done", 0)) + int(counts.get("cannot", 0))
    parts: list[Any] = [html.Span(i18n.t("incident.tasks_done", done=counts.get("done", 0),
                                         total=total), className="progress-text")]
    if counts.get("accepted"):
        parts.append(html.Span(i18n.t("incident.tasks_accepted", count=counts["accepted"]),
                               className="progress-accepted"))
    if counts.get("cannot"):
        parts.append(html.Span(i18n.t("incident.tasks_cannot", count=counts["cannot"]),
                               className="progress-cannot"))
    if counts.get("overdue"):
        parts.append(html.Span(i18n.t("incident.tasks_overdue", count=counts["overdue"]),
                               className="overdue-badge"))
    children: list[Any] = []
    if with_bar and total:
        share = round(100 * finished / total)
        children.append(html.Div(html.Div(className="progress-fill", style={"width": f"{share}%"}),
                                 className="progress-bar", role="img",
                                 **{"aria-label": i18n.t("incident.tasks_done", done=finished,
                                                         total=total)}))
    children.append(html.Div(parts, className="progress-words"))
    return html.Div(children, className="task-progress", **{"data-done": f"{finished}/{total}"})


def gravest_first(found: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Open incidents first, then by level (I first), then the most recently changed."""
    return sorted(found, key=lambda i: (i.get("status") == "closed",
                                        LEVEL_RANK.get(i.get("level", ""), 9),
                                        -(i.get("updated_at") or 0)))


# -- one task ----------------------------------------------------------------------------------------
def task_facts(task: Mapping[str, Any], found: sop.Catalogue | None = None) -> list[Any]:
    """Who has a task and since when, when it is due (overdue loud), and how it ended."""
    facts: list[Any] = [html.Span(department_name(task.get("department", ""), found),
                                  className="task-department")]
    state = task.get("state")
    if task.get("owner") and state in TASK_OPEN:
        facts.append(html.Span(i18n.t("task.taken_by", user=task["owner"],
                                      time=when(task.get("taken_at"))), className="task-owner"))
    if state == "done":
        who = (i18n.t("task.by_system") if task.get("auto")
               else task.get("done_by") or i18n.t("alerts.someone"))
        facts.append(html.Span(i18n.t("task.done_by", user=who, time=when(task.get("done_at"))),
                               className="task-owner"))
    elif state == "cannot":
        facts.append(html.Span(i18n.t("task.cannot_by", user=task.get("cannot_by", ""),
                                      time=when(task.get("cannot_at"))), className="task-owner"))
        if task.get("reason"):
            facts.append(html.Span(i18n.t("task.reason", reason=task["reason"]),
                                   className="task-reason"))
    if state in TASK_OPEN and not task.get("left_open"):
        facts.append(html.Span(i18n.t("task.due", time=when(task.get("due_at"))),
                               className="task-due"))
        if task.get("overdue"):
            facts.append(html.Span(i18n.t("task.overdue"), className="overdue-badge"))
    if task.get("action") and state == "open":
        facts.append(html.Span(i18n.label("sop_action", task["action"]), className="muted"))
    if not task.get("required", True):
        facts.append(html.Span(i18n.t("task.optional"), className="muted"))
    return facts


# -- the timeline ------------------------------------------------------------------------------------
def _level_change(detail: str) -> str:
    before, _, after = detail.partition(" -> ")
    if not after:
        return i18n.label("incident_level", detail)
    return i18n.t("incident.level_change", before=i18n.label("incident_level", before),
                  after=i18n.label("incident_level", after))


def timeline_detail(entry: Mapping[str, Any], tasks: Mapping[str, Mapping[str, Any]],
                    found: sop.Catalogue | None = None) -> str:
    """What a timeline entry's detail says, in the reader's words: codes become names (a status,
    a level, a department, an SOP action, a due time); people's texts stay as written."""
    action, detail = entry.get("action", ""), str(entry.get("detail") or "")
    task = tasks.get(entry.get("task") or "")
    if action == "status":
        return i18n.label("incident_status", detail)
    if action == "level":
        return _level_change(detail)
    if action == "public":
        return i18n.t("incident.public_on" if detail == "1" else "incident.public_off")
    if action == "task_reassigned":
        return i18n.t("task.moved_to", department=department_name(detail, found))
    if action == "task_escalated":
        try:
            return i18n.t("task.due", time=when(float(detail)))
        except ValueError:
            return ""
    if action == "task_auto":
        return i18n.label("sop_action", detail)
    if action in ("step_added",) and task is not None:
        return task_title(task)
    return detail


def timeline(entries: Sequence[Mapping[str, Any]], tasks: Mapping[str, Mapping[str, Any]],
             found: sop.Catalogue | None = None, limit: int = 200) -> html.Ol:
    """The incident's story, newest first: when, who, what (and which task), the detail and the
    note as written."""
    items = []
    for entry in list(reversed(entries))[:limit]:
        task = tasks.get(entry.get("task") or "")
        detail = timeline_detail(entry, tasks, found)
        actor = entry.get("actor", "")
        items.append(html.Li(className=f"tl-{entry.get('action', '')}", children=[
            html.Span(when(entry.get("at")), className="tl-time"),
            html.Span(i18n.t("task.by_system") if actor == incidents.SYSTEM_ACTOR else actor,
                      className="tl-actor"),
            html.Span(i18n.label("incident_action", entry.get("action", "")),
                      className="tl-action"),
            html.Span(task_title(task), className="tl-task")
            if task is not None and entry.get("action") != "step_added" else None,
            html.Span(detail, className="tl-detail") if detail else None,
            html.Span(entry["note"], className="tl-note") if entry.get("note") else None,
        ]))
    return html.Ol(items, className="timeline incident-timeline")


# -- answers to a refused change --------------------------------------------------------------------
def refusal(exc: Exception) -> html.Span:
    """A refused change as the person reads it: who was first and when, that they may not, that
    it is gone, or which field to correct."""
    if isinstance(exc, incidents.Conflict):
        why = i18n.t_or(f"incident.why.{exc.reason}", exc.why)
        return html.Span(i18n.t("incident.conflict", why=why,
                                user=exc.by or i18n.t("alerts.someone"),
                                time=when(exc.at) if exc.at else i18n.t("alerts.just_now")),
                         className="error conflict")
    if isinstance(exc, incidents.NotPermitted):
        return html.Span(i18n.t("incident.not_permitted"), className="error")
    if isinstance(exc, incidents.IncidentNotFound):
        return html.Span(i18n.t("incident.gone"), className="error")
    field = getattr(exc, "field", "")
    name = i18n.t(FIELD_KEYS[field]) if field in FIELD_KEYS else i18n.t("incident.field.input")
    return html.Span(i18n.t("incident.check_field", field=name), className="error")


def done(key: str, **fmt: Any) -> html.Span:
    """A change that went through, said in words."""
    return html.Span(i18n.t(key, **fmt), className="ok")


def problem(key: str, **fmt: Any) -> html.Span:
    """An input the page refused before asking the service, said in words."""
    return html.Span(i18n.t(key, **fmt), className="error")


def number(value: Any) -> float | None:
    """A number field's value: None when empty; ValueError for anything but a finite number."""
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError("not a number")
    return float(value)
