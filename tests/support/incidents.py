"""Incidents for tests: the shipped catalogue, principals, alerts placed on the map, and a ready-made
incident (with its tasks and a linked alert) and proposal for the API sweeps."""

from __future__ import annotations

import itertools
from typing import Any, Iterable

import orjson
import redis

from app import alerts, incidents, store
from app.incidents import sop
from app.model import roles
from app.model.incidents import new_id
from app.model.principal import Principal

CATALOGUE = sop.load_catalogue()
# The shipped catalogue with a one-step drill: sample incidents of the API sweeps write few keys
# (every key makes the sweeps' snapshots slower). Its step is the water bureau's.
DRILL = sop.parse_catalogue(sop.default_text() + """
[types.drill]
name = "Drill"
name_zh = "演练"
domains = ["water"]
level = "IV"

[[types.drill.steps]]
id = "exercise"
title = "Exercise the valves"
title_zh = "演练关阀"
department = "water_bureau"
due = "30m"
""", "drill")
T0 = 1_767_225_600.0  # 2026-01-01 00:00 UTC
CENTRE = (28.5550, 112.3550)  # Yiyang, near the Zi River
# A square of about 2 km around CENTRE, as GeoJSON ([lon, lat]).
SQUARE = {"type": "Polygon", "coordinates": [[[112.345, 28.545], [112.365, 28.545],
                                              [112.365, 28.565], [112.345, 28.565],
                                              [112.345, 28.545]]]}
SQUARE_TEXT = orjson.dumps(SQUARE).decode()
_serial = itertools.count()


def person(name: str, role: str = roles.OPERATOR) -> Principal:
    """A principal as the gate would make it for user ``name``."""
    return Principal(name=name, role=role)


def placed_alert(r: redis.Redis, tag: str, *, domain: str = "water", severity: str = "major",
                 lat: float = CENTRE[0], lon: float = CENTRE[1], now: float | None = None,
                 title: str = "Low pressure", **extra: Any) -> str:
    """Raise an alert at a place (a fresh one per ``tag``); returns its id."""
    return alerts.raise_alert(r, fingerprint=f"test:{tag}", title=title, severity=severity,
                              domain=domain, source=extra.pop("source", "rule"), lat=lat, lon=lon,
                              now=now, **extra).alert_id


def incident_sample(r: redis.Redis, actor: str, tag: str = "",
                    parts: tuple[str, ...] = ("incident", "proposal")) -> dict[str, str]:
    """A fresh incident declared by ``actor`` (an admin) with its tasks and a linked alert, and a
    pending proposal of two other alerts: the ids the API sweeps need (``parts`` leaves out what a
    sweep does not use: every key written makes its snapshots slower)."""
    tag = f"{tag}:{next(_serial)}"
    sample: dict[str, str] = {}
    if "incident" in parts:
        linked = placed_alert(r, f"sample-linked:{tag}")
        incident = incidents.declare(r, person(actor, roles.ADMIN), DRILL,
                                     title="Sample incident", kind="drill", level="III",
                                     alert_ids=[linked])
        task = incidents.incident_tasks(r, incident["id"])[0]
        sample.update(incident_id=incident["id"], task_id=task["id"], linked_alert=linked)
    if "proposal" in parts:
        proposed = [placed_alert(r, f"sample-proposed:{tag}:{i}", domain=domain)
                    for i, domain in enumerate(("water", "city"))]
        proposal_id = new_id("pr")
        answer = store.incidents.propose(r, proposal_id, "create", {
            "domains": "city,water", "lat": f"{CENTRE[0]}", "lon": f"{CENTRE[1]}",
            "radius_m": "500", "level": "II", "suggested_type": "urban_flooding",
            "title": "Sample proposal"}, proposed, now=T0)
        assert answer[0] == "created", answer
        sample["proposal_id"] = proposal_id
    return sample


def sample_parts(arguments: Iterable[str]) -> tuple[str, ...]:
    """The parts of a sample a route with these URL variables needs."""
    names = set(arguments)
    return (("incident",) if names & {"incident_id", "task_id"} else ()) + (
        ("proposal",) if "proposal_id" in names else ())


def fill(body: Any, values: dict[str, str]) -> Any:
    """``body`` with each string value "<name>" replaced by ``values[name]`` (bodies of the API
    sweeps name the sample's alerts so)."""
    if not isinstance(body, dict):
        return body
    return {key: values.get(value[1:-1], value)
            if isinstance(value, str) and value.startswith("<") and value.endswith(">") else value
            for key, value in body.items()}


def key_names(raw: redis.Redis) -> set[bytes]:
    """Every key of the test Redis now."""
    return set(raw.scan_iter(count=1000))


def forget_created(raw: redis.Redis, before: set[bytes]) -> None:
    """Delete the keys created since ``before``: a used-up sample and what was made with it (an
    API sweep's snapshots read every key, so the sweep stays as fast as its first case)."""
    created = key_names(raw) - before
    if created:
        raw.delete(*created)
