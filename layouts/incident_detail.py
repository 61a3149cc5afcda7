"""An incident's detail on /incidents: its facts, every task at once, where it is with the linkage
panel, its alerts, the changes the policy allows, and its timeline.

The detail is drawn from the store each time the incidents' version moves (the page's poll) and
shows only the buttons this person may use (``app.incidents.policy``); every change goes through
the service, which checks again, so a crafted request meets the same rules. A change carries the
incident's version the detail showed: someone else's change in between is a conflict that says
who and when, never a silent overwrite. Inputs people type into stay as typed while the detail
redraws (only lists, labels and options are redrawn).
"""

from __future__ import annotations

from typing import Any, Mapping

import dash
import redis
from dash import ALL, Input, Output, State, ctx, dcc, html, no_update
from dash.exceptions import PreventUpdate

from app import accounts, alerts, i18n, incidents
from app.accounts import admin
from app.incidents.policy import COMMANDER_ROLES
from app.model import roles
from app.model.incidents import (
    CLOSED,
    INCIDENT_ID,
    LEVELS,
    MAX_AREA_TEXT,
    MAX_DUE_MINUTES,
    MAX_NOTE,
    MAX_TITLE,
    TASK_ID,
    TASK_OPEN,
    TRANSITIONS,
)
from app.situation import places
from app.web.context import client_addr, current_principal, redis_client, require_roles
from layouts import ids, linkage_panel
from layouts.components import domain_title, graph_config
from layouts.incident_parts import (
    catalogue,
    department_name,
    department_options,
    done,
    level_badge,
    level_options,
    number,
    numbered,
    problem,
    progress,
    refusal,
    status_badge,
    task_facts,
    task_state_badge,
    task_title,
    timeline,
    type_name,
    when,
)

PAGE_ROLES = roles.PAGE_BY_PATH["/incidents"].roles
TASK_BUTTONS: tuple[tuple[str, str], ...] = (("take", "task.take"), ("finish", "task.finish"),
                                             ("cannot", "task.cannot"))
# The words of the button that moves an incident from one status to the next.
STATUS_BUTTONS: dict[tuple[str, str], str] = {
    ("declared", "responding"): "incident.to.responding",
    ("declared", "closed"): "incident.to.false_alarm",
    ("responding", "stabilised"): "incident.to.stabilised",
    ("stabilised", "responding"): "incident.to.flared_up",
    ("stabilised", "closed"): "incident.to.closed",
}
MAP_CLASS = "incident-map"
NO_PLACE_MAP_CLASS = "incident-map no-place-map"  # hidden (assets/incidents.css)


def _row(label_key: str, *children: Any, for_id: str | None = None) -> html.Div:
    return html.Div(className="change-row", children=[
        html.Label(i18n.t(label_key), htmlFor=for_id) if for_id else html.Span(
            i18n.t(label_key), className="change-label"),
        html.Div(list(children), className="change-controls"),
    ])


