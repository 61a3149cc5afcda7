"""The operations overview (/) for operators: every domain's state and the feeds behind it."""

from __future__ import annotations

import dash
from dash import html

from layouts import ids
from layouts.components import domain_cards, page_layout, register_tiles_refresh

PATH = "/"


@page_layout(PATH)
def layout(**_query: str) -> html.Div:
    """Domain cards with the age of their data, read from the store when the page opens."""
    return html.Div([
        html.H1("Operations overview", id=ids.PAGE_TITLE),
        html.Div(domain_cards(),
                 id=ids.OVERVIEW_TILES, className="card-grid"),
    ])


def register(app: dash.Dash) -> None:
    """Register the page with Dash Pages, and its cards' refresh."""
    register_tiles_refresh(app, ids.OVERVIEW_TILES, PATH)
    dash.register_page(__name__, path=PATH, name="Overview", title="Overview · CityOps",
                       layout=layout)
