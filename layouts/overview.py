"""The operations overview (/) for operators: every domain's state, the live map and the feeds behind it."""

from __future__ import annotations

import dash
from dash import Input, Output, html

from app import i18n
from app.model import roles
from app.web.context import require_roles
from layouts import alert_panel, domain_status, ids
from layouts.components import domain_cards, page_layout, register_tiles_refresh, tab_title
from layouts.livemap import live_map, register_map

PATH = "/"


@page_layout(PATH)
def layout(**_query: str) -> html.Div:
    """Domain cards with KPIs and the age of their data, and the live map of every domain."""
    return html.Div([
        html.H1(i18n.t("overview.title"), id=ids.PAGE_TITLE),
        alert_panel.panel(compact=True),
        html.Div(domain_status.strip(domain_status.read_statuses()), id=ids.OVERVIEW_STATUS,
                 className="domain-status-line"),
        html.Div(domain_cards(),
                 id=ids.OVERVIEW_TILES, className="card-grid"),
        html.Div(className="card map-card", children=[
            html.H2(i18n.t("overview.map"), className="map-title"),
            live_map(ids.OVERVIEW_MAP),
        ]),
    ])


@require_roles(roles.PAGE_BY_PATH[PATH].roles)
def refresh_status(_seen: object) -> list[html.Span]:
    """Each domain's status again whenever the shell saw a version or a feed's state change."""
    return domain_status.strip(domain_status.read_statuses())


def register(app: dash.Dash) -> None:
    """Register the page with Dash Pages, its cards' and statuses' refresh and its map's callbacks."""
    register_tiles_refresh(app, ids.OVERVIEW_TILES, PATH)
    app.callback(Output(ids.OVERVIEW_STATUS, "children"), Input(ids.SEEN, "data"),
                 prevent_initial_call=True)(refresh_status)
    register_map(app, ids.OVERVIEW_MAP, PATH)
    alert_panel.register(app)
    dash.register_page(__name__, path=PATH, name="Overview", title=tab_title(PATH),
                       layout=layout)