def _actions() -> html.Div:
    """The changes of an incident (shown to whoever may make them): status, level, commander,
    public warning, area, a step, a note, linking an alert. The inputs are never redrawn."""
    t = i18n.t
    return html.Div(id=ids.INCIDENT_ACTIONS, className="incident-actions", hidden=True, children=[
        html.H3(t("incident.actions")),
        html.Div(className="change-rows", children=[
            _row("incident.field.status", html.Div(id=ids.INCIDENT_STATUS_BUTTONS,
                                                   className="action-row")),
            _row("incident.field.level",
                 dcc.Dropdown(id=ids.INCIDENT_LEVEL, options=level_options(), clearable=False,
                              searchable=False, placeholder=t("incident.pick_level")),
                 html.Button(t("incident.set_level"), id=ids.INCIDENT_LEVEL_SET,
                             className="btn btn-secondary"), for_id=ids.INCIDENT_LEVEL),
            _row("incident.field.commander",
                 dcc.Dropdown(id=ids.INCIDENT_COMMANDER, options=[], clearable=False,
                              placeholder=t("incident.pick_commander")),
                 html.Button(t("incident.set_commander"), id=ids.INCIDENT_COMMANDER_SET,
                             className="btn btn-secondary"), for_id=ids.INCIDENT_COMMANDER),
            _row("incident.field.public",
                 html.Div(id=ids.INCIDENT_PUBLIC_TEXT, className="public-text"),
                 html.Button(id=ids.INCIDENT_PUBLIC_SET, className="btn btn-secondary")),
            _row("incident.field.area",
                 html.Div(className="form-row form-row-3", children=[
                     dcc.Input(id=ids.INCIDENT_AREA_LAT, type="number", min=-90, max=90, step="any",
                               placeholder=t("alerts.field_lat")),
                     dcc.Input(id=ids.INCIDENT_AREA_LON, type="number", min=-180, max=180,
                               step="any", placeholder=t("alerts.field_lon")),
                     dcc.Input(id=ids.INCIDENT_AREA_RADIUS, type="number", min=10, max=50000,
                               step="any", placeholder=t("incident.field.radius")),
                 ]),
                 dcc.Textarea(id=ids.INCIDENT_AREA_SHAPE, rows=2, maxLength=MAX_AREA_TEXT,
                              placeholder=t("incident.shape_placeholder")),
                 html.Button(t("incident.set_area"), id=ids.INCIDENT_AREA_SET,
                             className="btn btn-secondary")),
            _row("incident.add_step",
                 dcc.Input(id=ids.INCIDENT_STEP_TITLE, type="text", maxLength=MAX_TITLE,
                           placeholder=t("incident.step_title")),
                 html.Div(className="form-row", children=[
                     dcc.Dropdown(id=ids.INCIDENT_STEP_DEPARTMENT, options=[], clearable=False,
                                  placeholder=t("incident.pick_department")),
                     dcc.Input(id=ids.INCIDENT_STEP_DUE, type="number", min=0, max=MAX_DUE_MINUTES,
                               step=1, placeholder=t("incident.step_due")),
                 ]),
                 dcc.Checklist(id=ids.INCIDENT_STEP_REQUIRED, value=["yes"],
                               options=[{"label": t("incident.step_required"), "value": "yes"}]),
                 html.Button(t("incident.add_step_button"), id=ids.INCIDENT_STEP_ADD,
                             className="btn btn-secondary")),
            _row("incident.link_alert",
                 dcc.Dropdown(id=ids.INCIDENT_LINK_ALERT, options=[],
                              placeholder=t("incident.pick_alert")),
                 html.Button(t("incident.link"), id=ids.INCIDENT_LINK,
                             className="btn btn-secondary"), for_id=ids.INCIDENT_LINK_ALERT),
        ]),
        _row("incident.field.note",
             dcc.Textarea(id=ids.INCIDENT_NOTE, rows=2, maxLength=MAX_NOTE,
                          placeholder=t("incident.note_placeholder")),
             html.Button(t("alerts.add_note"), id=ids.INCIDENT_NOTE_ADD,
                         className="btn btn-secondary"), for_id=ids.INCIDENT_NOTE),
    ])


def detail_sheet() -> html.Aside:
    """The detail's frame: the parts the callbacks fill in, in the order a commander reads."""
    t = i18n.t
    return html.Aside(id=ids.INCIDENT_DETAIL, className="incident-detail", children=[
        html.Button(t("alerts.close"), id=ids.INCIDENT_DETAIL_CLOSE,
                    className="btn-link detail-close", **{"aria-label": t("incident.close_label")}),
        html.Div(id=ids.INCIDENT_HEAD),
        html.Div(id=ids.INCIDENT_RESULT, role="status", className="action-result"),
        html.Section(className="incident-section", children=[
            html.H3(t("incident.tasks")),
            html.Div(id=ids.INCIDENT_TASKS, className="task-rows"),
            dcc.Textarea(id=ids.INCIDENT_TASK_REASON, rows=2, maxLength=MAX_NOTE,
                         className="task-reason-input", placeholder=t("task.reason_placeholder")),
        ]),
        html.Section(className="incident-section incident-where", children=[
            html.H3(t("incident.where")),
            dcc.Graph(id=ids.INCIDENT_MAP, className=MAP_CLASS,
                      figure=linkage_panel.figure(None, None),
                      config=graph_config(displayModeBar=False, scrollZoom=True)),
            html.Div(id=ids.INCIDENT_LINKAGE, className="linkage-panel"),
        ]),
        html.Section(className="incident-section", children=[
            html.H3(t("incident.alerts")), html.Div(id=ids.INCIDENT_ALERTS)]),
        _actions(),
        html.Section(className="incident-section", children=[
            html.H3(t("incident.timeline")), html.Div(id=ids.INCIDENT_TIMELINE)]),
        dcc.Store(id=ids.INCIDENT_SEEN),
    ])


