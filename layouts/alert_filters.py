"""The /alerts list's order and the counts that filter it (issue 19).

The list comes most in need of attention first by default (``app.alerts.attention_order``, the
one rule, docs/alerts.md "Order"), or newest unacknowledged first. Each count of the panel's table
on /alerts is a button (keyboard and screen reader alike): pressing it sets the severity and state
filters to that count's (the escalated column: its severity's escalated alerts), a line says what
is shown, and pressing it again shows every open alert. Changing the filters by hand drops the pick.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import dash
from dash import ALL, Input, Output, State, ctx, dcc, html, no_update
from dash.exceptions import PreventUpdate

from app import alerts, i18n
from app.model import roles
from app.model.alerts import CLOSED, SEVERITIES, STATES
from app.web.context import require_roles
from layouts import ids

PAGE_ROLES = roles.PAGE_BY_PATH["/alerts"].roles
OPEN_STATES = [s for s in STATES if s != CLOSED]  # the state filter's default
ORDER_DEFAULT = "attention"
ESCALATED = "escalated"  # the counts' column that is not a state
COLUMNS = frozenset(OPEN_STATES) | {ESCALATED}
NO_PICK: dict[str, str] = {}


def order_control() -> html.Fieldset:
    """How the list is sorted: what needs attention first (the default), or newest first."""
    return html.Fieldset(className="alerts-order", children=[
        html.Legend(i18n.t("alerts.order")),
        dcc.RadioItems(id=ids.ALERTS_ORDER, value=ORDER_DEFAULT, inline=True, options=[
            {"label": i18n.t("alerts.order_attention"), "value": "attention"},
            {"label": i18n.t("alerts.order_newest"), "value": "newest"}]),
    ])


def pick_parts() -> list[Any]:
    """What the page holds for a picked count: the pick, and the line saying what is shown."""
    # {} for no pick, not None: a Store mounted with None reports a change, and the list's first
    # call must see none (layouts/alerts.py refresh_list answers it with the page's own cards).
    return [dcc.Store(id=ids.ALERTS_COUNT_PICKED, data=NO_PICK),
            html.Div(id=ids.ALERTS_COUNT_NOTE, role="status", className="count-note muted")]


def order_of(value: Any) -> str:
    """The order asked for, or the default for anything that is not one."""
    return value if isinstance(value, str) and value in alerts.ORDERS else ORDER_DEFAULT


def escalated_only(picked: Any) -> bool:
    """True when the pick is an escalated count (the list keeps only escalated alerts)."""
    return _cell(picked) is not None and picked.get("column") == ESCALATED


def _cell(picked: Any) -> dict[str, str] | None:
    """A pick as {severity, column} when it is a well-formed one, else None."""
    if not isinstance(picked, dict):
        return None
    severity, column = picked.get("severity"), picked.get("column")
    if severity not in SEVERITIES or column not in COLUMNS:
        return None
    return {"severity": severity, "column": column}


def _filters(cell: Mapping[str, str]) -> tuple[list[str], list[str]]:
    """The severity and state filters that show a count's alerts."""
    column = cell["column"]
    return [cell["severity"]], [column] if column in STATES else list(OPEN_STATES)


def _note(cell: Mapping[str, str]) -> str:
    column = cell["column"]
    # Lower case: the column's name sits mid-sentence in English; Chinese has no case to change.
    return i18n.t("alerts.count_picked", severity=i18n.label("severity", cell["severity"]),
                  column=i18n.t(f"alerts.col.{column}.meaning").lower())


def _same(a: Sequence[str] | None, b: Sequence[str]) -> bool:
    return set(a or []) == set(b)


@require_roles(PAGE_ROLES)
def pick_count(_clicks: list[int | None], severities: list[str] | None,
               states: list[str] | None, picked: Any) -> tuple[Any, Any, Any, Any]:
    """A count pressed: show only its alerts, or everything open when it was the one picked.
    The filters changed by hand: a pick they no longer match is dropped."""
    trigger = ctx.triggered_id
    current = _cell(picked)
    if isinstance(trigger, dict) and trigger.get("type") == ids.ALERT_COUNT_PICK:
        if not (ctx.triggered and ctx.triggered[0].get("value")):
            raise PreventUpdate  # the table redrawn: new buttons are not presses
        severity, _, column = str(trigger.get("index")).partition(":")
        cell = _cell({"severity": severity, "column": column})
        if cell is None:
            raise PreventUpdate
        if cell == current:
            return [], list(OPEN_STATES), NO_PICK, None
        shown_severities, shown_states = _filters(cell)
        return shown_severities, shown_states, cell, _note(cell)
    if current is not None:
        wanted_severities, wanted_states = _filters(current)
        if not (_same(severities, wanted_severities) and _same(states, wanted_states)):
            return no_update, no_update, NO_PICK, None
    raise PreventUpdate


def register(app: dash.Dash) -> None:
    """The counts' callback (the list reads the order and the pick itself: layouts/alerts.py)."""
    app.callback(Output(ids.ALERTS_FILTER_SEVERITY, "value"), Output(ids.ALERTS_FILTER_STATE, "value"),
                 Output(ids.ALERTS_COUNT_PICKED, "data"), Output(ids.ALERTS_COUNT_NOTE, "children"),
                 Input({"type": ids.ALERT_COUNT_PICK, "index": ALL}, "n_clicks"),
                 Input(ids.ALERTS_FILTER_SEVERITY, "value"), Input(ids.ALERTS_FILTER_STATE, "value"),
                 State(ids.ALERTS_COUNT_PICKED, "data"), prevent_initial_call=True)(pick_count)
