"""The alerts page (/alerts) for emergency staff, operators and officials, on a phone or a laptop.

Filters by domain, severity and state (a count of the panel picks them); the alerts most in need
of attention first, or the newest (layouts/alert_filters.py); acknowledging
takes two taps ("Acknowledge" on the alert, then "Confirm" in the sheet that opens, a note being
optional); the sheet shows the alert on a small offline map and its whole timeline. Every
callback checks the role on the server, and every action also checks that this person may act
on this alert's domain, whatever the buttons showed; an alert is assigned only to someone who
could act on it (layouts/alert_assign.py).
"""

from __future__ import annotations

import math
from html import escape
from typing import Any, Mapping

import dash
import plotly.graph_objects as go
import redis
from dash import ALL, Input, Output, State, ctx, dcc, html, no_update
from dash.exceptions import PreventUpdate

from app import alerts, i18n, incidents
from app.accounts import admin
from app.alerts import screens
from app.model import roles
from app.model.alerts import (
    ALERT_ID,
    CLOSED,
    MAX_DESCRIPTION,
    MAX_NOTE,
    MAX_TITLE,
    SEVERITIES,
    SEVERITY_COLOURS,
    STATES,
    UNACKED,
)
from app.model.domains import DOMAINS
from app.situation.mapdata import DEFAULT_CENTER  # where an unlocated alert's map opens
from app.web.context import client_addr, current_principal, redis_client, require_roles
from layouts import alert_assign, alert_bulk, alert_filters, alert_panel, alert_refusals, ids
from layouts.alert_filters import OPEN_STATES
from layouts.components import (
    actor_words,
    addr_words,
    domain_title,
    dropdown_labels,
    format_time,
    graph_config,
    page_layout,
    tab_title,
)
from layouts.livemap import basemap_layers

PATH = "/alerts"
PAGE_ROLES = roles.PAGE_BY_PATH[PATH].roles
LIST_LIMIT = 200



def _options(values: Any, labels: Mapping[str, str] | None = None) -> list[dict[str, str]]:
    return [{"label": (labels or {}).get(v, v), "value": v} for v in values]


def _labelled(prefix: str, values: Any) -> list[dict[str, str]]:
    """Codes (severities, states) as dropdown options named in the reader's language."""
    return [{"label": i18n.label(prefix, v), "value": v} for v in values]


def _domain_options() -> list[dict[str, str]]:
    """The domains as dropdown options, named in the reader's language."""
    return _options(DOMAINS, {d: domain_title(d) for d in DOMAINS})


def _default_domains() -> list[str]:
    """Emergency staff start with their own domains; everybody else with all of them."""
    principal = current_principal()
    if principal is not None and principal.role == roles.EMERGENCY and principal.domains:
        return list(principal.domains)
    return []


def _raise_form() -> html.Details:
    """An incident raised by hand (a phone call): operators and admins."""
    return html.Details(className="card raise-form", children=[
        html.Summary(i18n.t("alerts.raise_summary")),
        html.Label(i18n.t("alerts.field_title"), htmlFor=ids.ALERT_NEW_TITLE),
        dcc.Input(id=ids.ALERT_NEW_TITLE, type="text", maxLength=MAX_TITLE),
        html.Div(className="form-row", children=[
            html.Div([html.Label(i18n.t("alerts.field_domain"), htmlFor=ids.ALERT_NEW_DOMAIN),
                      dcc.Dropdown(id=ids.ALERT_NEW_DOMAIN, clearable=False, value="city",
                                   options=_domain_options())]),
            html.Div([html.Label(i18n.t("alerts.field_severity"), htmlFor=ids.ALERT_NEW_SEVERITY),
                      dcc.Dropdown(id=ids.ALERT_NEW_SEVERITY, clearable=False, value="major",
                                   options=_labelled("severity", SEVERITIES))]),
        ]),
        html.Div(className="form-row", children=[
            html.Div([html.Label(i18n.t("alerts.field_lat"), htmlFor=ids.ALERT_NEW_LAT),
                      dcc.Input(id=ids.ALERT_NEW_LAT, type="number", min=-90, max=90,
                                step="any")]),
            html.Div([html.Label(i18n.t("alerts.field_lon"), htmlFor=ids.ALERT_NEW_LON),
                      dcc.Input(id=ids.ALERT_NEW_LON, type="number", min=-180, max=180,
                                step="any")]),
        ]),
        html.Label(i18n.t("alerts.field_description"), htmlFor=ids.ALERT_NEW_DESCRIPTION),
        dcc.Textarea(id=ids.ALERT_NEW_DESCRIPTION, maxLength=MAX_DESCRIPTION, rows=3),
        html.Button(i18n.t("alerts.raise_button"), id=ids.ALERT_NEW_RAISE, className="btn"),
        html.Div(id=ids.ALERT_NEW_RESULT, role="status", className="action-result"),
    ])


