"""The webhooks and e-mail part of /admin: receivers with how deliveries go (a failing one marked
down), adding one (its secret shown once), a test delivery, a new secret, switching off, removing;
and the mail server's state. Every change goes through app.outbound.receivers (audited)."""

from __future__ import annotations

import hashlib
import time
from typing import Any

import dash
import plotly.utils
import redis
from dash import ALL, Input, Output, State, ctx, dcc, html, no_update

from app import i18n
from app.model import roles
from app.model.alerts import SEVERITIES
from app.model.domains import DOMAINS
from app.model.outbound import EVENT_TYPES, ReceiverError
from app.outbound import receivers
from app.web.context import client_addr, current_principal, redis_client, require_roles, settings
from layouts import ids
from layouts.components import format_time

REFRESH_MS = 5_000
STATE_CLASS = {"ok": "hook-ok", "new": "hook-new", "failing": "hook-failing", "down": "hook-down",
               "disabled": "hook-disabled"}


def _state_of(row: dict[str, Any]) -> str:
    return row["status"]["state"] if row["enabled"] else "disabled"


def _last(status: dict[str, Any]) -> str:
    """The last answer and when (translated: a status code is shown as the receiver sent it)."""
    if not status.get("last_attempt_at"):
        return i18n.t("hooks.never")
    return i18n.t("hooks.last", answer=status.get("last_status") or "—",
                  time=format_time(status["last_attempt_at"], with_date=True))


def _row(row: dict[str, Any]) -> html.Tr:
    state = _state_of(row)
    status = row["status"]
    events = ", ".join(i18n.t(f"hooks.event.{e}") for e in row["events"])
    filters = "; ".join(part for part in (
        ", ".join(i18n.label("domain", d) for d in row["domains"]),
        ", ".join(i18n.label("severity", s) for s in row["severities"])) if part)
    buttons = [
        html.Button(i18n.t("hooks.test"), id={"type": ids.HOOK_ACTION, "action": "test",
                                              "receiver": row["id"]}, className="btn btn-small"),
        html.Button(i18n.t("hooks.secret"), id={"type": ids.HOOK_ACTION, "action": "secret",
                                                "receiver": row["id"]}, className="btn btn-small"),
        html.Button(i18n.t("hooks.enable" if not row["enabled"] else "hooks.disable"),
                    id={"type": ids.HOOK_ACTION, "action": "enable" if not row["enabled"]
                        else "disable", "receiver": row["id"]}, className="btn btn-small"),
        dcc.ConfirmDialogProvider(
            html.Button(i18n.t("hooks.remove"), className="btn btn-small btn-danger"),
            id={"type": ids.HOOK_REMOVE, "receiver": row["id"]},
            message=i18n.t("hooks.remove_confirm", name=row["name"], count=status["queued"])),
    ]
    return html.Tr([
        html.Td([html.Strong(row["name"]), html.Div(row["url"], className="muted hook-url")]),
        html.Td([events, html.Div(filters, className="muted") if filters else None]),
        html.Td(html.Span(i18n.t(f"hooks.state.{state}"), className=f"hook-state {STATE_CLASS[state]}")),
        html.Td(_last(status)),
        html.Td(i18n.t("hooks.counts", queued=i18n.format_number(status["queued"]),
                       delivered=i18n.format_number(status["delivered"]),
                       dropped=i18n.format_number(status["dropped"]),
                       refused=i18n.format_number(status["refused"]))),
        html.Td(buttons, className="hook-actions"),
    ])


def _mail_card(r: redis.Redis) -> html.Div:
    mail = settings().mail
    if not mail.host:
        return html.P(i18n.t("hooks.mail_off"), className="muted")
    status = receivers.mail_state(r)
    state = status["state"]
    return html.P([i18n.t("hooks.mail_server", host=mail.host, port=mail.port), " ",
                   html.Span(i18n.t(f"hooks.state.{state}"),
                             className=f"hook-state {STATE_CLASS.get(state, 'hook-new')}"), " ",
                   _last(status), " · ",
                   i18n.t("hooks.mail_counts", queued=i18n.format_number(status["queued"]),
                          delivered=i18n.format_number(status["delivered"]))])


