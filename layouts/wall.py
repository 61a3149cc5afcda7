"""The wall display (/wall): dark, large, readable from across the operations room.

The city view holds the live map, one card per domain (KPI tiles with 24 h sparklines, dimmed and
labelled when a feed of the domain is stale), the alert panel and the feed-health strip.
``/wall?rotate=SECONDS`` adds one view per domain (its tiles large, the map showing its layers) and
the browser cycles through them (assets/wall.js), pinned to the city view while a critical alert
is unacknowledged. A slow heartbeat tells the browser the server's app version, so a wall that
runs for days reloads itself after a deploy or a long loss of the link.
"""

from __future__ import annotations

import functools
import hashlib
import time
from importlib import metadata
from pathlib import Path
from typing import Any

import dash
from dash import Input, Output, State, dcc, html
from dash.exceptions import PreventUpdate

from app import i18n
from app.model import roles
from app.model.domains import DOMAINS
from app.situation.mapdata import LAYERS
from app.web.context import require_roles
from layouts import alert_panel, ids, wall_tiles
from layouts.components import domain_title, page_layout
from layouts.livemap import WALL, live_map, register_map

PATH = "/wall"
TEXT: dict[str, str] = {"title": "City operations", "city": "City"}
MIN_ROTATE_S = 2
MAX_ROTATE_S = 3600
BEAT_MS = 5000  # how often the browser asks for the server's version: slow, it is only a heartbeat
CITY = "all"  # not "city": that is the city-management domain
ASSETS = Path(__file__).resolve().parents[1] / "assets"

WALL_ZOOM = 12.0  # the wall's maps open on the whole city (the soak's clients use it too)


def domain_layers(domain: str) -> tuple[str, ...]:
    """The map layers of one domain's view: its own layers and the alerts (and CAP warnings, which
    belong to city management)."""
    return tuple(layer.key for layer in LAYERS if layer.domain in (domain, "alerts")
                 or (layer.key == "warnings" and domain == "city"))


def rotate_seconds(value: Any) -> int:
    """The rotation period from the query (0: no rotation), held within sane bounds."""
    try:
        seconds = int(float(str(value)))
    except (TypeError, ValueError, OverflowError):  # "inf" overflows int(); "nan" is a ValueError
        return 0
    if seconds <= 0:
        return 0
    return max(MIN_ROTATE_S, min(seconds, MAX_ROTATE_S))


