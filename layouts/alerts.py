"""The alerts page (/alerts) for emergency staff and operators."""

from __future__ import annotations

import dash
from dash import html

from layouts import ids
from layouts.components import page_layout

PATH = "/alerts"


@page_layout(PATH)
def layout(**_query: str) -> html.Div:
    """The list of alerts; empty until alert rules and feeds raise some."""
    return html.Div([
        html.H1("Alerts", id=ids.PAGE_TITLE),
        html.Div(id=ids.ALERTS_LIST, className="card", children=[
            html.P("No open alerts.", className="muted"),
        ]),
    ])


def register(app: dash.Dash) -> None:  # noqa: ARG001 - the page has no callbacks of its own
    """Register the page with Dash Pages."""
    dash.register_page(__name__, path=PATH, name="Alerts", title="Alerts · CityOps",
                       layout=layout)
