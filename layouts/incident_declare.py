"""Declaring incidents on /incidents: the form (from alerts, or from nothing: a phone call) and the
proposals the system made from clustered alerts, which an operator accepts or dismisses.

Only operators and admins see these (``app.incidents.may_declare``); the callbacks are guarded for
them and the service checks again. The form opened from an alert (``?declare=<ids>``) starts with
those alerts, the gravest one's title and the type their words suggest; the level is left to the
service unless chosen (the graver of the type's and the alerts'), and so is the area (the first
CAP warning's area among the alerts, else the first located alert's position), which the form
shows until another place is chosen.

The place is found by name (``app.situation.places``: stops, hospitals, water sensors, streets,
districts) or by a click on the form's map (assets/place_pick.js hands the point over), and shown
in words and on the map with its radius; typed coordinates stay possible, folded away. A pick
fills the coordinate fields, which are what the form sends.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import dash
import redis
from dash import ALL, Input, Output, State, ctx, dcc, html, no_update
from dash.exceptions import PreventUpdate

from app import alerts, i18n, incidents
from app.accounts import admin
from app.incidents import areas
from app.incidents.policy import COMMANDER_ROLES
from app.incidents.proposals import suggested_type
from app.model.alerts import SEVERITY_RANK
from app.model.geo import valid_position
from app.model.incidents import (
    MAX_DESCRIPTION,
    MAX_NOTE,
    MAX_RADIUS_M,
    MAX_TITLE,
    MIN_RADIUS_M,
    PROPOSAL_ID,
)
from app.situation import places
from app.web.context import client_addr, current_principal, redis_client, require_roles
from layouts import ids, linkage_panel
from layouts.components import domain_title, dropdown_labels, graph_config
from layouts.incident_parts import (
    catalogue,
    done,
    kind_name,
    level_badge,
    level_options,
    number,
    numbered,
    problem,
    refusal,
    type_options,
    when,
)


def _may_declare() -> bool:
    return incidents.may_declare(current_principal())


def _alert_options(r: redis.Redis, chosen: Sequence[str]) -> list[dict[str, str]]:
    """Open alerts (and any chosen one) as options named by title, domain and time."""
    found = {a["id"]: a for a in alerts.list_alerts(r, open_only=True, limit=300)}
    for alert_id in chosen:
        if alert_id not in found:
            alert = alerts.get_alert(r, alert_id)
            if alert is not None:
                found[alert_id] = alert
    return [{"label": f"{a['title']} · {domain_title(a['domain'])} · {when(a.get('last_seen'))}",
             "value": a["id"]} for a in found.values()]


def declare_form(alert_ids: Sequence[str]) -> html.Details:
    """The declaration form, open when the page came from an alert's "Declare an incident"."""
    t = i18n.t
    if not _may_declare():
        return html.Details(id=ids.DECLARE_FORM, hidden=True)
    r = redis_client()
    chosen = [a for a in (alerts.get_alert(r, i) for i in alert_ids) if a is not None]
    gravest = min(chosen, key=lambda a: SEVERITY_RANK.get(a["severity"], 9)) if chosen else None
    found = catalogue()
    kind = suggested_type(chosen, found) if chosen else None
    commanders = [u["name"] for u in admin.list_users(r)
                  if u.get("disabled") != "1" and u.get("role") in COMMANDER_ROLES]
    principal = current_principal()
    return html.Details(id=ids.DECLARE_FORM, className="card declare-form", open=bool(chosen),
                        children=[
        html.Summary(t("incident.declare_summary")),
        html.Label(t("incident.field.title"), htmlFor=ids.DECLARE_TITLE),
        dcc.Input(id=ids.DECLARE_TITLE, type="text", maxLength=MAX_TITLE,
                  value=gravest["title"] if gravest else ""),
        html.Div(className="form-row", children=[
            html.Div([html.Label(t("incident.field.type"), htmlFor=ids.DECLARE_TYPE),
                      dcc.Dropdown(id=ids.DECLARE_TYPE, options=type_options(found), value=kind,
                                   clearable=False, placeholder=t("incident.pick_type"))]),
            html.Div([html.Label(t("incident.field.level"), htmlFor=ids.DECLARE_LEVEL),
                      dcc.Dropdown(id=ids.DECLARE_LEVEL, options=level_options(),
                                   placeholder=t("incident.level_from_type"),
                                   searchable=False)]),
        ]),
        html.Label(t("incident.field.commander"), htmlFor=ids.DECLARE_COMMANDER),
        dcc.Dropdown(id=ids.DECLARE_COMMANDER, options=commanders, clearable=False,
                     value=principal.name if principal else None),
        html.Label(t("incident.field.alerts"), htmlFor=ids.DECLARE_ALERTS),
        dcc.Dropdown(id=ids.DECLARE_ALERTS, multi=True, labels=dropdown_labels(),
                     options=_alert_options(r, alert_ids),
                     value=[a["id"] for a in chosen], placeholder=t("incident.no_alerts_call")),
        _place_picker(found.radius_m, chosen),
        html.Label(t("incident.field.description"), htmlFor=ids.DECLARE_DESCRIPTION),
        dcc.Textarea(id=ids.DECLARE_DESCRIPTION, maxLength=MAX_DESCRIPTION, rows=3),
        html.Button(t("incident.declare_button"), id=ids.DECLARE_SUBMIT, className="btn"),
        html.Div(id=ids.DECLARE_RESULT, role="status", className="action-result"),
    ])


