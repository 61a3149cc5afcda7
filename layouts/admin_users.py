"""The users part of /admin: pick a user, change their role and domains, reset their password (the
new one shown once), enable, disable or delete them (the last three destructive ones confirmed).
Every change goes through app.accounts.admin (role-checked and audited, as for the CLI)."""

from __future__ import annotations

import time
from typing import Any

import dash
import redis
from dash import Input, Output, State, ctx, dcc, html, no_update

from app import accounts, i18n
from app.accounts import admin
from app.model import roles
from app.model.domains import DOMAINS
from app.model.principal import Principal
from app.web.context import client_addr, current_principal, redis_client, require_roles
from layouts import ids

# The buttons of the form, by component id: what each does (the confirmed ones report
# submit_n_clicks, the others n_clicks).
ACTIONS = {ids.ADMIN_USER_SAVE: "save", ids.ADMIN_USER_ENABLE: "enable",
           ids.ADMIN_USER_DISABLE: "disable", ids.ADMIN_USER_RESET: "reset",
           ids.ADMIN_USER_DELETE: "delete"}


def _choices() -> list[dict[str, str]]:
    """The users to pick from, named with their role and state in the reader's language."""
    rows = admin.list_users(redis_client())
    return [{"label": i18n.t("admin_users.choice", user=u["name"],
                             role=i18n.label("role", u.get("role", "")),
                             state=i18n.t("admin.disabled" if u.get("disabled") == "1"
                                          else "admin.active")),
             "value": u["name"]} for u in rows]


# The confirmations name the picked user in the browser, as it is picked: filled by the server,
# a pick followed at once by a press asked "Delete the account 'admin'?" and deleted the other.
CONFIRMED = ("disable", "reset", "delete")
USER_SLOT = "{user}"
CONFIRMS_JS = """function (name, texts) {
    return ['disable', 'reset', 'delete'].map(function (action) {
        return name && texts ? texts[action].split('%s').join(name) : '';
    });
}""" % USER_SLOT


def _confirmed(component_id: str, label: str, danger: bool = True) -> dcc.ConfirmDialogProvider:
    """A button that asks first (its message names the picked user: see ``fill``)."""
    return dcc.ConfirmDialogProvider(
        html.Button(label, className="btn btn-danger" if danger else "btn"),
        id=component_id, message="")


def section() -> html.Section:
    """The part of the admin page: the picker, the role and domains, and the buttons."""
    try:
        choices = _choices()
    except redis.RedisError:
        choices = []
    return html.Section(className="admin-users", children=[
        html.H2(i18n.t("admin_users.title")),
        html.Div(className="card admin-user-form", children=[
            html.Label(i18n.t("admin_users.pick"), htmlFor=ids.ADMIN_USER_PICK),
            dcc.Dropdown(id=ids.ADMIN_USER_PICK, options=choices, value=None, clearable=False,
                         placeholder=i18n.t("admin_users.pick_placeholder")),
            html.Label(i18n.t("admin.role"), htmlFor=ids.ADMIN_USER_ROLE),
            dcc.Dropdown(id=ids.ADMIN_USER_ROLE,
                         options=[{"label": i18n.label("role", role), "value": role}
                                  for role in roles.USER_ROLES],
                         value=None, clearable=False),
            html.Fieldset([html.Legend(i18n.t("admin.col_domains")),
                           dcc.Checklist(id=ids.ADMIN_USER_DOMAINS,
                                         options=[{"label": i18n.label("domain", d), "value": d}
                                                  for d in DOMAINS],
                                         value=[], className="checklist inline",
                                         inputClassName="admin-user-check")]),
            html.P(i18n.t("admin_users.domains_note"), className="muted"),
            html.Div(className="admin-user-buttons", children=[
                html.Button(i18n.t("admin_users.save"), id=ids.ADMIN_USER_SAVE, className="btn"),
                html.Button(i18n.t("admin_users.enable"), id=ids.ADMIN_USER_ENABLE, className="btn"),
                _confirmed(ids.ADMIN_USER_DISABLE, i18n.t("admin_users.disable")),
                _confirmed(ids.ADMIN_USER_RESET, i18n.t("admin_users.reset"), danger=False),
                _confirmed(ids.ADMIN_USER_DELETE, i18n.t("admin_users.delete")),
            ]),
        ]),
        html.Div(id=ids.ADMIN_USER_RESULT, className="admin-result", role="status"),
        dcc.Store(id=ids.ADMIN_USER_CONFIRMS, data={
            action: i18n.t(f"admin_users.{action}_confirm", user=USER_SLOT) for action in CONFIRMED}),
    ])


def _principal() -> Principal:
    principal = current_principal()
    assert principal is not None  # require_roles refused anonymous callers
    return principal


def _error(key: str, **values: str) -> html.Span:
    return html.Span(i18n.t(key, **values), className="error")


@require_roles(roles.ADMINS)
def fill(name: object) -> tuple[Any, Any]:
    """The picked user's role and domains into the form (the confirmations: CONFIRMS_JS)."""
    found = admin.get_user(redis_client(), name) if isinstance(name, str) else None
    if found is None:
        return no_update, no_update
    domains = [d for d in str(found.get("domains", "")).split(",") if d in DOMAINS]
    return found.get("role") or None, domains