def _rules_status() -> html.Div:
    """For admins: where the runner's rules came from, and a refused edit's error."""
    principal = current_principal()
    if principal is None or principal.role != roles.ADMIN:
        return html.Div(id=ids.ALERTS_RULES_STATUS)
    try:
        status = screens.rules_status(redis_client())
    except redis.RedisError:
        status = None
    if not status:
        return html.Div(i18n.t("alerts.rules_waiting"),
                        id=ids.ALERTS_RULES_STATUS, className="muted rules-status")
    text = i18n.t("alerts.rules_loaded", rules=i18n.format_number(status.get("rules", 0)),
                  source=status.get("source"), time=format_time(status.get("at"), with_date=True))
    children: list[Any] = [html.Span(text)]
    if status.get("error"):
        children.append(html.Div(i18n.t("alerts.rules_refused", error=status["error"]),
                                 className="error"))
    return html.Div(children, id=ids.ALERTS_RULES_STATUS, className="rules-status")


@page_layout(PATH)
def layout(alert: str | None = None, **_query: str) -> html.Div:
    """Counts, filters, the alert list and the sheet of the alert picked (``?alert=<id>`` opens
    that alert's sheet: a link to one alert's page)."""
    principal = current_principal()
    raisers = principal is not None and principal.role in alerts.RAISERS
    opened = {"id": alert, "mode": "view"} if isinstance(alert, str) and ALERT_ID.match(
        alert) else None
    domains = _default_domains()
    cards, shown = _first_cards(domains)
    return html.Div(className="alerts-page", children=[
        html.H1(i18n.t("page./alerts"), id=ids.PAGE_TITLE),
        alert_panel.panel(compact=True, pickable=True),
        *alert_filters.pick_parts(),
        _rules_status(),
        # On a phone the filters fold behind one control (assets/phone.css shows them on a desk).
        html.Details(id=ids.ALERTS_FILTERS_TOGGLE, className="phone-fold filters-fold", children=[
        html.Summary(i18n.t("phone.filters"), className="phone-fold-button"),
        html.Div(className="alert-filters", children=[
            dcc.Dropdown(id=ids.ALERTS_FILTER_DOMAIN, multi=True, value=domains, labels=dropdown_labels(),
                         placeholder=i18n.t("alerts.all_domains"), options=_domain_options(),
                         searchable=False),
            dcc.Dropdown(id=ids.ALERTS_FILTER_SEVERITY, multi=True, labels=dropdown_labels(), value=[],
                         placeholder=i18n.t("alerts.all_severities"),
                         options=_labelled("severity", SEVERITIES),
                         searchable=False),
            dcc.Dropdown(id=ids.ALERTS_FILTER_STATE, multi=True, value=list(OPEN_STATES),
                         labels=dropdown_labels(),
                         placeholder=i18n.t("alerts.all_states"),
                         options=_labelled("alert_state", STATES),
                         searchable=False),
        ]), alert_filters.order_control()]),
        _raise_form() if raisers else html.Div(),
        alert_bulk.bar(),
        html.Div(className="alerts-layout", children=[
            html.Div(cards, id=ids.ALERTS_LIST, className="alert-cards", role="list"),
            _detail_sheet(),
        ]),
        dcc.Store(id=ids.ALERTS_SHOWN, data=shown),
        dcc.Store(id=ids.ALERT_SELECTED, data=opened),
        dcc.Store(id=ids.ALERT_SEEN_ASSIGNEE),
    ])


