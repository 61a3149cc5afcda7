"""Declaring incidents on /incidents: the form (from alerts, or from nothing: a phone call) and the
proposals the system made from clustered alerts, which an operator accepts or dismisses.

Only operators and admins see these (``app.incidents.may_declare``); the callbacks are guarded for
them and the service checks again. The form opened from an alert (``?declare=<ids>``) starts with
those alerts, the gravest one's title and the type their words suggest; the level is left to the
service unless chosen (the graver of the type's and the alerts'), and so is the area (the first
CAP warning's area among the alerts, else the first located alert's position).
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import dash
import redis
from dash import ALL, Input, Output, State, ctx, dcc, html, no_update
from dash.exceptions import PreventUpdate

from app import alerts, i18n, incidents
from app.accounts import admin
from app.incidents.policy import COMMANDER_ROLES
from app.incidents.proposals import suggested_type
from app.model.alerts import SEVERITY_RANK
from app.model.incidents import (
    MAX_DESCRIPTION,
    MAX_NOTE,
    MAX_RADIUS_M,
    MAX_TITLE,
    MIN_RADIUS_M,
    PROPOSAL_ID,
)
from app.web.context import client_addr, current_principal, redis_client, require_roles
from layouts import ids
from layouts.components import domain_title
from layouts.incident_parts import (
    catalogue,
    done,
    kind_name,
    level_badge,
    level_options,
    number,
    numbered,
    problem,
    refusal,
    type_options,
    when,
)


def _may_declare() -> bool:
    return incidents.may_declare(current_principal())


def _alert_options(r: redis.Redis, chosen: Sequence[str]) -> list[dict[str, str]]:
    """Open alerts (and any chosen one) as options named by title, domain and time."""
    found = {a["id"]: a for a in alerts.list_alerts(r, open_only=True, limit=300)}
    for alert_id in chosen:
        if alert_id not in found:
            alert = alerts.get_alert(r, alert_id)
            if alert is not None:
                found[alert_id] = alert
    return [{"label": f"{a['title']} · {domain_title(a['domain'])} · {when(a.get('last_seen'))}",
             "value": a["id"]} for a in found.values()]


def declare_form(alert_ids: Sequence[str]) -> html.Details:
    """The declaration form, open when the page came from an alert's "Declare an incident"."""
    t = i18n.t
    if not _may_declare():
        return html.Details(id=ids.DECLARE_FORM, hidden=True)
    r = redis_client()
    chosen = [a for a in (alerts.get_alert(r, i) for i in alert_ids) if a is not None]
    gravest = min(chosen, key=lambda a: SEVERITY_RANK.get(a["severity"], 9)) if chosen else None
    found = catalogue()
    kind = suggested_type(chosen, found) if chosen else None
    commanders = [u["name"] for u in admin.list_users(r)
                  if u.get("disabled") != "1" and u.get("role") in COMMANDER_ROLES]
    principal = current_principal()
    return html.Details(id=ids.DECLARE_FORM, className="card declare-form", open=bool(chosen),
                        children=[
        html.Summary(t("incident.declare_summary")),
        html.Label(t("incident.field.title"), htmlFor=ids.DECLARE_TITLE),
        dcc.Input(id=ids.DECLARE_TITLE, type="text", maxLength=MAX_TITLE,
                  value=gravest["title"] if gravest else ""),
        html.Div(className="form-row", children=[
            html.Div([html.Label(t("incident.field.type"), htmlFor=ids.DECLARE_TYPE),
                      dcc.Dropdown(id=ids.DECLARE_TYPE, options=type_options(found), value=kind,
                                   clearable=False, placeholder=t("incident.pick_type"))]),
            html.Div([html.Label(t("incident.field.level"), htmlFor=ids.DECLARE_LEVEL),
                      dcc.Dropdown(id=ids.DECLARE_LEVEL, options=level_options(),
                                   placeholder=t("incident.level_from_type"),
                                   searchable=False)]),
        ]),
        html.Label(t("incident.field.commander"), htmlFor=ids.DECLARE_COMMANDER),
        dcc.Dropdown(id=ids.DECLARE_COMMANDER, options=commanders, clearable=False,
                     value=principal.name if principal else None),
        html.Label(t("incident.field.alerts"), htmlFor=ids.DECLARE_ALERTS),
        dcc.Dropdown(id=ids.DECLARE_ALERTS, multi=True, options=_alert_options(r, alert_ids),
                     value=[a["id"] for a in chosen], placeholder=t("incident.no_alerts_call")),
        html.P(t("incident.area_hint"), className="muted"),
        html.Div(className="form-row form-row-3", children=[
            dcc.Input(id=ids.DECLARE_LAT, type="number", min=-90, max=90, step="any",
                      placeholder=t("alerts.field_lat")),
            dcc.Input(id=ids.DECLARE_LON, type="number", min=-180, max=180, step="any",
                      placeholder=t("alerts.field_lon")),
            dcc.Input(id=ids.DECLARE_RADIUS, type="number", min=MIN_RADIUS_M, max=MAX_RADIUS_M,
                      step="any", placeholder=t("incident.field.radius")),
        ]),
        html.Label(t("incident.field.description"), htmlFor=ids.DECLARE_DESCRIPTION),
        dcc.Textarea(id=ids.DECLARE_DESCRIPTION, maxLength=MAX_DESCRIPTION, rows=3),
        html.Button(t("incident.declare_button"), id=ids.DECLARE_SUBMIT, className="btn"),
        html.Div(id=ids.DECLARE_RESULT, role="status", className="action-result"),
    ])


