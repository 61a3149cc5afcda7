"""The shell's live status: "data as of" per domain, the adapters' heartbeat and the link banner.

The browser polls every second; the callback reads the per-domain version counters (one cheap
pipeline) and answers ``no_update`` unless something changed, so an idle page costs almost nothing.
"""

from __future__ import annotations

from typing import Any

import dash
import redis
from dash import Input, Output, State, html, no_update
from dash.exceptions import PreventUpdate

from app import roles, store
from app.context import redis_client, require_roles
from layouts import ids
from layouts.components import DOMAIN_TITLES, format_time

LINK_LOST = "lost"


def _status(versions: dict[str, tuple[int, float | None]], runner_alive: bool) -> list[Any]:
    newest = max((t for _, t in versions.values() if t is not None), default=None)
    chips: list[Any] = [html.Span(
        f"Data as of {format_time(newest)}" if newest else "No live data yet",
        className="as-of-main")]
    for domain, (_, updated_at) in versions.items():
        state = "has-data" if updated_at else "no-data"
        label = format_time(updated_at) if updated_at else "no data"
        chips.append(html.Span(f"{DOMAIN_TITLES[domain]}: {label}",
                               className=f"chip {state}", title=f"{DOMAIN_TITLES[domain]} data as of"))
    chips.append(html.Span("Adapters running" if runner_alive else "Adapters not running",
                           className="chip " + ("ok" if runner_alive else "bad")))
    return chips


@require_roles(roles.TOKEN_ROLES)
def refresh(_tick: int | None, seen: Any) -> tuple[Any, Any, Any]:
    """Re-render the status strip only when a domain version or the runner state changed."""
    try:
        versions, runner_alive = store.live_status(redis_client())
    except redis.RedisError:
        if seen == LINK_LOST:
            raise PreventUpdate from None  # an empty 204: the cheapest answer Dash has
        return no_update, False, LINK_LOST
    signature = [[d, v, t] for d, (v, t) in versions.items()] + [runner_alive]
    if signature == seen:
        raise PreventUpdate
    return _status(versions, runner_alive), True, signature


def register(app: dash.Dash) -> None:
    """Register the live-status callback and the clientside theme and clock."""
    app.callback(Output(ids.DATA_AS_OF, "children"), Output(ids.LINK_BANNER, "hidden"),
                 Output(ids.SEEN, "data"), Input(ids.TICK, "n_intervals"),
                 State(ids.SEEN, "data"))(refresh)
    app.clientside_callback(
        dash.ClientsideFunction(namespace="cityops", function_name="theme"),
        Output(ids.SHELL, "className"), Input(ids.PAGE_LOCATION, "pathname"))
    app.clientside_callback(
        dash.ClientsideFunction(namespace="cityops", function_name="clock"),
        Output(ids.CLOCK, "children"), Input(ids.TICK, "n_intervals"),
        State(ids.CITY_TIMEZONE, "data"))
