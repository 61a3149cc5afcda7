"""The alert panel shared by the wall and /alerts: counts by severity and state, the alerts most in
need of attention grouped under the CAP warning whose area holds them, unacknowledged critical
alerts flashing until acknowledged, and an optional sound per severity that operators can mute for
every screen. On /alerts each count is a button that filters the list (layouts/alert_filters.py).

The browser asks every second (the shell's tick); the callback reads one version number and
answers ``PreventUpdate`` unless an alert changed, so the panel costs almost nothing while the
room is quiet and shows a change within a second or two. Sounds are synthesized in the browser
(assets/alerts.js, WebAudio): nothing is downloaded. Open incidents come above the alerts (level
colour, title, task progress, overdue tasks named), redrawn when the incidents' version moves.
"""

from __future__ import annotations

import json
import time
from typing import Any, Mapping, Sequence

import dash
import redis
from dash import ALL, Input, Output, State, ctx, dcc, html
from dash.exceptions import PreventUpdate

from app import alerts, i18n, incidents
from app.alerts import screens
from app.alerts.screens import SOUND_DEFAULT, SOUND_EDITORS, sound_settings
from app.incidents.queries import version as incidents_version
from app.model import roles
from app.model.alerts import ACTIVE, CLOSED, SEVERITIES, SEVERITY_RANK, UNACKED
from app.web.context import client_addr, current_principal, redis_client, require_roles, settings
from layouts import ids, pulse
from layouts.components import domain_title, format_time
from layouts.incident_parts import (
    department_name,
    level_badge,
    numbered,
    progress,
    status_badge,
    task_title,
)

PANEL_ROWS = 30  # lines sent to the wall; assets/alerts.js hides those that do not fit
PANEL_INCIDENTS = 4  # open incidents shown above the alerts (the gravest); the rest are counted
OVERDUE_ROWS = 3  # overdue tasks named under an incident
CLOCK_BUCKET_S = 30  # overdue is judged by the clock: the incidents are redrawn at least this often
READERS = frozenset(roles.TOKEN_ROLES)
STATE_LABELS: dict[str, str] = {"active_unack": "Unacknowledged", "active_ack": "Acknowledged",
                                "cleared_unack": "Cleared, unacknowledged", "cleared_ack": "Closed"}
# (state, column label, what the label stands for): short labels keep the table phone-wide.
COUNT_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("active_unack", "Unack.", "Active, unacknowledged"), ("active_ack", "Ack.", "Active, acknowledged"),
    ("cleared_unack", "Clear.", "Cleared, unacknowledged"), ("escalated", "Esc.", "Escalated"))
_REGISTERED = "_cityops_alert_panel"
PICKABLE = "pick-counts"  # the panel's class on /alerts, where a count filters the list


def when(ts: float | None) -> str:
    """A time as the room reads it: the clock time today, with the date when older than 20 h."""
    if ts is None:
        return "—"
    return format_time(ts, with_date=time.time() - ts > 20 * 3600)


def flashes(alert: Mapping[str, Any]) -> bool:
    """Unacknowledged critical alerts flash until someone acknowledges them."""
    return alert["severity"] == "critical" and alert["state"] in UNACKED


def row_class(alert: Mapping[str, Any]) -> str:
    """CSS classes of an alert line: severity, state, flashing, escalated."""
    classes = ["alert-row", f"sev-{alert['severity']}", f"state-{alert['state']}"]
    if flashes(alert):
        classes.append("flash")
    if alert.get("escalated") and alert["state"] != CLOSED:
        classes.append("escalated")
    return " ".join(classes)


def badges(alert: Mapping[str, Any]) -> list[Any]:
    """Severity, state, escalation, repeat count and assignee as small labels (text, escaped)."""
    out: list[Any] = [html.Span(i18n.label("severity", alert["severity"]),
                                className=f"sev-badge sev-{alert['severity']}"),
                      html.Span(i18n.label("alert_state", alert["state"]),
                                className="state-badge")]
    if alert.get("escalated") and alert["state"] != CLOSED:
        out.append(html.Span(i18n.t("alert_state.escalated"), className="escalated-badge"))
    if alert.get("count", 1) > 1:
        out.append(html.Span(f"×{alert['count']}", className="count-badge",
                             title=i18n.t("alerts.count_hint")))
    if alert.get("assignee"):
        out.append(html.Span(f"→ {alert['assignee']}", className="assignee-badge"))
    return out


