"""Acknowledging several alerts at once on /alerts: the cards' checkboxes, "Select all shown" and
"Acknowledge selected", with a summary of what was acknowledged and what was refused, and why.

Each alert is acknowledged by the same service step as one at a time (app.alerts.acknowledge_many:
one atomic script and one audit line per alert), so the checks and the audit cannot differ.
"""

from __future__ import annotations

from typing import Any, Mapping

import dash
import redis
from dash import ALL, Input, Output, State, ctx, dcc, html
from dash.exceptions import PreventUpdate

from app import alerts, i18n
from app.model.alerts import ALERT_ID
from app.web.context import client_addr, current_principal, redis_client, require_roles
from layouts import ids
from layouts.components import domain_title, format_time

SUMMARY_NAMES = 5  # refusals named one by one; the rest are counted
# The ticks live in the browser (a store: the list's signature when they were made, and the ids
# ticked) and are put back on the cards after every redraw of the list: a redraw already on its way
# when "Select all shown" (or a box) was pressed draws the cards with the ticks it was asked with,
# and would clear what was ticked meanwhile. A redraw is told from a tick by the list's signature
# (refresh_list moves it with every redraw), since both reach this callback as new box values.
TICK_JS = """function (_clicks, values, shown, signature, kept) {
    var fired = window.dash_clientside.callback_context.triggered.map(function (t) {
        return t.prop_id;
    });
    var ids = shown.map(function (one) { return one.index; });
    var drawn = JSON.stringify(signature);
    var ticked;
    if (fired.indexOf('%s.n_clicks') >= 0) {
        ticked = ids;
    } else if (kept && kept.drawn !== drawn) {
        ticked = ids.filter(function (id) { return kept.ticked.indexOf(id) >= 0; });
    } else {
        ticked = ids.filter(function (_id, i) { return (values[i] || []).length > 0; });
    }
    return [ids.map(function (id) { return ticked.indexOf(id) >= 0 ? [id] : []; }),
            {drawn: drawn, ticked: ticked}];
}""" % ids.ALERTS_SELECT_ALL


def checkbox(alert_id: str, ticked: bool = False) -> dcc.Checklist:
    """A card's checkbox (its value: [id] when ticked)."""
    return dcc.Checklist(id={"type": ids.ALERT_SELECT, "index": alert_id},
                         value=[alert_id] if ticked else [],
                         options=[{"label": i18n.t("alerts.select"), "value": alert_id}],
                         className="alert-select", inputClassName="alert-select-box")


def bar() -> html.Div:
    """Above the list, for those who may act: select every card shown, acknowledge the selected."""
    principal = current_principal()
    if principal is None or principal.role not in alerts.ACTORS:
        return html.Div(id=ids.ALERTS_BULK, hidden=True, children=[
            dcc.Store(id=ids.ALERTS_TICKED),
            html.Button(id=ids.ALERTS_SELECT_ALL, hidden=True),
            html.Button(id=ids.ALERTS_ACK_SELECTED, hidden=True),
            html.Div(id=ids.ALERTS_BULK_RESULT)])
    return html.Div(id=ids.ALERTS_BULK, className="alerts-bulk", children=[
        dcc.Store(id=ids.ALERTS_TICKED),
        html.Button(i18n.t("alerts.select_all"), id=ids.ALERTS_SELECT_ALL,
                    className="btn btn-secondary"),
        html.Button(i18n.t("alerts.ack_selected"), id=ids.ALERTS_ACK_SELECTED,
                    className="btn btn-ack"),
        html.Div(id=ids.ALERTS_BULK_RESULT, role="status", className="action-result"),
    ])


