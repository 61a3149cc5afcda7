"""The tasks page (/tasks) for emergency staff on a phone: their departments' open and accepted tasks.

Soonest due first, overdue ones loud. Taking and finishing a task is two taps ("Take", then
"Finish" on the same card); "Cannot do" opens a field for the reason, which is required. A task
someone else took says who and since when. Operators and admins see every department's tasks.
The browser asks every second (the shell's tick); the server reads one version number and redraws
only when a task changed (or the clock made one overdue). The service checks every action again:
a task of another department cannot be taken by a crafted request.
"""

from __future__ import annotations

import time
from typing import Any, Mapping

import dash
import redis
from dash import ALL, Input, Output, State, ctx, dcc, html, no_update
from dash.exceptions import PreventUpdate

from app import accounts, i18n, incidents
from app.incidents.queries import version as incidents_version
from app.model import roles
from app.model.incidents import MAX_NOTE, TASK_ID
from app.model.principal import Principal
from app.web.context import client_addr, current_principal, redis_client, require_roles
from layouts import ids, pulse
from layouts.components import page_layout, tab_title
from layouts.incident_parts import (
    catalogue,
    department_name,
    done,
    level_badge,
    numbered,
    problem,
    refusal,
    task_facts,
    task_state_badge,
    task_title,
)

PATH = "/tasks"
PAGE_ROLES = roles.PAGE_BY_PATH[PATH].roles
LIST_LIMIT = 200
CLOCK_BUCKET_S = 30  # overdue is judged by the clock: the list is redrawn at least this often


def _departments(r: redis.Redis, principal: Principal | None) -> tuple[str, ...]:
    if principal is None:
        return ()
    return accounts.departments_of(r, principal.name)


def _sees_all(principal: Principal | None) -> bool:
    """Operators and admins act on every task: they see every department's."""
    return principal is not None and incidents.may_declare(principal)


@page_layout(PATH)
def layout(**_query: str) -> html.Div:
    """The person's departments, then their tasks (drawn by the poll)."""
    principal = current_principal()
    try:
        departments = _departments(redis_client(), principal)
    except redis.RedisError:
        departments = ()
    found = catalogue()
    if _sees_all(principal):
        scope = i18n.t("tasks.all_departments")
    elif departments:
        scope = i18n.t("tasks.your_departments",
                       departments=", ".join(department_name(d, found) for d in departments))
    else:
        scope = i18n.t("tasks.no_departments")
    return html.Div(className="tasks-page", children=[
        html.H1(i18n.t("tasks.title"), id=ids.PAGE_TITLE),
        html.P(scope, className="muted tasks-scope"),
        html.Div(id=ids.TASKS_RESULT, role="status", className="action-result"),
        html.Div(id=ids.TASKS_LIST, className="task-cards", role="list"),
        dcc.Store(id=ids.TASKS_SHOWN),
        *pulse.stores(ids.TASKS_LIST, follow=("incidents",), every_s=CLOCK_BUCKET_S),
    ])


def _visible_tasks(r: redis.Redis, principal: Principal | None) -> list[dict[str, Any]]:
    """The open and accepted tasks this person works on, soonest due first: every department's
    for operators and admins; their departments' and any handed to them by name for others."""
    if _sees_all(principal):
        return incidents.list_tasks(r, limit=LIST_LIMIT)
    if principal is None:
        return []
    found: dict[str, dict[str, Any]] = {}
    for department in _departments(r, principal):
        found.update({t["id"]: t for t in incidents.list_tasks(r, department=department,
                                                               limit=LIST_LIMIT)})
    found.update({t["id"]: t for t in incidents.list_tasks(r, owner=principal.name,
                                                           limit=LIST_LIMIT)})
    return sorted(found.values(), key=lambda t: (t["due_at"] or 0, t["order"]))[:LIST_LIMIT]


def _buttons(task: Mapping[str, Any], principal: Principal | None) -> list[Any]:
    """Take (open), Finish (open or accepted), and "Cannot do" with its reason."""
    t = i18n.t
    taken_by_other = task["state"] == "accepted" and principal is not None and (
        task["owner"] != principal.name) and not _sees_all(principal)
    if taken_by_other:
        return []  # someone else's: the card says whose
    buttons: list[Any] = []
    if task["state"] == "open":
        buttons.append(html.Button(t("task.take"), className="btn btn-ack btn-big",
                                   id={"type": ids.TASK_ACT, "task": task["id"], "action": "take"}))
    else:
        buttons.append(html.Button(t("task.finish"), className="btn btn-ack btn-big",
                                   id={"type": ids.TASK_ACT, "task": task["id"], "action": "finish"}))
    buttons.append(html.Details(className="cannot-box", children=[
        html.Summary(t("task.cannot"), className="btn btn-secondary"),
        dcc.Textarea(id={"type": ids.TASK_REASON, "task": task["id"]}, rows=2, maxLength=MAX_NOTE,
                     placeholder=t("task.reason_placeholder")),
        html.Button(t("task.send_cannot"), className="btn btn-danger",
                    id={"type": ids.TASK_ACT, "task": task["id"], "action": "cannot"}),
    ]))
    return buttons


