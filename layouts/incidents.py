"""The incidents page (/incidents): the list, an incident's detail, declaring one and judging proposals.

Operators and admins run incidents here (declare, change, link alerts, add steps, notes, act on
tasks); officials read; emergency staff read and run the incidents they command. The list shows
open incidents first, the gravest level first, each with its task progress; picking one opens its
detail beside the list (layouts/incident_detail.py), ``?incident=<id>`` opens it from a link and
``&view=command`` is the commander's view (every task of the incident at once, full width).
``?declare=<alert id>[,<alert id>...]`` opens the declaration form with those alerts (the
"Declare an incident" button of /alerts). The browser asks every second (the shell's tick); the
server reads one version number and redraws only when an incident, task or proposal changed.
"""

from __future__ import annotations

import time
from typing import Any, Mapping

import dash
import redis
from dash import ALL, Input, Output, State, ctx, dcc, html
from dash.exceptions import PreventUpdate

from app import i18n, incidents
from app.incidents.queries import version as incidents_version
from app.model import roles
from app.model.incidents import INCIDENT_ID
from app.web.context import redis_client, require_roles
from layouts import ids, incident_declare, incident_detail, pulse
from layouts.components import page_layout, tab_title
from layouts.incident_parts import (
    level_badge,
    numbered,
    progress,
    status_badge,
    type_name,
    when,
)

PATH = "/incidents"
PAGE_ROLES = roles.PAGE_BY_PATH[PATH].roles
LIST_LIMIT = 200
# Overdue is judged by the clock, not by a change: the list is redrawn at least this often.
CLOCK_BUCKET_S = 30


def _filter_options() -> list[dict[str, str]]:
    return [{"label": i18n.t("incidents.filter_open"), "value": "open"},
            {"label": i18n.t("incidents.filter_all"), "value": "all"}]


@page_layout(PATH)
def layout(incident: str | None = None, declare: str | None = None, view: str | None = None,
           **_query: str) -> html.Div:
    """Proposals, the declaration form, the list and the detail of the incident picked."""
    opened = incident if isinstance(incident, str) and INCIDENT_ID.match(incident) else None
    command = bool(opened) and view == "command"
    alert_ids = [a for a in (declare or "").split(",") if a.strip()][:50] if isinstance(
        declare, str) else []
    return html.Div(className="incidents-page" + (" command-view" if command else ""), children=[
        html.H1(i18n.t("page./incidents"), id=ids.PAGE_TITLE),
        incident_declare.proposals_card(),
        incident_declare.declare_form(alert_ids),
        html.Div(className="incidents-layout", children=[
            html.Div(className="incidents-list-column", children=[
                dcc.RadioItems(id=ids.INCIDENTS_FILTER, options=_filter_options(), value="open",
                               inline=True, className="incidents-filter"),
                html.Div(id=ids.INCIDENTS_LIST, className="incident-cards", role="list"),
            ]),
            incident_detail.detail_sheet(),
        ]),
        dcc.Store(id=ids.INCIDENTS_SHOWN),
        *pulse.stores(ids.INCIDENTS_LIST, follow=("incidents",), every_s=CLOCK_BUCKET_S),
        dcc.Store(id=ids.INCIDENT_SELECTED, data=opened),
    ])


# -- the list -----------------------------------------------------------------------------------------
def card(incident: Mapping[str, Any]) -> html.Div:
    """One incident of the list: level (colour and words), number and title, status, type,
    commander, when it was declared, and its task progress."""
    badges: list[Any] = [level_badge(incident["level"]), status_badge(incident["status"])]
    if incident.get("public"):
        badges.append(html.Span(i18n.t("incident.public_badge"), className="public-badge"))
    return html.Div(className=f"incident-card level-{incident['level']} st-{incident['status']}",
                    role="listitem", **{"data-incident": incident["id"]}, children=[
        html.Div(badges, className="incident-badges"),
        html.Div(numbered(incident), className="incident-title"),
        html.Div(className="incident-meta", children=[
            html.Span(type_name(incident)),
            html.Span(i18n.t("incident.commanded_by", user=incident["commander"])),
            html.Span(i18n.t("incident.declared_at", time=when(incident.get("declared_at")))),
        ]),
        progress(incident["tasks"]),
        html.Div(html.Button(i18n.t("incidents.open"),
                             id={"type": ids.INCIDENT_PICK, "index": incident["id"]},
                             className="btn btn-secondary"), className="card-actions"),
    ])


def cards(r: redis.Redis, which: str | None) -> list[Any]:
    """The list: open incidents (or all of them), open first and gravest first."""
    found = incidents.list_incidents(r, open_only=which != "all", limit=LIST_LIMIT)
    if not found:
        return [html.P(i18n.t("incidents.none"), className="muted")]
    return [card(i) for i in found]


@require_roles(PAGE_ROLES)
def poll(_pulse: Any, which: str | None, shown: Any) -> tuple[Any, Any, Any]:
    """Redraw the list and the proposals when an incident, task or proposal changed, the filter
    changed, or the clock moved on far enough to make a task overdue."""
    try:
        r = redis_client()
        signature = [incidents_version(r), which or "open", int(time.time() // CLOCK_BUCKET_S)]
        if signature == shown:
            raise PreventUpdate
        return cards(r, which), incident_declare.proposal_lines(r), signature
    except redis.RedisError:
        raise PreventUpdate from None  # the shell's banner says the link is lost


@require_roles(PAGE_ROLES)
def select(_picks: list[int | None], _close: int | None) -> Any:
    """Open an incident's detail from the list, or close it."""
    triggered = ctx.triggered_id
    value = ctx.triggered[0].get("value") if ctx.triggered else None
    if triggered is None or not value:
        raise PreventUpdate  # new cards appearing are not clicks
    if triggered == ids.INCIDENT_DETAIL_CLOSE:
        return None
    if isinstance(triggered, dict) and isinstance(triggered.get("index"), str) and (
            INCIDENT_ID.match(triggered["index"])):
        return triggered["index"]
    raise PreventUpdate


def register(app: dash.Dash) -> None:
    """Register the page with Dash Pages and its callbacks (list, detail, declaring, proposals)."""
    dash.register_page(__name__, path=PATH, name="Incidents", title=tab_title(PATH),
                       layout=layout)
    trigger, running = pulse.gate(app, ids.INCIDENTS_LIST)
    app.callback(Output(ids.INCIDENTS_LIST, "children"), Output(ids.PROPOSALS, "children"),
                 Output(ids.INCIDENTS_SHOWN, "data"),
                 trigger, Input(ids.INCIDENTS_FILTER, "value"),
                 State(ids.INCIDENTS_SHOWN, "data"), running=running)(poll)
    app.callback(Output(ids.INCIDENT_SELECTED, "data"),
                 Input({"type": ids.INCIDENT_PICK, "index": ALL}, "n_clicks"),
                 Input(ids.INCIDENT_DETAIL_CLOSE, "n_clicks"), prevent_initial_call=True)(select)
    incident_detail.register(app)
    incident_declare.register(app)