# -- the place -----------------------------------------------------------------------------------------
def _place_picker(default_radius_m: float, chosen: Sequence[Mapping[str, Any]]) -> html.Fieldset:
    """Where it happened: a search by name, a map to click, the radius, the place in words, and
    the coordinates folded away for those who have them (the fields the form sends)."""
    t = i18n.t
    figure, words = _place_view(None, None, None, None, chosen, default_radius_m)
    return html.Fieldset(className="place-picker", children=[
        html.Legend(t("place.field")),
        html.P(t("incident.area_hint"), className="muted"),
        html.Label(t("place.search_label"), htmlFor=ids.DECLARE_PLACE_QUERY),
        dcc.Input(id=ids.DECLARE_PLACE_QUERY, type="search", debounce=0.3, autoComplete="off",
                  maxLength=places.MAX_QUERY, placeholder=t("place.search_placeholder"),
                  className="place-query"),
        html.Div(id=ids.DECLARE_PLACE_RESULTS, className="place-results",
                 **{"aria-label": t("place.results")}),
        html.Div(words, id=ids.DECLARE_PLACE_WORDS, className="place-words", role="status"),
        html.Div(t("place.map_label"), className="place-map-label"),
        dcc.Graph(id=ids.DECLARE_MAP, className="declare-map", figure=figure,
                  config=graph_config(displayModeBar=False, scrollZoom=True)),
        html.Div(className="place-radius", children=[
            html.Label(t("incident.field.radius"), htmlFor=ids.DECLARE_RADIUS),
            dcc.Input(id=ids.DECLARE_RADIUS, type="number", min=MIN_RADIUS_M, max=MAX_RADIUS_M,
                      step="any", placeholder=f"{default_radius_m:g}"),
            html.Button(t("place.clear"), id=ids.DECLARE_PLACE_CLEAR,
                        className="btn btn-secondary"),
        ]),
        html.Details(id=ids.DECLARE_COORDINATES, className="place-coordinates", children=[
            html.Summary(t("place.enter_coordinates")),
            html.Div(className="form-row", children=[
                html.Div([html.Label(t("incident.field.lat"), htmlFor=ids.DECLARE_LAT),
                          dcc.Input(id=ids.DECLARE_LAT, type="number", min=-90, max=90,
                                    step="any")]),
                html.Div([html.Label(t("incident.field.lon"), htmlFor=ids.DECLARE_LON),
                          dcc.Input(id=ids.DECLARE_LON, type="number", min=-180, max=180,
                                    step="any")]),
            ]),
        ]),
        dcc.Store(id=ids.DECLARE_PLACE_FOUND), dcc.Store(id=ids.DECLARE_PLACE_NAME),
        dcc.Store(id=ids.DECLARE_MAP_CLICK),
    ])


def _named(name: Any, lat: float, lon: float) -> str | None:
    """"Near <name> (<kind>)" when the picked place is where the fields say (typing other
    coordinates leaves the name behind)."""
    if not isinstance(name, dict) or not isinstance(name.get("name"), str):
        return None
    try:
        same = abs(float(name["lat"]) - lat) < 1e-6 and abs(float(name["lon"]) - lon) < 1e-6
    except (KeyError, TypeError, ValueError):
        return None
    return i18n.t("place.near", name=name["name"], kind=str(name.get("kind_words", ""))) if (
        same) else None