def _listing() -> list[Any]:
    r = redis_client()
    rows = receivers.listing(r)
    table: Any = html.P(i18n.t("hooks.none"), className="muted")
    if rows:
        table = html.Table(className="table hooks-table", children=[
            html.Thead(html.Tr([html.Th(i18n.t(h)) for h in (
                "hooks.col_receiver", "hooks.col_events", "hooks.col_state", "hooks.col_last",
                "hooks.col_counts", "hooks.col_actions")])),
            html.Tbody([_row(row) for row in rows])])
    return [table, html.H3(i18n.t("hooks.mail")), _mail_card(r)]


def section() -> html.Section:
    """The part of the admin page (a receiver form, the receivers and the mail state)."""
    def choices(values: tuple[str, ...], prefix: str) -> list[dict[str, str]]:
        return [{"label": i18n.t(f"{prefix}.{v}") if prefix == "hooks.event" else i18n.label(prefix, v),
                 "value": v} for v in values]

    try:
        listing = _listing()
    except redis.RedisError:
        listing = [html.P(i18n.t("admin.link_lost"))]
    return html.Section(className="hooks", children=[
        html.H2(i18n.t("hooks.title")),
        html.P(i18n.t("hooks.intro"), className="muted"),
        dcc.Interval(id=ids.HOOK_TICK, interval=REFRESH_MS),
        dcc.Store(id=ids.HOOK_REFRESH, data=0),
        dcc.Store(id=ids.HOOK_SHOWN, data=_digest(listing)),
        html.Div(className="card hook-form", children=[
            html.H3(i18n.t("hooks.add")),
            html.Label(i18n.t("hooks.name"), htmlFor=ids.HOOK_NAME),
            dcc.Input(id=ids.HOOK_NAME, type="text", maxLength=80),
            html.Label(i18n.t("hooks.url"), htmlFor=ids.HOOK_URL),
            dcc.Input(id=ids.HOOK_URL, type="url", maxLength=2000,
                      placeholder="https://duty.example.org/hooks/cityops"),
            html.Fieldset([html.Legend(i18n.t("hooks.events")),
                           dcc.Checklist(id=ids.HOOK_EVENTS, options=choices(EVENT_TYPES, "hooks.event"),
                                         value=["alert.raised", "alert.escalated"],
                                         className="checklist", inputClassName="hook-check")]),
            html.Fieldset([html.Legend(i18n.t("hooks.domains")),
                           dcc.Checklist(id=ids.HOOK_DOMAINS, options=choices(DOMAINS, "domain"),
                                         value=[], className="checklist inline",
                                         inputClassName="hook-check")]),
            html.Fieldset([html.Legend(i18n.t("hooks.severities")),
                           dcc.Checklist(id=ids.HOOK_SEVERITIES,
                                         options=choices(SEVERITIES, "severity"), value=[],
                                         className="checklist inline", inputClassName="hook-check")]),
            html.P(i18n.t("hooks.filters_note"), className="muted"),
            html.Button(i18n.t("hooks.add_button"), id=ids.HOOK_ADD, className="btn"),
        ]),
        html.Div(id=ids.HOOK_RESULT, className="admin-result", role="status"),
        html.Div(listing, id=ids.HOOK_LIST),
    ])


def _actor() -> str:
    principal = current_principal()
    assert principal is not None  # require_roles refused anonymous callers
    return principal.name


def _secret_shown(name: str, secret: str) -> html.Div:
    return html.Div(className="ok", children=[
        html.P(i18n.t("hooks.secret_once", name=name)),
        html.Code(secret, className="hook-secret"),
        html.P(i18n.t("hooks.secret_how"), className="muted")])


@require_roles(roles.ADMINS)
def add_receiver(clicks: int | None, name: str | None, url: str | None, events: list[str] | None,
                 domains: list[str] | None, severities: list[str] | None) -> tuple[object, object]:
    """A new receiver from the form; its secret is shown once."""
    if not clicks:
        return no_update, no_update
    try:
        made = receivers.add(redis_client(), {
            "name": name or "", "url": url or "", "events": events or [], "domains": domains or [],
            "severities": severities or []}, actor=_actor(), addr=client_addr())
    except ReceiverError as exc:
        return html.Span(i18n.t("hooks.refused", why=str(exc)), className="error"), no_update
    return _secret_shown(made.name, made.secret), time.time()