def _first_cards(domains: list[str]) -> tuple[list[Any], Any]:
    """The list as the default filters show it, drawn with the page (issue 18): a phone on a
    slow link sees its cards without waiting for the filters' scripts and a callback's round
    trip. The signature makes refresh_list skip redrawing what is already there."""
    try:
        r = redis_client()
        order = alert_filters.ORDER_DEFAULT
        signature = [screens.version(r), domains, [], list(OPEN_STATES), order, None]
        return _cards(r, domains, [], list(OPEN_STATES), order=order), signature
    except redis.RedisError:
        return [], None


def _detail_sheet() -> html.Aside:
    """The picked alert: actions first (so acknowledging is the second tap), map, timeline."""
    return html.Aside(id=ids.ALERT_DETAIL, className="alert-detail", children=[
        html.Button(i18n.t("alerts.close"), id=ids.ALERT_DETAIL_CLOSE, className="btn-link detail-close",
                    **{"aria-label": i18n.t("alerts.close_label")}),
        html.Div(id=ids.ALERT_DETAIL_HEAD),
        html.Div(id=ids.ALERT_ACTIONS, className="alert-actions", children=[
            html.Button(i18n.t("alerts.confirm_ack"), id=ids.ALERT_ACK, className="btn btn-ack"),
            dcc.Textarea(id=ids.ALERT_NOTE, maxLength=MAX_NOTE, rows=2,
                         placeholder=i18n.t("alerts.note_placeholder")),
            html.Div(className="action-row", children=[
                html.Button(i18n.t("alerts.claim"), id=ids.ALERT_CLAIM, className="btn btn-secondary"),
                html.Button(i18n.t("alerts.add_note"), id=ids.ALERT_ADD_NOTE,
                            className="btn btn-secondary"),
                # Resolving and taking over ask first (the browser's confirmation dialog).
                dcc.ConfirmDialogProvider(
                    id=ids.ALERT_RESOLVE_CONFIRM, message=i18n.t("alerts.resolve_confirm"),
                    children=html.Button(i18n.t("alerts.resolve"), id=ids.ALERT_RESOLVE,
                                         className="btn btn-danger")),
                dcc.ConfirmDialogProvider(
                    id=ids.ALERT_TAKEOVER_CONFIRM, message="",
                    children=html.Button(i18n.t("alerts.take_over"), id=ids.ALERT_TAKEOVER,
                                         className="btn btn-secondary", hidden=True)),
            ]),
            # Operators hand an alert to someone who may act on it; everybody else claims it.
            alert_assign.row(),
        ]),
        html.Div(id=ids.ALERT_RESULT, role="status", className="action-result"),
        # The map is made when an alert is opened (_map): a page with no Graph on it never loads
        # plotly.js, so a phone's list comes before the 4.8 MB of it (issue 18).
        html.Div(id=ids.ALERT_MAP_HOLDER, className="alert-map-holder"),
        html.Div(id=ids.ALERT_TIMELINE, className="alert-timeline"),
    ])


# -- the list -----------------------------------------------------------------------------------------
def _card(alert: Mapping[str, Any], actionable: bool, group_title: str | None,
          ticked: bool = False) -> html.Div:
    buttons: list[Any] = [html.Button(i18n.t("alerts.details"),
                                      id={"type": ids.ALERT_PICK, "index": alert["id"]},
                                      className="btn btn-secondary")]
    if actionable and alert["state"] in UNACKED:
        buttons.insert(0, html.Button(i18n.t("alerts.acknowledge"),
                                      id={"type": ids.ALERT_ACK_START, "index": alert["id"]},
                                      className="btn btn-ack"))
    if alert["state"] != CLOSED and incidents.may_declare(current_principal()):
        buttons.append(_declare_link(alert["id"]))
    extra = ([html.Div(i18n.t("alerts.in_area", title=group_title), className="group-note")]
             if group_title else [])
    why_not = None if actionable else alert_refusals.why_not(alert)
    if why_not is not None:
        extra.append(why_not)
    if actionable and alert["state"] in UNACKED:
        buttons.insert(0, alert_bulk.checkbox(alert["id"], ticked))
    return html.Div(className=alert_panel.row_class(alert) + " alert-card", role="listitem",
                    **{"data-alert": alert["id"]}, children=[
        html.Div(alert_panel.badges(alert), className="alert-badges"),
        html.Div(alerts.shown_title(alert), className="alert-title"),
        html.Div(className="alert-meta", children=[
            html.Span(domain_title(alert["domain"])),
            html.Span(alert_panel.when(alert.get("last_seen")), className="alert-time")]),
        *extra,
        html.Div(buttons, className="card-actions"),
    ])


