"""The shifts page (/shifts): who is on duty and signing on and off, the shift log with its form,
handing over (the sheet as it would be, then written with a note), the sheets waiting to be taken
over, and the recent sheets with their printable documents.

Operators and admins act; officials read. Every callback checks the role on the server, and the
shift service (app/shifts) checks again what matters: on duty, not one's own sheet, only once.
The page redraws every few seconds, and at once after a change made on it, only when what it
shows moved. Text people wrote is shown as Dash text (React escapes it).
"""

from __future__ import annotations

import time
from typing import Any, Mapping, Sequence

import dash
import redis
from dash import ALL, Input, Output, State, ctx, dcc, html, no_update
from dash.exceptions import PreventUpdate

from app import alerts, i18n
from app.model import roles
from app.model.incidents import LEVEL_HEX
from app.model.shifts import DUTY_ROLES, MAX_NOTE
from app.shifts import duty, handover
from app.shifts.errors import HandoverNotFound, HandoverTaken, NotOnDuty, NotPermitted, ShiftError
from app.web.api.shifts import departments, sheet_path
from app.web.context import client_addr, current_principal, redis_client, require_roles
from layouts import ids
from layouts.components import domain_title, format_time, page_layout, tab_title

PATH = "/shifts"
PAGE_ROLES = roles.PAGE_BY_PATH[PATH].roles
REFRESH_MS = 5000
LOG_LIMIT = 300
RECENT_READ = 20  # sheets read for the pending and recent lists
RECENT_SHOWN = 10
# window -> (catalogue key of its label, span in seconds)
WINDOWS: dict[str, tuple[str, int]] = {"8h": ("shifts.window_8h", 8 * 3600),
                                       "24h": ("shifts.window_24h", 24 * 3600),
                                       "7d": ("shifts.window_7d", 7 * 24 * 3600)}
DEFAULT_WINDOW = "24h"
YES = "yes"


def _may_act() -> bool:
    """Whether the reader works shifts (an operator's or admin's own account)."""
    principal = current_principal()
    return principal is not None and principal.kind == "user" and principal.role in DUTY_ROLES


def _when(ts: float | None) -> str:
    return format_time(ts, with_date=True)


def _ok(text: str) -> html.Span:
    return html.Span(text, className="ok")


def _error(text: str) -> html.Span:
    return html.Span(text, className="error")


# -- the layout -------------------------------------------------------------------------------------
def _handover_form() -> html.Section:
    return html.Section(className="card shifts-handover", children=[
        html.H2(i18n.t("shifts.handover_heading")),
        html.Button(i18n.t("shifts.preview"), id=ids.SHIFTS_PREVIEW, className="btn btn-secondary"),
        html.Div(id=ids.SHIFTS_SHEET, className="shifts-sheet"),
        html.Label(i18n.t("shifts.handover_note_label"), htmlFor=ids.SHIFTS_HANDOVER_NOTE),
        dcc.Textarea(id=ids.SHIFTS_HANDOVER_NOTE, maxLength=MAX_NOTE, rows=3, className="shifts-text"),
        html.Button(i18n.t("shifts.hand_over"), id=ids.SHIFTS_HANDOVER_WRITE, className="btn"),
        html.Div(id=ids.SHIFTS_HANDOVER_RESULT, role="status", className="action-result"),
    ])


def _write_form() -> html.Div:
    return html.Div(className="shifts-write", children=[
        html.Label(i18n.t("shifts.write_label"), htmlFor=ids.SHIFTS_NOTE_TEXT),
        dcc.Textarea(id=ids.SHIFTS_NOTE_TEXT, maxLength=MAX_NOTE, rows=3, className="shifts-text",
                     placeholder=i18n.t("shifts.write_placeholder")),
        dcc.Checklist(id=ids.SHIFTS_NOTE_NOTABLE, value=[], className="shifts-check",
                      options=[{"label": i18n.t("shifts.mark_notable"), "value": YES}]),
        html.Button(i18n.t("shifts.write"), id=ids.SHIFTS_NOTE_WRITE, className="btn"),
        html.Div(id=ids.SHIFTS_NOTE_RESULT, role="status", className="action-result"),
    ])