# -- drawing ------------------------------------------------------------------------------------------
def _area_words(incident: Mapping[str, Any]) -> str:
    if incident.get("area"):
        return i18n.t("incident.area_shape")
    if incident.get("lat") is None:
        return i18n.t("incident.area_none")
    return places.coordinates_words(float(incident["lat"]), float(incident["lon"])) + " · " + (
        i18n.t("place.within", radius=linkage_panel.distance(incident.get("radius_m"))))


def _head(incident: Mapping[str, Any]) -> list[Any]:
    t = i18n.t
    badges: list[Any] = [level_badge(incident["level"]), status_badge(incident["status"])]
    if incident.get("public"):
        badges.append(html.Span(t("incident.public_badge"), className="public-badge"))
    facts = [(t("incident.field.type"), type_name(incident)),
             (t("incident.field.commander"), incident["commander"]),
             (t("incident.declared"), t("incident.by_at", user=incident.get("declared_by") or "—",
                                         time=when(incident.get("declared_at")))),
             (t("incident.source"), i18n.label("incident_source", incident.get("source", ""))),
             (t("incident.field.area"), _area_words(incident))]
    if incident.get("status_by"):
        facts.append((t("incident.status_set"), t("incident.by_at", user=incident["status_by"],
                                                   time=when(incident.get("status_at")))))
    iid = incident["id"]
    return [
        html.Div(badges, className="incident-badges"),
        html.H2(numbered(incident), className="detail-title"),
        html.P(incident["description"], className="detail-description")
        if incident.get("description") else None,
        progress(incident["tasks"]),
        html.Dl([item for label, value in facts for item in (html.Dt(label), html.Dd(value))],
                className="facts"),
        html.Div(className="detail-links", children=[
            dcc.Link(t("incident.command_view"), href=f"/incidents?incident={iid}&view=command",
                     className="btn btn-secondary"),
            html.A(t("incident.cap_link"), href=f"/api/v1/incidents/{iid}/cap",
                   className="btn btn-secondary", target="_blank", rel="noopener"),
        ]),
    ]


def _task_rows(r: redis.Redis, incident: Mapping[str, Any],
               tasks: list[dict[str, Any]]) -> list[Any]:
    """Every task of the incident at once: state, title, department, who took it and when, due
    or overdue, how it ended; buttons for whoever may act on it."""
    if not tasks:
        return [html.P(i18n.t("task.none"), className="muted")]
    principal = current_principal()
    found = catalogue()
    mine = accounts.departments_of(r, principal.name) if principal is not None else ()
    rows = []
    for task in tasks:
        may = (incident["status"] != CLOSED and task["state"] in TASK_OPEN
               and incidents.may_act_on_task(principal, task, incident, mine))
        buttons = [html.Button(i18n.t(label), id={"type": ids.INCIDENT_TASK_ACT,
                                                  "task": task["id"], "action": action},
                               className="btn " + ("btn-ack" if action != "cannot"
                                                   else "btn-secondary"))
                   for action, label in TASK_BUTTONS
                   if may and not (action == "take" and task["state"] != "open")]
        rows.append(html.Div(className=f"task-row state-{task['state']}"
                             + (" overdue" if task.get("overdue") else ""),
                             **{"data-task": task["id"]}, children=[
            html.Div([task_state_badge(task), html.Span(task_title(task), className="task-title")],
                     className="task-head"),
            html.Div(task_facts(task, found), className="task-facts"),
            html.Div(buttons, className="task-buttons") if buttons else None,
        ]))
    return rows