def _declare_link(alert_id: str, component_id: str | None = None) -> dcc.Link:
    """"Declare an incident" from this alert: /incidents opens its form with the alert in it."""
    extra = {"id": component_id} if component_id else {}
    return dcc.Link(i18n.t("incident.declare_from_alert"), href=f"/incidents?declare={alert_id}",
                    className="btn btn-secondary declare-link", **extra)


def _cards(r: redis.Redis, domains: list[str], severities: list[str],
           states: list[str], ticked: frozenset[str] = frozenset(), *,
           order: str = alert_filters.ORDER_DEFAULT, escalated: bool = False) -> list[Any]:
    found = alerts.list_alerts(r, domains=domains or None, severities=severities or None,
                               states=states or None, limit=LIST_LIMIT if not escalated else 100_000,
                               order=order)
    if escalated:  # a count of the escalated column picked: its open escalated alerts
        found = [a for a in found if a.get("escalated") and a["state"] != CLOSED][:LIST_LIMIT]
    if not found:
        return [html.P(i18n.t("alerts.none_match"), className="muted")]
    principal = current_principal()
    titles = {a["id"]: alerts.shown_title(a) for a in alerts.list_alerts(r, open_only=True, limit=1000)
              if a["source"] == "cap"}
    return [_card(a, alerts.may_act(principal, a), titles.get(a.get("group") or ""),
                  a["id"] in ticked) for a in found]


@require_roles(PAGE_ROLES)
def refresh_list(_panel_version: int | None, domains: list[str] | None,
                 severities: list[str] | None, states: list[str] | None, order: str | None,
                 picked: Any, shown: Any, ticked: list[Any] | None = None) -> tuple[Any, Any]:
    """Redraw the list when an alert, a filter, the order or the count picked changed (the
    panel's version store moves on every alert change, so the list needs no timer of its own);
    ticked cards stay ticked."""
    try:
        r = redis_client()
        order = alert_filters.order_of(order)
        escalated = alert_filters.escalated_only(picked)
        signature = [screens.version(r), domains or [], severities or [], states or [], order,
                     picked if escalated else None]
        if signature == shown:
            if ctx.triggered_id is None:
                # The first call after the page came with these cards (_first_cards): answer
                # anyway, since the sheet's callback waits for this one's output and a card
                # pressed meanwhile would otherwise open nothing.
                return no_update, signature
            raise PreventUpdate
        kept = alert_bulk.ticked_ids(ticked)
        return (_cards(r, list(domains or []), list(severities or []), list(states or []), kept,
                       order=order, escalated=escalated), signature)
    except redis.RedisError:
        raise PreventUpdate from None


@require_roles(PAGE_ROLES)
def select(_ack: list[int | None], _pick: list[int | None], _close: int | None) -> tuple[Any, str]:
    """Open the sheet of an alert ("Acknowledge": ready to confirm), or close it."""
    triggered = ctx.triggered_id
    value = ctx.triggered[0].get("value") if ctx.triggered else None
    if triggered is None or not value:
        raise PreventUpdate  # new cards appearing are not clicks
    if triggered == ids.ALERT_DETAIL_CLOSE:
        return None, ""
    if isinstance(triggered, dict) and isinstance(triggered.get("index"), str):
        mode = "ack" if triggered.get("type") == ids.ALERT_ACK_START else "view"
        return {"id": triggered["index"], "mode": mode}, ""
    raise PreventUpdate


