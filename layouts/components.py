"""Components shared by every page: the shell (navigation, live status, banner) and domain cards."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import dash
import redis
from dash import dcc, html
from flask import has_request_context, session

from app import roles, store
from app.context import current_principal, redis_client, settings
from layouts import ids

DOMAIN_TITLES: dict[str, str] = {
    "transport": "Transport",
    "water": "Water",
    "medical": "Medical",
    "city": "City management",
}
TICK_MS = 1000


def format_time(ts: float | None, with_date: bool = False) -> str:
    """A Unix time as wall-clock time in the city's time zone ("—" when there is none)."""
    if ts is None:
        return "—"
    moment = datetime.fromtimestamp(ts, ZoneInfo(settings().timezone))
    return moment.strftime("%Y-%m-%d %H:%M:%S" if with_date else "%H:%M:%S")


def _nav(role: str) -> html.Nav:
    links = [dcc.Link(page.title, href=page.path, className="nav-link",
                      id=f"nav-{page.path.strip('/') or 'overview'}")
             for page in roles.pages_for(role)]
    return html.Nav(links, id=ids.NAV, className="nav")


def _who(principal_name: str, role: str) -> html.Div:
    csrf = session.get("csrf", "") if has_request_context() else ""
    return html.Div(className="who", children=[
        html.Span(principal_name, className="who-name"),
        html.Span(role, className=f"role-badge role-{role}"),
        html.Form(action="/logout", method="post", className="logout-form", children=[
            dcc.Input(type="hidden", name="csrf_token", value=csrf),
            html.Button("Sign out", type="submit", id="logout-button", className="btn-link"),
        ]),
    ])


def shell() -> html.Div:
    """The layout around every page, built per request for the signed-in principal."""
    principal = current_principal()
    name = principal.name if principal else ""
    role = principal.role if principal else ""
    return html.Div(id=ids.SHELL, className="shell theme-desk", children=[
        html.Header(className="topbar", children=[
            html.Div("CityOps", className="brand"),
            _nav(role),
            html.Div(id=ids.CLOCK, className="clock"),
            _who(name, role),
        ]),
        html.Div("Data link lost: the figures below may be out of date. Reconnecting…",
                 id=ids.LINK_BANNER, className="link-banner", hidden=True, role="alert"),
        html.Div(id=ids.DATA_AS_OF, className="data-as-of", children="Connecting…"),
        dcc.Interval(id=ids.TICK, interval=TICK_MS),
        dcc.Store(id=ids.SEEN),
        dcc.Store(id=ids.CITY_TIMEZONE, data=settings().timezone),
        html.Main(dash.page_container, className="page"),
    ])


def domain_card(domain: str, version: int, updated_at: float | None) -> html.Div:
    """A card stating whether a domain has live data and how recent it is."""
    if updated_at is None:
        body = [html.Div("No data yet", className="card-value muted"),
                html.Div("Waiting for the first feed of this domain.", className="card-note")]
    else:
        body = [html.Div(format_time(updated_at), className="card-value"),
                html.Div(f"data as of (update {version})", className="card-note")]
    return html.Div(className=f"card domain-card domain-{domain}", children=[
        html.H3(DOMAIN_TITLES[domain]), *body,
    ])


def read_versions() -> dict[str, tuple[int, float | None]]:
    """Every domain's (version, updated_at); "no data" for all while Redis is unreachable."""
    try:
        return store.domain_versions(redis_client())
    except redis.RedisError:
        return {domain: (0, None) for domain in store.DOMAINS}


def forbidden() -> html.Div:
    """What a page shows a role that may not open it (the server never renders the page)."""
    return html.Div(className="card", children=[
        html.H2("Not permitted"), html.P("Your role may not open this page."),
    ])


def page_layout(path: str):  # type: ignore[no-untyped-def]
    """Decorate a page's layout function with the server-side role check for ``path``."""

    def decorate(func):  # type: ignore[no-untyped-def]
        def layout(**kwargs):  # type: ignore[no-untyped-def]
            principal = current_principal()
            if principal is None or not roles.may_open(principal.role, path):
                return forbidden()
            return func(**kwargs)

        layout.__name__ = func.__name__
        layout.__doc__ = func.__doc__
        return layout

    return decorate
