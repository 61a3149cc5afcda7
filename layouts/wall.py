"""The wall display (/wall): dark, large, readable from across the operations room."""

from __future__ import annotations

import dash
from dash import html

from app import store
from layouts import ids
from layouts.components import domain_card, page_layout, read_versions

PATH = "/wall"


@page_layout(PATH)
def layout(**_query: str) -> html.Div:
    """The city at a glance: one card per domain with the age of its data."""
    versions = read_versions()
    return html.Div(className="wall", children=[
        html.H1("City operations", id=ids.PAGE_TITLE),
        html.Div([domain_card(d, *versions[d]) for d in store.DOMAINS],
                 id=ids.WALL_TILES, className="card-grid wall-grid"),
    ])


def register(app: dash.Dash) -> None:  # noqa: ARG001 - the page has no callbacks of its own
    """Register the page with Dash Pages."""
    dash.register_page(__name__, path=PATH, name="Wall", title="Wall · CityOps", layout=layout)