# -- the sheet ----------------------------------------------------------------------------------------
def alert_figure(alert: Mapping[str, Any] | None,
                 warning: Mapping[str, Any] | None = None) -> go.Figure:
    """A small offline map: the alert's point, its own area or its warning's area (no tiles)."""
    traces: list[go.Scattermap] = []
    for shape, name in (((alert or {}).get("area"), i18n.t("alerts.map_area")),
                        ((warning or {}).get("area"), i18n.t("alerts.map_warning_area"))):
        for ring in _outer_rings(shape):
            traces.append(go.Scattermap(lon=[p[0] for p in ring], lat=[p[1] for p in ring],
                                        mode="lines", fill="toself", name=name, hoverinfo="skip",
                                        line={"color": "#CC79A7", "width": 2}))
    located = alert is not None and alert.get("lat") is not None and alert.get("lon") is not None
    if located:
        assert alert is not None
        traces.append(go.Scattermap(
            lat=[alert["lat"]], lon=[alert["lon"]], mode="markers", name=i18n.t("alerts.map_alert"),
            marker={"size": 16, "color": SEVERITY_COLOURS.get(alert["severity"], "#8C8C8C")},
            # Plotly reads <...> as markup and decodes &lt; &gt; &amp; but not &quot;: with the
            # brackets escaped no tag can form, so a quote is harmless and stays a quote.
            hovertext=[escape(alerts.shown_title(alert), quote=False)], hoverinfo="text"))
    center = (alert["lat"], alert["lon"]) if located else DEFAULT_CENTER  # type: ignore[index]
    figure = go.Figure(traces)
    # The city's own offline basemap (districts, roads, river) from assets/: no tiles, no glyphs.
    figure.update_layout(map={"style": "white-bg", "center": {"lat": center[0], "lon": center[1]},
                              "zoom": 13 if located else 10,
                              "layers": basemap_layers(lambda path: f"/assets/{path}")},
                         margin={"l": 0, "r": 0, "t": 0, "b": 0}, showlegend=False, height=220,
                         uirevision=(alert or {}).get("id", "none"),
                         paper_bgcolor="rgba(0,0,0,0)")
    return figure


def _map(alert: Mapping[str, Any], warning: Mapping[str, Any] | None) -> dcc.Graph | html.P:
    """The opened alert's map (the same id each time, so an update redraws it in place); for an
    alert that says nowhere (no position, no area, no warning's area) a sentence, not an empty
    map of the city."""
    if (alert.get("lat") is None or alert.get("lon") is None) and not _outer_rings(
            alert.get("area")) and not _outer_rings((warning or {}).get("area")):
        return html.P(i18n.t("place.no_place"), className="no-place")
    return dcc.Graph(id=ids.ALERT_MAP, className="alert-map", figure=alert_figure(alert, warning),
                     config=graph_config(displayModeBar=False, scrollZoom=True))


def _outer_rings(area: Mapping[str, Any] | None) -> list[list[list[float]]]:
    if not area:
        return []
    coords = area.get("coordinates") or []
    if area.get("type") == "Polygon":
        return [coords[0]] if coords else []
    if area.get("type") == "MultiPolygon":
        return [polygon[0] for polygon in coords if polygon]
    return []


def _detail_text(entry: Mapping[str, Any]) -> str:
    if entry["action"] == "escalate" and entry["detail"]:
        return i18n.t("alerts.unacked_for", seconds=entry["detail"])
    return str(entry["detail"])  # a person's note or a user's name: shown as written


def _timeline(entries: list[dict[str, Any]]) -> html.Ol:
    return html.Ol(className="timeline", children=[
        html.Li(className=f"tl-{e['action']}", children=[
            html.Span(format_time(e["at"], with_date=True), className="tl-time"),
            html.Span(actor_words(e["actor"]), className="tl-actor"),
            html.Span(i18n.label("action", e["action"]), className="tl-action"),
            html.Span(_detail_text(e), className="tl-detail") if e["detail"] else None,
            html.Span(i18n.t("alerts.from_addr", addr=addr_words(e["addr"])), className="tl-addr muted")
            if e["addr"] else None,
        ]) for e in reversed(entries)])