@page_layout(PATH)
def layout(**_query: str) -> html.Div:
    """On duty, handing over, sheets to take over, the log and the recent sheets."""
    actor = _may_act()
    return html.Div(className="shifts-page", children=[
        html.H1(i18n.t("page./shifts"), id=ids.PAGE_TITLE),
        html.Div(className="shifts-grid", children=[
            html.Section(className="card shifts-duty", children=[
                html.H2(i18n.t("shifts.on_duty_heading")),
                html.Div(id=ids.SHIFTS_ON_DUTY),
                html.Div(id=ids.SHIFTS_DUTY_ACTIONS, className="shifts-actions"),
                html.Div(id=ids.SHIFTS_DUTY_RESULT, role="status", className="action-result"),
            ]),
            html.Section(className="card shifts-pending", children=[
                html.H2(i18n.t("shifts.pending_heading")),
                html.Div(id=ids.SHIFTS_ACK_FORM, hidden=True, children=[
                    dcc.Textarea(id=ids.SHIFTS_ACK_NOTE, maxLength=MAX_NOTE, rows=2,
                                 className="shifts-text",
                                 placeholder=i18n.t("shifts.ack_note_placeholder"))] if actor else []),
                html.Div(id=ids.SHIFTS_PENDING),
                html.Div(id=ids.SHIFTS_ACK_RESULT, role="status", className="action-result"),
            ]),
        ]),
        _handover_form() if actor else html.Div(),
        html.Section(className="card shifts-log-card", children=[
            html.Div(className="shifts-log-head", children=[
                html.H2(i18n.t("shifts.log_heading")),
                dcc.RadioItems(id=ids.SHIFTS_LOG_WINDOW, value=DEFAULT_WINDOW, inline=True,
                               className="shifts-window",
                               options=[{"label": i18n.t(key), "value": value}
                                        for value, (key, _span) in WINDOWS.items()]),
                dcc.Checklist(id=ids.SHIFTS_LOG_NOTABLE_ONLY, value=[], className="shifts-check",
                              options=[{"label": i18n.t("shifts.notable_only"), "value": YES}]),
            ]),
            _write_form() if actor else html.Div(),
            html.Div(id=ids.SHIFTS_LOG),
        ]),
        html.Section(className="card shifts-recent", children=[
            html.H2(i18n.t("shifts.recent_heading")),
            html.Div(id=ids.SHIFTS_RECENT),
        ]),
        dcc.Interval(id=ids.SHIFTS_TICK, interval=REFRESH_MS),
        dcc.Store(id=ids.SHIFTS_CHANGED, data=0),
        dcc.Store(id=ids.SHIFTS_SHOWN),
    ])


# -- what the page shows ----------------------------------------------------------------------------
def on_duty_view(people: Sequence[Mapping[str, Any]]) -> Any:
    """Everyone on duty, longest first."""
    if not people:
        return html.P(i18n.t("shifts.nobody_on_duty"), className="muted")
    return html.Ul(className="shifts-people", children=[
        html.Li(i18n.t("shifts.on_duty_since", user=p["user"], role=i18n.label("role", p["role"]),
                       time=_when(p["since"]))) for p in people])


def duty_actions(people: Sequence[Mapping[str, Any]]) -> list[Any]:
    """The reader's own duty, and the one button that changes it (nothing for officials)."""
    principal = current_principal()
    if not _may_act() or principal is None:
        return []
    mine = next((p for p in people if p["user"] == principal.name), None)
    if mine is None:
        return [html.P(i18n.t("shifts.you_off_duty")),
                html.Button(i18n.t("shifts.sign_on"), id={"type": ids.SHIFTS_DUTY, "index": "on"},
                            className="btn")]
    return [html.P(i18n.t("shifts.you_on_duty", time=_when(mine["since"]))),
            html.Button(i18n.t("shifts.sign_off"), id={"type": ids.SHIFTS_DUTY, "index": "off"},
                        className="btn btn-secondary")]


