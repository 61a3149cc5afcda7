"""A handover sheet as a printable HTML document that opens offline (no script, no link out), in
the reader's language: every code by its name, times in the city's time zone, feed text escaped."""

from __future__ import annotations

import functools
from typing import Any, Mapping

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from app.alerts.queries import shown_title
from app.i18n import format_datetime, t
from app.model.alerts import SEVERITY_COLOURS
from app.model.incidents import LEVEL_HEX


@functools.lru_cache(maxsize=1)
def _environment() -> Environment:
    return Environment(loader=PackageLoader("app.shifts", "templates"),
                       autoescape=select_autoescape(["html"]), undefined=StrictUndefined,
                       trim_blocks=True, lstrip_blocks=True)


def _name(lang: str, prefix: str, code: str) -> str:
    """A code's name in ``lang`` (the code itself only when the catalogue has none)."""
    try:
        return t(f"{prefix}.{code}", lang)
    except KeyError:
        return code


def render(handover: Mapping[str, Any], lang: str, timezone: str,
           departments: Mapping[str, tuple[str, str]]) -> str:
    """The document; ``departments`` maps a department id to its (English, Chinese) names."""
    sheet = handover["sheet"]

    def when(ts: float | None) -> str:
        return format_datetime(ts, with_date=True, tz=timezone, seconds=False, lang=lang)

    def department(code: str) -> str:
        names = departments.get(code)
        return (names[1] if lang == "zh" else names[0]) if names else code

    def alert(a: Mapping[str, Any]) -> dict[str, Any]:
        return {"severity": _name(lang, "severity", a["severity"]),
                "colour": SEVERITY_COLOURS.get(a["severity"], SEVERITY_COLOURS["info"]),
                "title": shown_title(a, lang), "count": a.get("count") or 1,
                "domain": _name(lang, "domain", a["domain"]),
                "state": _name(lang, "alert_state", "escalated" if a.get("escalated")
                               and a["state"] == "active_unack" else a["state"]),
                "opened": when(a.get("opened_at"))}

    incidents = [{
        "level": _name(lang, "incident_level", i["level"]),
        "level_hex": LEVEL_HEX.get(i["level"], "#555"),
        "title": i["title"], "status": _name(lang, "incident_status", i["status"]),
        "commander": i["commander"],
        "tasks": [{"title": (task.get("title_zh") or task["title"]) if lang == "zh" else task["title"],
                   "department": department(task["department"]),
                   "state": _name(lang, "task_state", task["state"]), "owner": task["owner"],
                   "due": when(task.get("due_at")), "overdue": task["overdue"]}
                  for task in i["tasks"]]} for i in sheet["incidents"]]
    labels = {key: t(f"shift.{key}", lang) for key in (
        "on_duty", "note", "incidents", "commander", "task", "department", "state", "owner", "due",
        "overdue", "no_open_tasks", "none", "severity", "alert", "domain", "opened", "feeds_down",
        "feed", "last_success", "last_error", "log", "time", "by", "entry", "not_acknowledged")}
    acknowledged = ""
    if handover.get("acknowledged_by"):
        acknowledged = t("shift.acknowledged", lang, user=handover["acknowledged_by"],
                         time=when(handover.get("acknowledged_at")))
    values = {
        "lang": lang, "labels": labels,
        "title": t("shift.sheet_title", lang, time=when(handover.get("created_at"))),
        "written": t("shift.written_by", lang, user=handover.get("created_by", ""),
                     time=when(handover.get("created_at"))),
        "on_duty": ", ".join(p["user"] for p in sheet.get("on_duty", [])),
        "note": sheet.get("note", ""), "incidents": incidents,
        "alert_sections": [
            {"title": t("shift.alerts_unacknowledged", lang),
             "rows": [alert(a) for a in sheet["alerts_unacknowledged"]]},
            {"title": t("shift.alerts_escalated", lang),
             "rows": [alert(a) for a in sheet["alerts_escalated"]]}],
        "feeds": [{"feed": f["feed"], "domain": _name(lang, "domain", f["domain"]),
                   "state": _name(lang, "feed_state", f["state"]),
                   "last_success": when(f.get("last_success")), "last_error": f.get("last_error", "")}
                  for f in sheet["feeds_down"]],
        "log": [{"at": when(e["at"]), "actor": e["actor"], "text": e["text"]} for e in sheet["log"]],
        "acknowledged": acknowledged, "ack_note": handover.get("ack_note", ""),
    }
    return _environment().get_template("handover.html").render(values)