def _head(alert: Mapping[str, Any], warning: Mapping[str, Any] | None) -> list[Any]:
    t = i18n.t
    facts = [(t("alerts.fact_domain"), domain_title(alert["domain"])),
             (t("alerts.fact_first_seen"), format_time(alert["first_seen"], with_date=True)),
             (t("alerts.fact_last_seen"), format_time(alert["last_seen"], with_date=True)),
             (t("alerts.fact_acked_by"), alert["acked_by"] or "—"),
             (t("alerts.fact_assignee"), alert["assignee"] or "—")]
    if alert.get("escalated"):
        facts.append((t("alerts.fact_escalated"), format_time(alert["escalated_at"], with_date=True)))
    if warning is not None:
        facts.append((t("alerts.fact_in_area"), warning["title"]))
    declare = (_declare_link(alert["id"], ids.ALERT_DECLARE)
               if alert["state"] != CLOSED and incidents.may_declare(current_principal()) else None)
    return [
        html.Div(alert_panel.badges(alert), className="alert-badges"),
        html.H2(alerts.shown_title(alert), className="detail-title"),
        declare,
        html.P(alert["description"], className="detail-description") if alert["description"] else None,
        html.Dl([item for label, value in facts for item in (html.Dt(label), html.Dd(value))],
                className="facts"),
    ]


@require_roles(PAGE_ROLES)
def render_detail(selected: Mapping[str, Any] | None, _shown: Any,
                  _result: Any = None) -> tuple[Any, ...]:
    """Show the picked alert (kept current as it changes, and at once after this person acted:
    a claim or take-over shows its holder); buttons only for those who may act."""
    alert_id = (selected or {}).get("id") if isinstance(selected, dict) else None
    alert = None
    if isinstance(alert_id, str) and len(alert_id) < 40:
        try:
            r = redis_client()
            alert = alerts.get_alert(r, alert_id)
            story = alerts.timeline(r, alert_id) if alert else []
            warning = None
            if alert is not None:
                warnings = [a for a in alerts.list_alerts(r, open_only=True, limit=1000)
                            if a["source"] == "cap" and a["id"] != alert_id]
                probe = dict(alert)
                alerts.assign_groups(warnings + [probe])
                warning = next((w for w in warnings if w["id"] == probe.get("group")), None)
        except redis.RedisError:
            raise PreventUpdate from None
    if alert is None:
        return ("alert-detail", [], True, True, True, True, True, [], [], None,
                True, "")
    principal = current_principal()
    may = alerts.may_act(principal, alert)
    mode = selected.get("mode") if isinstance(selected, dict) else "view"
    sheet = "alert-detail open" + (" mode-ack" if mode == "ack" else "")
    closed = alert["state"] == CLOSED
    holder = alert["assignee"] or ""
    # "Take over" only when someone else holds it; its dialog names them.
    someone_else = bool(holder) and principal is not None and holder != principal.name
    return (sheet, _head(alert, warning), not may, not may or alert["state"] not in UNACKED,
            not may or closed, not may or closed, not may, _map(alert, warning),
            _timeline(story), alert["assignee"], not may or closed or not someone_else,
            i18n.t("alerts.take_over_confirm", user=holder) if someone_else else "")


