"""The page of one domain (transport, water, medical, city management): its KPIs, trends, feeds, things.

Each domain's page module (layouts/transport.py, water.py, medical.py, city.py) is a few lines
that hand their domain to :func:`layout` and :func:`register`. Every string from a feed goes into
Dash components as text (React escapes it); nothing is rendered as HTML.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Callable

import dash
import plotly.graph_objects as go
import redis
from dash import Input, Output, State, dcc, html
from dash.exceptions import PreventUpdate

from app import i18n
from app.kpis import reading as kpi_reading
from app.live.entities import domain_entities
from app.live.feeds import read_health
from app.live.status import domain_versions
from app.model import roles
from app.model.feeds import STALE_STATES, FeedHealth
from app.situation.mapdata import short_id
from app.web.context import redis_client, require_roles, settings
from layouts import ids, kpi_charts
from layouts.components import (
    DOMAIN_TITLES,
    domain_title,
    format_time,
    graph_config,
    kpi_value_text,
    tab_title,
)
from layouts.trend_exports import trend_export_links

TREND_HOURS = 24
TREND_BUCKET_S = 60  # the history's own step: every minute's point is drawn
MAX_ROWS = 200
# Per kind: the attributes worth a column, in order (the id and status are always shown).
KIND_COLUMNS: dict[str, tuple[str, ...]] = {
    "vehicle": ("route_id", "trip_id", "delay_s", "occupancy"),
    "stop": ("name",),
    "route": ("short_name", "long_name"),
    "sensor": ("name", "zone", "metric"),
    "reservoir": ("name", "zone"),
    "hospital": ("name", "beds_available", "icu_beds_available"),
    "ambulance": ("label",),  # on a call or not is its status; the call's id is plumbing
    "request": ("service_name", "status", "requested_at", "address"),
}


def _domain_path(domain: str) -> str:
    return f"/{domain}"


def _kpi_rows(kpis: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], dict[str, list[dict[str, Any]]]]:
    """City-wide KPIs, and per-subject ones grouped by their base name."""
    overall: list[dict[str, Any]] = []
    grouped: dict[str, list[dict[str, Any]]] = {}
    for k in kpis:
        if k.get("subject"):
            grouped.setdefault(str(k.get("group") or k["name"].split(":")[0]), []).append(k)
        else:
            overall.append(k)
    return overall, grouped


def _kpi_tiles(kpis: list[dict[str, Any]], stale: bool) -> list[Any]:
    overall, grouped = _kpi_rows(kpis)
    t = i18n.t
    if not kpis:
        return [html.P(t("domain.no_kpis"), className="muted")]
    tiles: list[Any] = [html.Div(className="kpi-tiles", children=[
        html.Div(className=f"kpi-tile kpi-{k.get('status', 'unknown')}" + (" stale" if stale else ""),
                 children=[html.Div(i18n.kpi_title(k), className="kpi-name"),
                           html.Div(kpi_value_text(k), className="kpi-big"),
                           html.Div(t("domain.target", target=i18n.kpi_target(k)) if k.get("target") else "",
                                    className="kpi-target")])
        for k in overall])]
    for group, rows in sorted(grouped.items()):
        title = i18n.t_or(f"kpi.{group}", str(rows[0].get("title") or group).split(": ")[0])
        tiles.append(html.Details(open=len(rows) <= 12, className="kpi-group", children=[
            html.Summary(f"{title} ({len(rows)})"),
            html.Table(className="data-table", children=[
                html.Thead(html.Tr([html.Th(t("domain.col_for")), html.Th(t("domain.col_value")),
                                    html.Th(t("domain.col_target")), html.Th(t("domain.col_status"))])),
                html.Tbody([html.Tr(className=f"kpi-{k.get('status', 'unknown')}", children=[
                    html.Td(i18n.kpi_subject(k)), html.Td(kpi_value_text(k)),
                    html.Td(i18n.kpi_target(k)),
                    html.Td(i18n.label("kpi_status", str(k.get("status", ""))))])
                    for k in sorted(rows, key=i18n.kpi_subject)]),
            ])]))
    return tiles


def _trend_figure(history: list[tuple[float, str, Any]], kpis: list[dict[str, Any]],
                  tz: str) -> go.Figure:
    """The domain's city-wide KPIs over the last 24 h (minute history), a row per unit, city time."""
    names = {str(k["name"]): i18n.kpi_title(k) for k in kpis}
    series = kpi_charts.bucket_series(history, list(names), TREND_BUCKET_S, tz)
    figure = kpi_charts.unit_figure(kpis, series, names, i18n.t("domain.no_history"),
                                    settings().kpis)
    figure.update_layout(legend={"orientation": "h"})
    return figure


