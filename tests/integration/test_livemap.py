"""The live map component: offline figure, typed-array Patches of what changed, role checks, panel."""

from __future__ import annotations

import base64
import json
import re
import time
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import plotly.io.json
import pytest
import redis

from app import accounts, i18n, store
from app.config import ConfigError, load_settings
from app.model.records import Entity, Observation
from app.situation import mapdata
from data_adapters.simulator.basemap import LAYER_FILES, render, write_basemap
from data_adapters.simulator.city import CityModel
from layouts import ids, livemap
from tests.support.paths import REPO
from tests.support.web import callback_body, csrf_header, login

HOSTILE = "<img src=x onerror=alert(1)>`${x}`"
MAP = ids.OVERVIEW_MAP
STATE = ids.map_part(MAP, ids.MAP_STATE)


@pytest.fixture(autouse=True)
def fresh_cache() -> Iterator[None]:
    """Snapshots are cached per process: every test starts from the store."""
    mapdata.forget_snapshots()
    yield
    mapdata.forget_snapshots()


def bus(n: int, lat: float, lon: float, at: float, **attrs: object) -> Entity:
    """A vehicle of the test feed."""
    return Entity("transport", "vehicle", f"t:vehicle:{n}", lat, lon, "in_service", at, "t",
                  {"label": f"Bus {n}", **attrs})


def seed_city(r: redis.Redis, now: float) -> None:
    """Three buses (one with a hostile label), a stop and a hospital."""
    store.entities.write_batch(r, "transport", "t", entities=[
        bus(1, 28.55, 112.36, now, label=HOSTILE), bus(2, 28.56, 112.37, now),
        bus(3, 28.57, 112.38, now)],
        observations=[Observation(f"t:vehicle:{n}", "delay_s", 10.0, "s", now) for n in (1, 2, 3)])
    store.entities.write_batch(r, "transport", "s", entities=[
        Entity("transport", "stop", "s:stop:1", 28.55, 112.35, "active", now, "s", {"name": HOSTILE})])
    store.entities.write_batch(r, "medical", "m", entities=[
        Entity("medical", "hospital", "m:hospital:1", 28.54, 112.34, "active", now, "m",
               {"name": "City Hospital"})])


def content_of(r: redis.Redis, layers: tuple[str, ...] = livemap.ALL_LAYERS,
               zoom: float = 11.5) -> livemap.Content:
    """What the map would draw now around the city centre."""
    cut = mapdata.cut_for(mapdata.view_around(28.55, 112.36, zoom))
    content, _ = livemap.read_content(r, mapdata.read_versions(r), layers, cut, False,
                                      mapdata.Thresholds.of())
    return content


def decode(spec: Any) -> np.ndarray:
    """A plotly.js typed-array spec back to numbers."""
    assert isinstance(spec, dict) and spec["dtype"] == "f4", spec
    return np.frombuffer(base64.b64decode(spec["bdata"]), dtype="<f4").astype(np.float64)


def index_of(layer: str, role: str, code: int = 0) -> int:
    """The trace index of a layer's class (or cells) on the overview map."""
    return livemap.trace_plan(livemap.ALL_LAYERS).index(livemap.TraceSpec(layer, role, code))


ON_TIME = index_of("vehicles", "class", 1)
LATE = index_of("vehicles", "class", 2)


# -- the figure ------------------------------------------------------------------------------------
def test_figure_is_offline_unlabelled_and_keeps_the_zoom(r: redis.Redis) -> None:
    """white-bg plus local GeoJSON, no URL anywhere, no text mode, a uirevision; hover escaped."""
    seed_city(r, time.time())
    plan = livemap.trace_plan(livemap.ALL_LAYERS)
    fig, prints, _ = livemap.figure(plan, content_of(r), livemap.ALL_LAYERS, uirevision="m")
    layout = fig["layout"]
    assert layout["map"]["style"] == "white-bg" and layout["uirevision"] == "m"
    sources = {layer["source"] for layer in layout["map"]["layers"]}
    assert sources == {f"/assets/basemap/{name}" for name in LAYER_FILES.values()}
    text = json.dumps(fig)
    assert "http" not in text and "<img" not in text and "&lt;img src=x" in text
    assert all("text" not in trace.get("mode", "") for trace in fig["data"])
    assert len(fig["data"]) == len(plan) == len(prints)
    vehicles = fig["data"][ON_TIME]
    assert vehicles["name"] == "Vehicles: on time (3)" and vehicles["showlegend"] is True
    assert sorted(vehicles["customdata"]) == ["t:vehicle:1", "t:vehicle:2", "t:vehicle:3"]
    assert sorted(decode(vehicles["lat"]).round(4).tolist()) == [28.55, 28.56, 28.57]
    assert fig["data"][LATE]["showlegend"] is False  # empty classes stay out of the legend
    # ... and are not drawn at all: plotly keeps no map layers for an invisible trace.
    assert fig["data"][LATE]["visible"] is False and vehicles["visible"] is True