def _refusal_text(refused: Mapping[str, Any], titles: Mapping[str, str]) -> str:
    title = titles.get(refused["id"], i18n.t("alerts.bulk_unknown"))
    reason = refused["reason"]
    if reason == "missing":
        return i18n.t("alerts.bulk_gone", title=title)
    if reason == "not permitted":
        return i18n.t("alerts.bulk_not_permitted", title=title)
    when = format_time(refused["at"]) if refused.get("at") else i18n.t("alerts.just_now")
    return i18n.t("alerts.bulk_already", title=title, by=refused["by"] or i18n.t("alerts.someone"),
                  time=when)


def summary(result: alerts.BulkResult, titles: Mapping[str, str]) -> list[Any]:
    """What was done, in the reader's language: counts, then each refusal with why."""
    lines: list[Any] = [html.Span(i18n.t("alerts.bulk_done",
                                         count=i18n.format_number(len(result.acknowledged))),
                                  className="ok")]
    if result.refused:
        lines.append(html.Span(i18n.t("alerts.bulk_refused",
                                      count=i18n.format_number(len(result.refused))),
                               className="error"))
        items = [html.Li(_refusal_text(one, titles)) for one in result.refused[:SUMMARY_NAMES]]
        if len(result.refused) > SUMMARY_NAMES:
            items.append(html.Li(i18n.t("alerts.bulk_more", count=i18n.format_number(
                len(result.refused) - SUMMARY_NAMES))))
        lines.append(html.Ul(items, className="bulk-refusals"))
    return lines


def ticked_ids(ticked: list[Any] | None) -> frozenset[str]:
    """The alert ids of the ticked checkboxes (the values of every card's checkbox, as sent)."""
    return frozenset(alert_id for values in ticked or [] if isinstance(values, list)
                     for alert_id in values if isinstance(alert_id, str) and ALERT_ID.match(alert_id))


@require_roles(alerts.ACTORS)
def acknowledge_selected(clicks: int | None, ticked: list[list[str] | None]) -> Any:
    """Acknowledge every ticked alert; the summary says what was acknowledged and refused."""
    if not clicks or ctx.triggered_id != ids.ALERTS_ACK_SELECTED:
        raise PreventUpdate
    chosen = sorted(ticked_ids(ticked))
    if not chosen:
        return html.Span(i18n.t("alerts.bulk_none"), className="error")
    if len(chosen) > alerts.MAX_BULK:
        return html.Span(i18n.t("alerts.bulk_too_many", max=alerts.MAX_BULK), className="error")
    principal = current_principal()
    assert principal is not None  # require_roles refused anonymous callers
    try:
        r = redis_client()
        before = {a["id"]: a for a in (alerts.get_alert(r, alert_id) for alert_id in chosen) if a}
        result = alerts.acknowledge_many(r, principal, chosen, addr=client_addr())
    except redis.RedisError:
        return html.Span(i18n.t("alerts.bulk_failed"), className="error")
    titles = {alert_id: f"{a['title']} ({domain_title(a['domain'])})" for alert_id, a in before.items()}
    return summary(result, titles)


def register(app: dash.Dash) -> None:
    """The bar's callbacks (the page itself is layouts/alerts.py)."""
    # Ticking is the browser's own work (the list holds checkboxes only where this person may
    # act; the server checks again when they acknowledge).
    app.clientside_callback(TICK_JS, Output({"type": ids.ALERT_SELECT, "index": ALL}, "value"),
                            Output(ids.ALERTS_TICKED, "data"),
                            Input(ids.ALERTS_SELECT_ALL, "n_clicks"),
                            Input({"type": ids.ALERT_SELECT, "index": ALL}, "value"),
                            State({"type": ids.ALERT_SELECT, "index": ALL}, "id"),
                            State(ids.ALERTS_SHOWN, "data"),
                            State(ids.ALERTS_TICKED, "data"),
                            prevent_initial_call=True)
    app.callback(Output(ids.ALERTS_BULK_RESULT, "children"),
                 Input(ids.ALERTS_ACK_SELECTED, "n_clicks"),
                 State({"type": ids.ALERT_SELECT, "index": ALL}, "value"),
                 prevent_initial_call=True)(acknowledge_selected)
