"""The operations overview (/) for operators: every domain's state and the feeds behind it."""

from __future__ import annotations

from typing import Any

import dash
import plotly.graph_objects as go
import redis
from dash import Input, Output, State, dcc, html
from dash.exceptions import PreventUpdate

from app import roles
from app.context import redis_client, require_roles
from app.entities import domain_entities
from layouts import ids
from layouts.components import domain_cards, page_layout, read_versions, register_tiles_refresh
from layouts.livemap import transport_figure

PATH = "/"


@page_layout(PATH)
def layout(**_query: str) -> html.Div:
    """Domain cards with KPIs and the age of their data, and the live transport map."""
    return html.Div([
        html.H1("Operations overview", id=ids.PAGE_TITLE),
        html.Div(domain_cards(),
                 id=ids.OVERVIEW_TILES, className="card-grid"),
        html.Div(className="card map-card", children=[
            html.H2("Transport", className="map-title"),
            dcc.Graph(id=ids.OVERVIEW_MAP, figure=_map_figure(),
                      config={"displaylogo": False, "scrollZoom": True},
                      className="live-map"),
        ]),
        dcc.Store(id=ids.OVERVIEW_MAP_VERSION, data=read_versions()["transport"][0]),
    ])


def _map_figure() -> go.Figure:
    try:
        entities = domain_entities(redis_client(), "transport", include_heavy=True)
    except redis.RedisError:
        entities = []
    return transport_figure(entities)


@require_roles(roles.PAGE_BY_PATH[PATH].roles)
def refresh_map(seen: Any, shown_version: int | None) -> tuple[go.Figure, int]:
    """Redraw the map when the transport data's version moved (zoom survives: uirevision)."""
    version = next((row[1] for row in seen or [] if isinstance(row, list) and row
                    and row[0] == "transport"), None)
    if version is None or version == shown_version:
        raise PreventUpdate
    return _map_figure(), version


def register(app: dash.Dash) -> None:
    """Register the page with Dash Pages, and its cards' refresh."""
    register_tiles_refresh(app, ids.OVERVIEW_TILES, PATH)
    app.callback(Output(ids.OVERVIEW_MAP, "figure"), Output(ids.OVERVIEW_MAP_VERSION, "data"),
                 Input(ids.SEEN, "data"), State(ids.OVERVIEW_MAP_VERSION, "data"),
                 prevent_initial_call=True)(refresh_map)
    dash.register_page(__name__, path=PATH, name="Overview", title="Overview · CityOps",
                       layout=layout)
