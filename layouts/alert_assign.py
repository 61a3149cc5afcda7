"""Assigning an alert on /alerts (issue 19): the list offers only people who could act on it.

Operators and admins hand an opened alert to someone; the dropdown holds the enabled users whose
role acts on alerts and whose domains hold the alert's (``app.alerts.assignees``, the service's
rule), redrawn for each alert opened. The service refuses anyone else whatever the page sent
(``app.alerts.NotAssignable``); :func:`refused` says why in the reader's language.
"""

from __future__ import annotations

from typing import Any, Mapping

import dash
import redis
from dash import Input, Output, State, ctx, dcc, html, no_update
from dash.exceptions import PreventUpdate

from app import alerts, i18n
from app.model import roles
from app.web.context import current_principal, redis_client, require_roles
from layouts import ids
from layouts.components import domain_title

PAGE_ROLES = roles.PAGE_BY_PATH["/alerts"].roles


def row() -> html.Div:
    """The assign row of the alert's sheet: hidden until an operator opens an alert."""
    return html.Div(id=ids.ALERT_ASSIGN_ROW, className="action-row assign-row", hidden=True,
                    children=[
        dcc.Dropdown(id=ids.ALERT_ASSIGN_USER, options=[],
                     placeholder=i18n.t("alerts.assign_placeholder"),
                     clearable=True, className="assign-user"),
        html.Button(i18n.t("alerts.assign"), id=ids.ALERT_ASSIGN, className="btn btn-secondary"),
    ])


def options(r: redis.Redis, alert: Mapping[str, Any]) -> list[dict[str, str]]:
    """The dropdown's options for ``alert``: who may be given it, named with their role."""
    return [{"label": i18n.t("alerts.assignee_option", user=u["name"],
                             role=i18n.label("role", u["role"])), "value": u["name"]}
            for u in alerts.assignees(r, alert)]


@require_roles(PAGE_ROLES)
def assign_options(selected: Mapping[str, Any] | None, _shown: Any,
                   picked: str | None) -> tuple[Any, bool, Any, str]:
    """The opened alert's assign list (operators and admins; everybody else claims), kept
    current as users and alerts change; a pick no longer on the list is dropped."""
    principal = current_principal()
    alert_id = selected.get("id") if isinstance(selected, dict) else None
    if principal is None or principal.role not in alerts.ACT_ON_ALL or not isinstance(
            alert_id, str):
        return [], True, None, i18n.t("alerts.assign_placeholder")
    try:
        r = redis_client()
        alert = alerts.get_alert(r, alert_id)
        found = options(r, alert) if alert is not None else []
    except redis.RedisError:
        raise PreventUpdate from None
    if alert is None:
        return [], True, None, i18n.t("alerts.assign_placeholder")
    names = {o["value"] for o in found}
    opened = ctx.triggered_id == ids.ALERT_SELECTED
    value = None if opened or picked not in names else no_update
    placeholder = i18n.t("alerts.assign_placeholder" if found else "alerts.assign_nobody")
    return found, False, value, placeholder


def refused(exc: alerts.NotAssignable) -> html.Span:
    """Why the alert was not assigned to that user, in the reader's language."""
    if exc.why == alerts.REFUSED_ROLE:
        text = i18n.t("alerts.not_assignable_role", user=exc.user, role=i18n.label("role", exc.role))
    elif exc.why == alerts.REFUSED_DOMAIN:
        # Lower case: the names sit mid-sentence in English; Chinese has no case to change.
        mine = i18n.t("report.list_sep").join(domain_title(d).lower() for d in exc.domains)
        text = i18n.t("alerts.not_assignable_domain", user=exc.user,
                      domains=mine or i18n.t("alerts.no_domains"),
                      domain=domain_title(exc.domain).lower())
    elif exc.why == alerts.ASSIGNEE_DISABLED:
        text = i18n.t("alerts.not_assignable_disabled", user=exc.user)
    else:
        text = i18n.t("alerts.not_assignable_unknown", user=exc.user)
    return html.Span(text, className="error")


def register(app: dash.Dash) -> None:
    """The callback that fills the assign list of the alert opened."""
    app.callback(Output(ids.ALERT_ASSIGN_USER, "options"), Output(ids.ALERT_ASSIGN_ROW, "hidden"),
                 Output(ids.ALERT_ASSIGN_USER, "value"), Output(ids.ALERT_ASSIGN_USER, "placeholder"),
                 Input(ids.ALERT_SELECTED, "data"), Input(ids.ALERTS_SHOWN, "data"),
                 State(ids.ALERT_ASSIGN_USER, "value"))(assign_options)
