"""The officials' read-only city view (/official): status per domain, top issues, trends, exports,
and the incidents of the last 7 or 30 days with their response times (after-action).

Status and top issues come from :func:`app.situation.report.read_situation`, the same reading the exported
situation report uses. They are redrawn whenever the shell's live signature changes, which
includes every feed's state: a feed that goes stale turns its domain amber here without any new
data arriving. Trends (24 h or 7 days) are downsampled on the server and refreshed every minute.
Feed text is shown only as Dash text (React escapes it) or HTML-escaped in plotly labels.
"""

from __future__ import annotations

import time
from typing import Any, Sequence

import dash
import plotly.graph_objects as go
import redis
from dash import Input, Output, dcc, html

from app import i18n
from app.incidents import after_action
from app.kpis import reading as kpi_reading
from app.kpis.status import effective_status
from app.model import roles
from app.model.domains import DOMAINS
from app.situation.report import (
    STATUS_SYMBOLS,
    Situation,
    clock,
    kpi_label,
    read_situation,
    value_text,
)
from app.web.after_action import report_path
from app.web.context import redis_client, require_roles, settings
from app.web.exports import ALERTS_CSV_PATH, KPIS_CSV_PATH, REPORT_PATH
from layouts import ids, kpi_charts
from layouts.components import domain_title, graph_config, page_layout, tab_title
from layouts.trend_exports import trend_export_links

PATH = "/official"
ALLOWED = roles.PAGE_BY_PATH[PATH].roles
MAX_REASONS = 3
TOP_LIMIT = 8
TRENDS_REFRESH_MS = 60_000
# window -> (catalogue key of its label, span in seconds, bucket in seconds): about 300 and 170
# points per line.
WINDOWS: dict[str, tuple[str, int, int]] = {
    "24h": ("official.window_24h", 24 * 3600, 300),
    "7d": ("official.window_7d", 7 * 24 * 3600, 3600),
}
DEFAULT_WINDOW = "24h"
# The incidents section (after-action): window -> (catalogue key of its label, span in seconds).
INCIDENT_WINDOWS: dict[str, tuple[str, int]] = {"7d": ("official.incidents_7d", 7 * 86400),
                                                "30d": ("official.incidents_30d", 30 * 86400)}
DEFAULT_INCIDENT_WINDOW = "7d"


def _link_lost() -> html.Div:
    """The banner shown instead of figures while Redis is away."""
    return html.Div(i18n.t("official.link_lost"), className="card banner-bad official-lost")


def _situation() -> Situation | None:
    try:
        return read_situation(redis_client(), settings().city.timezone)
    except redis.RedisError:
        return None


# -- status and top issues -------------------------------------------------------------------------
def status_cards(situation: Situation | None) -> list[Any]:
    """One card per domain: colour, word and symbol, the reasons (worst first), data age."""
    if situation is None:
        return [_link_lost()]
    cards = []
    for status in situation.statuses:
        reasons = list(status.reasons[:MAX_REASONS])
        more = len(status.reasons) - len(reasons)
        if more > 0:
            reasons.append(i18n.t("official.and_more", count=i18n.format_number(more)))
        cards.append(html.Div(
            className=f"card official-status-card status-{status.colour}",
            id=f"official-status-{status.domain}", **{"data-status": status.colour}, children=[
                html.H3(domain_title(status.domain)),
                html.Div(f"{STATUS_SYMBOLS[status.colour]} {status.label}",
                         className="official-status-word"),
                html.Ul([html.Li(reason) for reason in reasons], className="official-reasons"),
                html.Div(i18n.t("official.data_as_of",
                                time=clock(status.updated_at, situation.timezone, with_date=True)),
                         className="card-note"),
            ]))
    return cards


def _kpi_issue(kpi: dict[str, Any]) -> html.Li:
    target = " " + i18n.t("official.target", target=i18n.kpi_target(kpi)) if kpi.get("target") else ""
    # The status that counts (issue 19): a small sample's bad shows as warn and says so.
    return html.Li(className=f"official-issue kpi-{effective_status(kpi)}", children=[
        html.Span(domain_title(str(kpi.get("domain"))),
                  className="official-issue-domain"),
        html.Span(kpi_label(kpi), className="official-issue-title"),
        html.Span(f"{value_text(kpi.get('value'), str(kpi.get('unit') or ''))}{target}",
                  className="official-issue-value"),
        *([html.Span(i18n.t("wall.small_sample"), className="official-issue-small-sample")]
          if kpi.get("small_sample") else []),
    ])


def _alert_issue(alert: dict[str, Any], tz: str) -> html.Li:
    severity = str(alert.get("severity") or "info")
    count = int(alert.get("count") or 0)
    domain = str(alert.get("domain"))
    state = i18n.label("alert_state", str(alert.get("state", "")))
    last = i18n.t("official.alert_last", time=clock(alert.get("last_seen"), tz))
    detail = f"{domain_title(domain)} · {state} · {last}"
    return html.Li(className=f"official-issue severity-{severity}", children=[
        html.Span(i18n.label("severity", severity), className="official-issue-severity"),
        html.Span(str(alert.get("title") or alert.get("id")), className="official-issue-title"),
        html.Span(detail + (f" · ×{count}" if count > 1 else ""), className="official-issue-value"),
    ])


