"""The tokens part of /admin: API and display tokens listed (name, role, created, by whom, expiry,
state; never a secret), creating one (its text shown once), pairing a wall display by the code it
shows (app/accounts/pairing.py), and revoking a token after a confirmation.
Every change goes through app.accounts.admin (role-checked and audited, as for the CLI)."""

from __future__ import annotations

import time
from typing import Any

import dash
import redis
from dash import ALL, Input, Output, State, ctx, dcc, html, no_update

from app import accounts, i18n
from app.accounts import admin, pairing
from app.model import roles
from app.model.principal import Principal
from app.web.context import client_addr, current_principal, redis_client, require_roles
from layouts import ids
from layouts.components import actor_words, format_time

MAX_DAYS = 3650  # what app.accounts.tokens accepts


def _when(stored: str) -> str:
    try:
        return format_time(float(stored), with_date=True) if stored else ""
    except ValueError:
        return ""


def _state(row: dict[str, Any]) -> str:
    if row.get("revoked") == "1":
        return i18n.t("admin.revoked")
    expires = row.get("expires_at")
    if expires and float(expires) < time.time():
        return i18n.t("admin_tokens.expired")
    return i18n.t("admin.active")


def _row(row: dict[str, Any]) -> html.Tr:
    live = _state(row) == i18n.t("admin.active")
    revoke = dcc.ConfirmDialogProvider(
        html.Button(i18n.t("admin_tokens.revoke"), className="btn btn-small btn-danger"),
        id={"type": ids.ADMIN_TOKEN_REVOKE, "token": row["id"]},
        message=i18n.t("admin_tokens.revoke_confirm", name=row["name"])) if live else None
    return html.Tr([
        html.Td(row["name"]), html.Td(i18n.label("role", row.get("role", ""))),
        html.Td(_when(row.get("created_at", ""))), html.Td(actor_words(str(row.get("created_by", "")))),
        html.Td(_when(row.get("expires_at", "")) or i18n.t("admin_tokens.never")),
        html.Td(_state(row)), html.Td(revoke)])


def _listing() -> Any:
    rows = admin.list_tokens(redis_client())
    if not rows:
        return html.P(i18n.t("admin_tokens.none"), className="muted")
    # Newest first: the one just made is at the top.
    return html.Table(className="table admin-tokens-table", children=[
        html.Thead(html.Tr([html.Th(i18n.t(h)) for h in (
            "admin.col_token", "admin.col_role", "admin.col_created", "admin_tokens.col_by",
            "admin_tokens.col_expires", "admin.col_state", "admin_tokens.col_actions")])),
        html.Tbody([_row(row) for row in reversed(rows)])])


def section() -> html.Section:
    """The part of the admin page: the form and the tokens."""
    try:
        listing = _listing()
    except redis.RedisError:
        listing = html.P(i18n.t("admin.link_lost"))
    return html.Section(className="admin-tokens", children=[
        html.H2(i18n.t("admin.tokens")),
        html.P(i18n.t("admin_tokens.intro"), className="muted"),
        html.Div(className="card admin-user-form", children=[
            html.H3(i18n.t("admin_tokens.create")),
            html.Label(i18n.t("admin_tokens.name"), htmlFor=ids.ADMIN_TOKEN_NAME),
            dcc.Input(id=ids.ADMIN_TOKEN_NAME, type="text", maxLength=accounts.NAME_MAX_LENGTH),
            html.Label(i18n.t("admin.role"), htmlFor=ids.ADMIN_TOKEN_ROLE),
            dcc.Dropdown(id=ids.ADMIN_TOKEN_ROLE,
                         options=[{"label": i18n.label("role", role), "value": role}
                                  for role in roles.TOKEN_ROLES],
                         value=roles.WALL, clearable=False),
            html.Label(i18n.t("admin_tokens.days"), htmlFor=ids.ADMIN_TOKEN_DAYS),
            dcc.Input(id=ids.ADMIN_TOKEN_DAYS, type="number", min=1, max=MAX_DAYS, step=1, value=90),
            html.P(i18n.t("admin_tokens.days_note"), className="muted"),
            html.Div(className="admin-user-buttons", children=[
                html.Button(i18n.t("admin_tokens.create_button"), id=ids.ADMIN_TOKEN_CREATE,
                            className="btn")]),
        ]),
        html.Div(className="card admin-user-form", children=[
            html.H3(i18n.t("admin_pair.title")),
            html.P(i18n.t("admin_pair.how"), className="muted"),
            html.Label(i18n.t("admin_pair.code"), htmlFor=ids.ADMIN_PAIR_CODE),
            dcc.Input(id=ids.ADMIN_PAIR_CODE, type="text", maxLength=20, placeholder="ABCD-EFGH",
                      autoComplete="off"),
            html.Label(i18n.t("admin_tokens.name"), htmlFor=ids.ADMIN_PAIR_NAME),
            dcc.Input(id=ids.ADMIN_PAIR_NAME, type="text", maxLength=accounts.NAME_MAX_LENGTH),
            html.Label(i18n.t("admin_tokens.days"), htmlFor=ids.ADMIN_PAIR_DAYS),
            dcc.Input(id=ids.ADMIN_PAIR_DAYS, type="number", min=1, max=MAX_DAYS, step=1, value=90),
            html.Div(className="admin-user-buttons", children=[
                html.Button(i18n.t("admin_pair.button"), id=ids.ADMIN_PAIR, className="btn")]),
        ]),
        html.Div(id=ids.ADMIN_TOKEN_RESULT, className="admin-result", role="status"),
        html.Div(listing, id=ids.ADMIN_TOKENS),
    ])