def task_card(task: Mapping[str, Any], incident: Mapping[str, Any] | None,
              principal: Principal | None) -> html.Div:
    """One task on a phone: its title, its incident (level and number), department, state, who
    took it, due or overdue, and the buttons."""
    classes = f"task-card state-{task['state']}" + (" overdue" if task.get("overdue") else "")
    head: list[Any] = [task_state_badge(task)]
    if incident is not None:
        head.insert(0, level_badge(incident["level"]))
    return html.Div(className=classes, role="listitem", **{"data-task": task["id"]}, children=[
        html.Div(head, className="incident-badges"),
        html.Div(task_title(task), className="task-title"),
        html.Div(numbered(incident), className="task-incident muted") if incident else None,
        html.Div(task_facts(task), className="task-facts"),
        html.Div(_buttons(task, principal), className="task-buttons"),
    ])


def cards(r: redis.Redis) -> list[Any]:
    """Every task card, or a quiet line when there is nothing to do."""
    principal = current_principal()
    tasks = _visible_tasks(r, principal)
    if not tasks:
        return [html.P(i18n.t("tasks.none"), className="muted")]
    owners: dict[str, dict[str, Any] | None] = {}
    for task in tasks:
        if task["incident"] not in owners:
            owners[task["incident"]] = incidents.get_incident(r, task["incident"])
    return [task_card(task, owners.get(task["incident"]), principal) for task in tasks]


@require_roles(PAGE_ROLES)
def poll(_pulse: Any, shown: Any) -> tuple[Any, Any]:
    """Redraw the tasks when one changed (or the clock made one overdue)."""
    try:
        r = redis_client()
        signature = [incidents_version(r), int(time.time() // CLOCK_BUCKET_S)]
        if signature == shown:
            raise PreventUpdate
        return cards(r), signature
    except redis.RedisError:
        raise PreventUpdate from None


@require_roles(incidents.ACTORS)
def act(_clicks: list[int | None], reasons: list[str | None]) -> tuple[Any, Any, Any]:
    """Take, finish or report a task as "cannot do" (with its reason); the list is redrawn at
    once, so the next tap finds the next button."""
    button = ctx.triggered_id
    if not isinstance(button, dict) or not (ctx.triggered and ctx.triggered[0].get("value")):
        raise PreventUpdate  # cards drawn anew are not taps
    task_id, action = str(button.get("task")), button.get("action")
    if not TASK_ID.match(task_id) or action not in ("take", "finish", "cannot"):
        raise PreventUpdate
    reason = ""
    for spec, value in zip(ctx.states_list[0] if ctx.states_list else [], reasons or [],
                           strict=False):
        if spec.get("id", {}).get("task") == task_id and isinstance(value, str):
            reason = value
    if action == "cannot" and not reason.strip():
        return problem("task.give_reason"), no_update, no_update
    principal = current_principal()
    assert principal is not None
    r = redis_client()
    try:
        task = incidents.act_on_task(r, principal, catalogue(), task_id, action,
                                     text_=reason if action == "cannot" else "",
                                     addr=client_addr())
    except incidents.IncidentError as exc:
        answer: Any = refusal(exc)
    else:
        answer = done(f"task.done_{action}", title=task_title(task))
    try:
        return answer, cards(r), [incidents_version(r), int(time.time() // CLOCK_BUCKET_S)]
    except redis.RedisError:
        return answer, no_update, None


def register(app: dash.Dash) -> None:
    """Register the page with Dash Pages and its callbacks."""
    dash.register_page(__name__, path=PATH, name="Tasks", title=tab_title(PATH), layout=layout)
    trigger, running = pulse.gate(app, ids.TASKS_LIST)
    app.callback(Output(ids.TASKS_LIST, "children"), Output(ids.TASKS_SHOWN, "data"),
                 trigger, State(ids.TASKS_SHOWN, "data"), running=running)(poll)
    app.callback(Output(ids.TASKS_RESULT, "children"),
                 Output(ids.TASKS_LIST, "children", allow_duplicate=True),
                 Output(ids.TASKS_SHOWN, "data", allow_duplicate=True),
                 Input({"type": ids.TASK_ACT, "task": ALL, "action": ALL}, "n_clicks"),
                 State({"type": ids.TASK_REASON, "task": ALL}, "value"),
                 prevent_initial_call=True)(act)
