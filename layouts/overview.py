"""The operations overview (/) for operators: every domain's state and the feeds behind it."""

from __future__ import annotations

import dash
from dash import html

from app import store
from layouts import ids
from layouts.components import domain_card, page_layout, read_versions

PATH = "/"


@page_layout(PATH)
def layout(**_query: str) -> html.Div:
    """Domain cards with the age of their data, read from the store when the page opens."""
    versions = read_versions()
    return html.Div([
        html.H1("Operations overview", id=ids.PAGE_TITLE),
        html.Div([domain_card(d, *versions[d]) for d in store.DOMAINS],
                 id=ids.OVERVIEW_TILES, className="card-grid"),
    ])


def register(app: dash.Dash) -> None:  # noqa: ARG001 - the page has no callbacks of its own
    """Register the page with Dash Pages."""
    dash.register_page(__name__, path=PATH, name="Overview", title="Overview · CityOps",
                       layout=layout)