# -- acting ------------------------------------------------------------------------------------------
@require_roles(alerts.ACTORS)
def act(_ack: int | None, _claim: int | None, _note: int | None, _resolve: int | None,
        _assign: int | None, _take_over: int | None, selected: Mapping[str, Any] | None,
        note: str | None,
        user: str | None, seen_assignee: str | None) -> tuple[Any, Any]:
    """Acknowledge, claim, assign, note or resolve the picked alert; a clear answer either way.

    A claim takes only an alert nobody holds (else it says who holds it, since when); taking it
    from them is "Take over", confirmed in a dialog naming them, and succeeds only if they still
    hold it; an assignment likewise only if the assignee is still the one the sheet showed.
    """
    button = ctx.triggered_id
    if button is None or not (ctx.triggered and ctx.triggered[0].get("value")):
        raise PreventUpdate
    alert_id = selected.get("id") if isinstance(selected, dict) else None
    if not isinstance(alert_id, str):
        return html.Span(i18n.t("alerts.pick_first"), className="error"), no_update
    if (note is not None and not isinstance(note, str)) or len(note or "") > MAX_NOTE:
        return html.Span(i18n.t_or("alerts.note_length", "A note of at most "
                                   f"{MAX_NOTE} characters, please.", max=MAX_NOTE),
                         className="error"), no_update
    note = note or ""
    r = redis_client()
    principal = current_principal()
    assert principal is not None  # require_roles refused anonymous callers
    expected = str(seen_assignee or "")
    if button == ids.ALERT_ACK:
        action, target, done = "ack", "", i18n.t("alerts.done_ack")
    elif button == ids.ALERT_CLAIM:
        action, target, done = "claim", "", i18n.t("alerts.done_claim")
    elif button == ids.ALERT_TAKEOVER_CONFIRM:
        action, target, done = "takeover", "", i18n.t("alerts.done_take_over", user=expected)
    elif button == ids.ALERT_ASSIGN:
        target = admin.enabled_user(r, user) or ""
        if not target:
            return html.Span(i18n.t("alerts.pick_user"), className="error"), no_update
        action, done = "assign", i18n.t("alerts.done_assign", user=target)
    elif button == ids.ALERT_ADD_NOTE:
        action, target, done = "note", "", i18n.t("alerts.done_note")
    elif button == ids.ALERT_RESOLVE_CONFIRM:
        action, target, done = "resolve", "", i18n.t("alerts.done_resolve")
    else:
        raise PreventUpdate
    try:
        alerts.act(r, principal, alert_id, action, text=note, user=target, expected=expected,
                   addr=client_addr())
    except alerts.AlertNotFound:
        return html.Span(i18n.t("alerts.gone"), className="error"), no_update
    except alerts.NotAssignable as exc:  # someone who could not act on it (issue 19)
        return alert_assign.refused(exc), no_update
    except alerts.NotPermitted as exc:
        # Lower case: the name sits mid-sentence in English; Chinese has no case to change.
        domain = domain_title(exc.domain).lower()
        return html.Span(i18n.t("alerts.not_permitted", domain=domain), className="error"), no_update
    except alerts.Conflict as exc:
        return alert_refusals.conflict(exc), no_update
    except alerts.AlertError as exc:
        return html.Span(str(exc), className="error"), no_update
    return html.Span(done, className="ok"), ""


def _number(value: Any) -> float | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError
    return float(value)


@require_roles(alerts.RAISERS)
def raise_incident(_clicks: int | None, title: str | None, domain: str | None,
                   severity: str | None, lat: Any, lon: Any, description: str | None) -> Any:
    """An operator raises an incident by hand; the form's values are checked like the API's."""
    if not _clicks:
        raise PreventUpdate
    title = title.strip() if isinstance(title, str) else ""
    if not title or len(title) > MAX_TITLE:
        return html.Span(i18n.t("alerts.title_length", max=MAX_TITLE), className="error")
    if (description is not None and not isinstance(description, str)) or (
            len(description or "") > MAX_DESCRIPTION):
        return html.Span(i18n.t_or("alerts.description_length", "A description of at most "
                                   f"{MAX_DESCRIPTION} characters, please.",
                                   max=MAX_DESCRIPTION), className="error")
    if domain not in DOMAINS or severity not in SEVERITIES:
        return html.Span(i18n.t("alerts.pick_domain_severity"), className="error")
    try:
        lat_value, lon_value = _number(lat), _number(lon)
    except ValueError:
        return html.Span(i18n.t("alerts.not_numbers"), className="error")
    if (lat_value is None) != (lon_value is None) or (
            lat_value is not None and not (-90 <= lat_value <= 90 and -180 <= lon_value <= 180)):  # type: ignore[operator]
        return html.Span(i18n.t("alerts.both_or_neither"), className="error")
    principal = current_principal()
    assert principal is not None
    alert = alerts.raise_manual(redis_client(), title=title, domain=domain, severity=severity,
                                lat=lat_value, lon=lon_value,
                                description=description or "",
                                actor=principal.name, addr=client_addr())
    return html.Span(i18n.t("alerts.raised", title=alert["title"]), className="ok")


