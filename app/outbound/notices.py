"""The e-mails people get, in the installation's mail language: an escalated alert, the tasks an
incident gives a department, and the SOP's "notify" step."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from app.i18n import format_datetime, format_number, label, t
from app.model.alerts import SEVERITY_COLOURS
from app.model.incidents import LEVEL_HEX
from app.outbound.events import alert_link
from app.outbound.mail import Notice


def escalation_notice(alert: Mapping[str, Any], lang: str, timezone: str,
                      public_url: str | None) -> Notice:
    """An alert nobody acknowledged within its severity's deadline (feed text kept as sent)."""
    with_lang = {"lang": lang}
    rows = [
        (t("mail.alert", lang), str(alert.get("title", ""))),
        (t("mail.severity", lang), _in(lang, "severity", alert.get("severity", ""))),
        (t("mail.domain", lang), _in(lang, "domain", alert.get("domain", ""))),
        (t("mail.opened", lang), format_datetime(alert.get("opened_at"), with_date=True,
                                                 tz=timezone, **with_lang)),
        (t("mail.count", lang), format_number(alert.get("count") or 1, **with_lang)),
    ]
    return Notice(
        subject=t("mail.escalated.subject", lang, title=" ".join(str(alert.get("title", "")).split())),
        heading=t("mail.escalated.heading", lang), rows=rows,
        body=str(alert.get("description", "")), link=alert_link(public_url, str(alert["id"])),
        severity=_in(lang, "severity", alert.get("severity", "")),
        severity_colour=SEVERITY_COLOURS.get(alert.get("severity", ""), ""))


def _in(lang: str, prefix: str, code: str) -> str:
    """A code's name in ``lang`` (label() answers in the request's language)."""
    key = f"{prefix}.{code}"
    try:
        return t(key, lang)
    except KeyError:
        return label(prefix, code)


def _incident_rows(incident: Mapping[str, Any], lang: str, timezone: str) -> list[tuple[str, str]]:
    type_name = (incident.get("type_name_zh") or incident.get("type_name")) if lang == "zh" \
        else incident.get("type_name")
    return [(t("mail.incident", lang), f"#{incident['number']} {incident['title']}"),
            (t("mail.incident_type", lang), str(type_name or "")),
            (t("mail.level", lang), _in(lang, "incident_level", incident["level"])),
            (t("mail.declared", lang), format_datetime(incident.get("declared_at"), with_date=True,
                                                       tz=timezone, lang=lang))]


def _incident_link(public_url: str | None, incident: Mapping[str, Any], page: str) -> str:
    return f"{public_url}/{page}?incident={incident['id']}" if public_url else ""


def tasks_notice(incident: Mapping[str, Any], tasks: Sequence[Mapping[str, Any]],
                 department: tuple[str, str], lang: str, timezone: str,
                 public_url: str | None) -> Notice:
    """Tasks of an incident given to a department (one e-mail per department and step)."""
    name = department[1] if lang == "zh" else department[0]
    rows = _incident_rows(incident, lang, timezone)
    for task in tasks:
        title = (task.get("title_zh") or task["title"]) if lang == "zh" else task["title"]
        due = format_datetime(task.get("due_at"), with_date=True, tz=timezone, seconds=False,
                              lang=lang)
        rows.append((t("mail.task", lang), t("mail.task_due", lang, task=title, due=due)))
    return Notice(subject=t("mail.tasks.subject", lang, department=name, number=incident["number"],
                            title=" ".join(str(incident["title"]).split())),
                  heading=t("mail.tasks.heading", lang, department=name, count=len(tasks)),
                  rows=rows, link=_incident_link(public_url, incident, "tasks"),
                  severity=_in(lang, "incident_level", incident["level"]),
                  severity_colour=LEVEL_HEX.get(incident["level"], ""))


def notify_notice(incident: Mapping[str, Any], department: tuple[str, str], lang: str,
                  timezone: str, public_url: str | None) -> Notice:
    """The SOP's "notify" step: the operations room tells a department about an incident."""
    name = department[1] if lang == "zh" else department[0]
    return Notice(subject=t("mail.notify.subject", lang, number=incident["number"],
                            title=" ".join(str(incident["title"]).split())),
                  heading=t("mail.notify.heading", lang, department=name),
                  rows=_incident_rows(incident, lang, timezone),
                  body=str(incident.get("description", "")),
                  link=_incident_link(public_url, incident, "incidents"),
                  severity=_in(lang, "incident_level", incident["level"]),
                  severity_colour=LEVEL_HEX.get(incident["level"], ""))