def _place_view(lat: Any, lon: Any, radius: Any, name: Any, chosen: Sequence[Mapping[str, Any]],
                default_radius_m: float) -> tuple[dict[str, Any], list[Any]]:
    """The map (the place, its circle) and the place in words: what was picked or typed, else
    the alerts' place (which the service takes when none is entered), else none yet."""
    t = i18n.t
    try:
        lat_value, lon_value, radius_value = number(lat), number(lon), number(radius)
    except ValueError:
        return linkage_panel.figure(None, None), [html.P(t("alerts.not_numbers"),
                                                         className="place-problem")]
    radius_m = radius_value if radius_value and radius_value > 0 else default_radius_m
    prefix = None
    if lat_value is None or lon_value is None or not valid_position(lat_value, lon_value):
        taken = areas.from_alerts(chosen, radius_m)
        if taken is None or taken.lat is None or taken.lon is None:
            return linkage_panel.figure(None, None), [html.P(t("place.not_chosen"),
                                                             className="muted")]
        lat_value, lon_value, prefix = taken.lat, taken.lon, taken
        headline = t("place.alert_area") if taken.polygon else (
            _near_words(lat_value, lon_value) or places.coordinates_words(lat_value, lon_value))
        headline = t("place.from_alerts", place=headline)
    else:
        headline = _named(name, lat_value, lon_value) or places.coordinates_words(lat_value,
                                                                                  lon_value)
    spot = {"id": f"{lat_value:.6f},{lon_value:.6f},{radius_m:g}", "lat": lat_value,
            "lon": lon_value, "radius_m": radius_m,
            "area": prefix.polygon if prefix is not None else None}
    figure = linkage_panel.figure(spot, None)
    figure["data"].append({"type": "scattermap", "mode": "markers", "lat": [lat_value],
                           "lon": [lon_value], "name": t("place.marker"), "hoverinfo": "skip",
                           "marker": {"size": 16, "color": linkage_panel.AREA_COLOUR}})
    figure["layout"]["showlegend"] = False
    # One step further out than the incident's own map: the form's map is small, and the circle
    # should fit in it with some streets around.
    figure["layout"]["map"]["zoom"] -= 1
    details = f"{places.coordinates_words(lat_value, lon_value)} · " + t(
        "place.within", radius=linkage_panel.distance(radius_m))
    return figure, [html.Strong(headline, className="place-headline"),
                    html.Span(details, className="place-details muted")]


def _near_words(lat: float, lon: float) -> str | None:
    """"Near <name> (<kind>)" for the closest known place, or None."""
    try:
        near = places.nearest(redis_client(), lat, lon)
    except redis.RedisError:
        return None
    return i18n.t("place.near", name=near.name, kind=near.kind_words) if near else None


@require_roles(incidents.DECLARERS)
def find_places(query: str | None) -> tuple[Any, Any]:
    """The places whose name holds what was typed, as buttons (names shown as text)."""
    if not isinstance(query, str) or not query.strip():
        return [], []
    try:
        found = places.search(redis_client(), query)
    except redis.RedisError:
        raise PreventUpdate from None
    if not found:
        return [html.P(i18n.t("place.none_found"), className="muted")], []
    return [html.Button(id={"type": ids.DECLARE_PLACE_OPTION, "index": n},
                        className="place-option", children=[
                            html.Span(f.name, className="place-name"),
                            html.Span(f.kind_words, className="place-kind")])
            for n, f in enumerate(found)], [f.as_json() for f in found]


@require_roles(incidents.DECLARERS)
def pick_place(_options: list[int | None], click: Any, _clear: int | None,
               found: Any) -> tuple[Any, Any, Any, Any]:
    """Set the place: a place found by name, a point clicked on the map (named after the known
    place it is near), or none ("Clear the place")."""
    trigger = ctx.triggered_id
    if trigger == ids.DECLARE_PLACE_CLEAR:
        return None, None, None, ""
    if trigger == ids.DECLARE_MAP_CLICK:
        try:
            lat, lon = round(float(click["lat"]), 6), round(float(click["lon"]), 6)
        except (KeyError, TypeError, ValueError):
            raise PreventUpdate from None
        if not valid_position(lat, lon):
            raise PreventUpdate
        try:
            near = places.nearest(redis_client(), lat, lon)
        except redis.RedisError:
            near = None
        name = {"name": near.name, "kind_words": near.kind_words, "lat": lat,
                "lon": lon} if near else None
        return lat, lon, name, no_update
    if not isinstance(trigger, dict) or not (ctx.triggered and ctx.triggered[0].get("value")):
        raise PreventUpdate  # new buttons appearing are not clicks
    index = trigger.get("index")
    if not isinstance(found, list) or not isinstance(index, int) or not 0 <= index < len(found):
        raise PreventUpdate
    place = found[index]
    try:
        lat, lon = round(float(place["lat"]), 6), round(float(place["lon"]), 6)
    except (KeyError, TypeError, ValueError):
        raise PreventUpdate from None
    name = {"name": str(place.get("name", "")), "kind_words": str(place.get("kind_words", "")),
            "lat": lat, "lon": lon}
    return lat, lon, name, ""


