"""The feeds part of /admin (issue 19): every configured feed with its health in words (ok, stale,
down, waiting, paused), its last success in the city's time zone, its last error and the rows it
rejected; an admin pauses a feed (after a confirmation) and resumes it. Every change goes through
app.live.feeds (role-checked and audited, as for `cityops feeds pause`). Feed text (errors,
reasons, rejected rows) is untrusted: it goes into components as text, which Dash escapes.

The table refreshes by itself every ``REFRESH_MS`` while it is on screen, through a tick gate
(layouts/pulse.py: a slow answer is not asked for again before it is back). It is redrawn only
when what it shows changed, so an unchanged table keeps the admin's scroll and open lists."""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any, Mapping

import dash
import redis
from dash import ALL, Input, Output, State, ctx, dcc, html, no_update
from dash.exceptions import PreventUpdate
from plotly.utils import PlotlyJSONEncoder

from app import i18n
from app.live import feeds
from app.model import roles
from app.model.domains import DOMAINS
from app.model.feeds import FeedHealth
from app.model.principal import Principal
from app.web.context import client_addr, current_principal, redis_client, require_roles, settings
from layouts import ids, pulse
from layouts.components import format_time

ERROR_SHOWN = 300  # characters of a feed's last error on the page (the record keeps 500)
EXCERPT_SHOWN = 200  # characters of a rejected row's excerpt (the stream keeps 2 KB)
# Feed health moves at the pace of polls (seconds to minutes): a few seconds is fresh enough for
# an admin watching, and light enough to leave the page open all day.
REFRESH_MS = 7_000


def configured() -> list[str]:
    """The feeds the settings configure (a demo city's feeds are known from their reports)."""
    return [str(table["name"]) for table in settings().feeds if table.get("name")]


def _when(ts: float | None) -> str:
    return format_time(ts, with_date=True) if ts else ""


def _float(value: object) -> float | None:
    try:
        return float(str(value))
    except ValueError:
        return None


def _state(health: FeedHealth) -> html.Td:
    words: list[Any] = [html.Span(i18n.label("feed_state", health.state),
                                  className=f"admin-feed-state feed-{health.state}")]
    if health.paused:
        words += [html.Br(), html.Span(i18n.t("admin_feeds.paused_by", user=health.paused_by,
                                              time=_when(health.paused_at)), className="muted")]
    return html.Td(words)


def _error(health: FeedHealth) -> html.Td:
    if not health.last_error:
        return html.Td(i18n.t("admin_feeds.no_error"), className="muted")
    shown: list[Any] = [html.Span(health.last_error[:ERROR_SHOWN], className="admin-feed-error")]
    if health.last_error_at:
        shown += [html.Br(), html.Span(i18n.t("admin_feeds.error_at",
                                              time=_when(health.last_error_at)), className="muted")]
    return html.Td(shown)


def _rejected(view: feeds.FeedOverview, clicks: int) -> html.Td:
    """The count of rejected rows and the newest of them, folded; ``clicks`` on the fold so far
    (odd: the admin opened it), kept across redraws so that a refresh does not close it."""
    count = i18n.t("admin_feeds.rejected_count", count=i18n.format_number(view.dead_letters))
    if not view.newest_rejected:
        return html.Td(count)
    rows = [html.Li([
        html.Span(i18n.t("admin_feeds.rejected_row", time=_when(_float(letter.get("at", ""))),
                         reason=letter.get("reason", ""))),
        html.Br(), html.Code(letter.get("excerpt", "")[:EXCERPT_SHOWN])])
        for letter in view.newest_rejected]
    return html.Td([count, html.Details(className="admin-feed-letters", open=clicks % 2 == 1, children=[
        html.Summary(i18n.t("admin_feeds.newest_rejected",
                            count=i18n.format_number(len(view.newest_rejected))),
                     id={"type": ids.ADMIN_FEED_LETTERS, "feed": view.health.feed}, n_clicks=clicks),
        html.Ul(rows)])])


def _action(health: FeedHealth) -> html.Td:
    if health.paused:
        return html.Td(html.Button(i18n.t("admin_feeds.resume"), className="btn btn-small",
                                   id={"type": ids.ADMIN_FEED_RESUME, "feed": health.feed}))
    return html.Td(dcc.ConfirmDialogProvider(
        html.Button(i18n.t("admin_feeds.pause"), className="btn btn-small btn-danger"),
        id={"type": ids.ADMIN_FEED_PAUSE, "feed": health.feed},
        message=i18n.t("admin_feeds.pause_confirm", feed=health.feed)))


def _row(view: feeds.FeedOverview, clicks: int) -> html.Tr:
    health = view.health
    domain = i18n.label("domain", health.domain) if health.domain in DOMAINS else health.domain
    return html.Tr(className="admin-feed-row", **{"data-feed": health.feed}, children=[
        html.Td(health.feed), html.Td(domain), _state(health),
        html.Td(_when(health.last_success) or i18n.t("admin_feeds.never")),
        _error(health), _rejected(view, clicks), _action(health)])


def _table(views: list[feeds.FeedOverview] | None, opened: Mapping[str, int]) -> Any:
    """The feeds' table; a line saying there are none, or that the link is lost (None)."""
    if views is None:
        return html.P(i18n.t("admin.link_lost"))
    if not views:
        return html.P(i18n.t("admin_feeds.none"), className="muted")
    return html.Table(className="table admin-feeds-table", children=[
        html.Thead(html.Tr([html.Th(i18n.t(f"admin_feeds.{h}")) for h in (
            "col_feed", "col_domain", "col_state", "col_success", "col_error", "col_rejected",
            "col_actions")])),
        html.Tbody([_row(view, opened.get(view.health.feed, 0)) for view in views])])