def log_view(entries: Sequence[Mapping[str, Any]]) -> Any:
    """The shift log, newest first: when, who, what kind, the text (notable ones marked)."""
    if not entries:
        return html.P(i18n.t("shifts.log_empty"), className="muted")
    return html.Ol(className="shifts-log", children=[
        html.Li(className="shifts-entry" + (" notable" if e["notable"] else ""), children=[
            html.Div(className="shifts-entry-head", children=[
                html.Span(_when(e["at"]), className="shifts-entry-time"),
                html.Span(e["actor"], className="shifts-entry-actor"),
                html.Span(i18n.label("shifts.kind", e["kind"]), className="shifts-entry-kind"),
                html.Span(i18n.t("shifts.notable"), className="shifts-badge") if e["notable"] else None,
                html.A(i18n.t("shifts.printable"), href=sheet_path(e["handover"]), target="_blank",
                       className="shifts-link") if e.get("handover") else None,
            ]),
            html.Div(e["text"], className="shifts-entry-text") if e["text"] else None,
        ]) for e in entries])


def sheet_counts(sheet: Mapping[str, Any]) -> str:
    """How much a sheet holds, in one line."""
    return i18n.t("shifts.sheet_counts",
                  incidents=i18n.format_number(len(sheet.get("incidents", []))),
                  alerts=i18n.format_number(len(sheet.get("alerts_unacknowledged", []))),
                  escalated=i18n.format_number(len(sheet.get("alerts_escalated", []))),
                  feeds=i18n.format_number(len(sheet.get("feeds_down", []))),
                  notes=i18n.format_number(len(sheet.get("log", []))))


def _links(handover_id: str) -> html.Span:
    return html.Span(className="shifts-links", children=[
        html.A(i18n.t("shifts.printable"), href=sheet_path(handover_id), target="_blank",
               className="shifts-link"),
        html.A(i18n.t("shifts.download_json"), href=sheet_path(handover_id, "json"), download="",
               className="shifts-link")])


def pending_view(sheets: Sequence[Mapping[str, Any]]) -> Any:
    """The sheets nobody took over yet, each with "Take over" for those who may."""
    waiting = [s for s in sheets if not s["acknowledged_by"]]
    if not waiting:
        return html.P(i18n.t("shifts.pending_none"), className="muted")
    principal = current_principal()
    actor = _may_act()
    rows = []
    for sheet in waiting:
        own = principal is not None and sheet["created_by"] == principal.name
        action: Any = None
        if actor and not own:
            action = html.Button(i18n.t("shifts.take_over"), className="btn",
                                 id={"type": ids.SHIFTS_ACK, "index": sheet["id"]})
        elif actor:
            action = html.P(i18n.t("shifts.own_sheet"), className="muted")
        rows.append(html.Div(className="shifts-sheet-row", children=[
            html.Div(i18n.t("shift.written_by", user=sheet["created_by"],
                            time=_when(sheet["created_at"])), className="shifts-sheet-who"),
            html.Div(sheet_counts(sheet["sheet"]), className="muted"),
            html.Div(sheet["sheet"].get("note") or "", className="shifts-entry-text")
            if sheet["sheet"].get("note") else None,
            _links(sheet["id"]), html.Div(action, className="shifts-row-action") if action else None]))
    return rows


def recent_view(sheets: Sequence[Mapping[str, Any]]) -> Any:
    """The newest sheets: who wrote them, who took over, what they hold, their documents."""
    if not sheets:
        return html.P(i18n.t("shifts.recent_none"), className="muted")
    return html.Ul(className="shifts-recent-list", children=[
        html.Li(className="shifts-sheet-row", children=[
            html.Div(i18n.t("shift.written_by", user=s["created_by"], time=_when(s["created_at"])),
                     className="shifts-sheet-who"),
            html.Div(i18n.t("shift.acknowledged", user=s["acknowledged_by"],
                            time=_when(s["acknowledged_at"])) if s["acknowledged_by"]
                     else i18n.t("shift.not_acknowledged"),
                     className="ok" if s["acknowledged_by"] else "pending"),
            html.Div(sheet_counts(s["sheet"]), className="muted"),
            _links(s["id"])]) for s in sheets[:RECENT_SHOWN]])


def _department(code: str, names: Mapping[str, tuple[str, str]]) -> str:
    found = names.get(code)
    if not found:
        return code
    return found[1] if i18n.current_language() == i18n.ZH and found[1] else found[0]