def test_wall_style_is_dark_and_fetches_nothing() -> None:
    """The wall's own style: a background layer only; nothing remote, no sprite; its glyph URL is
    local (maplibre wants one to restyle; no text is drawn, so it is never fetched) and its one
    source is an empty inline collection (maplibre wants sources, and an empty {} is dropped)."""
    plan = livemap.trace_plan(livemap.ALL_LAYERS)
    fig, _, _ = livemap.figure(plan, livemap.Content({}, None, ()), livemap.ALL_LAYERS, theme="wall")
    style = fig["layout"]["map"]["style"]
    assert "sprite" not in style and style["glyphs"].startswith("/assets/")
    assert all(src["type"] == "geojson" and src["data"]["features"] == []
               for src in style["sources"].values())
    assert [layer["type"] for layer in style["layers"]] == ["background"]
    assert "http" not in json.dumps(fig)


def test_tile_url_is_a_raster_layer_only_when_configured(tmp_path: Path) -> None:
    """A connected site's tiles go under the basemap; the setting refuses malformed templates."""
    url = "https://tiles.example.org/{z}/{x}/{y}.png"
    tiles = livemap.basemap_layers(lambda p: f"/assets/{p}", tile_url=url)
    assert tiles[0] == {"sourcetype": "raster", "source": [url], "below": "traces", "opacity": 1.0}
    assert all(layer["sourcetype"] == "geojson" for layer in livemap.basemap_layers(lambda p: p))
    env = {"CITYOPS_DATA_DIR": str(tmp_path)}
    assert load_settings(environ=env).map.tile_url is None
    assert load_settings(environ={**env, "CITYOPS_MAP_TILE_URL": url}).map.tile_url == url
    for bad in ("ftp://x/{z}/{x}/{y}", "https://x/tiles.png", 'https://x/{z}/{x}/{y}"onload=1',
                "javascript:alert(1)//{z}{x}{y}"):
        with pytest.raises(ConfigError, match="CITYOPS_MAP_TILE_URL"):
            load_settings(environ={**env, "CITYOPS_MAP_TILE_URL": bad})


def test_typed_arrays_round_trip() -> None:
    """float32 as base64 little-endian, as plotly.js decodes it; empty arrays stay plain lists."""
    values = np.array([28.5512345, -0.25, 112.3654321])
    spec = livemap.typed(values)
    assert spec["dtype"] == "f4" and np.array_equal(decode(spec), values.astype(np.float32))
    assert livemap.typed(np.zeros(0)) == []
    codes = livemap.typed(np.array([0, 3, 1]), "u1")
    assert np.frombuffer(base64.b64decode(codes["bdata"]), np.uint8).tolist() == [0, 3, 1]


def test_updates_carry_only_what_changed(r: redis.Redis) -> None:
    """Same data: nothing. A move: the trace's coordinates only. A class change: members too."""
    now = time.time()
    seed_city(r, now)
    plan = livemap.trace_plan(livemap.ALL_LAYERS)
    _, prints, _ = livemap.figure(plan, content_of(r), livemap.ALL_LAYERS)

    def changes() -> dict[int, dict[tuple[str, ...], Any]]:
        content = content_of(r)
        out = {}
        for i, spec in enumerate(plan):
            updates, prints[i] = livemap.trace_updates(spec, content, prints[i])
            if updates:
                out[i] = updates
        return out

    assert changes() == {}
    store.entities.write_batch(r, "transport", "t", entities=[bus(2, 28.5612, 112.3712, now + 1)])
    moved = changes()
    assert set(moved) == {ON_TIME} and set(moved[ON_TIME]) == {("lat",), ("lon",)}
    assert 28.5612 in decode(moved[ON_TIME][("lat",)]).round(4).tolist()
    store.entities.write_batch(r, "transport", "t", entities=[bus(2, 28.5612, 112.3712, now + 2)],
                      observations=[Observation("t:vehicle:2", "delay_s", 420.0, "s", now + 2)])
    reclassed = changes()
    assert set(reclassed) == {ON_TIME, LATE}
    assert reclassed[LATE][("customdata",)] == ["t:vehicle:2"]
    assert reclassed[LATE][("name",)] == "Vehicles: late (1)"
    assert reclassed[ON_TIME][("name",)] == "Vehicles: on time (2)"