def _alert_rows(r: redis.Redis, incident: Mapping[str, Any], may: bool) -> list[Any]:
    """The alerts linked now (title, severity, domain, how and when linked), with "Unlink"."""
    links = [link for link in incidents.alert_links(r, incident["id"]) if link["state"] == "linked"]
    if not links:
        return [html.P(i18n.t("incident.no_alerts"), className="muted")]
    rows = []
    for link in links:
        alert = alerts.get_alert(r, link["alert"])
        if alert is None:
            continue
        rows.append(html.Div(className=f"linked-alert sev-{alert['severity']}",
                             **{"data-alert": alert["id"]}, children=[
            html.Span(i18n.label("severity", alert["severity"]),
                      className=f"sev-badge sev-{alert['severity']}"),
            html.Span(alerts.shown_title(alert), className="alert-title"),
            html.Span(domain_title(alert["domain"]), className="muted"),
            html.Span(i18n.t(f"incident.linked_{link['how'] or 'hand'}", user=link["by"],
                             time=when(link["at"])), className="muted"),
            html.Button(i18n.t("incident.unlink"), id={"type": ids.INCIDENT_UNLINK,
                                                       "index": alert["id"]},
                        className="btn btn-secondary") if may and incident["status"] != CLOSED
            else None,
        ]))
    return rows


def _linkable(r: redis.Redis, incident: Mapping[str, Any]) -> list[dict[str, str]]:
    """Open alerts not linked to this incident, as options named by their titles."""
    linked = set(incident.get("alerts") or ())
    return [{"label": f"{alert['title']} · {domain_title(alert['domain'])}", "value": alert["id"]}
            for alert in alerts.list_alerts(r, open_only=True, limit=300)
            if alert["id"] not in linked]


def _commanders(r: redis.Redis) -> list[str]:
    return [u["name"] for u in admin.list_users(r)
            if u.get("disabled") != "1" and u.get("role") in COMMANDER_ROLES]


def _public_words(incident: Mapping[str, Any]) -> list[Any]:
    t = i18n.t
    state = t("incident.public_is_on" if incident.get("public") else "incident.public_is_off")
    return [html.Div(state, className="public-state"),
            html.Div(t("incident.public_says"), className="muted"),
            html.Blockquote([html.Div(incident["title"], className="public-headline"),
                             html.Div(incident.get("description") or "",
                                      className="public-description")])]


@require_roles(PAGE_ROLES)
def render(selected: str | None, _shown: Any) -> tuple[Any, ...]:
    """The incident picked, kept current: everything but the inputs people type into."""
    incident = None
    if isinstance(selected, str) and INCIDENT_ID.match(selected):
        try:
            r = redis_client()
            incident = incidents.get_incident(r, selected)
            if incident is not None:
                tasks = incidents.incident_tasks(r, selected)
                story = incidents.timeline(r, selected)
                may = incidents.may_change(current_principal(), incident)
                task_rows = _task_rows(r, incident, tasks)
                alert_rows = _alert_rows(r, incident, may)
                options = _linkable(r, incident) if may else []
                commanders = _commanders(r) if may else []
        except redis.RedisError:
            raise PreventUpdate from None
    if incident is None:
        return ("incident-detail", [], True, [], "", [], [], [], [], [], [], [], None)
    closed = incident["status"] == CLOSED
    status_buttons = [html.Button(i18n.t(STATUS_BUTTONS[(incident["status"], to)]),
                                  id={"type": ids.INCIDENT_STATUS_TO, "index": to},
                                  className="btn " + ("btn-danger" if to == CLOSED else ""))
                      for to in TRANSITIONS.get(incident["status"], ())
                      if (incident["status"], to) in STATUS_BUTTONS]
    public_label = i18n.t("incident.withdraw_public" if incident.get("public")
                          else "incident.make_public")
    seen = {"id": incident["id"], "version": incident["version"], "public": incident["public"]}
    by_id = {t["id"]: t for t in tasks}
    return ("incident-detail open" + (" is-closed" if closed else ""), _head(incident), not may,
            status_buttons, public_label, _public_words(incident), commanders, options,
            task_rows, alert_rows, timeline(story, by_id, catalogue()),
            department_options(), seen)


