"""The audit log on /admin: filtered by who, what and since when, paged back from the newest, with
times in the city's time zone and actions and outcomes in words (issue 19). Reading goes through
app.audit.search; the page only shows."""

from __future__ import annotations

import time
from typing import Any

import dash
import redis
from dash import Input, Output, State, ctx, dcc, html, no_update

from app import audit, i18n
from app.alerts.actions import ACTIONS as ALERT_ACTIONS
from app.model import roles
from app.model.incidents import INCIDENT_ACTIONS, TASK_ACTIONS
from app.web.context import redis_client, require_roles
from layouts import audit_targets, ids
from layouts.components import actor_words, addr_words, format_time

PAGE_ROWS = 50
ACTOR_MAX = 64
# Time windows offered, in seconds (0: any time).
WINDOWS: dict[str, int] = {"hour": 3600, "day": 86_400, "week": 7 * 86_400, "month": 30 * 86_400,
                           "all": 0}
# Actions recorded as such (app.audit.record's callers); each has its words in the catalogue.
NAMED_ACTIONS: tuple[str, ...] = (
    "login", "login_failed", "login_throttled", "logout", "language", "refused", "token_refused",
    "display_login", "display_pair", "display_pair_throttled", "user_add", "user_enable",
    "user_disable", "user_role", "user_domains", "user_departments", "user_passwd", "user_delete",
    "login_unlock", "token_create", "token_revoke", "audit_archive", "audit_export", "export",
    "cap_issue", "alert_sound", "webhook_add", "webhook_change", "webhook_secret", "webhook_test",
    "webhook_remove", "shift_sign_on", "shift_sign_off", "shift_note", "shift_handover",
    "shift_handover_ack", "incident_declare", "incident_autolink", "incident_notify",
    "incident_tasks", "proposal_create", "proposal_accept", "proposal_dismiss", "proposal_extend",
    "task_auto", "task_escalate", "retention", "feed_pause", "feed_resume")
# Actions named after a step of an alert, incident or task ("alert_ack", "incident_level").
KINDS = {"alert": ALERT_ACTIONS, "incident": INCIDENT_ACTIONS, "task": TASK_ACTIONS}
STEP_WORDS = {"alert": "action", "incident": "incident_action", "task": "audit_log.task"}
OUTCOMES = ("ok", "denied", "conflict", "failed")


def action_words(code: str) -> str:
    """What an audit action means, in the reader's language (never the code as recorded)."""
    if f"audit_log.action.{code}" in i18n.CATALOG:
        return i18n.t(f"audit_log.action.{code}")
    kind, _, step = code.partition("_")
    if kind in KINDS:
        step_words = i18n.t_or(f"{STEP_WORDS[kind]}.{step}", step.replace("_", " "))
        return i18n.t(f"audit_log.{kind}_step", step=step_words)
    return code.replace("_", " ")


def _choices() -> list[dict[str, str]]:
    codes = list(NAMED_ACTIONS) + [f"{kind}_{step}" for kind, steps in KINDS.items()
                                   for step in steps]
    return sorted(({"label": action_words(c), "value": c} for c in dict.fromkeys(codes)),
                  key=lambda o: o["label"])


def _outcome(entry: audit.AuditEntry) -> str:
    words = i18n.t_or(f"audit_log.outcome.{entry.outcome}", entry.outcome)
    return i18n.t("audit_log.repeated", outcome=words, count=i18n.format_number(entry.count)) \
        if entry.count > 1 else words


def _table(r: redis.Redis, entries: list[audit.AuditEntry]) -> Any:
    if not entries:
        return html.P(i18n.t("audit_log.none"), className="muted")
    # What each entry acted on, in words and with a link (never its id: audit_targets).
    target = audit_targets.namer(r)
    return html.Table(className="table admin-audit-table", children=[
        html.Thead(html.Tr([html.Th(i18n.t(h)) for h in (
            "admin.col_when", "admin.col_who", "admin.col_what", "admin.col_target",
            "admin.col_from", "admin.col_outcome")])),
        html.Tbody([html.Tr([html.Td(format_time(e.at, with_date=True)), html.Td(actor_words(e.actor)),
                             html.Td(action_words(e.action)), html.Td(target(e)),
                             html.Td(addr_words(e.addr)),
                             html.Td(_outcome(e), className=f"audit-{e.outcome}")])
                    for e in entries])])


