"""The shell's live status: "data as of" per domain, the adapters' heartbeat and the link banner.

The browser polls every second; the callback reads the per-domain version counters, the runner's
heartbeat and the feeds' compact health (one pipeline) and answers ``no_update`` unless something
changed, so an idle page costs almost nothing. A stale or down feed is named on every page.
"""

from __future__ import annotations

import time
from typing import Any

import dash
import redis
from dash import Input, Output, State, html, no_update
from dash.exceptions import PreventUpdate

from app import i18n
from app.live.status import LiveStatus, feed_states, live_status, signature
from app.model import roles
from app.model.feeds import STALE_STATES
from app.web.context import redis_client, require_roles
from layouts import ids, pulse
from layouts.components import domain_title, format_time

LINK_LOST = "lost"


def _timed(key: str, at: float, which: str, **values: str) -> list[Any]:
    """A line of the strip whose time the page keeps current each second (assets/cityops.js
    writes the data times of app/web/live_versions.py's answer into <time data-domain>, "" for
    the newest): the words around it are the catalogue's, in the reader's language."""
    before, _, after = i18n.t(key, time="\x00", **values).partition("\x00")
    return [part for part in (before, html.Time(format_time(at), **{"data-domain": which}), after)
            if not isinstance(part, str) or part]


def _status(status: LiveStatus, feeds: list[list[str]]) -> list[Any]:
    versions = status.versions
    newest = max((t for _, t in versions.values() if t is not None), default=None)
    t = i18n.t
    chips: list[Any] = [html.Span(
        _timed("status.as_of", newest, "") if newest else t("status.no_live_data"),
        className="as-of-main")]
    stale_domains = {domain for _, domain, state in feeds if state in STALE_STATES}
    for domain, (_, updated_at) in versions.items():
        label = format_time(updated_at) if updated_at else t("status.no_data")
        name = domain_title(domain)
        if domain in stale_domains:
            # Old data must never pass for new: say it, and dim it.
            chips.append(html.Span(t("status.domain_stale", domain=name, time=label),
                                   className="chip stale", title=t("status.domain_stale_hint")))
        elif updated_at:
            chips.append(html.Span(_timed("status.domain", updated_at, domain, domain=name),
                                   className="chip has-data",
                                   title=t("status.domain_as_of_hint", domain=name)))
        else:
            chips.append(html.Span(t("status.domain", domain=name, time=label), className="chip no-data",
                                   title=t("status.domain_as_of_hint", domain=name)))
    chips.append(html.Span(t("status.runner_ok") if status.runner_alive else t("status.runner_down"),
                           className="chip " + ("ok" if status.runner_alive else "bad")))
    troubled = [(feed, state) for feed, _, state in feeds if state != "ok"]
    for feed, state in troubled:
        last = status.feeds[feed].get("last_success")
        # The feed's name comes from configuration and stays as it is; its state is ours.
        shown = i18n.label("feed_state", state)
        text = (t("status.feed_since", feed=feed, state=shown, time=format_time(float(last)))
                if last and state in STALE_STATES else t("status.feed", feed=feed, state=shown))
        chips.append(html.Span(text, className=f"chip feed-{state}"))
    if feeds and not troubled:
        chips.append(html.Span(t("status.feeds_ok", count=i18n.format_number(len(feeds))),
                               className="chip ok"))
    return chips


@require_roles(roles.TOKEN_ROLES)
def refresh(_pulse: Any, seen: Any) -> tuple[Any, Any, Any]:
    """Re-render the status strip only when a version, the runner or a feed's state changed."""
    try:
        status = live_status(redis_client())
    except redis.RedisError:
        if seen == LINK_LOST:
            raise PreventUpdate from None  # an empty 204: the cheapest answer Dash has
        return no_update, False, LINK_LOST
    now = time.time()
    changed = signature(status, now)
    if changed == seen:
        raise PreventUpdate
    return _status(status, feed_states(status, now)), True, changed


def register(app: dash.Dash) -> None:
    """Register the live-status callback and the clientside theme (the clock is plain script)."""
    trigger, running = pulse.gate(app, ids.SEEN)
    app.callback(Output(ids.DATA_AS_OF, "children"), Output(ids.LINK_BANNER, "hidden"),
                 Output(ids.SEEN, "data"), trigger, State(ids.SEEN, "data"),
                 running=running)(refresh)
    app.clientside_callback(
        dash.ClientsideFunction(namespace="cityops", function_name="theme"),
        Output(ids.SHELL, "className"), Input(ids.PAGE_LOCATION, "pathname"))

