"""The wall display (/wall): dark, large, readable from across the operations room.

The city view holds the live map, one card per domain (KPI tiles with 24 h sparklines, dimmed and
labelled when a feed of the domain is stale), the alert panel and the feed-health strip.
``/wall?rotate=SECONDS`` adds one view per domain (its tiles large, the map showing its layers) and
the browser cycles through them (assets/wall.js), pinned to the city view while a critical alert
is unacknowledged. An incident just declared or raised a level pins the rotation to its own view
for INCIDENT_PIN_S: its area on the map with the linkage panel (what the city knows about the
area). The page's answer of what changed (app/web/live_versions.py, each second) is its heartbeat:
it carries the server's app version, so a wall that runs for days reloads itself after a deploy or
a long loss of the link; the link is judged by the age of its last answer, so a server that hangs
is shown as lost like one that refuses (assets/wall.js).
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

import dash
import redis
from dash import Input, Output, State, dcc, html
from dash.exceptions import PreventUpdate
from plotly.io.json import to_json_plotly

from app import i18n, incidents
from app.incidents.queries import version as incidents_version
from app.live.status import domain_versions
from app.model import roles
from app.model.domains import DOMAINS
from app.model.incidents import LEVEL_RANK
from app.situation.mapdata import LAYERS
from app.web.context import redis_client, require_roles
from app.web.live_versions import app_version
from layouts import alert_panel, ids, linkage_panel, pulse, wall_map, wall_tiles
from layouts.components import TICK_MS, WALL_PATH, domain_title, graph_config, page_layout
from layouts.incident_parts import level_badge, numbered, progress, status_badge, type_name
from layouts.livemap import ALL_LAYERS, WALL

PATH = WALL_PATH
MIN_ROTATE_S = 2
MAX_ROTATE_S = 3600
CITY = "all"  # not "city": that is the city-management domain

WALL_ZOOM = 12.0  # the wall's maps open on the whole city (the soak's clients use it too)
# At WALL_ZOOM the city is about this many pixels across: assets/wall.js zooms each wall map so
# the city fills its panel's shorter side (one more zoom level per doubling), so at 4K the city
# does not sit in a quarter of the map (issue 18).
WALL_FIT_PX = 560
INCIDENT = "incident"  # the pinned incident's view: never in the rotation, only pinned
INCIDENT_PIN_S = 120  # how long a declared or raised incident holds the rotation
PIN_CHECK_S = 5  # the pin is looked at again at least this often (a pin runs out by the clock)
LINKAGE_ROWS = 4  # lines per section of the linkage panel on the wall
# What the cards show moves with: which domains have data and the feeds' states (stale labels),
# the KPIs (values, sparklines) and the open alerts (each domain's status); not every batch.
CARDS_FOLLOW = ("shown", "kpis", "alerts")


def domain_layers(domain: str) -> tuple[str, ...]:
    """The map layers of one domain's view: its own layers and the alerts (and CAP warnings, which
    belong to city management)."""
    return tuple(layer.key for layer in LAYERS if layer.domain in (domain, "alerts")
                 or (layer.key == "warnings" and domain == "city"))


def maps() -> dict[str, tuple[str, ...]]:
    """The wall's live maps and the layers each shows: the city's, then one per domain's view."""
    return {ids.WALL_MAP: ALL_LAYERS, **{ids.WALL_DOMAIN_MAP[d]: domain_layers(d) for d in DOMAINS}}


def rotate_seconds(value: Any) -> int:
    """The rotation period from the query (0: no rotation), held within sane bounds."""
    try:
        seconds = int(float(str(value)))
    except (TypeError, ValueError, OverflowError):  # "inf" overflows int(); "nan" is a ValueError
        return 0
    if seconds <= 0:
        return 0
    return max(MIN_ROTATE_S, min(seconds, MAX_ROTATE_S))


def _view(name: str, children: list[Any]) -> html.Section:
    return html.Section(children, className=f"wall-view view-{name}", **{"data-view": name})


def _city_view(data: wall_tiles.WallData) -> html.Section:
    return _view(CITY, [
        html.Div(wall_map.wall_map(ids.WALL_MAP, ALL_LAYERS, WALL_ZOOM), className="card wall-map"),
        html.Div(wall_tiles.cards(data), id=ids.WALL_TILES, className="wall-grid"),
    ])


def _domain_view(domain: str, data: wall_tiles.WallData) -> html.Section:
    return _view(domain, [
        html.Div(wall_tiles.cards(data, (domain,), big=True), id=ids.WALL_DOMAIN_TILES[domain],
                 className="wall-domain-tiles"),
        html.Div(wall_map.wall_map(ids.WALL_DOMAIN_MAP[domain], domain_layers(domain), WALL_ZOOM),
                 className="card wall-map"),
    ])


