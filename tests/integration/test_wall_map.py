"""The wall maps' frames (layouts/wall_map.py): what the browser draws, 304 while nothing moved,
routes and areas only when they changed, the legend in the reader's language, bad asks refused."""

from __future__ import annotations

import time
from typing import Any, Iterator

import numpy as np
import pytest
import redis

from app import accounts, store
from app.model.records import Entity, Event, Observation
from app.situation import mapdata
from app.situation.mapdata import LAYER_BY_KEY, RANK_COLOURS
from layouts import ids, wall_map
from tests.support.web import login

pytestmark = pytest.mark.integration

HOSTILE = "<img src=x onerror=alert(1)>"
VIEW = mapdata.view_around(28.55, 112.36, 12.0)
AREA = {"type": "Polygon", "coordinates": [[[112.30, 28.50], [112.42, 28.50], [112.42, 28.60],
                                            [112.30, 28.50]]]}


@pytest.fixture(autouse=True)
def fresh_cache() -> Iterator[None]:
    """Snapshots and cuts are cached per process: every test starts from the store."""
    mapdata.forget_snapshots()
    yield
    mapdata.forget_snapshots()


def bus(n: int, lat: float, lon: float, at: float) -> Entity:
    """A vehicle of the test feed, its label hostile."""
    return Entity("transport", "vehicle", f"t:vehicle:{n}", lat, lon, "in_service", at, "t",
                  {"label": HOSTILE})


def seed(r: redis.Redis, now: float) -> None:
    """Three buses on time, a route and a severe CAP warning's area."""
    store.entities.write_batch(r, "transport", "t", entities=[
        bus(1, 28.55, 112.36, now), bus(2, 28.56, 112.37, now), bus(3, 28.57, 112.38, now),
        Entity("transport", "route", "t:route:9", None, None, "active", now, "t",
               {"short_name": HOSTILE, "shape": [[112.35, 28.54], [112.36, 28.55], [112.37, 28.56]]})],
        observations=[Observation(f"t:vehicle:{n}", "delay_s", 10.0, "s", now) for n in (1, 2, 3)])
    store.entities.write_batch(r, "city", "cap", events=[
        Event("city", "cap_warning", "cap:1", HOSTILE, now, "cap", severity="severe", area=AREA)])


def ask(client: Any, held: str = "", lines: str = "", areas: str = "",
        map_id: str = ids.WALL_MAP, view: mapdata.View = VIEW) -> Any:
    """One ask of a wall map's frame, as assets/wall_map.js makes it."""
    return client.get(wall_map.frame_url(map_id, view, lines, areas),
                      headers={"If-None-Match": held} if held else {})


def frame_of(resp: Any) -> tuple[dict[str, Any], list[np.ndarray]]:
    """A 200 frame's header and, per group, its arrays (lat, lon[, sizes])."""
    assert resp.status_code == 200, resp.data[:200]
    assert resp.mimetype == "application/octet-stream" and resp.headers["Cache-Control"] == "no-store"
    header, floats = wall_map.decode(resp.get_data())
    floats = floats.astype(np.float64)
    arrays, at = [], 0
    for group in header["groups"]:
        parts = 2 if group["size"] is not None else 3
        arrays.append([floats[at + i * group["n"]:at + (i + 1) * group["n"]] for i in range(parts)])
        at += parts * group["n"]
    assert at == floats.size  # nothing more, nothing less
    return header, arrays


def vehicles_on_time(header: dict[str, Any], arrays: list[Any]) -> list[Any]:
    colour = LAYER_BY_KEY["vehicles"].classes[1].colour
    (found,) = [a for g, a in zip(header["groups"], arrays, strict=True) if g["colour"] == colour
                and g["size"] == LAYER_BY_KEY["vehicles"].classes[1].size]
    return found


def test_a_frame_holds_what_the_wall_draws_and_no_feed_text(
        client: Any, users: dict[str, str], r: redis.Redis) -> None:
    """Markers as float32 arrays by class, routes and areas as GeoJSON, the legend named and
    counted; feed text (labels, titles, route names) never travels: the wall shows no hover."""
    seed(r, time.time())
    login(client, users["operator"])
    resp = ask(client)
    header, arrays = frame_of(resp)
    lat, lon = vehicles_on_time(header, arrays)
    assert sorted(lat.round(4).tolist()) == [28.55, 28.56, 28.57]
    assert sorted(lon.round(4).tolist()) == [112.36, 112.37, 112.38]
    names = [entry["name"] for entry in header["legend"]]
    assert "Vehicles: on time (3)" in names and "Warning areas (1)" in names
    assert header["lines"]["geojson"]["geometry"]["coordinates"] == [
        [[112.35, 28.54], [112.36, 28.55], [112.37, 28.56]]]
    (area,) = header["areas"]["geojson"]["features"]
    assert area["geometry"] == AREA and area["properties"]["colour"].startswith("#")
    assert b"img" not in resp.get_data() and b"onerror" not in resp.get_data()


