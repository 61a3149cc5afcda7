"""Driving the incident screens' callbacks in-process the way the browser does, and a small city
around an incident for the linkage panel (every kind it reads, with names and readings)."""

from __future__ import annotations

import json
from typing import Any

import redis

from app import store
from app.model.records import Entity, Event, Observation
from app.situation import mapdata
from layouts import ids
from tests.support.incidents import CENTRE
from tests.support.security import callback_key, callback_request
from tests.support.web import csrf_header

# Feed text with markup in it: it must reach the screen as text.
HOSTILE_NAME = "<b>Kangfu</b> Hospital"


def pattern(kind: str, **keys: str) -> dict[str, str]:
    """A pattern-matching component id."""
    return {"type": kind, **keys}


def prop(component: dict[str, str] | str, name: str) -> str:
    """The "id.property" key Dash uses for a component's property (ids as sorted JSON)."""
    return ids.prop_id(component, name)


def call(client: Any, web_app: Any, name: str, values: dict[str, Any] | None = None,
         trigger: str | None = None) -> Any:
    """POST the callback implemented by ``name`` (module.function) with ``values`` by
    "id.property"; a pattern-matching input takes the list of its matches."""
    key = callback_key(web_app, name)
    body = callback_request(key, web_app.callback_map[key], values, trigger)
    return client.post("/_dash-update-component", json=body, headers=csrf_header(client))


def texts(node: Any) -> list[str]:
    """Every string in a Dash component tree (as JSON), depth first."""
    if isinstance(node, str):
        return [node]
    if isinstance(node, list):
        return [t for child in node for t in texts(child)]
    if isinstance(node, dict):
        if "props" in node:
            return texts(node["props"].get("children"))
        return [t for v in node.values() for t in texts(v)]
    return []


def find_all(node: Any, predicate: Any) -> list[dict[str, Any]]:
    """Components (as JSON) for which ``predicate(props)`` holds."""
    found: list[dict[str, Any]] = []
    if isinstance(node, list):
        for child in node:
            found += find_all(child, predicate)
    elif isinstance(node, dict) and "props" in node:
        if predicate(node["props"]):
            found.append(node)
        found += find_all(node["props"].get("children"), predicate)
    return found


def seed_city(r: redis.Redis, now: float) -> None:
    """Around tests.support.incidents.CENTRE: two ambulances (one on call), two hospitals with
    beds (one on diversion, its name hostile), a stop, a route crossing, a bus on it, a pressure
    sensor and a reservoir with readings, an open and a closed request, a warning over it all."""
    lat, lon = CENTRE
    route_shape = [[lon - 0.01 + 0.002 * i, lat] for i in range(11)]  # through the centre
    store.entities.write_batch(r, "transport", "t", entities=[
        Entity("transport", "route", "t:route:7", None, None, "active", now, "t",
               {"short_name": "Line 7", "shape": route_shape}),
        Entity("transport", "stop", "t:stop:1", lat + 0.0005, lon, "active", now, "t",
               {"name": "Kangfu Road stop"}),
        Entity("transport", "vehicle", "t:vehicle:9", lat, lon + 0.001, "in_service", now, "t",
               {"route_id": "t:route:7", "label": "Bus 9"}),
    ], observations=[Observation("t:vehicle:9", "delay_s", 300.0, "s", now)])
    store.entities.write_batch(r, "water", "w", entities=[
        Entity("water", "sensor", "w:sensor:1", lat + 0.001, lon, "ok", now, "w",
               {"name": "Pressure point North", "zone": "z1"}),
        Entity("water", "reservoir", "w:reservoir:1", lat - 0.001, lon, "ok", now, "w",
               {"name": "East reservoir", "zone": "z1"}),
    ], observations=[Observation("w:sensor:1", "pressure_bar", 1.42, "bar", now),
                     Observation("w:reservoir:1", "level_m", 3.5, "m", now)])
    store.entities.write_batch(r, "medical", "m", entities=[
        Entity("medical", "hospital", "m:hospital:1", lat + 0.01, lon, "open", now, "m",
               {"name": HOSTILE_NAME, "diversion": True}),
        Entity("medical", "hospital", "m:hospital:2", lat - 0.02, lon, "open", now, "m",
               {"name": "River Hospital", "diversion": False}),
        Entity("medical", "ambulance", "m:ambulance:1", lat + 0.003, lon, "available", now, "m",
               {"label": "Ambulance A1"}),
        Entity("medical", "ambulance", "m:ambulance:2", lat + 0.002, lon, "on_call", now, "m",
               {"label": "Ambulance A2"}),
    ], observations=[Observation("m:hospital:1", "beds_available", 12.0, "1", now),
                     Observation("m:hospital:1", "beds_total", 80.0, "1", now),
                     Observation("m:hospital:2", "beds_available", 3.0, "1", now)])
    ring = [[lon - 0.02, lat - 0.02], [lon + 0.02, lat - 0.02], [lon + 0.02, lat + 0.02],
            [lon - 0.02, lat + 0.02], [lon - 0.02, lat - 0.02]]
    store.entities.write_batch(r, "city", "c", entities=[
        Entity("city", "request", "c:request:1", lat, lon - 0.001, "open", now, "c",
               {"service_name": "Flooded road", "requested_at": now - 600}),
        Entity("city", "request", "c:request:2", lat, lon + 0.002, "closed", now, "c",
               {"service_name": "Broken lamp"}),
    ], events=[Event("city", "cap_warning", "c:cap:storm", "Rainstorm warning", now, "c", "major",
                     area={"type": "Polygon", "coordinates": [ring]})])
    mapdata.forget_snapshots()


