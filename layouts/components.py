"""Components shared by every page: the shell (navigation, live status, banner) and domain cards."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import dash
import redis
from dash import Input, Output, dcc, html
from flask import has_request_context, session

from app import roles, store
from app.context import current_principal, redis_client, require_roles, settings
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


def kpi_value_text(kpi: dict[str, Any]) -> str:
    """A KPI's value with its unit, as a person reads it (a dash when unknown)."""
    value = kpi.get("value")
    if value is None:
        return "—"
    unit = kpi.get("unit", "")
    if unit.startswith("{"):  # UCUM annotations such as {vehicle} are counts
        return f"{value:,.0f}"
    return f"{value:,.1f} {unit}" if unit != "%" else f"{value:.1f} %"


def domain_card(domain: str, version: int, updated_at: float | None,
                kpis: list[dict[str, Any]] | None = None) -> html.Div:
    """A card with a domain's KPIs (value and status colour) and the age of its data."""
    if updated_at is None:
        body: list[Any] = [html.Div("No data yet", className="card-value muted"),
                           html.Div("Waiting for the first feed of this domain.",
                                    className="card-note")]
    else:
        body = [html.Div(f"data as of {format_time(updated_at)} (update {version})",
                         className="card-note")]
    if kpis:
        body.insert(0, html.Ul(className="kpi-list", children=[
            html.Li(className=f"kpi kpi-{k.get('status', 'unknown')}", title=k.get("target", ""),
                    children=[html.Span(k.get("title", k.get("name", "")), className="kpi-name"),
                              html.Span(kpi_value_text(k), className="kpi-value")])
            for k in kpis]))
    return html.Div(className=f"card domain-card domain-{domain}", children=[
        html.H3(DOMAIN_TITLES[domain]), *body,
    ])


def domain_cards() -> list[html.Div]:
    """One card per domain from the store (no data while Redis is unreachable)."""
    versions = read_versions()
    try:
        r = redis_client()
        # The cards show city-wide KPIs; per zone, hospital or category ones are on the domain pages.
        kpis = {d: [k for k in store.read_kpis(r, d) if k.get("subject") is None]
                for d in store.DOMAINS}
    except redis.RedisError:
        kpis = {d: [] for d in store.DOMAINS}
    return [domain_card(d, *versions[d], kpis=kpis[d]) for d in store.DOMAINS]


def register_tiles_refresh(app: dash.Dash, output_id: str, path: str) -> None:
    """Re-render a page's domain cards whenever the shell saw a version change."""

    @require_roles(roles.PAGE_BY_PATH[path].roles)
    def refresh_tiles(_seen: object) -> list[html.Div]:
        return domain_cards()

    app.callback(Output(output_id, "children"), Input(ids.SEEN, "data"),
                 prevent_initial_call=True)(refresh_tiles)


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