def register(app: dash.Dash) -> None:
    """Register the page with Dash Pages, its callbacks and the shared alert panel's."""
    alert_panel.register(app)
    alert_bulk.register(app)
    alert_assign.register(app)
    alert_filters.register(app)
    dash.register_page(__name__, path=PATH, name="Alerts", title=tab_title(PATH),
                       layout=layout)
    app.callback(Output(ids.ALERTS_LIST, "children"), Output(ids.ALERTS_SHOWN, "data"),
                 Input(ids.ALERT_PANEL_SHOWN, "data"), Input(ids.ALERTS_FILTER_DOMAIN, "value"),
                 Input(ids.ALERTS_FILTER_SEVERITY, "value"), Input(ids.ALERTS_FILTER_STATE, "value"),
                 Input(ids.ALERTS_ORDER, "value"), Input(ids.ALERTS_COUNT_PICKED, "data"),
                 State(ids.ALERTS_SHOWN, "data"),
                 State({"type": ids.ALERT_SELECT, "index": ALL}, "value"))(refresh_list)
    app.callback(Output(ids.ALERT_SELECTED, "data"),
                 Output(ids.ALERT_RESULT, "children", allow_duplicate=True),
                 Input({"type": ids.ALERT_ACK_START, "index": ALL}, "n_clicks"),
                 Input({"type": ids.ALERT_PICK, "index": ALL}, "n_clicks"),
                 Input(ids.ALERT_DETAIL_CLOSE, "n_clicks"), prevent_initial_call=True)(select)
    app.callback(Output(ids.ALERT_DETAIL, "className"), Output(ids.ALERT_DETAIL_HEAD, "children"),
                 Output(ids.ALERT_ACTIONS, "hidden"), Output(ids.ALERT_ACK, "hidden"),
                 Output(ids.ALERT_CLAIM, "hidden"), Output(ids.ALERT_RESOLVE, "hidden"),
                 Output(ids.ALERT_ADD_NOTE, "hidden"), Output(ids.ALERT_MAP_HOLDER, "children"),
                 Output(ids.ALERT_TIMELINE, "children"), Output(ids.ALERT_SEEN_ASSIGNEE, "data"),
                 Output(ids.ALERT_TAKEOVER, "hidden"), Output(ids.ALERT_TAKEOVER_CONFIRM, "message"),
                 Input(ids.ALERT_SELECTED, "data"), Input(ids.ALERTS_SHOWN, "data"),
                 Input(ids.ALERT_RESULT, "children"),
                 prevent_initial_call=True)(render_detail)
    app.callback(Output(ids.ALERT_RESULT, "children"), Output(ids.ALERT_NOTE, "value"),
                 Input(ids.ALERT_ACK, "n_clicks"), Input(ids.ALERT_CLAIM, "n_clicks"),
                 Input(ids.ALERT_ADD_NOTE, "n_clicks"),
                 Input(ids.ALERT_RESOLVE_CONFIRM, "submit_n_clicks"),
                 Input(ids.ALERT_ASSIGN, "n_clicks"),
                 Input(ids.ALERT_TAKEOVER_CONFIRM, "submit_n_clicks"),
                 State(ids.ALERT_SELECTED, "data"), State(ids.ALERT_NOTE, "value"),
                 State(ids.ALERT_ASSIGN_USER, "value"), State(ids.ALERT_SEEN_ASSIGNEE, "data"),
                 prevent_initial_call=True)(act)
    app.callback(Output(ids.ALERT_NEW_RESULT, "children"), Input(ids.ALERT_NEW_RAISE, "n_clicks"),
                 State(ids.ALERT_NEW_TITLE, "value"), State(ids.ALERT_NEW_DOMAIN, "value"),
                 State(ids.ALERT_NEW_SEVERITY, "value"), State(ids.ALERT_NEW_LAT, "value"),
                 State(ids.ALERT_NEW_LON, "value"), State(ids.ALERT_NEW_DESCRIPTION, "value"),
                 prevent_initial_call=True)(raise_incident)