def top_issues(situation: Situation | None) -> list[Any]:
    """The worst KPIs and the most urgent open alerts."""
    if situation is None:
        return [_link_lost()]
    worst = situation.worst_kpis(TOP_LIMIT)
    urgent = situation.top_alerts(TOP_LIMIT)
    return [
        html.Section(className="card official-issues-kpis", children=[
            html.H2(i18n.t("official.off_target")),
            html.Ul([_kpi_issue(k) for k in worst], className="official-issue-list") if worst
            else html.P(i18n.t("official.all_on_target"), className="muted"),
        ]),
        html.Section(className="card official-issues-alerts", children=[
            html.H2(i18n.t("official.open_alerts", count=i18n.format_number(len(situation.alerts)))),
            html.Ul([_alert_issue(a, situation.timezone) for a in urgent],
                    className="official-issue-list") if urgent
            else html.P(i18n.t("official.no_open_alerts"), className="muted"),
        ]),
    ]


# -- trends ----------------------------------------------------------------------------------------
def trend_series(history: Sequence[tuple[float, str, Any]], names: Sequence[str], bucket_s: int,
                 tz: str) -> kpi_charts.Series:
    """Bucket means of each named KPI's history as city-time x values, gaps as None
    (:func:`layouts.kpi_charts.bucket_series`)."""
    return kpi_charts.bucket_series(history, names, bucket_s, tz)


def trend_figure(kpis: Sequence[dict[str, Any]], series: kpi_charts.Series) -> go.Figure:
    """A domain's city-wide KPIs, a row per unit sharing the time axis, with their targets."""
    titles = {str(k["name"]): kpi_label(k) or str(k["name"]) for k in kpis}
    return kpi_charts.unit_figure(kpis, series, titles, i18n.t("official.no_history"),
                                  settings().kpis)


def trends(window: str, now: float | None = None) -> list[Any]:
    """A chart per domain of its city-wide KPIs over ``window`` (24h or 7d)."""
    label_key, span_s, bucket_s = WINDOWS.get(window, WINDOWS[DEFAULT_WINDOW])
    # Lower case reads well after the domain in English; Chinese has no case to change.
    label = i18n.t(label_key).lower()
    now = time.time() if now is None else now
    tz = settings().city.timezone
    try:
        r = redis_client()
        charts = []
        for domain in DOMAINS:
            # Per-subject KPIs (one per zone or hospital) would be dozens of lines: the domain
            # pages chart them; here only the city-wide figures.
            kpis = kpi_reading.current(r, domain, city_only=True)
            history = kpi_reading.history(r, domain, now - span_s)
            series = trend_series(history, [k["name"] for k in kpis], bucket_s, tz)
            charts.append(html.Section(className="card official-trend", children=[
                html.H3(f"{domain_title(domain)} · {label}"),
                dcc.Graph(id=f"official-trend-{domain}", figure=trend_figure(kpis, series),
                          config=graph_config(displayModeBar=False)),
            ]))
    except redis.RedisError:
        return [_link_lost()]
    return charts


# -- incidents and their response times (after-action, issue 15) --------------------------------------
def _incident_row(row: dict[str, Any], tz: str) -> html.Tr:
    duration = after_action.duration_text
    tasks = row["tasks"]
    return html.Tr(className=f"official-incident level-{row['level']}", children=[
        html.Td(f"#{row['number']} {row['title']}", className="official-incident-title"),
        html.Td(i18n.label("incident_level", row["level"])),
        html.Td(i18n.label("incident_status", row["status"])),
        html.Td(clock(row["declared_at"], tz, with_date=True)),
        html.Td(duration(row["to_acknowledge_s"]), className="official-figure"),
        html.Td(duration(row["to_declare_s"]), className="official-figure"),
        html.Td(duration(row["to_first_task_accepted_s"]), className="official-figure"),
        html.Td(i18n.t("official.tasks_done", done=i18n.format_number(tasks["done"]),
                       total=i18n.format_number(tasks["total"]))),
        html.Td(className="official-incident-links", children=[
            html.A(i18n.t("official.after_action_html"), href=report_path(row["id"]), download="",
                   className="official-incident-link"),
            html.A(i18n.t("official.after_action_csv"), href=report_path(row["id"], "csv"),
                   download="", className="official-incident-link")]),
    ])


