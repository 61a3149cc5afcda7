"""The e-mails people get: what an escalated alert says, in the installation's mail language."""

from __future__ import annotations

from typing import Any, Mapping

from app.i18n import format_datetime, format_number, label, t
from app.model.alerts import SEVERITY_COLOURS
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