def _feeds_table(feeds: list[FeedHealth]) -> html.Div:
    if not feeds:
        return html.P(i18n.t("domain.no_feeds"), className="muted")
    t = i18n.t
    heads = ("feed", "state", "last_success", "last_error", "accepted", "rejected")
    return html.Table(className="data-table", children=[
        html.Thead(html.Tr([html.Th(t(f"domain.col_{h}")) for h in heads])),
        html.Tbody([html.Tr(className=f"feed-{f.state}", children=[
            html.Td(f.feed), html.Td(_feed_state_text(f.state)),
            html.Td(format_time(f.last_success) if f.last_success else t("domain.never")),
            html.Td(f.last_error or ""), html.Td(i18n.format_number(f.accepted)),
            html.Td(i18n.format_number(f.rejected))])
            for f in feeds]),
    ])


def _feed_state_text(state: str) -> str:
    shown = i18n.label("feed_state", state)
    return i18n.t("domain.data_is_old", state=shown) if state in STALE_STATES else shown


def _cell(value: Any, column: str = "") -> str:
    if value is None:
        return ""
    if column.endswith("_at") and isinstance(value, (int, float)):
        return format_time(float(value), with_date=True)  # a time, never epoch seconds (issue 19)
    if column == "status" or column == "metric":
        return i18n.t_or(f"{'entity_status' if column == 'status' else 'metric'}.{value}",
                         str(value).replace("_", " "))
    if isinstance(value, float):
        return i18n.format_number(value, 1)
    return str(value)


def _entities_table(rows: list[dict[str, Any]]) -> list[Any]:
    if not rows:
        return [html.P(i18n.t("domain.nothing"), className="muted")]
    out: list[Any] = []
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_kind.setdefault(str(row.get("kind")), []).append(row)
    for kind, members in sorted(by_kind.items()):
        if kind == "route":
            continue  # shapes are drawn on the map, not listed
        columns = KIND_COLUMNS.get(kind, ())
        shown = members[:MAX_ROWS]
        out.append(html.Details(open=len(by_kind) == 1, className="entity-group", children=[
            html.Summary(i18n.t("domain.first_shown", kind=i18n.label("kind", kind),
                                count=len(members), shown=MAX_ROWS) if len(members) > MAX_ROWS
                         else i18n.t("domain.kind_count", kind=i18n.label("kind", kind),
                                     count=len(members))),
            html.Table(className="data-table", children=[
                html.Thead(html.Tr([html.Th(i18n.t("domain.col_id")), html.Th(i18n.t("domain.col_status")),
                                    html.Th(i18n.t("domain.col_as_of"))]
                                   + [html.Th(i18n.t_or(f"field.{c}", c.replace("_", " ")))
                                      for c in columns])),
                # The feed's own reference (the part after the source prefix), never the stored
                # id; states by their names (issue 19).
                html.Tbody([html.Tr([html.Td(short_id(str(e.get("id")))),
                                     html.Td(_cell(e.get("status", ""), "status")),
                                     html.Td(format_time(e.get("observed_at")))]
                                    + [html.Td(_cell(e.get(c), c)) for c in columns])
                            for e in shown]),
            ])]))
    return out


# domain -> (version, rows): every session of a page shares one read per data version, so a
# domain page open on many desks reads its thousands of entities once per update, not once each.
# The key holds the update time too: a Redis that lost its data counts its versions from 1 again.
_rows: dict[str, tuple[tuple[int, float | None], list[dict[str, Any]]]] = {}
_rows_lock = threading.Lock()


def _entities(r: redis.Redis, domain: str,
              version: tuple[int, float | None]) -> list[dict[str, Any]]:
    """The domain's entities as of ``version`` (read once per version and process)."""
    with _rows_lock:
        held = _rows.get(domain)
        if held is not None and held[0] == version:
            return held[1]
        rows = domain_entities(r, domain)
        _rows[domain] = (version, rows)
        return rows