def _actor() -> Principal:
    principal = current_principal()
    assert principal is not None  # require_roles refused anonymous callers
    return principal


def _error(key: str, **values: str) -> html.Span:
    return html.Span(i18n.t(key, **values), className="error")


@require_roles(roles.ADMINS)
def create(clicks: int | None, name: object, role: object, days: object) -> tuple[object, object]:
    """A new token from the form; its text is shown only now."""
    if not clicks:
        return no_update, no_update
    if not isinstance(name, str) or not name.strip():
        return _error("admin_tokens.bad_name"), no_update
    if not isinstance(role, str) or role not in roles.TOKEN_ROLES:
        return _error("admin_users.bad_role"), no_update
    if not _days_ok(days):
        return _error("admin_tokens.bad_days", most=str(MAX_DAYS)), no_update
    try:
        shown = accounts.validate_name(name)  # as stored, so the audit names it the same way
        text = admin.create_token(redis_client(), _actor(), shown, role,
                                  float(days) if days is not None else None,  # type: ignore[arg-type]
                                  addr=client_addr())
    except accounts.AccountError as exc:
        return _error("admin_users.refused", why=str(exc)), no_update
    return html.Div(className="ok", children=[
        html.P(i18n.t("admin_tokens.once", name=shown)),
        html.Code(text, className="admin-token-secret"),
        html.P(i18n.t("admin_tokens.how_wall" if role == roles.WALL else "admin_tokens.how_api"),
               className="muted")]), time.time()


def _days_ok(days: object) -> bool:
    """A validity from a number input: empty (None, no expiry) or whole days within the bounds."""
    return days is None or (not isinstance(days, bool) and isinstance(days, (int, float))
                            and 1 <= days <= MAX_DAYS and days == int(days))


@require_roles(roles.ADMINS)
def pair(clicks: int | None, code: object, name: object, days: object) -> tuple[object, object]:
    """Confirm the code a wall display shows: it gets a new wall token and opens the wall."""
    if not clicks:
        return no_update, no_update
    if not isinstance(code, str) or not code.strip():
        return _error("admin_pair.no_code"), no_update
    if not isinstance(name, str) or not name.strip():
        return _error("admin_tokens.bad_name"), no_update
    if not _days_ok(days):
        return _error("admin_tokens.bad_days", most=str(MAX_DAYS)), no_update
    try:
        made = pairing.confirm(redis_client(), _actor(), code, accounts.validate_name(name),
                               float(days) if days is not None else None,  # type: ignore[arg-type]
                               addr=client_addr())
    except pairing.PairingError:
        return _error("admin_pair.no_code"), no_update
    except accounts.AccountError as exc:
        return _error("admin_users.refused", why=str(exc)), no_update
    return html.Span(i18n.t("admin_pair.done", name=made), className="ok"), time.time()


@require_roles(roles.ADMINS)
def revoke(_confirmed: list[int | None]) -> tuple[object, object]:
    """Revoke the token of the confirmed row (a display using it is signed out at once)."""
    trigger = ctx.triggered_id
    if not isinstance(trigger, dict) or not any(t["value"] for t in ctx.triggered):
        return no_update, no_update
    token_id = str(trigger.get("token", ""))
    r = redis_client()
    found = next((t for t in admin.list_tokens(r) if t["id"] == token_id), None)
    if found is None or found.get("revoked") == "1":
        return _error("admin_tokens.gone"), time.time()
    try:
        admin.revoke_token(r, _actor(), token_id, addr=client_addr())
    except accounts.AccountError as exc:
        return _error("admin_users.refused", why=str(exc)), no_update
    return html.Span(i18n.t("admin_tokens.revoked", name=found["name"]), className="ok"), time.time()


@require_roles(roles.ADMINS)
def refresh(_changed: object) -> object:
    """The tokens again, after a change on the page (the audit log is redrawn beside them)."""
    try:
        return _listing()
    except redis.RedisError:
        return html.P(i18n.t("admin.link_lost"))


def register(app: dash.Dash) -> None:
    """The section's callbacks (the admin page registers them)."""
    app.callback(Output(ids.ADMIN_TOKEN_RESULT, "children"),
                 Output(ids.ADMIN_REFRESH, "data", allow_duplicate=True),
                 Input(ids.ADMIN_TOKEN_CREATE, "n_clicks"), State(ids.ADMIN_TOKEN_NAME, "value"),
                 State(ids.ADMIN_TOKEN_ROLE, "value"), State(ids.ADMIN_TOKEN_DAYS, "value"),
                 prevent_initial_call=True)(create)
    app.callback(Output(ids.ADMIN_TOKEN_RESULT, "children", allow_duplicate=True),
                 Output(ids.ADMIN_REFRESH, "data", allow_duplicate=True),
                 Input({"type": ids.ADMIN_TOKEN_REVOKE, "token": ALL}, "submit_n_clicks"),
                 prevent_initial_call=True)(revoke)
    app.callback(Output(ids.ADMIN_TOKEN_RESULT, "children", allow_duplicate=True),
                 Output(ids.ADMIN_REFRESH, "data", allow_duplicate=True),
                 Input(ids.ADMIN_PAIR, "n_clicks"), State(ids.ADMIN_PAIR_CODE, "value"),
                 State(ids.ADMIN_PAIR_NAME, "value"), State(ids.ADMIN_PAIR_DAYS, "value"),
                 prevent_initial_call=True)(pair)
    app.callback(Output(ids.ADMIN_TOKENS, "children"), Input(ids.ADMIN_REFRESH, "data"),
                 prevent_initial_call=True)(refresh)
