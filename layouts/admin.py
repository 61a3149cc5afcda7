"""The admin page (/admin): users, API/display tokens and the audit log."""

from __future__ import annotations

import time

import dash
import redis
from dash import Input, Output, State, dcc, html, no_update

from app import accounts, roles, store
from app.context import client_addr, current_principal, redis_client, require_roles
from layouts import ids
from layouts.components import format_time, page_layout, tab_title

PATH = "/admin"
AUDIT_ROWS = 50


def _table(headers: list[str], rows: list[list[str]]) -> html.Table:
    return html.Table(className="table", children=[
        html.Thead(html.Tr([html.Th(h) for h in headers])),
        html.Tbody([html.Tr([html.Td(cell) for cell in row]) for row in rows]),
    ])


def _tables() -> list[html.Table]:
    r = redis_client()
    users = [[u["name"], u.get("role", ""), u.get("domains", "") or "all",
              "disabled" if u.get("disabled") == "1" else "active"]
             for u in store.list_users(r)]
    tokens = [[t.get("name", ""), t.get("id", ""), t.get("role", ""),
               format_time(float(t["created_at"]), with_date=True) if t.get("created_at") else "",
               "revoked" if t.get("revoked") == "1" else "active"]
              for t in store.list_tokens(r)]
    audit = [[format_time(e.at, with_date=True), e.actor, e.action, e.target, e.addr, e.outcome]
             for e in store.read_audit(r, AUDIT_ROWS)]
    return [
        _table(["User", "Role", "Domains", "State"], users),
        _table(["Token", "Id", "Role", "Created", "State"], tokens),
        _table(["When", "Who", "What", "Target", "From", "Outcome"], audit),
    ]


@page_layout(PATH)
def layout(**_query: str) -> html.Div:
    """Forms to add and disable users, and the users, tokens and newest audit entries."""
    try:
        users, tokens, audit = _tables()
    except redis.RedisError:
        return html.Div([html.H1("Administration", id=ids.PAGE_TITLE),
                         html.P("The data link is lost; reload when it is back.")])
    return html.Div([
        html.H1("Administration", id=ids.PAGE_TITLE),
        dcc.Store(id=ids.ADMIN_REFRESH, data=0),
        html.Div(className="card-grid", children=[
            html.Div(className="card", children=[
                html.H3("Add a user"),
                html.Label("User name", htmlFor=ids.ADMIN_NEW_NAME),
                dcc.Input(id=ids.ADMIN_NEW_NAME, type="text", maxLength=64, debounce=False),
                html.Label("Role", htmlFor=ids.ADMIN_NEW_ROLE),
                dcc.Dropdown(id=ids.ADMIN_NEW_ROLE, options=list(roles.USER_ROLES),
                             value=roles.OPERATOR, clearable=False),
                html.Label("Password", htmlFor=ids.ADMIN_NEW_PASSWORD),
                dcc.Input(id=ids.ADMIN_NEW_PASSWORD, type="password",
                          maxLength=accounts.MAX_PASSWORD_LENGTH),
                html.Button("Add user", id=ids.ADMIN_ADD_USER, className="btn"),
            ]),
            html.Div(className="card", children=[
                html.H3("Disable a user"),
                html.Label("User name", htmlFor=ids.ADMIN_DISABLE_NAME),
                dcc.Input(id=ids.ADMIN_DISABLE_NAME, type="text", maxLength=64),
                html.Button("Disable", id=ids.ADMIN_DISABLE_USER, className="btn btn-danger"),
            ]),
        ]),
        html.Div(id=ids.ADMIN_RESULT, className="admin-result", role="status"),
        html.H2("Users"), html.Div(users, id=ids.ADMIN_USERS),
        html.H2("Tokens"), html.Div(tokens, id=ids.ADMIN_TOKENS),
        html.P("Tokens are created with `cityops token create`; their secret is shown only then.",
               className="muted"),
        html.H2("Audit log (newest first)"), html.Div(audit, id=ids.ADMIN_AUDIT),
    ])


def _actor() -> str:
    principal = current_principal()
    return principal.name if principal else "unknown"


@require_roles(roles.ADMINS)
def add_user(_clicks: int | None, name: str | None, role: str | None,
             password: str | None) -> tuple[object, object]:
    """Create a user from the form; the answer says what happened."""
    if not _clicks:
        return no_update, no_update
    r = redis_client()
    try:
        created = accounts.add_user(r, name or "", role or "", password or "")
    except accounts.AccountError as exc:
        return html.Span(str(exc), className="error"), no_update
    store.audit(r, _actor(), "user_add", target=created, addr=client_addr(), detail=f"role={role}")
    return html.Span(f"User '{created}' added as {role}.", className="ok"), time.time()


@require_roles(roles.ADMINS)
def disable_user(_clicks: int | None, name: str | None) -> tuple[object, object]:
    """Disable a user (their sessions end at once)."""
    if not _clicks:
        return no_update, no_update
    r = redis_client()
    try:
        target = accounts.validate_name(name or "")
        if target == _actor():
            raise accounts.AccountError("you cannot disable your own account")
        accounts.set_disabled(r, target, True)
    except accounts.AccountError as exc:
        return html.Span(str(exc), className="error"), no_update
    store.audit(r, _actor(), "user_disable", target=target, addr=client_addr())
    return html.Span(f"User '{target}' disabled.", className="ok"), time.time()


@require_roles(roles.ADMINS)
def refresh_tables(_version: float) -> tuple[object, object, object]:
    """Re-read the tables after a change."""
    return tuple(_tables())  # type: ignore[return-value]


def register(app: dash.Dash) -> None:
    """Register the page and its callbacks."""
    dash.register_page(__name__, path=PATH, name="Admin", title=tab_title(PATH), layout=layout)
    app.callback(Output(ids.ADMIN_RESULT, "children"), Output(ids.ADMIN_REFRESH, "data"),
                 Input(ids.ADMIN_ADD_USER, "n_clicks"), State(ids.ADMIN_NEW_NAME, "value"),
                 State(ids.ADMIN_NEW_ROLE, "value"), State(ids.ADMIN_NEW_PASSWORD, "value"),
                 prevent_initial_call=True)(add_user)
    app.callback(Output(ids.ADMIN_RESULT, "children", allow_duplicate=True),
                 Output(ids.ADMIN_REFRESH, "data", allow_duplicate=True),
                 Input(ids.ADMIN_DISABLE_USER, "n_clicks"), State(ids.ADMIN_DISABLE_NAME, "value"),
                 prevent_initial_call=True)(disable_user)
    app.callback(Output(ids.ADMIN_USERS, "children"), Output(ids.ADMIN_TOKENS, "children"),
                 Output(ids.ADMIN_AUDIT, "children"), Input(ids.ADMIN_REFRESH, "data"),
                 prevent_initial_call=True)(refresh_tables)
