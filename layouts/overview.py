"""The operations overview (/) for operators: every domain's state, the live map and the feeds behind it."""

from __future__ import annotations

import dash
from dash import html

from app import i18n
from layouts import alert_panel, ids
from layouts.components import domain_cards, page_layout, register_tiles_refresh, tab_title
from layouts.livemap import live_map, register_map

PATH = "/"


@page_layout(PATH)
def layout(**_query: str) -> html.Div:
    """Domain cards with KPIs and the age of their data, and the live map of every domain."""
    return html.Div([
        html.H1(i18n.t("overview.title"), id=ids.PAGE_TITLE),
        alert_panel.panel(compact=True),
        html.Div(domain_cards(),
                 id=ids.OVERVIEW_TILES, className="card-grid"),
        html.Div(className="card map-card", children=[
            html.H2(i18n.t("overview.map"), className="map-title"),
            live_map(ids.OVERVIEW_MAP),
        ]),
    ])


def register(app: dash.Dash) -> None:
    """Register the page with Dash Pages, its cards' refresh and its map's callbacks."""
    register_tiles_refresh(app, ids.OVERVIEW_TILES, PATH)
    register_map(app, ids.OVERVIEW_MAP, PATH)
    alert_panel.register(app)
    dash.register_page(__name__, path=PATH, name="Overview", title=tab_title(PATH),
                       layout=layout)