def section() -> html.Section:
    """The part of the admin page: the filters, the newest page and the paging buttons."""
    try:
        r = redis_client()
        entries, more = audit.search(r, limit=PAGE_ROWS)
        listing: Any = _table(r, entries)
    except redis.RedisError:
        entries, more, listing = [], "", html.P(i18n.t("admin.link_lost"))
    return html.Section(className="admin-audit", children=[
        html.H2(i18n.t("admin.audit")),
        dcc.Store(id=ids.ADMIN_AUDIT_PAGE, data={"next": more, "page": 1}),
        html.Div(className="admin-audit-filters", children=[
            html.Div([html.Label(i18n.t("audit_log.actor"), htmlFor=ids.ADMIN_AUDIT_ACTOR),
                      dcc.Input(id=ids.ADMIN_AUDIT_ACTOR, type="text", maxLength=ACTOR_MAX,
                                debounce=True)]),
            html.Div([html.Label(i18n.t("audit_log.target"), htmlFor=ids.ADMIN_AUDIT_TARGET),
                      dcc.Input(id=ids.ADMIN_AUDIT_TARGET, type="text", maxLength=ACTOR_MAX,
                                debounce=True)]),
            html.Div([html.Label(i18n.t("audit_log.action"), htmlFor=ids.ADMIN_AUDIT_ACTION),
                      dcc.Dropdown(id=ids.ADMIN_AUDIT_ACTION, options=_choices(), value=None,
                                   placeholder=i18n.t("audit_log.any_action"))]),
            html.Div([html.Label(i18n.t("audit_log.window"), htmlFor=ids.ADMIN_AUDIT_WINDOW),
                      dcc.Dropdown(id=ids.ADMIN_AUDIT_WINDOW, value="all", clearable=False,
                                   options=[{"label": i18n.t(f"audit_log.window.{w}"), "value": w}
                                            for w in WINDOWS])]),
        ]),
        html.Div(listing, id=ids.ADMIN_AUDIT),
        html.Div(className="admin-user-buttons", children=[
            html.Button(i18n.t("audit_log.newest"), id=ids.ADMIN_AUDIT_NEWEST, className="btn"),
            html.Button(i18n.t("audit_log.older"), id=ids.ADMIN_AUDIT_OLDER, className="btn",
                        disabled=not more),
            html.Span(i18n.t("audit_log.page", page="1"), id=ids.ADMIN_AUDIT_PAGE_NO,
                      className="muted"),
        ]),
    ])


@require_roles(roles.ADMINS)
def show(_refresh: object, actor: object, action: object, window: object, _older: object,
         _newest: object, target: object, page: object) -> tuple[Any, Any, Any, Any]:
    """The page of entries the filters and the paging buttons ask for."""
    if actor is not None and (not isinstance(actor, str) or len(actor) > ACTOR_MAX):
        return html.P(i18n.t("audit_log.bad_actor"), className="error"), no_update, no_update, no_update
    if target is not None and (not isinstance(target, str) or len(target) > ACTOR_MAX):
        return html.P(i18n.t("audit_log.bad_target"), className="error"), no_update, no_update, no_update
    if action is not None and (not isinstance(action, str) or action not in
                               {o["value"] for o in _choices()}):
        return html.P(i18n.t("audit_log.bad_filter"), className="error"), no_update, no_update, no_update
    if not isinstance(window, str) or window not in WINDOWS:
        return html.P(i18n.t("audit_log.bad_filter"), className="error"), no_update, no_update, no_update
    state = page if isinstance(page, dict) else {}
    older = ctx.triggered_id == ids.ADMIN_AUDIT_OLDER and isinstance(state.get("next"), str)
    before = str(state["next"]) if older else ""
    number = (int(state.get("page", 1)) + 1 if isinstance(state.get("page"), int) else 2) if older else 1
    since = time.time() - WINDOWS[window] if WINDOWS[window] else 0.0
    try:
        r = redis_client()
        entries, more = audit.search(r, actor=(actor or "").strip(), action=action or "",
                                     since=since, before=before, limit=PAGE_ROWS,
                                     target=(target or "").strip())
        listing = _table(r, entries)
    except redis.RedisError:
        return html.P(i18n.t("admin.link_lost")), no_update, no_update, no_update
    return (listing, {"next": more, "page": number}, not more,
            i18n.t("audit_log.page", page=i18n.format_number(number)))


def register(app: dash.Dash) -> None:
    """The section's callback (the admin page registers it)."""
    app.callback(Output(ids.ADMIN_AUDIT, "children"), Output(ids.ADMIN_AUDIT_PAGE, "data"),
                 Output(ids.ADMIN_AUDIT_OLDER, "disabled"),
                 Output(ids.ADMIN_AUDIT_PAGE_NO, "children"),
                 Input(ids.ADMIN_REFRESH, "data"), Input(ids.ADMIN_AUDIT_ACTOR, "value"),
                 Input(ids.ADMIN_AUDIT_ACTION, "value"), Input(ids.ADMIN_AUDIT_WINDOW, "value"),
                 Input(ids.ADMIN_AUDIT_OLDER, "n_clicks"), Input(ids.ADMIN_AUDIT_NEWEST, "n_clicks"),
                 Input(ids.ADMIN_AUDIT_TARGET, "value"), State(ids.ADMIN_AUDIT_PAGE, "data"),
                 prevent_initial_call=True)(show)