# -- the callbacks through the app ---------------------------------------------------------------------
def tick_body(state: Any, relayout: Any = None, layers: tuple[str, ...] = livemap.ALL_LAYERS,
              filters: tuple[str, ...] = ()) -> dict[str, Any]:
    """The overview map's refresh as the renderer posts it."""
    return callback_body(
        [(MAP, "figure"), (STATE, "data")],
        [(ids.pulse_part(MAP, ids.PULSE), "data", {"n": 7}), (MAP, "relayoutData", relayout),
         (ids.map_part(MAP, ids.MAP_LAYERS), "value", list(layers)),
         (ids.map_part(MAP, ids.MAP_FILTER), "value", list(filters))],
        [(STATE, "data", state)])


def initial_state(web_app: Any) -> dict[str, Any]:
    """The state store the overview's map opens with."""
    with web_app.server.test_request_context():
        _, state = livemap._initial(MAP, livemap.ALL_LAYERS)
    return state


def operations(resp: Any) -> dict[tuple[Any, ...], Any]:
    """A Patch response as {location: value}."""
    assert resp.status_code == 200, resp.text
    patch = resp.get_json()["response"][MAP]["figure"]
    assert patch["__dash_patch_update"] == "__dash_patch_update"
    return {tuple(op["location"]): op["params"]["value"] for op in patch["operations"]
            if op["operation"] == "Assign"}


def test_tick_answers_204_unless_something_moved_then_a_small_patch(
        client: Any, users: dict[str, str], r: redis.Redis, web_app: Any) -> None:
    """The browser's tick: no change -> 204; a moved bus -> only its trace's float32 arrays."""
    now = time.time()
    seed_city(r, now)
    state = initial_state(web_app)
    login(client, users["operator"])
    post = lambda body: client.post("/_dash-update-component", json=body,  # noqa: E731
                                    headers=csrf_header(client))
    assert post(tick_body(state)).status_code == 204
    store.entities.write_batch(r, "transport", "t", entities=[bus(3, 28.5799, 112.3899, now + 1)])
    resp = post(tick_body(state))
    ops = operations(resp)
    assert set(ops) == {("data", ON_TIME, "lat"), ("data", ON_TIME, "lon")}
    assert 28.5799 in decode(ops[("data", ON_TIME, "lat")]).round(4).tolist()
    # The state that comes back holds one short print per marker class's trace, whatever the
    # number of markers: the sensors' fifth class (flow and quality meters, issue 19) adds one,
    # and "no recent report" (issue 18) one in each of the five layers that judge it; and a
    # flag per trace saying whether it is drawn (an empty trace is not).
    assert len(resp.data) < 5000
    new_state = resp.get_json()["response"][STATE]["data"]
    assert post(tick_body(new_state)).status_code == 204
    # Another domain's change reads and sends only that domain's layers.
    store.entities.write_batch(r, "medical", "m", entities=[
        Entity("medical", "hospital", "m:hospital:1", 28.5401, 112.34, "active", now + 1, "m",
               {"name": "City Hospital"})])
    hospital_ops = operations(post(tick_body(new_state)))
    assert {loc[1] for loc in hospital_ops} == {index_of("hospitals", "class", 3)}


def test_a_class_is_drawn_only_while_it_has_members(
        client: Any, users: dict[str, str], r: redis.Redis, web_app: Any) -> None:
    """A trace is visible only while it has something to draw: the first late bus shows the late
    trace, and when it is on time again the trace is hidden (a wall's map keeps a few of its 67
    traces drawn instead of all of them)."""
    now = time.time()
    seed_city(r, now)
    state = initial_state(web_app)
    assert state["shown"][LATE] is False and state["shown"][ON_TIME] is True
    login(client, users["operator"])
    post = lambda body: client.post("/_dash-update-component", json=body,  # noqa: E731
                                    headers=csrf_header(client))
    store.entities.write_batch(r, "transport", "t", entities=[bus(2, 28.56, 112.37, now + 1)],
                               observations=[Observation("t:vehicle:2", "delay_s", 420.0, "s", now + 1)])
    resp = post(tick_body(state))
    ops = operations(resp)
    assert ops[("data", LATE, "visible")] is True and ("data", ON_TIME, "visible") not in ops
    state = resp.get_json()["response"][STATE]["data"]
    store.entities.write_batch(r, "transport", "t", entities=[bus(2, 28.56, 112.37, now + 2)],
                               observations=[Observation("t:vehicle:2", "delay_s", 10.0, "s", now + 2)])
    resp = post(tick_body(state))
    assert operations(resp)[("data", LATE, "visible")] is False
    assert resp.get_json()["response"][STATE]["data"]["shown"][LATE] is False


