"""Places on the screens (issue 19), driven through Dash's callback endpoint like the browser does:
the declare form's search, pick and map click; no empty map for an alert or incident without a
place."""

from __future__ import annotations

import time
from typing import Any, Iterator

import pytest
import redis

from app import alerts, incidents, store
from app.model.records import Entity
from app.situation import places
from layouts import ids
from tests.integration.test_incident_pages import _declare, _pattern_input
from tests.support.incident_pages import call, find_all, prop, texts
from tests.support.incidents import CENTRE, placed_alert
from tests.support.web import login

HOSTILE = '<img src=x onerror="alert(1)">Kangfu Gate'


@pytest.fixture(autouse=True)
def fresh() -> Iterator[None]:
    places.forget()
    yield
    places.forget()


def _answer(resp: Any) -> dict[str, Any]:
    assert resp.status_code == 200, resp.get_data(as_text=True)[:500]
    return resp.get_json()["response"]


def _operator(client: Any, users: dict[str, str]) -> None:
    assert login(client, users["operator"]).status_code == 302


def _stops(r: redis.Redis) -> None:
    now = time.time()
    store.entities.write_batch(r, "transport", "t", entities=[
        Entity("transport", "stop", "t:stop:1", CENTRE[0] + 0.001, CENTRE[1], "active", now, "t",
               {"name": "Kangfu Road stop"}),
        Entity("transport", "stop", "t:stop:2", CENTRE[0] - 0.01, CENTRE[1], "active", now, "t",
               {"name": HOSTILE})])


def test_searching_lists_places_as_text_and_picking_one_sets_the_place(
        client: Any, web_app: Any, users: dict[str, str], r: redis.Redis) -> None:
    _stops(r)
    _operator(client, users)
    body = _answer(call(client, web_app, "layouts.incident_declare.find_places",
                        {prop(ids.DECLARE_PLACE_QUERY, "value"): "kangfu"}))
    buttons = find_all(body[ids.DECLARE_PLACE_RESULTS]["children"],
                       lambda p: isinstance(p.get("id"), dict))
    words = [texts(b) for b in buttons]
    assert ["Kangfu Road stop", "bus stop"] in words
    assert [HOSTILE, "bus stop"] in words  # the markup stays text (children, never HTML)
    found = body[ids.DECLARE_PLACE_FOUND]["data"]
    assert len(found) <= places.MAX_RESULTS
    picked = next(i for i, f in enumerate(found) if f["name"] == "Kangfu Road stop")
    key = _pattern_input(web_app, "layouts.incident_declare.pick_place",
                         ids.DECLARE_PLACE_OPTION)
    option = {"index": picked, "type": ids.DECLARE_PLACE_OPTION}
    body = _answer(call(client, web_app, "layouts.incident_declare.pick_place", {
        f"{key}.n_clicks": [{"id": {"index": n, "type": ids.DECLARE_PLACE_OPTION},
                             "property": "n_clicks", "value": 1 if n == picked else None}
                            for n in range(len(found))],
        prop(ids.DECLARE_PLACE_FOUND, "data"): found}, prop(option, "n_clicks")))
    assert body[ids.DECLARE_LAT]["value"] == pytest.approx(CENTRE[0] + 0.001)
    assert body[ids.DECLARE_LON]["value"] == pytest.approx(CENTRE[1])
    name = body[ids.DECLARE_PLACE_NAME]["data"]
    shown = _answer(call(client, web_app, "layouts.incident_declare.show_place", {
        prop(ids.DECLARE_LAT, "value"): body[ids.DECLARE_LAT]["value"],
        prop(ids.DECLARE_LON, "value"): body[ids.DECLARE_LON]["value"],
        prop(ids.DECLARE_PLACE_NAME, "data"): name}))
    said = texts(shown[ids.DECLARE_PLACE_WORDS]["children"])
    assert said[0] == "Near Kangfu Road stop (bus stop)"
    assert said[1] == f"{CENTRE[0] + 0.001:.4f}° N, {CENTRE[1]:.4f}° E · within 500 m", said
    traces = shown[ids.DECLARE_MAP]["figure"]["data"]
    assert [t["mode"] for t in traces] == ["lines", "markers"]  # the radius circle, the marker