def incidents_section(window: str, now: float | None = None) -> list[Any]:
    """The incidents declared in the window with their response times, and the medians."""
    _label, span_s = INCIDENT_WINDOWS.get(window, INCIDENT_WINDOWS[DEFAULT_INCIDENT_WINDOW])
    now = time.time() if now is None else now
    tz = settings().city.timezone
    try:
        rows = after_action.declared_since(redis_client(), now - span_s, now)
    except redis.RedisError:
        return [_link_lost()]
    if not rows:
        return [html.P(i18n.t("official.incidents_none"), className="muted")]
    middle = after_action.medians(rows)
    heads = ("official.col_incident", "official.col_level", "official.col_status",
             "official.col_declared", "official.col_to_ack", "official.col_to_declare",
             "official.col_to_task", "official.col_tasks", "official.col_report")
    return [
        html.P(i18n.t("official.incidents_summary", count=i18n.format_number(len(rows)),
                      ack=after_action.duration_text(middle["to_acknowledge_s"]),
                      declare=after_action.duration_text(middle["to_declare_s"]),
                      task=after_action.duration_text(middle["to_first_task_accepted_s"])),
               className="official-incidents-summary"),
        html.Table(className="data-table official-incidents-table", children=[
            html.Thead(html.Tr([html.Th(i18n.t(key)) for key in heads])),
            html.Tbody([_incident_row(row, tz) for row in rows])]),
    ]


# -- page ------------------------------------------------------------------------------------------
def _exports() -> html.Div:
    links = [(REPORT_PATH, i18n.t("official.export_report")),
             (KPIS_CSV_PATH, i18n.t("official.export_kpis")),
             (ALERTS_CSV_PATH, i18n.t("official.export_alerts"))]
    return html.Div(id=ids.OFFICIAL_EXPORTS, className="official-exports", children=[
        html.A(text, href=href, download="", className="btn official-export",
               id=f"official-export-{href.rsplit('/', 1)[-1].replace('.', '-')}")
        for href, text in links] + trend_export_links())


@page_layout(PATH)
def layout(**_query: str) -> html.Div:
    """Status per domain with the reason, top issues, 24 h / 7 d trends and the exports."""
    situation = _situation()
    return html.Div(className="official", children=[
        html.Div(className="official-head", children=[
            html.H1(i18n.t("page./official"), id=ids.PAGE_TITLE),
            _exports(),
        ]),
        html.Div(status_cards(situation), id=ids.OFFICIAL_STATUS, className="card-grid"),
        html.Div(top_issues(situation), id=ids.OFFICIAL_ISSUES, className="official-issues"),
        html.Div(className="official-trends-head official-incidents-head", children=[
            html.H2(i18n.t("official.incidents")),
            dcc.RadioItems(id=ids.OFFICIAL_INCIDENTS_WINDOW, value=DEFAULT_INCIDENT_WINDOW,
                           inline=True, className="official-window",
                           options=[{"label": i18n.t(label_key), "value": key}
                                    for key, (label_key, _span) in INCIDENT_WINDOWS.items()]),
        ]),
        html.Div(id=ids.OFFICIAL_INCIDENTS, className="card official-incidents",
                 children=html.P(i18n.t("official.incidents_loading"), className="muted")),
        html.Div(className="official-trends-head", children=[
            html.H2(i18n.t("official.trends")),
            dcc.RadioItems(id=ids.OFFICIAL_WINDOW, value=DEFAULT_WINDOW, inline=True,
                           options=[{"label": i18n.t(label_key), "value": key}
                                    for key, (label_key, _span, _bucket) in WINDOWS.items()],
                           className="official-window"),
        ]),
        html.Div(id=ids.OFFICIAL_TRENDS, className="official-trends",
                 children=html.P(i18n.t("official.loading_trends"), className="muted")),
        dcc.Interval(id=ids.OFFICIAL_TRENDS_TICK, interval=TRENDS_REFRESH_MS),
    ])


@require_roles(ALLOWED)
def refresh_status(_seen: object) -> tuple[list[Any], list[Any]]:
    """Redraw status and top issues when the shell saw a version or a feed's state change."""
    situation = _situation()
    return status_cards(situation), top_issues(situation)


@require_roles(ALLOWED)
def refresh_trends(window: str | None, _tick: int | None) -> list[Any]:
    """Draw the trends of the chosen window (on opening, on a change, and every minute)."""
    return trends(window if window in WINDOWS else DEFAULT_WINDOW)


@require_roles(ALLOWED)
def refresh_incidents(window: str | None, _tick: int | None) -> list[Any]:
    """Draw the incidents of the chosen window (on opening, on a change, and every minute)."""
    return incidents_section(window if window in INCIDENT_WINDOWS else DEFAULT_INCIDENT_WINDOW)


def register(app: dash.Dash) -> None:
    """Register the page with Dash Pages, and its callbacks."""
    app.callback(Output(ids.OFFICIAL_STATUS, "children"), Output(ids.OFFICIAL_ISSUES, "children"),
                 Input(ids.SEEN, "data"), prevent_initial_call=True)(refresh_status)
    app.callback(Output(ids.OFFICIAL_TRENDS, "children"), Input(ids.OFFICIAL_WINDOW, "value"),
                 Input(ids.OFFICIAL_TRENDS_TICK, "n_intervals"))(refresh_trends)
    app.callback(Output(ids.OFFICIAL_INCIDENTS, "children"),
                 Input(ids.OFFICIAL_INCIDENTS_WINDOW, "value"),
                 Input(ids.OFFICIAL_TRENDS_TICK, "n_intervals"))(refresh_incidents)
    dash.register_page(__name__, path=PATH, name="City status", title=tab_title(PATH),
                       layout=layout)