def alert_line(alert: Mapping[str, Any], extra: Sequence[Any] = (),
               attrs: Mapping[str, str] | None = None) -> html.Div:
    """One alert as one line of the wall (its id in data-alert, for people's tools and tests)."""
    return html.Div(className=row_class(alert), **{"data-alert": alert["id"], **(attrs or {})},
                    children=[
        html.Div(badges(alert), className="alert-badges"),
        html.Div(alerts.shown_title(alert), className="alert-title"),
        html.Div(className="alert-meta", children=[
            html.Span(domain_title(alert["domain"])),
            html.Span(when(alert.get("last_seen")), className="alert-time"), *extra]),
    ])


def wall_order(alert: Mapping[str, Any]) -> tuple[Any, ...]:
    """Sort key of the wall's list: active alerts before cleared-but-unacknowledged ones, so a
    cleared alert never pushes an active one off the wall; within each, the order of what needs
    attention (app.alerts.attention_order: escalated, severity, unacknowledged, oldest)."""
    return (0 if alert["state"] in ACTIVE else 1, *alerts.attention_order(alert))


def worst_severity(found: Sequence[Mapping[str, Any]]) -> str:
    """The gravest severity among ``found`` (info when there is nothing)."""
    return min((a["severity"] for a in found), key=lambda s: SEVERITY_RANK.get(s, 9),
               default="info")


def more_line(omitted: Sequence[Mapping[str, Any]]) -> html.Div:
    """"+N more" with the worst severity of what is not shown, in that severity's colour.

    The server counts what it left out; assets/alerts.js hides further lines that do not fit the
    panel and rewrites the line from ``data-template`` and ``data-labels`` (translated here)."""
    worst = worst_severity(omitted)
    template = i18n.t("alerts.more", count="{count}", severity="{severity}")
    labels = {s: i18n.label("severity", s) for s in SEVERITIES}
    text = template.replace("{count}", str(len(omitted))).replace("{severity}", labels[worst])
    return html.Div(text if omitted else "", className=f"alert-more sev-{worst}",
                    hidden=not omitted, role="listitem",
                    **{"data-omitted": str(len(omitted)), "data-worst": worst if omitted else "",
                       "data-template": template, "data-labels": json.dumps(labels)})