def _change(action: str, r: redis.Redis, actor: Principal, target: str, role: object,
            domains: object) -> object:
    """Carry out ``action`` on ``target``; the message to show (AccountError when refused)."""
    addr = client_addr()
    if action == "save":
        if not isinstance(role, str) or role not in roles.USER_ROLES:
            return _error("admin_users.bad_role")
        if not isinstance(domains, list) or not all(isinstance(d, str) and d in DOMAINS
                                                    for d in domains):
            return _error("admin_users.bad_domains")
        # Domains limit emergency staff only (docs/security.md): other roles keep none.
        chosen = tuple(d for d in DOMAINS if d in domains) if role == roles.EMERGENCY else ()
        stored = admin.get_user(r, target) or {}
        if role != stored.get("role"):
            admin.set_role(r, actor, target, role, addr=addr)
        if ",".join(chosen) != stored.get("domains", ""):
            admin.set_domains(r, actor, target, chosen, addr=addr)
        return html.Span(i18n.t("admin_users.saved", user=target, role=i18n.label("role", role)),
                         className="ok")
    if action in ("enable", "disable"):
        admin.set_disabled(r, actor, target, action == "disable", addr=addr)
        return html.Span(i18n.t(f"admin_users.{action}d", user=target), className="ok")
    if action == "reset":
        password = admin.reset_password(r, actor, target, addr=addr)
        return html.Div(className="ok", children=[
            html.P(i18n.t("admin_users.password_once", user=target)),
            html.Code(password, className="admin-password"),
            html.P(i18n.t("admin_users.password_how"), className="muted")])
    admin.delete_user(r, actor, target, addr=addr)
    return html.Span(i18n.t("admin_users.deleted", user=target), className="ok")


@require_roles(roles.ADMINS)
def act(_save: int | None, _enable: int | None, _disable: int | None, _reset: int | None,
        _delete: int | None, name: object, role: object, domains: object) -> tuple[object, object]:
    """A button of the form (the destructive ones once confirmed) on the picked user."""
    action = ACTIONS.get(str(ctx.triggered_id))
    if action is None or not any(t["value"] for t in ctx.triggered):
        return no_update, no_update
    if not isinstance(name, str) or not name:
        return _error("admin_users.pick_first"), no_update
    r = redis_client()
    actor = _principal()
    if admin.get_user(r, name) is None:
        return _error("admin_users.gone"), time.time()
    # One's own account only keeps its role: no lock-out by a slip (the CLI can still do it).
    if name == actor.name and not (action == "save" and role == actor.role):
        return _error("admin_users.not_self"), no_update
    try:
        message = _change(action, r, actor, name, role, domains)
    except admin.LastAdmin:
        return _error("admin_users.last_admin"), no_update
    except admin.NotPermitted:
        return _error("admin_users.not_permitted"), no_update
    except accounts.AccountError as exc:
        return _error("admin_users.refused", why=str(exc)), no_update
    return message, time.time()


@require_roles(roles.ADMINS)
def refresh_choices(_version: object) -> object:
    """The users to pick from again, after a change."""
    try:
        return _choices()
    except redis.RedisError:
        return no_update


def register(app: dash.Dash) -> None:
    """The section's callbacks (the admin page registers them)."""
    app.callback(Output(ids.ADMIN_USER_ROLE, "value"), Output(ids.ADMIN_USER_DOMAINS, "value"),
                 Input(ids.ADMIN_USER_PICK, "value"), prevent_initial_call=True)(fill)
    app.clientside_callback(CONFIRMS_JS, Output(ids.ADMIN_USER_DISABLE, "message"),
                            Output(ids.ADMIN_USER_RESET, "message"),
                            Output(ids.ADMIN_USER_DELETE, "message"),
                            Input(ids.ADMIN_USER_PICK, "value"), State(ids.ADMIN_USER_CONFIRMS, "data"),
                            prevent_initial_call=True)
    app.callback(Output(ids.ADMIN_USER_RESULT, "children"),
                 Output(ids.ADMIN_REFRESH, "data", allow_duplicate=True),
                 Input(ids.ADMIN_USER_SAVE, "n_clicks"), Input(ids.ADMIN_USER_ENABLE, "n_clicks"),
                 Input(ids.ADMIN_USER_DISABLE, "submit_n_clicks"),
                 Input(ids.ADMIN_USER_RESET, "submit_n_clicks"),
                 Input(ids.ADMIN_USER_DELETE, "submit_n_clicks"),
                 State(ids.ADMIN_USER_PICK, "value"), State(ids.ADMIN_USER_ROLE, "value"),
                 State(ids.ADMIN_USER_DOMAINS, "value"), prevent_initial_call=True)(act)
    app.callback(Output(ids.ADMIN_USER_PICK, "options"), Input(ids.ADMIN_REFRESH, "data"),
                 prevent_initial_call=True)(refresh_choices)
