"""The officials' read-only city status (/official)."""

from __future__ import annotations

import dash
from dash import html

from app import store
from layouts import ids
from layouts.components import DOMAIN_TITLES, format_time, page_layout, read_versions

PATH = "/official"


@page_layout(PATH)
def layout(**_query: str) -> html.Div:
    """One row per domain: whether it reports and since when."""
    versions = read_versions()
    rows = [html.Tr([html.Td(DOMAIN_TITLES[d]),
                     html.Td("reporting" if versions[d][1] else "no data yet"),
                     html.Td(format_time(versions[d][1], with_date=True))])
            for d in store.DOMAINS]
    return html.Div([
        html.H1("City status", id=ids.PAGE_TITLE),
        html.Table(className="table", id=ids.OFFICIAL_STATUS, children=[
            html.Thead(html.Tr([html.Th("Domain"), html.Th("State"), html.Th("Data as of")])),
            html.Tbody(rows),
        ]),
    ])


def register(app: dash.Dash) -> None:  # noqa: ARG001 - the page has no callbacks of its own
    """Register the page with Dash Pages."""
    dash.register_page(__name__, path=PATH, name="City status", title="City status · CityOps",
                       layout=layout)