@require_roles(roles.ADMINS)
def act(_clicks: list[int | None], _confirmed: list[int | None]) -> tuple[object, object]:
    """A row's button: test, new secret, enable or disable; remove once confirmed."""
    trigger = ctx.triggered_id
    if not isinstance(trigger, dict) or not any(t["value"] for t in ctx.triggered):
        return no_update, no_update
    r = redis_client()
    receiver_id = str(trigger.get("receiver", ""))
    action = "remove" if trigger.get("type") == ids.HOOK_REMOVE else str(trigger.get("action"))
    try:
        found = receivers.get(r, receiver_id)
        if action == "test":
            receivers.send_test(r, receiver_id, settings(), actor=_actor(), addr=client_addr())
            message: object = html.Span(i18n.t("hooks.tested", name=found.name), className="ok")
        elif action == "secret":
            rotated = receivers.rotate_secret(r, receiver_id, actor=_actor(), addr=client_addr())
            message = _secret_shown(rotated.name, rotated.secret)
        elif action in ("enable", "disable"):
            receivers.change(r, receiver_id, {"enabled": action == "enable"}, actor=_actor(),
                             addr=client_addr())
            message = html.Span(i18n.t(f"hooks.{action}d", name=found.name), className="ok")
        elif action == "remove":
            receivers.remove(r, receiver_id, actor=_actor(), addr=client_addr())
            message = html.Span(i18n.t("hooks.removed", name=found.name), className="ok")
        else:
            return no_update, no_update
    except receivers.ReceiverNotFound:
        return html.Span(i18n.t("hooks.gone"), className="error"), time.time()
    except ReceiverError as exc:
        return html.Span(i18n.t("hooks.refused", why=str(exc)), className="error"), no_update
    return message, time.time()


def _digest(listing: list[Any]) -> str:
    """What identifies a listing's content (its components as Dash would send them)."""
    encoded = plotly.utils.PlotlyJSONEncoder().encode(listing)
    return hashlib.blake2b(encoded.encode(), digest_size=12).hexdigest()


@require_roles(roles.ADMINS)
def refresh(_n: int | None, _changed: float | None, shown: str | None) -> tuple[Any, Any]:
    """The receivers and the mail state again (every few seconds, and after a change).

    An unchanged listing is not sent: redrawing the rows would swallow a press on their buttons."""
    try:
        listing = _listing()
    except redis.RedisError:
        listing = [html.P(i18n.t("admin.link_lost"))]
    digest = _digest(listing)
    if digest == shown:
        return no_update, no_update
    return listing, digest


def register(app: dash.Dash) -> None:
    """The section's callbacks (the admin page registers them)."""
    app.callback(Output(ids.HOOK_RESULT, "children"), Output(ids.HOOK_REFRESH, "data"),
                 Input(ids.HOOK_ADD, "n_clicks"), State(ids.HOOK_NAME, "value"),
                 State(ids.HOOK_URL, "value"), State(ids.HOOK_EVENTS, "value"),
                 State(ids.HOOK_DOMAINS, "value"), State(ids.HOOK_SEVERITIES, "value"),
                 prevent_initial_call=True)(add_receiver)
    app.callback(Output(ids.HOOK_RESULT, "children", allow_duplicate=True),
                 Output(ids.HOOK_REFRESH, "data", allow_duplicate=True),
                 Input({"type": ids.HOOK_ACTION, "action": ALL, "receiver": ALL}, "n_clicks"),
                 Input({"type": ids.HOOK_REMOVE, "receiver": ALL}, "submit_n_clicks"),
                 prevent_initial_call=True)(act)
    app.callback(Output(ids.HOOK_LIST, "children"), Output(ids.HOOK_SHOWN, "data"),
                 Input(ids.HOOK_TICK, "n_intervals"), Input(ids.HOOK_REFRESH, "data"),
                 State(ids.HOOK_SHOWN, "data"), prevent_initial_call=True)(refresh)