def test_nothing_moved_is_304_and_a_move_is_a_new_frame_without_what_is_held(
        client: Any, users: dict[str, str], r: redis.Redis) -> None:
    """The ETag holds while nothing moved (304, no body); a bus moving brings a new frame, and
    the routes and areas the wall holds (their signatures in the ask) stay out of it."""
    now = time.time()
    seed(r, now)
    login(client, users["operator"])
    first = ask(client)
    header, _ = frame_of(first)
    tag = first.headers["ETag"]
    lines, areas = header["lines"]["sig"], header["areas"]["sig"]
    assert lines and areas
    same = ask(client, tag, lines, areas)
    assert same.status_code == 304 and same.get_data() == b"" and same.headers["ETag"] == tag
    store.entities.write_batch(r, "transport", "t", entities=[bus(3, 28.5799, 112.3899, now + 1)])
    moved = ask(client, tag, lines, areas)
    header, arrays = frame_of(moved)
    assert moved.headers["ETag"] != tag
    lat, _ = vehicles_on_time(header, arrays)
    assert 28.5799 in lat.round(4).tolist()
    assert header["lines"] == {"sig": lines} and header["areas"] == {"sig": areas}
    # A wall that lost them (a new map) asks without signatures and gets them again.
    assert "geojson" in frame_of(ask(client))[0]["lines"]


def test_a_late_bus_gets_its_class_and_a_crowd_becomes_cells(
        client: Any, users: dict[str, str], r: redis.Redis, monkeypatch: pytest.MonkeyPatch) -> None:
    """A class's first member adds its group and legend line; past the marker limit (lowered
    to 50) the vehicles come as cells, each with its size, in its rank's colour."""
    now = time.time()
    seed(r, now)
    login(client, users["official"])
    store.entities.write_batch(r, "transport", "t", entities=[bus(2, 28.56, 112.37, now + 1)],
                               observations=[Observation("t:vehicle:2", "delay_s", 420.0, "s", now + 1)])
    header, _ = frame_of(ask(client))
    assert "Vehicles: late (1)" in [e["name"] for e in header["legend"]]
    monkeypatch.setattr(mapdata, "MAX_MARKERS", 50)
    rng = np.random.default_rng(5)
    spread = rng.uniform(-0.03, 0.03, (400, 2))
    store.entities.write_batch(r, "transport", "crowd", entities=[
        Entity("transport", "vehicle", f"c:vehicle:{n}", 28.55 + float(dy), 112.36 + float(dx),
               "in_service", now, "crowd", {}) for n, (dy, dx) in enumerate(spread)])
    header, arrays = frame_of(ask(client))
    cells = [(g, a) for g, a in zip(header["groups"], arrays, strict=True) if g["size"] is None]
    assert cells and {g["colour"] for g, _ in cells} <= set(RANK_COLOURS)
    sizes = np.concatenate([a[2] for _, a in cells])
    assert ((sizes >= 10) & (sizes <= 44)).all()
    assert any(e["name"].startswith("Vehicles: grouped") for e in header["legend"])


def test_the_legend_is_in_the_readers_language(client: Any, users: dict[str, str],
                                               r: redis.Redis) -> None:
    """A Chinese reader's frame names its legend in Chinese, and has its own ETag."""
    seed(r, time.time())
    login(client, users["operator"])
    english = ask(client)
    client.set_cookie("lang", "zh")
    chinese = ask(client, english.headers["ETag"])
    header, _ = frame_of(chinese)
    assert chinese.headers["ETag"] != english.headers["ETag"]
    assert "车辆" in " ".join(e["name"] for e in header["legend"])
    assert not any("Vehicles" in e["name"] for e in header["legend"])


@pytest.mark.parametrize("query", ["", "?view=", "?view=1,2,3", "?view=nan,28,113,29,12",
                                   "?view=113,28,112,29,12", "?view=112,28,113,29,99",
                                   "?view=112,28,113,inf,12", "?view=a,b,c,d,e"])
def test_a_bad_view_is_a_400_in_words(client: Any, users: dict[str, str], query: str) -> None:
    """The view is five numbers, a box and a zoom that make sense; anything else is refused."""
    login(client, users["operator"])
    resp = client.get(f"{wall_map.PREFIX}{ids.WALL_MAP}{query}")
    assert resp.status_code == 400 and "view" in resp.get_json()["error"]


def test_an_unknown_map_is_404_and_junk_signatures_are_ignored(
        client: Any, users: dict[str, str], r: redis.Redis) -> None:
    seed(r, time.time())
    login(client, users["operator"])
    assert ask(client, map_id="overview-map").status_code == 404
    header, _ = frame_of(ask(client, lines="<x>", areas="'" * 40))
    assert "geojson" in header["lines"] and "geojson" in header["areas"]
    # A domain view's map draws its own layers only.
    header, _ = frame_of(ask(client, map_id=ids.WALL_DOMAIN_MAP["medical"]))
    assert "lines" not in header and not any("Vehicles" in e["name"] for e in header["legend"])


def test_a_wall_token_may_ask_emergency_and_nobody_may_not(web_app: Any, client: Any,
                                                          users: dict[str, str], r: redis.Redis) -> None:
    """Whoever may open /wall asks (its token too); emergency staff (no wall) get 403, and a
    caller without a session 401, both in JSON."""
    seed(r, time.time())
    anonymous = web_app.server.test_client()
    resp = ask(anonymous)
    assert resp.status_code == 401 and resp.is_json
    token = accounts.create_token(r, "wm-wall", "wall")
    wall = web_app.server.test_client()
    frame_of(wall.get(wall_map.frame_url(ids.WALL_MAP, VIEW),
                      headers={"Authorization": f"Bearer {token}"}))
    login(client, users["emergency"])
    resp = ask(client)
    assert resp.status_code == 403 and resp.is_json