def _incident_view() -> html.Section:
    """The pinned incident: its head, its area on the map and the linkage panel (filled by
    :func:`refresh_incident_view` while an incident is pinned)."""
    return _view(INCIDENT, [
        html.Div(id=ids.WALL_INCIDENT_HEAD, className="wall-incident-head"),
        html.Div(className="wall-incident-body", children=[
            html.Div(dcc.Graph(id=ids.WALL_INCIDENT_MAP, className="wall-incident-map",
                               figure=linkage_panel.figure(None, None, WALL),
                               config=graph_config(displayModeBar=False, staticPlot=False)),
                     className="card wall-map"),
            html.Div(id=ids.WALL_INCIDENT_LINKAGE, className="card linkage-panel wall-linkage"),
        ]),
    ])


def _pin_gates() -> list[Any]:
    """The gates of the pin and of the pinned incident's view."""
    # The pin runs out by the clock: looked at every PIN_CHECK_S whatever moved.
    return [*pulse.stores(ids.WALL_INCIDENT_PIN, follow=("incidents",), every_s=PIN_CHECK_S),
            # Asked while the incident's view is on screen; a new pin draws it at once (the pin
            # is an Input of its callback), before the rotation shows it.
            *pulse.stores(ids.WALL_INCIDENT_HEAD, watch=ids.WALL_INCIDENT_HEAD,
                          follow=("status", "incidents"))]


def _first_pin(seconds: int) -> dict[str, Any]:
    if not seconds:
        return {}
    try:
        return current_pin(redis_client(), time.time())
    except redis.RedisError:
        return {}


@page_layout(PATH)
def layout(**query: str) -> html.Div:
    """The city at a glance (and, with ``rotate``, one view per domain that the kiosk cycles)."""
    seconds = rotate_seconds(query.get("rotate"))
    views = [CITY] + (list(DOMAINS) if seconds else [])
    data = wall_tiles.read_wall()
    sections = [_city_view(data)] + [_domain_view(d, data) for d in views[1:]] + [_incident_view()]
    return html.Div(id=ids.WALL, className="wall", children=[
        html.Div(className="wall-head", children=[
            html.H1(i18n.t("wall.title"), id=ids.PAGE_TITLE),
            html.Span(i18n.t("wall.city"), id=ids.WALL_VIEW_LABEL,
                      className="wall-view-label"),
            html.Div(wall_tiles.feed_strip(data.feeds), id=ids.WALL_FEEDS, className="feed-strip",
                     role="status", **{"aria-label": i18n.t("wall.feeds")}),
        ]),
        html.Div(id=ids.WALL_LINK_NOTE, className="wall-link-note", hidden=True, role="alert"),
        html.Div(className="wall-layout", children=[
            html.Div(sections, id=ids.WALL_VIEWS, className="wall-views show-all",
                     **{"data-zoom": str(WALL_ZOOM), "data-fit-px": str(WALL_FIT_PX)}),
            alert_panel.panel(),
        ]),
        dcc.Store(id=ids.WALL_ROTATION, data={"seconds": seconds, "views": views,
                                               "titles": {CITY: i18n.t("wall.city")}
                                               | {d: domain_title(d) for d in DOMAINS}
                                               | {"pinned_alert": i18n.t("wall.pinned_alert"),
                                                  "pinned_incident": i18n.t("wall.pinned_incident")}}),
        # A wall opened (or reloaded) while an incident holds the rotation shows it on its first
        # tick, not after its maps and a round trip of the pin's own.
        dcc.Store(id=ids.WALL_INCIDENT_PIN, data=_first_pin(seconds)),
        dcc.Store(id=ids.WALL_ROTATION_STATE),
        dcc.Store(id=ids.WALL_TILES_DRAWN),
        dcc.Store(id=ids.WALL_INCIDENT_DRAWN),
        *[dcc.Store(id=ids.WALL_DOMAIN_TILES_DRAWN[d]) for d in views[1:]],
        # Each server refresh has its own view of the tick (layouts/pulse.py); a view's parts
        # are asked for only while the view is on screen.
        *pulse.stores(ids.WALL_TILES, follow=CARDS_FOLLOW),
        *[store for d in views[1:]
          for store in pulse.stores(ids.WALL_DOMAIN_TILES[d], watch=ids.WALL_DOMAIN_TILES[d],
                                    follow=CARDS_FOLLOW)],
        # Only a rotating wall is pinned (assets/wall.js): a still one asks nothing of the pin.
        *(_pin_gates() if seconds else []),
        dcc.Interval(id=ids.WALL_ROTATE_TICK, interval=TICK_MS, disabled=not seconds),
        dcc.Store(id=ids.WALL_LINK, data={"version": app_version(),
                                           "text": i18n.t("wall.link_lost_since", time="{time}")}),
    ])