@require_roles(incidents.DECLARERS)
def show_place(lat: Any, lon: Any, radius: Any, alert_ids: Any, name: Any) -> tuple[Any, Any]:
    """Redraw the map and the words when the place, the radius or the alerts change."""
    try:
        r = redis_client()
        chosen = [a for a in (alerts.get_alert(r, i) for i in (alert_ids or [])[:50]
                              if isinstance(i, str) and len(i) < 40) if a is not None]
        return _place_view(lat, lon, radius, name, chosen, catalogue().radius_m)
    except redis.RedisError:
        raise PreventUpdate from None


# -- proposals ----------------------------------------------------------------------------------------
def proposals_card() -> html.Section:
    """The proposals the system made, for operators and admins to judge (drawn by the poll)."""
    t = i18n.t
    if not _may_declare():
        return html.Section(hidden=True, children=[html.Div(id=ids.PROPOSALS)])
    return html.Section(className="card proposals-card", children=[
        html.H2(t("incident.proposals")),
        html.Div(id=ids.PROPOSALS, className="proposal-lines", role="list"),
        dcc.Textarea(id=ids.PROPOSAL_REASON, rows=1, maxLength=MAX_NOTE,
                     placeholder=t("incident.dismiss_reason")),
        html.Div(id=ids.PROPOSAL_RESULT, role="status", className="action-result"),
    ])


def _proposal_line(proposal: Mapping[str, Any]) -> html.Div:
    t = i18n.t
    domains = ", ".join(domain_title(d) for d in proposal["domains"])
    return html.Div(className="proposal-line", role="listitem",
                    **{"data-proposal": proposal["id"]}, children=[
        html.Div([level_badge(proposal["level"]),
                  html.Span(proposal["title"], className="proposal-title")],
                  className="incident-badges"),
        html.Div(t("proposal.summary", count=len(proposal["alerts"]),
                   domains=len(proposal["domains"])), className="muted"),
        html.Div(t("incident.proposal_facts", type=kind_name(proposal["suggested_type"]),
                   domains=domains, time=when(proposal.get("updated_at"))), className="muted"),
        html.Div(className="card-actions", children=[
            html.Button(t("incident.accept"), id={"type": ids.PROPOSAL_ACCEPT,
                                                  "index": proposal["id"]}, className="btn"),
            html.Button(t("incident.dismiss"), id={"type": ids.PROPOSAL_DISMISS,
                                                   "index": proposal["id"]},
                        className="btn btn-secondary"),
        ]),
    ])


def proposal_lines(r: redis.Redis) -> list[Any]:
    """The pending proposals (nothing for those who may not judge them)."""
    if not _may_declare():
        return []
    pending = incidents.list_proposals(r, pending_only=True, limit=50)
    if not pending:
        return [html.P(i18n.t("incident.no_proposals"), className="muted")]
    return [_proposal_line(p) for p in pending]


@require_roles(incidents.DECLARERS)
def judge(_accept: list[int | None], _dismiss: list[int | None],
          reason: str | None) -> tuple[Any, Any, Any]:
    """Accept a proposal (the incident is declared from its alerts and opened) or dismiss it."""
    button = ctx.triggered_id
    if not isinstance(button, dict) or not (ctx.triggered and ctx.triggered[0].get("value")):
        raise PreventUpdate
    proposal_id = button.get("index")
    if not isinstance(proposal_id, str) or not PROPOSAL_ID.match(proposal_id):
        raise PreventUpdate
    principal = current_principal()
    assert principal is not None
    r = redis_client()
    try:
        if button.get("type") == ids.PROPOSAL_ACCEPT:
            incident = incidents.accept(r, principal, catalogue(), proposal_id, addr=client_addr())
            return done("incident.done_declare", title=numbered(incident)), incident["id"], None
        incidents.dismiss(r, principal, proposal_id, reason if isinstance(reason, str) else "",
                          addr=client_addr())
    except incidents.IncidentError as exc:
        return refusal(exc), no_update, None
    return done("incident.done_dismiss"), no_update, None


