"""An incident's after-action figures as a CSV table for people: headers and values in the
reader's language, spans in words and in minutes, times as the city's local date and time.

The machine form (column ids, measure codes, seconds, ISO 8601) is
:func:`app.incidents.after_action.export_csv`; both are downloads of
/official/incidents/ID/after-action.csv (``?form=machine``; docs/incidents.md).
"""

from __future__ import annotations

from app import i18n
from app.incidents.after_action import MEASURES, Record, alert_rows, duration_text, durations, task_rows
from app.incidents.after_action_html import action_label, actor_name
from app.situation.report import local_time, write_csv

HEADINGS: tuple[str, ...] = ("export.col_part", "export.col_item", "after_action.col_measure",
                             "after_action.col_who", "after_action.col_from", "after_action.col_to",
                             "after_action.col_value", "export.col_minutes", "after_action.col_state")


def _minutes(seconds: float | None) -> float | None:
    """A span in minutes, to one decimal."""
    return None if seconds is None else round(float(seconds) / 60.0, 1)


def _span(who: str, start: float | None, end: float | None, seconds: float | None,
          tz: str) -> list[object]:
    return [actor_name(who) if who else "", local_time(start, tz), local_time(end, tz),
            duration_text(seconds) if seconds is not None else "", _minutes(seconds)]


def export_people_csv(record: Record, tz: str) -> str:
    """The rows of :func:`~app.incidents.after_action.export_csv`, in words and in the same order."""
    figures = durations(record)
    incident = record["incident"]
    rows: list[list[object]] = []
    part = {name: i18n.t(f"export.part_{name}") for name in ("incident", "alert", "task", "action")}
    for name, start, end in MEASURES:
        who = figures["first_task_accepted_by"] if name == "to_first_task_accepted" else ""
        rows.append([part["incident"], incident.get("title", ""), i18n.t(f"after_action.{name}"),
                     *_span(who or "", figures[start], figures[end], figures[f"{name}_s"], tz),
                     i18n.label("incident_status", str(incident.get("status", "")))])
    for row in alert_rows(record):
        rows.append([part["alert"], row["title"], i18n.t("after_action.col_to_ack"),
                     *_span(row["acknowledged_by"] or "", row["opened_at"], row["acknowledged_at"],
                            row["to_acknowledge_s"], tz),
                     i18n.t("after_action.unlinked" if row["link"] == "unlinked" else "export.linked")])
    for row in task_rows(record):
        state = i18n.label("task_state", str(row["state"]))
        rows.append([part["task"], row["title"], i18n.t("after_action.col_to_take"),
                     *_span(row["taken_by"] or "", row["created_at"], row["taken_at"], row["to_take_s"], tz),
                     state])
        rows.append([part["task"], row["title"], i18n.t("after_action.col_duration"),
                     *_span(row["finished_by"] or "", row["created_at"], row["finished_at"],
                            row["duration_s"], tz), state])
    for entry in record["timeline"]:
        action = str(entry.get("action", ""))
        rows.append([part["action"], entry.get("detail", "") if action == "declared" else "",
                     action_label(action), actor_name(str(entry.get("actor", ""))),
                     local_time(entry.get("at"), tz), "", "", None, ""])
    return write_csv([i18n.t(k) for k in HEADINGS], rows)