def _section(title: str, items: list[Any]) -> html.Div:
    return html.Div(className="shifts-sheet-part", children=[
        html.H3(f"{title} ({i18n.format_number(len(items))})"),
        html.Ul(items) if items else html.P(i18n.t("shift.none"), className="muted")])


def sheet_view(sheet: Mapping[str, Any]) -> list[Any]:
    """The handover sheet as it would be written: incidents with their open tasks, alerts, feeds
    down, notable log entries, who is on duty; every code by its name."""
    names = departments()
    zh = i18n.current_language() == i18n.ZH
    incidents = []
    for incident in sheet["incidents"]:
        tasks = [html.Li(" · ".join(part for part in (
            (t.get("title_zh") or t["title"]) if zh else t["title"], _department(t["department"], names),
            i18n.label("task_state", t["state"]), t["owner"],
            f"{i18n.t('shift.due')} {_when(t.get('due_at'))}",
            i18n.t("shift.overdue") if t["overdue"] else "") if part),
            className="overdue" if t["overdue"] else None) for t in incident["tasks"]]
        incidents.append(html.Li(children=[
            html.Span(i18n.label("incident_level", incident["level"]), className="shifts-level",
                      style={"color": LEVEL_HEX.get(incident["level"], "#555")}),
            f" · {incident['title']} · {i18n.label('incident_status', incident['status'])}",
            html.Ul(tasks) if tasks else html.Div(i18n.t("shift.no_open_tasks"), className="muted")]))

    def alert(a: Mapping[str, Any]) -> html.Li:
        return html.Li(" · ".join((i18n.label("severity", a["severity"]), alerts.shown_title(a),
                                   domain_title(a["domain"]), _when(a.get("opened_at")))))

    return [
        html.P(i18n.t("shifts.preview_note"), className="muted"),
        html.P(sheet_counts(sheet), className="shifts-sheet-counts"),
        _section(i18n.t("shift.incidents"), incidents),
        _section(i18n.t("shift.alerts_unacknowledged"), [alert(a) for a in sheet["alerts_unacknowledged"]]),
        _section(i18n.t("shift.alerts_escalated"), [alert(a) for a in sheet["alerts_escalated"]]),
        _section(i18n.t("shift.feeds_down"), [html.Li(" · ".join(part for part in (
            f["feed"], domain_title(f["domain"]), i18n.label("feed_state", f["state"]),
            f"{i18n.t('shift.last_success')} {_when(f.get('last_success'))}",
            f.get("last_error") or "") if part)) for f in sheet["feeds_down"]]),
        _section(i18n.t("shift.log"), [html.Li(f"{_when(e['at'])} · {e['actor']} · {e['text']}")
                                       for e in sheet["log"]]),
        html.P(f"{i18n.t('shift.on_duty')}: " + (", ".join(p["user"] for p in sheet["on_duty"])
                                                  or i18n.t("shift.none"))),
    ]


# -- callbacks --------------------------------------------------------------------------------------
@require_roles(PAGE_ROLES)
def refresh(_tick: int | None, _changed: int | None, window: str | None, notable_only: Any,
            shown: Any) -> tuple[Any, ...]:
    """Redraw on duty, the log, the sheets to take over and the recent ones when they moved."""
    window = window if window in WINDOWS else DEFAULT_WINDOW
    notable = isinstance(notable_only, list) and YES in notable_only
    try:
        r = redis_client()
        people = duty.on_duty(r)
        entries = duty.read_log(r, since=time.time() - WINDOWS[window][1], notable_only=notable,
                                count=LOG_LIMIT)
        sheets = handover.recent(r, RECENT_READ)
    except redis.RedisError:
        lost = _error(i18n.t("shifts.link_lost"))
        return lost, [], lost, no_update, no_update, no_update, no_update
    principal = current_principal()
    signature = [principal.name if principal else "", i18n.current_language(), window, notable,
                 [[p["user"], p["since"]] for p in people], [e["id"] for e in entries],
                 [[s["id"], s["acknowledged_by"]] for s in sheets]]
    if signature == shown:
        raise PreventUpdate
    # The note for taking over shows while a sheet waits for someone who may take it over.
    waiting = _may_act() and any(not s["acknowledged_by"] and s["created_by"] != signature[0]
                                 for s in sheets)
    return (on_duty_view(people), duty_actions(people), log_view(entries), pending_view(sheets),
            not waiting, recent_view(sheets), signature)