def _fit_attrs(alerts_in_line: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """What assets/alerts.js needs to count a line it hides: how many alerts, the worst one."""
    return {"data-count": str(len(alerts_in_line)), "data-severity": worst_severity(alerts_in_line)}


def grouped_lines(everything: Sequence[Mapping[str, Any]], limit: int = PANEL_ROWS) -> list[Any]:
    """The wall's lines, most urgent first, then "+N more" for what is left out.

    A CAP warning with members is one line holding them, sorted by its gravest member; nobody
    clicks a wall, so its summary shows that worst member under the warning (the rest expand on
    a click elsewhere)."""
    by_id = {a["id"]: a for a in everything}
    members: dict[str, list[Mapping[str, Any]]] = {}
    for alert in everything:
        if alert.get("group") and alert["group"] in by_id:
            members.setdefault(alert["group"], []).append(alert)
    # A line per warning (with its members) and per alert outside any listed warning.
    heads = [a for a in everything if not (a.get("group") and a["group"] in by_id)]

    def line_key(alert: Mapping[str, Any]) -> tuple[Any, ...]:
        return min([wall_order(alert)] + [wall_order(m) for m in members.get(alert["id"], [])])

    heads.sort(key=line_key)
    lines: list[Any] = []
    omitted: list[Mapping[str, Any]] = []
    for alert in heads:
        inside = sorted(members.get(alert["id"], []), key=wall_order)
        if len(lines) >= limit:
            omitted += [alert, *inside]
            continue
        if not inside:
            lines.append(alert_line(alert, attrs=_fit_attrs([alert])))
            continue
        critical = any(flashes(m) for m in inside)
        worst = inside[0]
        lines.append(html.Details(className="alert-group" + (" has-flash" if critical else ""),
                                  **_fit_attrs([alert, *inside]), children=[
            html.Summary([
                alert_line(alert, [html.Span(i18n.t("alerts.group_size", count=len(inside)),
                                             className="group-size")]),
                html.Div(alert_line(worst), className="alert-group-worst",
                         title=i18n.t("alerts.group_worst")),
            ]),
            html.Div([alert_line(m) for m in inside[1:]], className="alert-group-members"),
        ]))
    if lines:
        lines.append(more_line(omitted))
    return lines


def _count_cell(severity: str, column: str, count: int, meaning: str, pickable: bool) -> html.Td:
    """One count; on /alerts a button that shows only those alerts (pressed again: all of them)."""
    shown: Any = str(count)
    if pickable:
        shown = html.Button(str(count), id={"type": ids.ALERT_COUNT_PICK,
                                            "index": f"{severity}:{column}"},
                            className="count-pick", **{"aria-label": i18n.t(
                                "alerts.count_pick", count=count,
                                severity=i18n.label("severity", severity), column=meaning)})
    return html.Td(shown, className="zero" if not count else "nonzero",
                   **{"data-count": f"{severity}:{column}"})


def counts_table(open_alerts: Sequence[Mapping[str, Any]], pickable: bool = False) -> html.Table:
    """Counts of the open alerts by severity (rows) and state (columns); ``pickable`` (/alerts):
    each count a button that filters the list."""
    table = alerts.counts(open_alerts)
    return html.Table(className="alert-counts", children=[
        html.Thead(html.Tr([html.Th("")] + [
            html.Th(html.Abbr(i18n.t_or(f"alerts.col.{state}", label),
                              title=i18n.t_or(f"alerts.col.{state}.meaning", meaning)),
                    title=i18n.t_or(f"alerts.col.{state}.meaning", meaning))
            for state, label, meaning in COUNT_COLUMNS])),
        html.Tbody([html.Tr(className=f"sev-{severity}", children=[
            html.Th(i18n.label("severity", severity), scope="row"),
            *[_count_cell(severity, column, table[severity][column],
                          i18n.t_or(f"alerts.col.{column}.meaning", meaning).lower(), pickable)
              for column, _, meaning in COUNT_COLUMNS]]) for severity in SEVERITIES]),
    ])


def sound_controls(switches: Mapping[str, bool], editable: bool) -> list[Any]:
    """Per-severity sound switches for operators; a quiet note of what sounds for others."""
    if not editable:
        on = [i18n.label("severity", s) for s, enabled in switches.items() if enabled]
        text = i18n.t("alerts.sound_list", severities=i18n.t("report.list_sep").join(on)) if on else \
            i18n.t("alerts.sound_none")
        return [html.Span(text, className="muted")]
    return [html.Span(i18n.t("alerts.sound"), className="muted")] + [
        html.Button(i18n.t("alerts.sound_switch", severity=i18n.label("severity", severity),
                           state=i18n.t("alerts.sound_on" if enabled else "alerts.sound_off")),
                    id={"type": ids.ALERT_SOUND_TOGGLE, "index": severity},
                    className="sound-toggle " + ("on" if enabled else "off"),
                    title=i18n.t("alerts.sound_mute" if enabled else "alerts.sound_unmute",
                                 severity=i18n.label("severity", severity)),
                    **{"aria-pressed": "true" if enabled else "false"})
        for severity, enabled in switches.items()]


def _content(r: redis.Redis, pickable: bool = False) -> dict[str, Any]:
    """Everything the panel shows, from one read of the open alerts (most in need first)."""
    open_alerts = alerts.list_alerts(r, open_only=True, limit=1000, order="attention")
    principal = current_principal()
    sound = sound_settings(r)
    return {
        "counts": counts_table(open_alerts, pickable),
        "list": grouped_lines(open_alerts) or [html.P(i18n.t("official.no_open_alerts"), className="muted")],
        "class": "alert-panel" + (" has-flash" if any(flashes(a) for a in open_alerts) else ""),
        "sound": {"enabled": sound, "unacked": [[a["id"], a["severity"]] for a in open_alerts
                                                if a["state"] == "active_unack"],
                  "repeat_s": settings().alerts.sound_repeat_s},
        "controls": sound_controls(sound, principal is not None
                                   and principal.role in SOUND_EDITORS),
    }


def incident_line(incident: Mapping[str, Any], overdue: Sequence[Mapping[str, Any]]) -> html.Div:
    """One open incident on the wall: its level in colour and words, number and title, status,
    task progress, and its overdue tasks by name and department."""
    shown = list(overdue)[:OVERDUE_ROWS]
    late: list[Any] = [html.Li(f"{task_title(t)} · {department_name(t['department'])}",
                               className="overdue-task", **{"data-task": t["id"]}) for t in shown]
    if len(overdue) > len(shown):
        late.append(html.Li(i18n.t("official.and_more", count=len(overdue) - len(shown)),
                            className="muted"))
    return html.Div(className=f"incident-line level-{incident['level']}", role="listitem",
                    **{"data-incident": incident["id"]}, children=[
        html.Div([level_badge(incident["level"]), status_badge(incident["status"])],
                 className="incident-badges"),
        html.Div(numbered(incident), className="incident-title"),
        progress(incident["tasks"]),
        html.Ul(late, className="overdue-tasks", **{"aria-label": i18n.t("incident.overdue_tasks")})
        if late else None,
    ])


def incident_lines(r: redis.Redis) -> list[Any]:
    """The open incidents, gravest first, above the alerts (nothing when there are none)."""
    found = incidents.list_incidents(r, open_only=True, limit=PANEL_INCIDENTS + 50)
    if not found:
        return []
    late: dict[str, list[Mapping[str, Any]]] = {}
    for task in incidents.list_tasks(r, overdue_only=True, limit=500):
        late.setdefault(task["incident"], []).append(task)
    lines: list[Any] = [incident_line(i, late.get(i["id"], [])) for i in found[:PANEL_INCIDENTS]]
    if len(found) > PANEL_INCIDENTS:
        lines.append(html.P(i18n.t("incident.more_open", count=len(found) - PANEL_INCIDENTS),
                            className="muted"))
    return [html.H3(i18n.t("incident.open_incidents"), className="panel-incidents-title"),
            html.Div(lines, role="list", className="incident-lines")]


def panel(compact: bool = False, pickable: bool = False) -> html.Div:
    """The panel, drawn from the store now and refreshed by :func:`register`'s callback;
    ``pickable`` (/alerts): its counts are buttons that filter the page's list."""
    try:
        r = redis_client()
        content = _content(r, pickable=pickable)
        version: int | None = screens.version(r)
        open_incidents = incident_lines(r)
        incidents_shown: Any = [incidents_version(r), int(time.time() // CLOCK_BUCKET_S)]
    except redis.RedisError:
        open_incidents, incidents_shown = [], None
        content = {"counts": html.P(i18n.t("alerts.link_lost"), className="muted"), "list": [],
                   "class": "alert-panel", "sound": {"enabled": {}, "unacked": []},
                   "controls": []}
        version = None
    modes = (" compact" if compact else "") + (f" {PICKABLE}" if pickable else "")
    return html.Div(id=ids.ALERT_PANEL, className=content["class"] + modes,
                    role="region", **{"aria-label": i18n.t("alerts.panel_label")}, children=[
        html.H2(i18n.t("page./alerts"), className="alert-panel-title"),
        html.Div(open_incidents, id=ids.ALERT_PANEL_INCIDENTS, className="panel-incidents",
                 **{"aria-live": "polite"}),
        dcc.Store(id=ids.ALERT_PANEL_INCIDENTS_SHOWN, data=incidents_shown),
        html.Div(content["counts"], id=ids.ALERT_PANEL_COUNTS),
        html.Div(content["list"], id=ids.ALERT_PANEL_LIST, className="alert-panel-list",
                 role="list", **{"aria-live": "polite"}),
        html.Div(content["controls"], id=ids.ALERT_SOUND_CONTROLS, className="sound-controls"),
        # Shown by assets/alerts.js while the browser refuses to play sound (its autoplay policy).
        html.Div(i18n.t("alerts.sound_blocked"), id=ids.ALERT_SOUND_BLOCKED, className="sound-blocked",
                 hidden=True, role="alert"),
        dcc.Store(id=ids.ALERT_SOUND, data=content["sound"]),
        dcc.Store(id=ids.ALERT_SOUND_PLAYED),
        dcc.Store(id=ids.ALERT_PANEL_SHOWN, data=version),
        *pulse.stores(ids.ALERT_PANEL_LIST, follow=("alerts",)),
        *pulse.stores(ids.ALERT_PANEL_INCIDENTS, follow=("incidents",), every_s=CLOCK_BUCKET_S),
    ])


@require_roles(READERS)
def refresh(_pulse: Any, shown: int | None, classes: str | None) -> tuple[Any, ...]:
    """Redraw the panel when any alert changed (one HGET when nothing did)."""
    try:
        r = redis_client()
        version = screens.version(r)
        if version == shown:
            raise PreventUpdate
        modes = [m for m in ("compact", PICKABLE) if m in (classes or "").split()]
        content = _content(r, pickable=PICKABLE in modes)
    except redis.RedisError:
        raise PreventUpdate from None  # the shell's banner says the link is lost
    return (content["counts"], content["list"], " ".join([content["class"], *modes]), content["sound"],
            content["controls"], version)


@require_roles(READERS)
def refresh_incidents(_pulse: Any, shown: Any) -> tuple[Any, Any]:
    """Redraw the open incidents when an incident or task changed (one HGET when none did), or
    when the clock may have made a task overdue."""
    try:
        r = redis_client()
        signature = [incidents_version(r), int(time.time() // CLOCK_BUCKET_S)]
        if signature == shown:
            raise PreventUpdate
        return incident_lines(r), signature
    except redis.RedisError:
        raise PreventUpdate from None


@require_roles(SOUND_EDITORS)
def toggle_sound(clicks: list[int | None]) -> int:
    """An operator switches one severity's sound on or off for every screen."""
    triggered = ctx.triggered_id
    if not isinstance(triggered, dict) or not any(clicks or []):
        raise PreventUpdate
    severity = triggered.get("index")
    if severity not in SOUND_DEFAULT or not ctx.triggered or not ctx.triggered[0].get("value"):
        raise PreventUpdate
    r = redis_client()
    principal = current_principal()
    assert principal is not None  # require_roles refused anonymous callers
    screens.set_sound(r, principal, severity, not sound_settings(r)[severity], addr=client_addr())
    return -1  # forces the next tick to redraw


def register(app: dash.Dash) -> None:
    """Register the panel's callbacks once per app (the wall and /alerts both embed it)."""
    if getattr(app, _REGISTERED, False):
        return
    setattr(app, _REGISTERED, True)
    trigger, running = pulse.gate(app, ids.ALERT_PANEL_LIST)
    app.callback(Output(ids.ALERT_PANEL_COUNTS, "children"), Output(ids.ALERT_PANEL_LIST, "children"),
                 Output(ids.ALERT_PANEL, "className"), Output(ids.ALERT_SOUND, "data"),
                 Output(ids.ALERT_SOUND_CONTROLS, "children"), Output(ids.ALERT_PANEL_SHOWN, "data"),
                 trigger, State(ids.ALERT_PANEL_SHOWN, "data"),
                 State(ids.ALERT_PANEL, "className"), running=running,
                 prevent_initial_call=True)(refresh)
    trigger, running = pulse.gate(app, ids.ALERT_PANEL_INCIDENTS)
    app.callback(Output(ids.ALERT_PANEL_INCIDENTS, "children"),
                 Output(ids.ALERT_PANEL_INCIDENTS_SHOWN, "data"), trigger,
                 State(ids.ALERT_PANEL_INCIDENTS_SHOWN, "data"), running=running,
                 prevent_initial_call=True)(refresh_incidents)
    app.callback(Output(ids.ALERT_PANEL_SHOWN, "data", allow_duplicate=True),
                 Input({"type": ids.ALERT_SOUND_TOGGLE, "index": ALL}, "n_clicks"),
                 prevent_initial_call=True)(toggle_sound)
    app.clientside_callback(
        dash.ClientsideFunction(namespace="cityops_alerts", function_name="sound"),
        Output(ids.ALERT_SOUND_PLAYED, "data"), Input(ids.ALERT_SOUND, "data"),
        State(ids.ALERT_SOUND_PLAYED, "data"))
