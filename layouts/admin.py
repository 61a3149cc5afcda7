"""The admin page (/admin): users, API/display tokens, feeds, the rules and SOP files, webhooks and
e-mail, and the audit log."""

from __future__ import annotations

import time

import dash
import redis
from dash import Input, Output, State, dcc, html, no_update

from app import accounts, i18n
from app.accounts import admin
from app.model import roles
from app.model.principal import Principal
from app.web.context import client_addr, current_principal, redis_client, require_roles
from layouts import (
    admin_audit,
    admin_feeds,
    admin_files,
    admin_tokens,
    admin_users,
    admin_webhooks,
    ids,
)
from layouts.components import page_layout, tab_title

PATH = "/admin"


def _table(headers: list[str], rows: list[list[str]]) -> html.Table:
    """A table whose headings are catalogue keys (read in the reader's language)."""
    return html.Table(className="table", children=[
        html.Thead(html.Tr([html.Th(i18n.t(h)) for h in headers])),
        html.Tbody([html.Tr([html.Td(cell) for cell in row]) for row in rows]),
    ])


def _tables() -> list[html.Table]:
    """The users (the tokens and the audit log are their sections' own: admin_tokens, admin_audit)."""
    r = redis_client()
    users = [[u["name"], i18n.label("role", u.get("role", "")), _domains(u.get("domains", "")),
              i18n.t("admin.disabled" if u.get("disabled") == "1" else "admin.active")]
             for u in admin.list_users(r)]
    return [
        _table(["admin.col_user", "admin.col_role", "admin.col_domains", "admin.col_state"], users),
    ]


def _domains(stored: str) -> str:
    """A user's domains (stored comma-separated) by name; none stored means all of them."""
    names = [d for d in stored.split(",") if d]
    return ", ".join(i18n.label("domain", d) for d in names) if names else i18n.t("admin.all_domains")


@page_layout(PATH)
def layout(**_query: str) -> html.Div:
    """Forms to add and disable users, and the users, tokens and newest audit entries."""
    try:
        (users,) = _tables()
    except redis.RedisError:
        return html.Div([html.H1(i18n.t("admin.title"), id=ids.PAGE_TITLE),
                         html.P(i18n.t("admin.link_lost"))])
    return html.Div([
        html.H1(i18n.t("admin.title"), id=ids.PAGE_TITLE),
        dcc.Store(id=ids.ADMIN_REFRESH, data=0),
        html.Div(className="card-grid", children=[
            html.Div(className="card", children=[
                html.H3(i18n.t("admin.add_user")),
                html.Label(i18n.t("admin.user_name"), htmlFor=ids.ADMIN_NEW_NAME),
                dcc.Input(id=ids.ADMIN_NEW_NAME, type="text", maxLength=64, debounce=False),
                html.Label(i18n.t("admin.role"), htmlFor=ids.ADMIN_NEW_ROLE),
                dcc.Dropdown(id=ids.ADMIN_NEW_ROLE,
                             options=[{"label": i18n.label("role", role), "value": role}
                                      for role in roles.USER_ROLES],
                             value=roles.OPERATOR, clearable=False),
                html.Label(i18n.t("admin.password"), htmlFor=ids.ADMIN_NEW_PASSWORD),
                dcc.Input(id=ids.ADMIN_NEW_PASSWORD, type="password",
                          maxLength=accounts.MAX_PASSWORD_LENGTH),
                html.Button(i18n.t("admin.add_button"), id=ids.ADMIN_ADD_USER, className="btn"),
            ]),
            html.Div(className="card", children=[
                html.H3(i18n.t("admin.disable_user")),
                html.Label(i18n.t("admin.user_name"), htmlFor=ids.ADMIN_DISABLE_NAME),
                dcc.Input(id=ids.ADMIN_DISABLE_NAME, type="text", maxLength=64),
                html.Button(i18n.t("admin.disable_button"), id=ids.ADMIN_DISABLE_USER,
                            className="btn btn-danger"),
            ]),
        ]),
        html.Div(id=ids.ADMIN_RESULT, className="admin-result", role="status"),
        html.H2(i18n.t("admin.users")), html.Div(users, id=ids.ADMIN_USERS),
        admin_users.section(),
        admin_tokens.section(),
        admin_feeds.section(),
        admin_files.section(),
        admin_webhooks.section(),
        admin_audit.section(),
    ])


def _principal() -> Principal:
    principal = current_principal()
    assert principal is not None  # require_roles refused anonymous callers
    return principal


@require_roles(roles.ADMINS)
def add_user(_clicks: int | None, name: str | None, role: str | None,
             password: str | None) -> tuple[object, object]:
    """Create a user from the form; the answer says what happened."""
    if not _clicks:
        return no_update, no_update
    r = redis_client()
    try:
        created = admin.add_user(r, _principal(), name or "", role or "", password or "",
                                 addr=client_addr())
    except accounts.AccountError as exc:
        return html.Span(str(exc), className="error"), no_update
    return (html.Span(i18n.t("admin.user_added", user=created, role=i18n.label("role", str(role))),
                      className="ok"), time.time())


@require_roles(roles.ADMINS)
def disable_user(_clicks: int | None, name: str | None) -> tuple[object, object]:
    """Disable a user (their sessions end at once)."""
    if not _clicks:
        return no_update, no_update
    r = redis_client()
    try:
        target = accounts.validate_name(name or "")
        if target == _principal().name:
            raise accounts.AccountError(i18n.t("admin.not_self"))
        admin.set_disabled(r, _principal(), target, True, addr=client_addr())
    except accounts.AccountError as exc:
        return html.Span(str(exc), className="error"), no_update
    return html.Span(i18n.t("admin.user_disabled", user=target), className="ok"), time.time()


@require_roles(roles.ADMINS)
def refresh_tables(_version: float) -> object:
    """Re-read the users after a change (the other sections redraw their own parts)."""
    return _tables()[0]


def register(app: dash.Dash) -> None:
    """Register the page and its callbacks."""
    dash.register_page(__name__, path=PATH, name="Admin", title=tab_title(PATH), layout=layout)
    admin_users.register(app)
    admin_tokens.register(app)
    admin_audit.register(app)
    admin_webhooks.register(app)
    admin_feeds.register(app)
    app.callback(Output(ids.ADMIN_RESULT, "children"), Output(ids.ADMIN_REFRESH, "data"),
                 Input(ids.ADMIN_ADD_USER, "n_clicks"), State(ids.ADMIN_NEW_NAME, "value"),
                 State(ids.ADMIN_NEW_ROLE, "value"), State(ids.ADMIN_NEW_PASSWORD, "value"),
                 prevent_initial_call=True)(add_user)
    app.callback(Output(ids.ADMIN_RESULT, "children", allow_duplicate=True),
                 Output(ids.ADMIN_REFRESH, "data", allow_duplicate=True),
                 Input(ids.ADMIN_DISABLE_USER, "n_clicks"), State(ids.ADMIN_DISABLE_NAME, "value"),
                 prevent_initial_call=True)(disable_user)
    app.callback(Output(ids.ADMIN_USERS, "children"), Input(ids.ADMIN_REFRESH, "data"),
                 prevent_initial_call=True)(refresh_tables)