def _clicked() -> Any:
    """The id of the button pressed, or PreventUpdate (new buttons appearing are not presses)."""
    if not ctx.triggered or not ctx.triggered[0].get("value"):
        raise PreventUpdate
    return ctx.triggered_id


def _refusal(exc: Exception) -> html.Span:
    """A refused shift step, told in the reader's language."""
    if isinstance(exc, NotOnDuty):
        return _error(i18n.t("shifts.sign_on_first"))
    if isinstance(exc, NotPermitted):
        return _error(i18n.t("shifts.not_permitted"))
    if isinstance(exc, HandoverTaken):
        return _error(i18n.t("shifts.conflict", user=exc.by, time=format_time(exc.at)))
    if isinstance(exc, HandoverNotFound):
        return _error(i18n.t("shifts.gone"))
    if isinstance(exc, ShiftError) and exc.field:
        return _error(i18n.t("shifts.text_length", max=MAX_NOTE))
    if isinstance(exc, ShiftError):
        return _error(i18n.t("shifts.own_sheet"))
    return _error(i18n.t("shifts.link_lost"))


def _text(value: Any, required: bool) -> str | None:
    """A text field's value, or None when it is not text within the limit (or empty if required)."""
    if value is None:
        value = ""
    if not isinstance(value, str) or len(value) > MAX_NOTE or (required and not value.strip()):
        return None
    return value


def _bump(changed: Any) -> int:
    return (changed if isinstance(changed, int) and not isinstance(changed, bool) else 0) + 1


@require_roles(DUTY_ROLES)
def sign(_clicks: list[int | None], changed: Any) -> tuple[Any, Any]:
    """Sign on or off duty."""
    pressed = _clicked()
    which = pressed.get("index") if isinstance(pressed, dict) else None
    if which not in ("on", "off"):
        raise PreventUpdate
    principal = current_principal()
    assert principal is not None  # require_roles refused anonymous callers
    step = duty.sign_on if which == "on" else duty.sign_off
    try:
        step(redis_client(), principal, addr=client_addr())
    except (ShiftError, redis.RedisError) as exc:
        return _refusal(exc), no_update
    return _ok(i18n.t("shifts.signed_on" if which == "on" else "shifts.signed_off")), _bump(changed)


@require_roles(DUTY_ROLES)
def write_note(_clicks: int | None, text: Any, notable: Any, changed: Any) -> tuple[Any, Any, Any]:
    """Write in the shift log (marked notable when the box is ticked)."""
    _clicked()
    value = _text(text, required=True)
    if value is None:
        empty = text is None or (isinstance(text, str) and not text.strip())
        words = i18n.t("shifts.text_required") if empty else i18n.t("shifts.text_length", max=MAX_NOTE)
        return _error(words), no_update, no_update
    if notable is not None and not (isinstance(notable, list) and set(notable) <= {YES}):
        return _error(i18n.t("shifts.bad_notable")), no_update, no_update
    principal = current_principal()
    assert principal is not None
    try:
        duty.write_note(redis_client(), principal, value, notable=bool(notable), addr=client_addr())
    except (ShiftError, redis.RedisError) as exc:
        return _refusal(exc), no_update, no_update
    return _ok(i18n.t("shifts.written")), "", _bump(changed)


@require_roles(DUTY_ROLES)
def preview(_clicks: int | None) -> Any:
    """The sheet as it would be written now (nothing stored)."""
    _clicked()
    principal = current_principal()
    try:
        sheet = handover.compose(redis_client(), time.time(),
                                 written_by=principal.name if principal else "")
    except redis.RedisError:
        return _error(i18n.t("shifts.link_lost"))
    return sheet_view(sheet)


@require_roles(DUTY_ROLES)
def hand_over(_clicks: int | None, note: Any, changed: Any) -> tuple[Any, Any, Any, Any]:
    """Write the handover sheet with the outgoing shift's note."""
    _clicked()
    value = _text(note, required=False)
    if value is None:
        return _error(i18n.t("shifts.text_length", max=MAX_NOTE)), no_update, no_update, no_update
    principal = current_principal()
    assert principal is not None
    try:
        written = handover.write(redis_client(), principal, value, addr=client_addr())
    except (ShiftError, redis.RedisError) as exc:
        return _refusal(exc), no_update, no_update, no_update
    done = html.Span([_ok(i18n.t("shifts.handed_over")), " ", _links(written["id"])])
    return done, "", [], _bump(changed)