# -- proposals ----------------------------------------------------------------------------------------
def proposals_card() -> html.Section:
    """The proposals the system made, for operators and admins to judge (drawn by the poll)."""
    t = i18n.t
    if not _may_declare():
        return html.Section(hidden=True, children=[html.Div(id=ids.PROPOSALS)])
    return html.Section(className="card proposals-card", children=[
        html.H2(t("incident.proposals")),
        html.Div(id=ids.PROPOSALS, className="proposal-lines", role="list"),
        dcc.Textarea(id=ids.PROPOSAL_REASON, rows=1, maxLength=MAX_NOTE,
                     placeholder=t("incident.dismiss_reason")),
        html.Div(id=ids.PROPOSAL_RESULT, role="status", className="action-result"),
    ])


def _proposal_line(proposal: Mapping[str, Any]) -> html.Div:
    t = i18n.t
    domains = ", ".join(domain_title(d) for d in proposal["domains"])
    return html.Div(className="proposal-line", role="listitem",
                    **{"data-proposal": proposal["id"]}, children=[
        html.Div([level_badge(proposal["level"]),
                  html.Span(proposal["title"], className="proposal-title")],
                  className="incident-badges"),
        html.Div(t("proposal.summary", count=len(proposal["alerts"]),
                   domains=len(proposal["domains"])), className="muted"),
        html.Div(t("incident.proposal_facts", type=kind_name(proposal["suggested_type"]),
                   domains=domains, time=when(proposal.get("updated_at"))), className="muted"),
        html.Div(className="card-actions", children=[
            html.Button(t("incident.accept"), id={"type": ids.PROPOSAL_ACCEPT,
                                                  "index": proposal["id"]}, className="btn"),
            html.Button(t("incident.dismiss"), id={"type": ids.PROPOSAL_DISMISS,
                                                   "index": proposal["id"]},
                        className="btn btn-secondary"),
        ]),
    ])


def proposal_lines(r: redis.Redis) -> list[Any]:
    """The pending proposals (nothing for those who may not judge them)."""
    if not _may_declare():
        return []
    pending = incidents.list_proposals(r, pending_only=True, limit=50)
    if not pending:
        return [html.P(i18n.t("incident.no_proposals"), className="muted")]
    return [_proposal_line(p) for p in pending]


