"""The wall display (/wall): dark, large, readable from across the operations room."""

from __future__ import annotations

import dash
from dash import html

from layouts import ids
from layouts.components import domain_cards, page_layout, register_tiles_refresh

PATH = "/wall"


@page_layout(PATH)
def layout(**_query: str) -> html.Div:
    """The city at a glance: one card per domain with the age of its data."""
    return html.Div(className="wall", children=[
        html.H1("City operations", id=ids.PAGE_TITLE),
        html.Div(domain_cards(),
                 id=ids.WALL_TILES, className="card-grid wall-grid"),
    ])


def register(app: dash.Dash) -> None:
    """Register the page with Dash Pages, and its cards' refresh."""
    register_tiles_refresh(app, ids.WALL_TILES, PATH)
    dash.register_page(__name__, path=PATH, name="Wall", title="Wall · CityOps", layout=layout)