@require_roles(DUTY_ROLES)
def acknowledge(_clicks: list[int | None], note: Any, changed: Any) -> tuple[Any, Any, Any]:
    """Take over the shift: acknowledge the sheet whose button was pressed."""
    pressed = _clicked()
    handover_id = pressed.get("index") if isinstance(pressed, dict) else None
    if not isinstance(handover_id, str):
        raise PreventUpdate
    value = _text(note, required=False)
    if value is None:
        return _error(i18n.t("shifts.text_length", max=MAX_NOTE)), no_update, no_update
    principal = current_principal()
    assert principal is not None
    try:
        handover.acknowledge(redis_client(), principal, handover_id, value, addr=client_addr())
    except (ShiftError, redis.RedisError) as exc:
        return _refusal(exc), no_update, no_update
    return _ok(i18n.t("shifts.taken_over")), "", _bump(changed)


def register(app: dash.Dash) -> None:
    """Register the page with Dash Pages, and its callbacks."""
    dash.register_page(__name__, path=PATH, name="Shifts", title=tab_title(PATH), layout=layout)
    changed = Output(ids.SHIFTS_CHANGED, "data", allow_duplicate=True)
    app.callback(Output(ids.SHIFTS_ON_DUTY, "children"), Output(ids.SHIFTS_DUTY_ACTIONS, "children"),
                 Output(ids.SHIFTS_LOG, "children"), Output(ids.SHIFTS_PENDING, "children"),
                 Output(ids.SHIFTS_ACK_FORM, "hidden"), Output(ids.SHIFTS_RECENT, "children"),
                 Output(ids.SHIFTS_SHOWN, "data"),
                 Input(ids.SHIFTS_TICK, "n_intervals"), Input(ids.SHIFTS_CHANGED, "data"),
                 Input(ids.SHIFTS_LOG_WINDOW, "value"), Input(ids.SHIFTS_LOG_NOTABLE_ONLY, "value"),
                 State(ids.SHIFTS_SHOWN, "data"))(refresh)
    app.callback(Output(ids.SHIFTS_DUTY_RESULT, "children"), changed,
                 Input({"type": ids.SHIFTS_DUTY, "index": ALL}, "n_clicks"),
                 State(ids.SHIFTS_CHANGED, "data"), prevent_initial_call=True)(sign)
    app.callback(Output(ids.SHIFTS_NOTE_RESULT, "children"), Output(ids.SHIFTS_NOTE_TEXT, "value"),
                 changed, Input(ids.SHIFTS_NOTE_WRITE, "n_clicks"),
                 State(ids.SHIFTS_NOTE_TEXT, "value"), State(ids.SHIFTS_NOTE_NOTABLE, "value"),
                 State(ids.SHIFTS_CHANGED, "data"), prevent_initial_call=True)(write_note)
    app.callback(Output(ids.SHIFTS_SHEET, "children"), Input(ids.SHIFTS_PREVIEW, "n_clicks"),
                 prevent_initial_call=True)(preview)
    app.callback(Output(ids.SHIFTS_HANDOVER_RESULT, "children"),
                 Output(ids.SHIFTS_HANDOVER_NOTE, "value"),
                 Output(ids.SHIFTS_SHEET, "children", allow_duplicate=True), changed,
                 Input(ids.SHIFTS_HANDOVER_WRITE, "n_clicks"),
                 State(ids.SHIFTS_HANDOVER_NOTE, "value"), State(ids.SHIFTS_CHANGED, "data"),
                 prevent_initial_call=True)(hand_over)
    app.callback(Output(ids.SHIFTS_ACK_RESULT, "children"), Output(ids.SHIFTS_ACK_NOTE, "value"),
                 changed, Input({"type": ids.SHIFTS_ACK, "index": ALL}, "n_clicks"),
                 State(ids.SHIFTS_ACK_NOTE, "value"), State(ids.SHIFTS_CHANGED, "data"),
                 prevent_initial_call=True)(acknowledge)