def _views() -> list[feeds.FeedOverview] | None:
    """Every feed's overview (None while Redis is away)."""
    try:
        return feeds.overview(redis_client(), configured())
    except redis.RedisError:
        return None


def listing(opened: Mapping[str, int] | None = None) -> Any:
    """The feeds' table, with the rejected rows of the feeds in ``opened`` (feed -> clicks on
    their fold) open as the admin left them."""
    return _table(_views(), opened or {})


def digest(shown: Any) -> str:
    """A short digest of a component tree: equal digests, equal tables on screen."""
    text = json.dumps(shown, cls=PlotlyJSONEncoder, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def shown_digest(views: list[feeds.FeedOverview] | None) -> str:
    """The digest of what the table shows of ``views``, whatever the admin opened in it."""
    return digest(_table(views, {}))


def section() -> html.Section:
    """The part of the admin page: the feeds' table and the answer to the last pause or resume."""
    views = _views()
    table = _table(views, {})
    return html.Section(className="admin-feeds", children=[
        html.H2(i18n.t("admin.feeds")),
        html.P(i18n.t("admin_feeds.intro"), className="muted"),
        html.Div(id=ids.ADMIN_FEED_RESULT, className="admin-result", role="status"),
        html.Div(table, id=ids.ADMIN_FEEDS),
        dcc.Store(id=ids.ADMIN_FEEDS_SHOWN, data=shown_digest(views)),
        dcc.Interval(id=ids.ADMIN_FEEDS_TICK, interval=REFRESH_MS),
        *pulse.stores(ids.ADMIN_FEEDS, watch=ids.ADMIN_FEEDS, tick=ids.ADMIN_FEEDS_TICK),
        html.Div(className="admin-user-buttons", children=[
            html.Button(i18n.t("admin_feeds.reload"), id=ids.ADMIN_FEEDS_RELOAD, className="btn")]),
    ])


def _actor() -> Principal:
    principal = current_principal()
    assert principal is not None  # require_roles refused anonymous callers
    return principal


def _pressed() -> str | None:
    """The feed whose button was pressed (None when the callback ran for no press: a redraw)."""
    trigger = ctx.triggered_id
    if not isinstance(trigger, dict) or not any(t["value"] for t in ctx.triggered):
        return None
    return str(trigger.get("feed", ""))


def _change(pause: bool) -> tuple[object, object]:
    feed = _pressed()
    if feed is None:
        return no_update, no_update
    change = feeds.pause if pause else feeds.resume
    try:
        changed = change(redis_client(), _actor(), feed, configured(), addr=client_addr())
    except feeds.FeedError:
        return html.Span(i18n.t("admin_feeds.unknown"), className="error"), time.time()
    key = ("paused" if changed else "already_paused") if pause else (
        "resumed" if changed else "not_paused")
    return html.Span(i18n.t(f"admin_feeds.{key}", feed=feed), className="ok"), time.time()


@require_roles(roles.ADMINS)
def pause(_confirmed: list[int | None]) -> tuple[object, object]:
    """Pause the feed of the confirmed row: no runner polls it until it is resumed."""
    return _change(True)


@require_roles(roles.ADMINS)
def resume(_clicks: list[int | None]) -> tuple[object, object]:
    """Resume the feed of the pressed row: it is polled again within one poll."""
    return _change(False)


@require_roles(roles.ADMINS)
def refresh(_changed: object, _reload: object, _pulse: object, shown: object,
            clicks: list[int | None], folds: list[dict[str, str]]) -> tuple[object, str]:
    """The feeds again: after a change on the page or when asked, and on the table's timer when
    what it shows has changed (an unchanged table is left as it is on screen). Rejected rows the
    admin opened stay open."""
    views = _views()
    now = shown_digest(views)
    if ctx.triggered_id == ids.pulse_part(ids.ADMIN_FEEDS, ids.PULSE, ids.ADMIN_FEEDS_TICK) and now == shown:
        raise PreventUpdate
    opened = {str(fold.get("feed")): int(n or 0) for fold, n in zip(folds, clicks, strict=False)
              if isinstance(fold, dict)}
    return _table(views, opened), now


def register(app: dash.Dash) -> None:
    """The section's callbacks (the admin page registers them)."""
    app.callback(Output(ids.ADMIN_FEED_RESULT, "children"),
                 Output(ids.ADMIN_REFRESH, "data", allow_duplicate=True),
                 Input({"type": ids.ADMIN_FEED_PAUSE, "feed": ALL}, "submit_n_clicks"),
                 prevent_initial_call=True)(pause)
    app.callback(Output(ids.ADMIN_FEED_RESULT, "children", allow_duplicate=True),
                 Output(ids.ADMIN_REFRESH, "data", allow_duplicate=True),
                 Input({"type": ids.ADMIN_FEED_RESUME, "feed": ALL}, "n_clicks"),
                 prevent_initial_call=True)(resume)
    trigger, running = pulse.gate(app, ids.ADMIN_FEEDS, tick=ids.ADMIN_FEEDS_TICK)
    app.callback(Output(ids.ADMIN_FEEDS, "children"), Output(ids.ADMIN_FEEDS_SHOWN, "data"),
                 Input(ids.ADMIN_REFRESH, "data"), Input(ids.ADMIN_FEEDS_RELOAD, "n_clicks"), trigger,
                 State(ids.ADMIN_FEEDS_SHOWN, "data"),
                 State({"type": ids.ADMIN_FEED_LETTERS, "feed": ALL}, "n_clicks"),
                 State({"type": ids.ADMIN_FEED_LETTERS, "feed": ALL}, "id"), running=running,
                 prevent_initial_call=True)(refresh)