def test_a_map_click_is_named_after_the_place_it_is_near(
        client: Any, web_app: Any, users: dict[str, str], r: redis.Redis) -> None:
    _stops(r)
    _operator(client, users)
    click = {"lat": CENTRE[0] + 0.0011234567, "lon": CENTRE[1] + 0.0001234567, "at": 1}
    body = _answer(call(client, web_app, "layouts.incident_declare.pick_place",
                        {prop(ids.DECLARE_MAP_CLICK, "data"): click},
                        prop(ids.DECLARE_MAP_CLICK, "data")))
    assert body[ids.DECLARE_LAT]["value"] == round(click["lat"], 6)
    assert body[ids.DECLARE_PLACE_NAME]["data"]["name"] == "Kangfu Road stop"
    # Far from anything named: the coordinates in words, no name.
    far = {"lat": 10.5, "lon": 20.25, "at": 2}
    body = _answer(call(client, web_app, "layouts.incident_declare.pick_place",
                        {prop(ids.DECLARE_MAP_CLICK, "data"): far},
                        prop(ids.DECLARE_MAP_CLICK, "data")))
    assert body[ids.DECLARE_PLACE_NAME]["data"] is None
    shown = _answer(call(client, web_app, "layouts.incident_declare.show_place", {
        prop(ids.DECLARE_LAT, "value"): 10.5, prop(ids.DECLARE_LON, "value"): 20.25,
        prop(ids.DECLARE_RADIUS, "value"): 1500}))
    assert texts(shown[ids.DECLARE_PLACE_WORDS]["children"]) == [
        "10.5000° N, 20.2500° E", "10.5000° N, 20.2500° E · within 1.5 km"]
    # A click that is not a position changes nothing.
    resp = call(client, web_app, "layouts.incident_declare.pick_place",
                {prop(ids.DECLARE_MAP_CLICK, "data"): {"lat": "x"}},
                prop(ids.DECLARE_MAP_CLICK, "data"))
    assert resp.status_code == 204


def test_the_alerts_place_is_shown_when_none_is_chosen(
        client: Any, web_app: Any, users: dict[str, str], r: redis.Redis) -> None:
    _stops(r)
    _operator(client, users)
    alert = placed_alert(r, "place-from-alert", lat=CENTRE[0] + 0.001, lon=CENTRE[1])
    shown = _answer(call(client, web_app, "layouts.incident_declare.show_place", {
        prop(ids.DECLARE_ALERTS, "value"): [alert]}))
    said = texts(shown[ids.DECLARE_PLACE_WORDS]["children"])
    assert said[0] == "From the alerts: Near Kangfu Road stop (bus stop)"
    shown = _answer(call(client, web_app, "layouts.incident_declare.show_place", {
        prop(ids.DECLARE_ALERTS, "value"): []}))
    assert texts(shown[ids.DECLARE_PLACE_WORDS]["children"]) == ["No place chosen yet."]
    # The city's map with nothing on it (an empty map trace: a map, not an empty chart).
    assert [(t["type"], t["lat"]) for t in shown[ids.DECLARE_MAP]["figure"]["data"]] == [
        ("scattermap", [])]


def test_an_alert_without_a_place_shows_a_sentence_not_an_empty_map(
        client: Any, web_app: Any, users: dict[str, str], r: redis.Redis) -> None:
    _operator(client, users)
    nowhere = alerts.raise_alert(r, fingerprint="test:nowhere", title="Phone report",
                                 severity="minor", domain="city", source="manual").alert_id
    placed = placed_alert(r, "somewhere")
    for alert_id, expect_map in ((nowhere, False), (placed, True)):
        body = _answer(call(client, web_app, "layouts.alerts.render_detail", {
            prop(ids.ALERT_SELECTED, "data"): {"id": alert_id, "mode": "view"}},
            prop(ids.ALERT_SELECTED, "data")))
        holder = body[ids.ALERT_MAP_HOLDER]["children"]
        assert (holder["type"] == "Graph") is expect_map, holder["type"]
        if not expect_map:
            assert texts(holder) == ["No place given."]


def test_an_incident_without_a_place_hides_its_map(
        client: Any, web_app: Any, users: dict[str, str], r: redis.Redis) -> None:
    _operator(client, users)
    nowhere = _declare(r, "Call: smoke somewhere", kind="power_outage", lat=None, lon=None)
    placed = _declare(r, "Burst main")
    for incident, hidden in ((nowhere, True), (placed, False)):
        body = _answer(call(client, web_app, "layouts.incident_detail.refresh_linkage", {
            prop(ids.INCIDENT_SEEN, "data"): {"id": incident["id"]}},
            prop(ids.INCIDENT_SEEN, "data")))
        assert ("no-place-map" in body[ids.INCIDENT_MAP]["className"]) is hidden
        said = texts(body[ids.INCIDENT_LINKAGE]["children"])
        assert ("No place given." in said) is hidden
    stored = incidents.get_incident(r, nowhere["id"])
    assert stored is not None and stored["lat"] is None
