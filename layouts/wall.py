"""The wall display (/wall): dark, large, readable from across the operations room."""

from __future__ import annotations

import dash
from dash import html

from layouts import alert_panel, ids
from layouts.components import domain_cards, page_layout, register_tiles_refresh
from layouts.livemap import WALL, live_map, register_map

PATH = "/wall"


@page_layout(PATH)
def layout(**_query: str) -> html.Div:
    """The city at a glance: the live map, one card per domain with the age of its data, and the
    alerts."""
    return html.Div(className="wall", children=[
        html.H1("City operations", id=ids.PAGE_TITLE),
        html.Div(className="wall-layout", children=[
            html.Div(className="wall-main", children=[
                html.Div(live_map(ids.WALL_MAP, theme=WALL, controls=False, zoom=12.0),
                         className="card wall-map"),
                html.Div(domain_cards(), id=ids.WALL_TILES, className="card-grid wall-grid"),
            ]),
            alert_panel.panel(),
        ]),
    ])


def register(app: dash.Dash) -> None:
    """Register the page with Dash Pages, and its cards' refresh."""
    register_tiles_refresh(app, ids.WALL_TILES, PATH)
    register_map(app, ids.WALL_MAP, PATH, controls=False)
    alert_panel.register(app)
    dash.register_page(__name__, path=PATH, name="Wall", title="Wall · CityOps", layout=layout)