# -- acting ------------------------------------------------------------------------------------------
def _incident_change(r: Any, principal: Any, incident_id: str, seen_version: int | None,
                     button: Any, values: Mapping[str, Any]) -> html.Span:
    """One change of the incident itself; the answer in words."""
    found = catalogue()
    addr = client_addr()
    if isinstance(button, dict) and button.get("type") == ids.INCIDENT_STATUS_TO:
        status = button.get("index")
        incidents.change(r, principal, found, incident_id, "status", status=str(status),
                         version=seen_version, addr=addr)
        return done("incident.done_status", status=i18n.label("incident_status", str(status)))
    if button == ids.INCIDENT_LEVEL_SET:
        if values["level"] not in LEVELS:
            return problem("incident.pick_level")
        incidents.change(r, principal, found, incident_id, "level", level=values["level"],
                         version=seen_version, addr=addr)
        return done("incident.done_level", level=i18n.label("incident_level", values["level"]))
    if button == ids.INCIDENT_COMMANDER_SET:
        if not isinstance(values["commander"], str) or not values["commander"]:
            return problem("incident.pick_commander")
        incidents.change(r, principal, found, incident_id, "commander",
                         commander=values["commander"], version=seen_version, addr=addr)
        return done("incident.done_commander", user=values["commander"])
    if button == ids.INCIDENT_PUBLIC_SET:
        public = not values["public"]
        incidents.change(r, principal, found, incident_id, "public", public=public,
                         version=seen_version, addr=addr)
        return done("incident.done_public_on" if public else "incident.done_public_off")
    if button == ids.INCIDENT_AREA_SET:
        try:
            lat, lon, radius = (number(values["lat"]), number(values["lon"]),
                                number(values["radius"]))
        except ValueError:
            return problem("alerts.not_numbers")
        shape = values["shape"] if isinstance(values["shape"], str) and values["shape"].strip() else None
        if shape is None and (lat is None or lon is None):
            return problem("incident.give_area")
        incidents.change(r, principal, found, incident_id, "area", lat=lat, lon=lon,
                         radius_m=radius, area=shape, version=seen_version, addr=addr)
        return done("incident.done_area")
    if button == ids.INCIDENT_NOTE_ADD:
        note = values["note"] if isinstance(values["note"], str) else ""
        if not note.strip():
            return problem("incident.write_note")
        incidents.change(r, principal, found, incident_id, "note", note=note, addr=addr)
        return done("alerts.done_note")
    if button == ids.INCIDENT_STEP_ADD:
        title = values["step_title"] if isinstance(values["step_title"], str) else ""
        if not title.strip() or len(title) > MAX_TITLE:
            return problem("alerts.title_length", max=MAX_TITLE)
        try:
            due = number(values["step_due"])
        except ValueError:
            due = -1.0
        if due is None or not 0 <= due <= MAX_DUE_MINUTES:
            return problem("incident.due_range", max=MAX_DUE_MINUTES)
        if values["step_department"] not in found.departments:
            return problem("incident.pick_department")
        task = incidents.add_step(r, principal, found, incident_id, title=title,
                                  department=values["step_department"], due_minutes=due,
                                  required="yes" in (values["step_required"] or []), addr=addr)
        return done("incident.done_step", title=task_title(task),
                    department=department_name(task["department"], found))
    raise PreventUpdate