def _digest(*parts: Any) -> str:
    """A short digest of components as the browser would get them: the same cards give the same
    digest, so cards that did not change are not sent again (a wall redrawing its cards every
    second because a bus moved spent its main thread on nothing new)."""
    return hashlib.blake2b(to_json_plotly(parts).encode(), digest_size=12).hexdigest()


@require_roles(roles.PAGE_BY_PATH[PATH].roles)
def refresh_city(_pulse: object, drawn: object) -> tuple[Any, Any, Any]:
    """Redraw the domain cards and the feed strip when what they show changed since the last
    drawing (asked when a domain or a feed moved)."""
    data = wall_tiles.read_wall()
    if not data.ok:
        raise PreventUpdate  # the shell's banner says the link is lost; keep what is shown
    tiles, feeds = wall_tiles.cards(data), wall_tiles.feed_strip(data.feeds)
    marker = _digest(tiles, feeds)
    if marker == drawn:
        raise PreventUpdate
    return tiles, feeds, marker


def _refresh_domain(domain: str):  # type: ignore[no-untyped-def]
    @require_roles(roles.PAGE_BY_PATH[PATH].roles)
    def refresh(_tick: object, drawn: object) -> tuple[Any, Any]:
        data = wall_tiles.read_wall()
        if not data.ok:
            raise PreventUpdate
        tiles = wall_tiles.cards(data, (domain,), big=True)
        marker = _digest(tiles)
        if marker == drawn:
            raise PreventUpdate
        return tiles, marker

    refresh.__name__ = f"refresh_wall_{domain}"
    return refresh


def _pinned_since(r: redis.Redis, incident: dict[str, Any]) -> float:
    """When the incident last earned a pin: its declaration, or its level being raised."""
    since = incident.get("declared_at") or 0.0
    level_at = incident.get("level_at")
    if level_at and level_at > since:
        for entry in reversed(incidents.timeline(r, incident["id"])):
            if entry["action"] == "level":
                before, _, after = str(entry["detail"]).partition(" -> ")
                if LEVEL_RANK.get(after, 9) < LEVEL_RANK.get(before, 9):
                    since = max(since, entry["at"] or 0.0)
                break
    return float(since)


def pinned_incident(r: redis.Redis, now: float) -> tuple[dict[str, Any], float] | None:
    """The open incident declared or raised a level most recently within INCIDENT_PIN_S (the
    gravest on a tie), with when it earned its pin; None when no incident holds a pin."""
    found = []
    for incident in incidents.list_incidents(r, open_only=True, limit=200):
        latest = max(incident.get("declared_at") or 0.0, incident.get("level_at") or 0.0)
        if now - latest > INCIDENT_PIN_S:
            continue  # the cheap test first: most incidents earned nothing lately
        since = _pinned_since(r, incident)
        if now - since <= INCIDENT_PIN_S:
            found.append((since, -LEVEL_RANK.get(incident["level"], 9), incident))
    if not found:
        return None
    since, _, incident = max(found, key=lambda row: (row[0], row[1]))
    return incident, since


@require_roles(roles.PAGE_BY_PATH[PATH].roles)
def pin(_pulse: Any, rotation: Any, current: Any) -> dict[str, Any]:
    """Which incident holds the rotation now (checked when an incident changed, and every few
    seconds, as a pin runs out by the clock); nothing on a wall that does not rotate."""
    if not isinstance(rotation, dict) or not rotation.get("seconds"):
        raise PreventUpdate
    try:
        found = current_pin(redis_client(), time.time())
    except redis.RedisError:
        raise PreventUpdate from None
    # The same pin is not sent again: every callback reading it (the incident's view) would run
    # for nothing, every PIN_CHECK_S.
    if isinstance(current, dict) and all(current.get(k) == found.get(k) for k in found):
        raise PreventUpdate
    return found


def current_pin(r: redis.Redis, now: float) -> dict[str, Any]:
    """The pin store's value now: which incident holds the rotation (id None: none), until when
    (ms) and its label."""
    held = pinned_incident(r, now)
    if held is None:
        return {"id": None}
    incident, since = held
    return {"id": incident["id"], "until": (since + INCIDENT_PIN_S) * 1000,
            "label": numbered(incident)}