@functools.lru_cache(maxsize=1)
def app_version() -> str:
    """A digest of what a browser has loaded: the package, Dash, the callbacks and the assets.

    The same on every worker running the same code (no start time or process id in it), so a wall
    reloads after a deploy but not when a load balancer sends it to another worker.
    """
    parts = [dash.__version__]
    try:
        parts.append(metadata.version("cityops"))
    except metadata.PackageNotFoundError:
        parts.append("dev")
    try:
        parts += sorted(dash.get_app().callback_map)
    except Exception:  # no app yet (unit tests): the assets still say enough
        pass
    for path in sorted(ASSETS.rglob("*.js")) + sorted(ASSETS.rglob("*.css")):
        stat = path.stat()
        parts.append(f"{path.relative_to(ASSETS)}:{stat.st_size}:{int(stat.st_mtime)}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def _view(name: str, children: list[Any]) -> html.Section:
    return html.Section(children, className=f"wall-view view-{name}", **{"data-view": name})


def _city_view(data: wall_tiles.WallData) -> html.Section:
    return _view(CITY, [
        html.Div(live_map(ids.WALL_MAP, theme=WALL, controls=False, zoom=WALL_ZOOM),
                 className="card wall-map"),
        html.Div(wall_tiles.cards(data), id=ids.WALL_TILES, className="wall-grid"),
    ])


def _domain_view(domain: str, data: wall_tiles.WallData) -> html.Section:
    return _view(domain, [
        html.Div(wall_tiles.cards(data, (domain,), big=True), id=ids.WALL_DOMAIN_TILES[domain],
                 className="wall-domain-tiles"),
        html.Div(live_map(ids.WALL_DOMAIN_MAP[domain], layers=domain_layers(domain), theme=WALL,
                          controls=False, zoom=WALL_ZOOM), className="card wall-map"),
    ])


@page_layout(PATH)
def layout(**query: str) -> html.Div:
    """The city at a glance (and, with ``rotate``, one view per domain that the kiosk cycles)."""
    seconds = rotate_seconds(query.get("rotate"))
    views = [CITY] + (list(DOMAINS) if seconds else [])
    data = wall_tiles.read_wall()
    sections = [_city_view(data)] + [_domain_view(d, data) for d in views[1:]]
    return html.Div(id=ids.WALL, className="wall", children=[
        html.Div(className="wall-head", children=[
            html.H1(i18n.t_or("wall.title", TEXT["title"]), id=ids.PAGE_TITLE),
            html.Span(i18n.t_or("wall.city", TEXT["city"]), id=ids.WALL_VIEW_LABEL,
                      className="wall-view-label"),
            html.Div(wall_tiles.feed_strip(data.feeds), id=ids.WALL_FEEDS, className="feed-strip",
                     role="status", **{"aria-label": wall_tiles.TEXT["feeds"]}),
        ]),
        html.Div(id=ids.WALL_LINK_NOTE, className="wall-link-note", hidden=True, role="alert"),
        html.Div(className="wall-layout", children=[
            html.Div(sections, id=ids.WALL_VIEWS, className="wall-views show-all"),
            alert_panel.panel(),
        ]),
        dcc.Store(id=ids.WALL_ROTATION, data={"seconds": seconds, "views": views,
                                               "titles": {CITY: i18n.t_or("wall.city", TEXT["city"])}
                                               | {d: domain_title(d) for d in DOMAINS}}),
        dcc.Store(id=ids.WALL_ROTATION_STATE),
        dcc.Interval(id=ids.WALL_BEAT_TICK, interval=BEAT_MS),
        dcc.Store(id=ids.WALL_BEAT),
        dcc.Store(id=ids.WALL_LINK, data={"version": app_version(), "received": None}),
    ])


@require_roles(roles.PAGE_BY_PATH[PATH].roles)
def refresh_city(_seen: object) -> tuple[list[Any], list[Any]]:
    """Redraw the domain cards and the feed strip when the shell saw a change."""
    data = wall_tiles.read_wall()
    if not data.ok:
        raise PreventUpdate  # the shell's banner says the link is lost; keep what is shown
    return wall_tiles.cards(data), wall_tiles.feed_strip(data.feeds)


def _refresh_domain(domain: str):  # type: ignore[no-untyped-def]
    @require_roles(roles.PAGE_BY_PATH[PATH].roles)
    def refresh(_seen: object) -> list[Any]:
        data = wall_tiles.read_wall()
        if not data.ok:
            raise PreventUpdate
        return wall_tiles.cards(data, (domain,), big=True)

    refresh.__name__ = f"refresh_wall_{domain}"
    return refresh


@require_roles(roles.PAGE_BY_PATH[PATH].roles)
def beat(_n: int | None) -> dict[str, Any]:
    """The heartbeat: the server's app version and time (no Redis: it says the server is up)."""
    return {"version": app_version(), "at": time.time()}


def register(app: dash.Dash) -> None:
    """Register the page with Dash Pages, its refreshes, maps, rotation and heartbeat."""
    app.callback(Output(ids.WALL_TILES, "children"), Output(ids.WALL_FEEDS, "children"),
                 Input(ids.SEEN, "data"), prevent_initial_call=True)(refresh_city)
    register_map(app, ids.WALL_MAP, PATH, controls=False)
    for domain in DOMAINS:
        app.callback(Output(ids.WALL_DOMAIN_TILES[domain], "children"), Input(ids.SEEN, "data"),
                     prevent_initial_call=True)(_refresh_domain(domain))
        register_map(app, ids.WALL_DOMAIN_MAP[domain], PATH, layers=domain_layers(domain),
                     controls=False)
    app.callback(Output(ids.WALL_BEAT, "data"), Input(ids.WALL_BEAT_TICK, "n_intervals"))(beat)
    app.clientside_callback(
        dash.ClientsideFunction(namespace="cityops_wall", function_name="rotate"),
        Output(ids.WALL_VIEWS, "className"), Output(ids.WALL_VIEW_LABEL, "children"),
        Output(ids.WALL_ROTATION_STATE, "data"),
        Input(ids.TICK, "n_intervals"), Input(ids.ALERT_SOUND, "data"),
        State(ids.WALL_ROTATION, "data"), State(ids.WALL_ROTATION_STATE, "data"))
    app.clientside_callback(
        dash.ClientsideFunction(namespace="cityops_wall", function_name="link"),
        Output(ids.WALL, "className"), Output(ids.WALL_LINK_NOTE, "children"),
        Output(ids.WALL_LINK_NOTE, "hidden"), Output(ids.WALL_LINK, "data"),
        Input(ids.TICK, "n_intervals"), Input(ids.WALL_BEAT, "data"),
        State(ids.WALL_LINK, "data"), State(ids.CITY_TIMEZONE, "data"))
    alert_panel.register(app)
    dash.register_page(__name__, path=PATH, name="Wall", title="Wall · CityOps", layout=layout)