@require_roles(incidents.ACTORS)
def act(_status: list[int | None], _level: int | None, _commander: int | None,
        _public: int | None, _area: int | None, _note: int | None, _step: int | None,
        _link: int | None, _unlink: list[int | None], _task: list[int | None],
        seen: Mapping[str, Any] | None, level: str | None, commander: str | None,
        lat: Any, lon: Any, radius: Any, shape: str | None, note: str | None,
        step_title: str | None, step_department: str | None, step_due: Any,
        step_required: list[str] | None, link_alert: str | None,
        reason: str | None) -> tuple[Any, Any, Any, Any]:
    """Change the incident the detail shows, link or unlink an alert, or act on one of its
    tasks; the answer says what was done, or who was first and when."""
    button = ctx.triggered_id
    if button is None or not (ctx.triggered and ctx.triggered[0].get("value")):
        raise PreventUpdate  # buttons drawn anew are not clicks
    incident_id = seen.get("id") if isinstance(seen, dict) else None
    if not isinstance(incident_id, str) or not INCIDENT_ID.match(incident_id):
        return problem("incident.pick_first"), no_update, no_update, no_update
    version = seen.get("version") if isinstance(seen.get("version"), int) else None
    principal = current_principal()
    assert principal is not None  # require_roles refused anonymous callers
    r = redis_client()
    clear_note, clear_reason = no_update, no_update
    try:
        if isinstance(button, dict) and button.get("type") == ids.INCIDENT_TASK_ACT:
            answer, clear_reason = _task_act(r, principal, button, reason), ""
        elif isinstance(button, dict) and button.get("type") == ids.INCIDENT_UNLINK:
            incidents.link(r, principal, incident_id, str(button.get("index")), unlink=True,
                           addr=client_addr())
            answer = done("incident.done_unlink")
        elif button == ids.INCIDENT_LINK:
            if not isinstance(link_alert, str) or not link_alert:
                return problem("incident.pick_alert"), no_update, no_update, no_update
            incidents.link(r, principal, incident_id, link_alert, addr=client_addr())
            answer = done("incident.done_link")
        else:
            answer = _incident_change(r, principal, incident_id, version, button, {
                "level": level, "commander": commander, "public": bool(seen.get("public")),
                "lat": lat, "lon": lon, "radius": radius, "shape": shape, "note": note,
                "step_title": step_title, "step_department": step_department,
                "step_due": step_due, "step_required": step_required})
            clear_note = "" if button == ids.INCIDENT_NOTE_ADD else no_update
    except incidents.IncidentError as exc:
        return refusal(exc), None, no_update, no_update
    if "error" in (answer.className or ""):
        return answer, no_update, no_update, no_update
    return answer, None, clear_note, clear_reason


def _task_act(r: Any, principal: Any, button: Mapping[str, Any], reason: str | None) -> html.Span:
    task_id, action = str(button.get("task")), button.get("action")
    if not TASK_ID.match(task_id) or action not in ("take", "finish", "cannot"):
        raise PreventUpdate
    words = reason if isinstance(reason, str) else ""
    if action == "cannot" and not words.strip():
        return problem("task.give_reason")
    task = incidents.act_on_task(r, principal, catalogue(), task_id, action,
                                 text_=words if action == "cannot" else "", addr=client_addr())
    return done(f"task.done_{action}", title=task_title(task))