# -- the security sweep's requests (tests/integration/test_security.py) ----------------------------
INCIDENT_CALLBACKS: dict[str, frozenset[str]] = {
    "layouts.incident_detail.act": frozenset({"admin", "operator", "emergency"}),
    "layouts.incident_declare.declare": frozenset({"admin", "operator"}),
    "layouts.incident_declare.judge": frozenset({"admin", "operator"}),
    "layouts.tasks.act": frozenset({"admin", "operator", "emergency"}),
}


def _press(spec: dict[str, Any], button: dict[str, str]) -> tuple[dict[str, Any], str]:
    """The values and trigger of a click on one button of a pattern-matching family."""
    key = next(i["id"] for i in spec["inputs"]
               if i["id"].startswith("{") and json.loads(i["id"])["type"] == button["type"])
    return ({f"{key}.n_clicks": [{"id": button, "property": "n_clicks", "value": 1}]},
            prop(button, "n_clicks"))


def incident_requests(r: redis.Redis, users: dict[str, str], name: str,
                      spec: dict[str, Any]) -> list[tuple[dict[str, Any], str]]:
    """(values, trigger) of requests that change something when an allowed role sends them, each
    on a fresh incident, task or proposal of its own."""
    from tests.support.incidents import incident_sample

    sample = incident_sample(r, users["admin"], "pages")
    seen = {prop("incident-seen", "data"): {"id": sample["incident_id"], "version": 1,
                                             "public": False}}
    if name == "layouts.incident_detail.act":
        note = ({**seen, prop("incident-note-add", "n_clicks"): 1,
                 prop("incident-note", "value"): "sweep note"}, prop("incident-note-add", "n_clicks"))
        values, trigger = _press(spec, pattern("incident-task-act", task=sample["task_id"],
                                               action="take"))
        return [note, ({**seen, **values}, trigger)]
    if name == "layouts.incident_declare.declare":
        return [({prop("declare-submit", "n_clicks"): 1, prop("declare-title", "value"): "Swept",
                  prop("declare-type", "value"): "water_main_burst",
                  prop("declare-lat", "value"): 28.55, prop("declare-lon", "value"): 112.35},
                 prop("declare-submit", "n_clicks"))]
    if name == "layouts.incident_declare.judge":
        values, trigger = _press(spec, pattern("proposal-dismiss", index=sample["proposal_id"]))
        return [({**values, prop("proposal-reason", "value"): "swept"}, trigger)]
    if name == "layouts.tasks.act":
        return [_press(spec, pattern("task-act", task=sample["task_id"], action="take"))]
    raise AssertionError(f"no sample request for {name}")