@require_roles(incidents.DECLARERS)
def judge(_accept: list[int | None], _dismiss: list[int | None],
          reason: str | None) -> tuple[Any, Any, Any]:
    """Accept a proposal (the incident is declared from its alerts and opened) or dismiss it."""
    button = ctx.triggered_id
    if not isinstance(button, dict) or not (ctx.triggered and ctx.triggered[0].get("value")):
        raise PreventUpdate
    proposal_id = button.get("index")
    if not isinstance(proposal_id, str) or not PROPOSAL_ID.match(proposal_id):
        raise PreventUpdate
    principal = current_principal()
    assert principal is not None
    r = redis_client()
    try:
        if button.get("type") == ids.PROPOSAL_ACCEPT:
            incident = incidents.accept(r, principal, catalogue(), proposal_id, addr=client_addr())
            return done("incident.done_declare", title=numbered(incident)), incident["id"], None
        incidents.dismiss(r, principal, proposal_id, reason if isinstance(reason, str) else "",
                          addr=client_addr())
    except incidents.IncidentError as exc:
        return refusal(exc), no_update, None
    return done("incident.done_dismiss"), no_update, None


@require_roles(incidents.DECLARERS)
def declare(_clicks: int | None, title: str | None, kind: str | None, level: str | None,
            commander: str | None, alert_ids: list[str] | None, lat: Any, lon: Any, radius: Any,
            description: str | None) -> tuple[Any, Any, Any, Any]:
    """Declare an incident from the form; the new incident's detail opens."""
    if not _clicks:
        raise PreventUpdate
    title = title.strip() if isinstance(title, str) else ""
    if not title or len(title) > MAX_TITLE:
        return problem("alerts.title_length", max=MAX_TITLE), no_update, no_update, no_update
    if not isinstance(kind, str) or not kind:
        return problem("incident.pick_type"), no_update, no_update, no_update
    if description is not None and not isinstance(description, str):
        return (problem("alerts.description_length", max=MAX_DESCRIPTION), no_update, no_update,
                no_update)
    try:
        lat_value, lon_value, radius_value = number(lat), number(lon), number(radius)
    except ValueError:
        return problem("alerts.not_numbers"), no_update, no_update, no_update
    if (lat_value is None) != (lon_value is None):
        return problem("alerts.both_or_neither"), no_update, no_update, no_update
    chosen = [a for a in (alert_ids or []) if isinstance(a, str)]
    principal = current_principal()
    assert principal is not None
    try:
        incident = incidents.declare(
            redis_client(), principal, catalogue(), title=title, kind=kind,
            level=level if isinstance(level, str) else "",
            commander=commander if isinstance(commander, str) else "", alert_ids=chosen,
            lat=lat_value, lon=lon_value, radius_m=radius_value,
            description=description or "", addr=client_addr())
    except incidents.IncidentError as exc:
        return refusal(exc), no_update, no_update, no_update
    # The form folds away: the new incident's detail is what the operator reads next.
    return done("incident.done_declare", title=numbered(incident)), incident["id"], None, False


def register(app: dash.Dash) -> None:
    """The form's and the proposals' callbacks (the page's poll draws the proposals)."""
    app.callback(Output(ids.DECLARE_RESULT, "children"),
                 Output(ids.INCIDENT_SELECTED, "data", allow_duplicate=True),
                 Output(ids.INCIDENTS_SHOWN, "data", allow_duplicate=True),
                 Output(ids.DECLARE_FORM, "open"),
                 Input(ids.DECLARE_SUBMIT, "n_clicks"), State(ids.DECLARE_TITLE, "value"),
                 State(ids.DECLARE_TYPE, "value"), State(ids.DECLARE_LEVEL, "value"),
                 State(ids.DECLARE_COMMANDER, "value"), State(ids.DECLARE_ALERTS, "value"),
                 State(ids.DECLARE_LAT, "value"), State(ids.DECLARE_LON, "value"),
                 State(ids.DECLARE_RADIUS, "value"), State(ids.DECLARE_DESCRIPTION, "value"),
                 prevent_initial_call=True)(declare)
    app.callback(Output(ids.PROPOSAL_RESULT, "children"),
                 Output(ids.INCIDENT_SELECTED, "data", allow_duplicate=True),
                 Output(ids.INCIDENTS_SHOWN, "data", allow_duplicate=True),
                 Input({"type": ids.PROPOSAL_ACCEPT, "index": ALL}, "n_clicks"),
                 Input({"type": ids.PROPOSAL_DISMISS, "index": ALL}, "n_clicks"),
                 State(ids.PROPOSAL_REASON, "value"), prevent_initial_call=True)(judge)