def register(app: dash.Dash) -> None:
    """The detail's callbacks: drawing it, and every change made from it."""
    app.callback(Output(ids.INCIDENT_DETAIL, "className"), Output(ids.INCIDENT_HEAD, "children"),
                 Output(ids.INCIDENT_ACTIONS, "hidden"),
                 Output(ids.INCIDENT_STATUS_BUTTONS, "children"),
                 Output(ids.INCIDENT_PUBLIC_SET, "children"),
                 Output(ids.INCIDENT_PUBLIC_TEXT, "children"),
                 Output(ids.INCIDENT_COMMANDER, "options"),
                 Output(ids.INCIDENT_LINK_ALERT, "options"),
                 Output(ids.INCIDENT_TASKS, "children"), Output(ids.INCIDENT_ALERTS, "children"),
                 Output(ids.INCIDENT_TIMELINE, "children"),
                 Output(ids.INCIDENT_STEP_DEPARTMENT, "options"),
                 Output(ids.INCIDENT_SEEN, "data"),
                 Input(ids.INCIDENT_SELECTED, "data"), Input(ids.INCIDENTS_SHOWN, "data"))(render)
    app.callback(Output(ids.INCIDENT_RESULT, "children"),
                 Output(ids.INCIDENTS_SHOWN, "data", allow_duplicate=True),
                 Output(ids.INCIDENT_NOTE, "value"), Output(ids.INCIDENT_TASK_REASON, "value"),
                 Input({"type": ids.INCIDENT_STATUS_TO, "index": ALL}, "n_clicks"),
                 Input(ids.INCIDENT_LEVEL_SET, "n_clicks"),
                 Input(ids.INCIDENT_COMMANDER_SET, "n_clicks"),
                 Input(ids.INCIDENT_PUBLIC_SET, "n_clicks"),
                 Input(ids.INCIDENT_AREA_SET, "n_clicks"), Input(ids.INCIDENT_NOTE_ADD, "n_clicks"),
                 Input(ids.INCIDENT_STEP_ADD, "n_clicks"), Input(ids.INCIDENT_LINK, "n_clicks"),
                 Input({"type": ids.INCIDENT_UNLINK, "index": ALL}, "n_clicks"),
                 Input({"type": ids.INCIDENT_TASK_ACT, "task": ALL, "action": ALL}, "n_clicks"),
                 State(ids.INCIDENT_SEEN, "data"), State(ids.INCIDENT_LEVEL, "value"),
                 State(ids.INCIDENT_COMMANDER, "value"), State(ids.INCIDENT_AREA_LAT, "value"),
                 State(ids.INCIDENT_AREA_LON, "value"), State(ids.INCIDENT_AREA_RADIUS, "value"),
                 State(ids.INCIDENT_AREA_SHAPE, "value"), State(ids.INCIDENT_NOTE, "value"),
                 State(ids.INCIDENT_STEP_TITLE, "value"),
                 State(ids.INCIDENT_STEP_DEPARTMENT, "value"), State(ids.INCIDENT_STEP_DUE, "value"),
                 State(ids.INCIDENT_STEP_REQUIRED, "value"), State(ids.INCIDENT_LINK_ALERT, "value"),
                 State(ids.INCIDENT_TASK_REASON, "value"), prevent_initial_call=True)(act)
    app.callback(Output(ids.INCIDENT_LINKAGE, "children"), Output(ids.INCIDENT_MAP, "figure"),
                 Output(ids.INCIDENT_MAP, "className"),
                 Input(ids.INCIDENT_SEEN, "data"), Input(ids.SEEN, "data"),
                 prevent_initial_call=True)(refresh_linkage)


@require_roles(PAGE_ROLES)
def refresh_linkage(seen: Mapping[str, Any] | None, _live: Any) -> tuple[Any, Any, str]:
    """The linkage panel and the map of the incident shown, recomputed from the live store when
    the incident or the city's data changed. An incident without a place says so in a sentence;
    its map is hidden rather than drawn empty."""
    incident_id = seen.get("id") if isinstance(seen, dict) else None
    if not isinstance(incident_id, str) or not INCIDENT_ID.match(incident_id):
        return [], linkage_panel.figure(None, None), NO_PLACE_MAP_CLASS
    try:
        incident = incidents.get_incident(redis_client(), incident_id)
        found = linkage_panel.compute(incident) if incident is not None else None
    except redis.RedisError:
        raise PreventUpdate from None
    if incident is not None and linkage_panel.area_of(incident) is None:
        return ([html.P(i18n.t("place.no_place"), className="no-place")],
                linkage_panel.figure(None, None), NO_PLACE_MAP_CLASS)
    return linkage_panel.panel(found), linkage_panel.figure(incident, found), MAP_CLASS