def test_zooming_in_draws_each_and_zooming_out_groups(
        client: Any, users: dict[str, str], r: redis.Redis, web_app: Any,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Past the limit the browser gets cells; a street-level view brings single markers, and
    zooming out again groups them (the limit is lowered to 50 to keep the test small)."""
    monkeypatch.setattr(mapdata, "MAX_MARKERS", 50)
    now = time.time()
    rng = np.random.default_rng(5)
    store.entities.write_batch(r, "transport", "t", entities=[
        bus(n, 28.55 + float(dy), 112.36 + float(dx), now)
        for n, (dy, dx) in enumerate(rng.uniform(-0.03, 0.03, (400, 2)))])
    state = initial_state(web_app)
    login(client, users["official"])
    # Buses without a delay: grouped cells are "worst: delay unknown" (rank 1).
    cells, unknown = index_of("vehicles", "cells", mapdata.UNKNOWN), index_of("vehicles", "class", 4)
    street = {"map.zoom": 16.0, "map.center": {"lat": 28.55, "lon": 112.36},
              "map._derived": {"coordinates": [[112.357, 28.552], [112.363, 28.552],
                                               [112.363, 28.548], [112.357, 28.548]]}}
    resp = client.post("/_dash-update-component", json=tick_body(state, relayout=street),
                       headers=csrf_header(client))
    near = operations(resp)
    assert near[("data", cells, "lat")] == []  # no cells at street level
    assert 0 < len(near[("data", unknown, "customdata")]) < 50
    state = resp.get_json()["response"][STATE]["data"]
    city = {"map.zoom": 11.0, "map.center": {"lat": 28.55, "lon": 112.36}}
    resp = client.post("/_dash-update-component", json=tick_body(state, relayout=city),
                       headers=csrf_header(client))
    far = operations(resp)
    assert far[("data", unknown, "customdata")] == []
    counts = decode(far[("data", cells, "customdata")])
    assert counts.sum() == 400 and decode(far[("data", cells, "marker", "size")]).size == counts.size
    assert far[("data", cells, "showlegend")] is True
    # A click on a cell says how many it holds, by class.
    state = resp.get_json()["response"][STATE]["data"]
    lat, lon = decode(far[("data", cells, "lat")])[0], decode(far[("data", cells, "lon")])[0]
    panel = ids.map_part(MAP, ids.MAP_PANEL)
    click = {"points": [{"curveNumber": cells, "pointNumber": 0, "lat": lat, "lon": lon,
                         "customdata": counts[0]}]}
    answer = client.post("/_dash-update-component", json=callback_body(
        [(panel, "children")], [(MAP, "clickData", click)], [(STATE, "data", state)]),
        headers=csrf_header(client))
    words = texts(answer.get_json()["response"][panel]["children"])
    assert words[0] == f"{int(counts[0]):,} vehicles here"
    assert f"delay unknown: {int(counts[0]):,}" in words
    # The same panel for a Chinese reader: every word from the catalogue, none left in English.
    with web_app.server.test_request_context("/"), i18n.use_language("zh"):
        shown = livemap.panel(mapdata.cell_details(
            r, "vehicles", float(lat), float(lon), livemap._view_of(state["cut"]), livemap._limits()))
        chinese = texts(json.loads(plotly.io.json.to_json_plotly(shown)))
    assert chinese[0] == f"此处有 {int(counts[0]):,} 个车辆"
    assert not [w for w in chinese if re.search(r"[A-Za-z]{3,}", w)], chinese


def test_layer_toggle_hides_and_restores_traces(
        client: Any, users: dict[str, str], r: redis.Redis, web_app: Any) -> None:
    """Unticking Vehicles hides its traces; ticking it again sends its data afresh."""
    seed_city(r, time.time())
    state = initial_state(web_app)
    login(client, users["admin"])
    without = tuple(k for k in livemap.ALL_LAYERS if k != "vehicles")
    resp = client.post("/_dash-update-component", json=tick_body(state, layers=without),
                       headers=csrf_header(client))
    ops = operations(resp)
    vehicle_traces = {i for i, spec in enumerate(livemap.trace_plan(livemap.ALL_LAYERS))
                      if spec.layer == "vehicles"}
    assert {loc[1] for loc, value in ops.items() if loc[2] == "visible" and value is False
            } == vehicle_traces
    hidden = resp.get_json()["response"][STATE]["data"]
    back = operations(client.post("/_dash-update-component", json=tick_body(hidden),
                                  headers=csrf_header(client)))
    assert back[("data", ON_TIME, "visible")] is True
    assert sorted(back[("data", ON_TIME, "customdata")]) == ["t:vehicle:1", "t:vehicle:2",
                                                             "t:vehicle:3"]


def texts(node: Any) -> list[str]:
    """Every string child in a Dash component tree (as JSON)."""
    if isinstance(node, str):
        return [node]
    if isinstance(node, list):
        return [t for child in node for t in texts(child)]
    if isinstance(node, dict) and "props" in node:
        return texts(node["props"].get("children"))
    return []


def test_click_shows_details_as_text(client: Any, users: dict[str, str], r: redis.Redis,
                                     web_app: Any) -> None:
    """The panel names the clicked bus (feed text as text nodes), its delay and its alerts."""
    seed_city(r, time.time())
    from app import alerts
    alerts.raise_alert(r, fingerprint="late:1", title="Bus 1 late", severity="minor",
                       domain="transport", source="rule", entity="t:vehicle:1")
    login(client, users["emergency"])
    panel = ids.map_part(MAP, ids.MAP_PANEL)
    click = {"points": [{"curveNumber": ON_TIME, "pointNumber": 0, "customdata": "t:vehicle:1"}]}
    resp = client.post("/_dash-update-component", json=callback_body(
        [(panel, "children")], [(MAP, "clickData", click)], [(STATE, "data", None)]),
        headers=csrf_header(client))
    assert resp.status_code == 200, resp.text
    payload = resp.get_json()["response"][panel]["children"]
    words = texts(payload)
    assert words[0] == HOSTILE  # the title: a text node, which React escapes
    assert "delay s" in words and "10.00 s" in words
    assert any("Bus 1 late" in w for w in words)
    assert "dangerouslySetInnerHTML" not in json.dumps(payload)
    gone = {"points": [{"curveNumber": ON_TIME, "customdata": "t:vehicle:404"}]}
    resp = client.post("/_dash-update-component", json=callback_body(
        [(panel, "children")], [(MAP, "clickData", gone)], [(STATE, "data", None)]),
        headers=csrf_header(client))
    assert "no longer on the map" in " ".join(texts(resp.get_json()["response"][panel]["children"]))


def test_map_callbacks_refuse_wall_tokens_and_anonymous(client: Any, r: redis.Redis,
                                                        web_app: Any) -> None:
    """The overview map's data is checked on the server: a wall token gets 403, nobody 401."""
    seed_city(r, time.time())
    state = initial_state(web_app)
    assert client.post("/_dash-update-component", json=tick_body(state)).status_code == 401
    token = accounts.create_token(r, "wall-map", "wall")
    resp = client.post("/_dash-update-component", json=tick_body(state),
                       headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 403


# -- the basemap -------------------------------------------------------------------------------------
def test_committed_basemap_is_the_generated_demo_city(tmp_path: Path) -> None:
    """assets/basemap/ holds exactly what the generator writes for the demo city (seed 1)."""
    written = write_basemap(tmp_path)
    assert sorted(p.name for p in written) == sorted(LAYER_FILES.values())
    for path in written:
        committed = REPO / "assets" / "basemap" / path.name
        assert committed.read_bytes() == path.read_bytes(), (
            f"{committed} is stale: run python -m data_adapters.simulator.basemap")
    city = CityModel.generate(1)
    for name in LAYER_FILES.values():
        collection = json.loads((tmp_path / name).read_text(encoding="utf-8"))
        assert collection["features"], name
        assert render(collection) == (tmp_path / name).read_text(encoding="utf-8")
        coords = np.array([pt for f in collection["features"]
                           for pt in _points(f["geometry"]["coordinates"])])
        west, south, east, north = (v + d for v, d in zip(city.bbox, (-1e-6, -1e-6, 1e-6, 1e-6),
                                                           strict=True))
        assert ((coords[:, 0] >= west) & (coords[:, 0] <= east)).all(), name
        assert ((coords[:, 1] >= south) & (coords[:, 1] <= north)).all(), name


def _points(coordinates: Any) -> list[list[float]]:
    if coordinates and isinstance(coordinates[0], (int, float)):
        return [coordinates]
    return [p for part in coordinates for p in _points(part)]