@require_roles(roles.PAGE_BY_PATH[PATH].roles)
def refresh_incident_view(_pulse: Any, held: Any, drawn: Any) -> tuple[Any, Any, Any, Any]:
    """The pinned incident's head, map and linkage panel, recomputed from the live store while
    it is pinned and the pin or the city changed since the last drawing (nothing is computed
    while no incident is). Asked when the pin changes, and when the city or an incident moved."""
    incident_id = held.get("id") if isinstance(held, dict) else None
    if not isinstance(incident_id, str) or (held.get("until") or 0) < time.time() * 1000:
        raise PreventUpdate
    try:
        r = redis_client()
        # Drawn again when the city moved (the domains' versions) or an incident changed.
        marker = [incident_id, incidents_version(r),
                  [[d, v] for d, (v, _) in domain_versions(r).items()]]
        if drawn == marker:
            raise PreventUpdate
        incident = incidents.get_incident(r, incident_id)
        if incident is None:
            raise PreventUpdate
        found = linkage_panel.compute(incident)
    except redis.RedisError:
        raise PreventUpdate from None
    head = [html.Div([level_badge(incident["level"]), status_badge(incident["status"])],
                     className="incident-badges"),
            html.H2(numbered(incident), className="wall-incident-title"),
            html.Div([html.Span(type_name(incident)),
                      html.Span(i18n.t("incident.commanded_by", user=incident["commander"]))],
                     className="incident-meta"),
            progress(incident["tasks"])]
    return (head, linkage_panel.figure(incident, found, WALL),
            linkage_panel.panel(found, rows=LINKAGE_ROWS), marker)


def register(app: dash.Dash) -> None:
    """Register the page with Dash Pages, its refreshes, maps and rotation."""
    # The tiles follow the shell's SEEN as a State read on the tick, not as an Input: the shell's
    # own callback recomputes SEEN on every tick, and Dash holds back (then drops) a callback while
    # an input of it is being recomputed, so on a live city the tiles were starved for seconds.
    trigger, running = pulse.gate(app, ids.WALL_TILES)
    app.callback(Output(ids.WALL_TILES, "children"), Output(ids.WALL_FEEDS, "children"),
                 Output(ids.WALL_TILES_DRAWN, "data"), trigger, State(ids.WALL_TILES_DRAWN, "data"),
                 running=running, prevent_initial_call=True)(refresh_city)
    # The maps' frames, fetched by the browser outside Dash (layouts/wall_map.py); each view's map
    # is asked for only while its view is on screen (the others wait, then catch up).
    wall_map.register(app.server, maps(), roles.PAGE_BY_PATH[PATH].roles)
    for domain in DOMAINS:
        trigger, running = pulse.gate(app, ids.WALL_DOMAIN_TILES[domain])
        app.callback(Output(ids.WALL_DOMAIN_TILES[domain], "children"),
                     Output(ids.WALL_DOMAIN_TILES_DRAWN[domain], "data"),
                     trigger, State(ids.WALL_DOMAIN_TILES_DRAWN[domain], "data"),
                     running=running, prevent_initial_call=True)(_refresh_domain(domain))
    # The rotation, in the browser on its own timer, which runs only on a rotating wall (each
    # callback costs Dash's renderer a pass over every component of the wall, whatever it
    # returns). The link watch is plain script (assets/wall.js).
    app.clientside_callback(
        dash.ClientsideFunction(namespace="cityops_wall", function_name="rotate"),
        Output(ids.WALL_VIEWS, "className"), Output(ids.WALL_VIEW_LABEL, "children"),
        Output(ids.WALL_ROTATION_STATE, "data"),
        Input(ids.WALL_ROTATE_TICK, "n_intervals"),
        # States, not Inputs: the alert panel's and the pin's server callbacks run on the same
        # tick and mostly find nothing new; Dash holds a callback back while one of its inputs is
        # being computed and drops it when that computation changes nothing, which stopped the
        # rotation for good. Read on each tick, a new pin or critical alert shows within a second.
        State(ids.ALERT_SOUND, "data"), State(ids.WALL_INCIDENT_PIN, "data"),
        State(ids.WALL_ROTATION, "data"), State(ids.WALL_ROTATION_STATE, "data"))
    trigger, running = pulse.gate(app, ids.WALL_INCIDENT_PIN)
    app.callback(Output(ids.WALL_INCIDENT_PIN, "data"), trigger,
                 State(ids.WALL_ROTATION, "data"), State(ids.WALL_INCIDENT_PIN, "data"),
                 running=running, prevent_initial_call=True)(pin)
    trigger, running = pulse.gate(app, ids.WALL_INCIDENT_HEAD)
    app.callback(Output(ids.WALL_INCIDENT_HEAD, "children"),
                 Output(ids.WALL_INCIDENT_MAP, "figure"),
                 Output(ids.WALL_INCIDENT_LINKAGE, "children"),
                 Output(ids.WALL_INCIDENT_DRAWN, "data"), trigger,
                 # An Input too: a new pin is drawn at once, not on the next change.
                 Input(ids.WALL_INCIDENT_PIN, "data"), State(ids.WALL_INCIDENT_DRAWN, "data"),
                 running=running, prevent_initial_call=True)(refresh_incident_view)
    alert_panel.register(app)
    dash.register_page(__name__, path=PATH, name="Wall", title="Wall · CityOps", layout=layout)
