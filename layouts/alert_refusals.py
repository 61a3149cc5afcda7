"""What /alerts says when someone may not act or was not first, in the reader's language.

A card without buttons says why (the role reads only, or the alert is outside the domains set on
the account, which it names); a refused step says who acted, or who holds the alert, and when.
"""

from __future__ import annotations

import re
from typing import Any, Mapping

from dash import html

from app import alerts, i18n
from app.model.alerts import CLOSED
from app.web.context import current_principal
from layouts.components import domain_title, format_time

# Why an action was refused, as the store words it -> catalogue key (names inside kept as sent).
CONFLICT_REASONS: dict[str, str] = {"already acknowledged": "alerts.why_already_acked",
                                    "the alert is closed": "alerts.why_closed",
                                    "already closed": "alerts.why_already_closed"}
_ALREADY_ASSIGNED = re.compile(r"already assigned to (?P<user>.+)")
_ASSIGNED_MEANWHILE = re.compile(r"assigned to (?P<user>.+) meanwhile")
HELD_BY = "held by "  # a claim refused: someone holds the alert (app/store/lua/alert_act.lua)


def why_not(alert: Mapping[str, Any]) -> html.Div | None:
    """Why this person has no buttons on an open alert (their role reads only; or it is outside
    the domains set on their account, which it names)."""
    principal = current_principal()
    why = alerts.refusal(principal, alert)
    if why is None or alert["state"] == CLOSED:
        return None
    if why == alerts.REFUSED_DOMAIN:
        mine = ", ".join(domain_title(d) for d in alerts.acting_domains(principal))
        text = i18n.t("alerts.why_not_domain", domains=mine or i18n.t("alerts.no_domains"))
    else:
        text = i18n.t("alerts.why_not_role")
    return html.Div(text, className="why-not muted")


def conflict(exc: alerts.Conflict) -> html.Span:
    """A refused step: who holds the alert since when (a claim), or who did it first and when."""
    at = format_time(exc.at) if exc.at else i18n.t("alerts.just_now")
    if exc.why.startswith(HELD_BY):
        return html.Span(i18n.t("alerts.held_by", user=exc.by, time=at), className="error conflict")
    return html.Span(i18n.t("alerts.conflict", why=conflict_reason(exc.why),
                            by=exc.by or i18n.t("alerts.someone"), time=at),
                     className="error conflict")


def conflict_reason(why: str) -> str:
    """The store's reason for a refused action in the reader's language (unknown ones as sent)."""
    if why in CONFLICT_REASONS:
        return i18n.t(CONFLICT_REASONS[why])
    for pattern, key in ((_ALREADY_ASSIGNED, "alerts.why_already_assigned"),
                         (_ASSIGNED_MEANWHILE, "alerts.why_assigned_meanwhile")):
        match = pattern.fullmatch(why)
        if match:
            return i18n.t(key, user=match.group("user"))
    return why