@require_roles(incidents.DECLARERS)
def declare(_clicks: int | None, title: str | None, kind: str | None, level: str | None,
            commander: str | None, alert_ids: list[str] | None, lat: Any, lon: Any, radius: Any,
            description: str | None) -> tuple[Any, Any, Any, Any]:
    """Declare an incident from the form; the new incident's detail opens."""
    if not _clicks:
        raise PreventUpdate
    title = title.strip() if isinstance(title, str) else ""
    if not title or len(title) > MAX_TITLE:
        return problem("alerts.title_length", max=MAX_TITLE), no_update, no_update, no_update
    if not isinstance(kind, str) or not kind:
        return problem("incident.pick_type"), no_update, no_update, no_update
    if description is not None and not isinstance(description, str):
        return (problem("alerts.description_length", max=MAX_DESCRIPTION), no_update, no_update,
                no_update)
    try:
        lat_value, lon_value, radius_value = number(lat), number(lon), number(radius)
    except ValueError:
        return problem("alerts.not_numbers"), no_update, no_update, no_update
    if (lat_value is None) != (lon_value is None):
        return problem("alerts.both_or_neither"), no_update, no_update, no_update
    chosen = [a for a in (alert_ids or []) if isinstance(a, str)]
    principal = current_principal()
    assert principal is not None
    try:
        incident = incidents.declare(
            redis_client(), principal, catalogue(), title=title, kind=kind,
            level=level if isinstance(level, str) else "",
            commander=commander if isinstance(commander, str) else "", alert_ids=chosen,
            lat=lat_value, lon=lon_value, radius_m=radius_value,
            description=description or "", addr=client_addr())
    except incidents.IncidentError as exc:
        return refusal(exc), no_update, no_update, no_update
    # The form folds away: the new incident's detail is what the operator reads next.
    return done("incident.done_declare", title=numbered(incident)), incident["id"], None, False


def register(app: dash.Dash) -> None:
    """The form's and the proposals' callbacks (the page's poll draws the proposals)."""
    app.callback(Output(ids.DECLARE_PLACE_RESULTS, "children"),
                 Output(ids.DECLARE_PLACE_FOUND, "data"),
                 Input(ids.DECLARE_PLACE_QUERY, "value"), prevent_initial_call=True)(find_places)
    app.callback(Output(ids.DECLARE_LAT, "value"), Output(ids.DECLARE_LON, "value"),
                 Output(ids.DECLARE_PLACE_NAME, "data"), Output(ids.DECLARE_PLACE_QUERY, "value"),
                 Input({"type": ids.DECLARE_PLACE_OPTION, "index": ALL}, "n_clicks"),
                 Input(ids.DECLARE_MAP_CLICK, "data"), Input(ids.DECLARE_PLACE_CLEAR, "n_clicks"),
                 State(ids.DECLARE_PLACE_FOUND, "data"), prevent_initial_call=True)(pick_place)
    app.callback(Output(ids.DECLARE_MAP, "figure"), Output(ids.DECLARE_PLACE_WORDS, "children"),
                 Input(ids.DECLARE_LAT, "value"), Input(ids.DECLARE_LON, "value"),
                 Input(ids.DECLARE_RADIUS, "value"), Input(ids.DECLARE_ALERTS, "value"),
                 Input(ids.DECLARE_PLACE_NAME, "data"), prevent_initial_call=True)(show_place)
    app.callback(Output(ids.DECLARE_RESULT, "children"),
                 Output(ids.INCIDENT_SELECTED, "data", allow_duplicate=True),
                 Output(ids.INCIDENTS_SHOWN, "data", allow_duplicate=True),
                 Output(ids.DECLARE_FORM, "open"),
                 Input(ids.DECLARE_SUBMIT, "n_clicks"), State(ids.DECLARE_TITLE, "value"),
                 State(ids.DECLARE_TYPE, "value"), State(ids.DECLARE_LEVEL, "value"),
                 State(ids.DECLARE_COMMANDER, "value"), State(ids.DECLARE_ALERTS, "value"),
                 State(ids.DECLARE_LAT, "value"), State(ids.DECLARE_LON, "value"),
                 State(ids.DECLARE_RADIUS, "value"), State(ids.DECLARE_DESCRIPTION, "value"),
                 prevent_initial_call=True)(declare)
    app.callback(Output(ids.PROPOSAL_RESULT, "children"),
                 Output(ids.INCIDENT_SELECTED, "data", allow_duplicate=True),
                 Output(ids.INCIDENTS_SHOWN, "data", allow_duplicate=True),
                 Input({"type": ids.PROPOSAL_ACCEPT, "index": ALL}, "n_clicks"),
                 Input({"type": ids.PROPOSAL_DISMISS, "index": ALL}, "n_clicks"),
                 State(ids.PROPOSAL_REASON, "value"), prevent_initial_call=True)(judge)