def _content(domain: str) -> list[Any]:
    """The page body from the store (a clear note while Redis is unreachable)."""
    try:
        r = redis_client()
        kpis = kpi_reading.current(r, domain)
        history = kpi_reading.history(r, domain, time.time() - TREND_HOURS * 3600)
        feeds = [f for f in read_health(r) if f.domain == domain]
        version, updated_at = domain_versions(r)[domain]
        entities = _entities(r, domain, (version, updated_at))
    except redis.RedisError:
        return [html.Div(i18n.t("domain.link_lost"), className="card banner-bad")]
    stale = [f for f in feeds if f.state in STALE_STATES]
    banner: list[Any] = []
    if stale:
        since = min((f.last_success for f in stale if f.last_success), default=None)
        banner = [html.Div(className="card banner-stale domain-stale", children=[
            i18n.t("domain.stale_since", feeds=", ".join(f.feed for f in stale),
                   time=format_time(since)) if since
            else i18n.t("domain.stale", feeds=", ".join(f.feed for f in stale))])]
    charted = [k for k in kpis if not k.get("subject") and k.get("unit") != "{alert}"]
    return banner + [
        html.P(i18n.t("domain.data_as_of", time=format_time(updated_at)) if updated_at
               else i18n.t("domain.no_data"), className="card-note"),
        html.Section(className="card", children=[html.H2(i18n.t("domain.indicators")),
                                                 *_kpi_tiles(kpis, bool(stale))]),
        html.Section(className="card", children=[
            html.H2(i18n.t("domain.last_hours", hours=TREND_HOURS)),
            dcc.Graph(figure=_trend_figure(history, charted, settings().city.timezone),
                      config=graph_config()),
            # The same downloads as /official's, of this domain's KPIs only.
            html.Div(trend_export_links(domain), className="official-exports domain-exports")]),
        html.Section(className="card", children=[html.H2(i18n.t("domain.feeds")), _feeds_table(feeds)]),
        html.Section(className="card", children=[html.H2(i18n.t("domain.reported")),
                                                 *_entities_table(entities)]),
    ]


def _signature(seen: Any, domain: str) -> list[Any] | None:
    """This domain's part of the shell's SEEN signature: its version and its feeds' states."""
    if not isinstance(seen, list) or not seen:
        return None
    version = [row for row in seen if isinstance(row, list) and len(row) == 3 and row[0] == domain]
    feeds = seen[-1] if isinstance(seen[-1], list) else []
    return version + [row for row in feeds if isinstance(row, list) and len(row) == 3
                      and row[1] == domain]


def layout(domain: str) -> Callable[..., html.Div]:
    """The layout function of ``domain``'s page (role-checked on the server)."""
    path = _domain_path(domain)

    def domain_layout(**_query: str) -> html.Div:
        from app.web.context import current_principal
        from layouts.components import forbidden

        principal = current_principal()
        if principal is None or not roles.may_open(principal.role, path):
            return forbidden()
        return html.Div(className=f"domain-page domain-{domain}", children=[
            html.H1(domain_title(domain), id=ids.PAGE_TITLE),
            html.Div(_content(domain), id=ids.DOMAIN_BODY[domain]),
            dcc.Store(id=ids.DOMAIN_SHOWN[domain]),
        ])

    domain_layout.__name__ = f"{domain}_layout"
    return domain_layout


def register(app: dash.Dash, module: str, domain: str) -> None:
    """Register ``domain``'s page (module name ``module``) and its refresh on version changes."""
    path = _domain_path(domain)

    @require_roles(roles.PAGE_BY_PATH[path].roles)
    def refresh(seen: Any, shown: Any) -> tuple[list[Any], Any]:
        # The shell's SEEN store moves with any domain's version or any feed's state: redraw
        # only for this domain's own.
        mine = _signature(seen, domain)
        if mine is None or mine == shown:
            raise PreventUpdate
        return _content(domain), mine

    app.callback(Output(ids.DOMAIN_BODY[domain], "children"),
                 Output(ids.DOMAIN_SHOWN[domain], "data"), Input(ids.SEEN, "data"),
                 State(ids.DOMAIN_SHOWN[domain], "data"), prevent_initial_call=True)(refresh)
    dash.register_page(module, path=path, name=DOMAIN_TITLES[domain],
                       title=tab_title(path), layout=layout(domain))
