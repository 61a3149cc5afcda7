"""The history API (/api/v1): an entity's readings and a domain's KPIs over a window, in steps.

Windows are given as ``since`` and ``until`` (ISO 8601 with a time zone, or Unix seconds; the
last 24 hours by default) and an optional ``step`` (seconds or ISO 8601, such as PT1H: each step
the mean of its points). app/live/history.py reads the store; a window or step it cannot answer
is a 400 naming the parameter. Points come with their time both ways: ``at`` in Unix seconds and
``at_iso`` in ISO 8601.
"""

from __future__ import annotations

import time
from typing import Any

from flask import Blueprint, Response, abort, g, jsonify

from app.incidents.queries import iso
from app.kpis import reading as kpi_reading
from app.live.entities import entity
from app.live.history import MIN_STEP_S, History, HistoryError, kpi_history, reading_history
from app.model import roles
from app.model.domains import DOMAINS
from app.web.api.schema import Answer, Field, bad_request, inputs
from app.web.context import redis_client, require_roles

api_history = Blueprint("api_history", __name__, url_prefix="/api/v1")

DEFAULT_WINDOW_S = 86_400.0
MAX_WINDOW_DAYS = 3660  # the longest history [history] may keep (KPIs; readings: up to 366)
MAX_ENTITY_ID = 200

_WINDOW = (
    Field("since", "time", description="Start of the window: ISO 8601 with its time zone, or Unix "
                                       "seconds (default: 24 hours before `until`).",
          example="2026-01-01T00:00:00Z"),
    Field("until", "time", description="End of the window, the same way (default: now).",
          example="2026-01-02T00:00:00Z"),
    Field("step", "duration", low=MIN_STEP_S, high=MAX_WINDOW_DAYS * 86_400.0,
          description="Steps of this length (seconds, or ISO 8601 such as PT1H), each the mean of "
                      "its points; without it, every point as it was kept.", example="PT1H"),
)
READING_QUERY = (Field("metric", "text", required=True, max_length=64,
                       description="The reading (one of the entity's `readings`).",
                       example="pressure_bar"), *_WINDOW)
KPI_QUERY = (Field("domain", "choice", required=True, choices=DOMAINS,
                   description="The KPI's domain.", example="transport"),
             Field("kpi", "text", required=True, max_length=80,
                   description="A city-wide KPI of the domain (the `name` in GET /api/v1/kpis).",
                   example="on_time_performance"),
             *_WINDOW)


def _window() -> tuple[float, float, float | None]:
    """(since, until, step) asked for; a window longer than MAX_WINDOW_DAYS is a 400."""
    until = g.query["until"] if g.query["until"] is not None else time.time()
    since = g.query["since"] if g.query["since"] is not None else until - DEFAULT_WINDOW_S
    if until - since > MAX_WINDOW_DAYS * 86_400.0:
        bad_request(f"'since' must be at most {MAX_WINDOW_DAYS} days before 'until'")
    return since, until, g.query["step"]


def _answer(found: History, **about: Any) -> Response:
    return jsonify(dict(
        about, since=found.since, since_iso=iso(found.since), until=found.until,
        until_iso=iso(found.until), step_s=found.step_s,
        points=[{"at": t, "at_iso": iso(t), "value": v}
                for t, v in zip(found.times, found.values, strict=True)]))


def _listed(names: list[str]) -> str:
    shown = ", ".join(names[:20])
    return shown + (f" and {len(names) - 20} more" if len(names) > 20 else "") if names else "none"


@api_history.get("/entities/<domain>/<path:entity_id>/history")
@require_roles(roles.API_READERS)
@inputs(query=READING_QUERY, answers=(Answer(200, "ReadingHistory", "The readings over the window."),))
def entity_history(domain: str, entity_id: str) -> Response:
    """The readings of one entity's metric over a window, as kept or in steps.

    How long readings are kept is set in [history] (7 days by default); vehicle delays are not
    kept. A step without a reading is left out (a gap, not a zero)."""
    if domain not in DOMAINS:
        abort(404, description=f"unknown domain '{domain[:40]}': use one of {', '.join(DOMAINS)}")
    r = redis_client()
    found = entity(r, domain, entity_id) if len(entity_id) <= MAX_ENTITY_ID else None
    if found is None:
        abort(404, description=f"no {domain} entity '{entity_id[:60]}'")
    metric = g.query["metric"]
    readings = found.get("readings") or {}
    if metric not in readings:
        bad_request(f"'metric': {entity_id[:60]} has no reading '{metric}' (it has "
                    f"{_listed(sorted(readings))})")
    since, until, step = _window()
    try:
        history = reading_history(r, domain, entity_id, metric, since, until, step)
    except HistoryError as exc:
        bad_request(str(exc))
    return _answer(history, domain=domain, entity=entity_id, metric=metric,
                   unit=readings[metric].get("unit", ""))


@api_history.get("/kpis/history")
@require_roles(roles.API_READERS)
@inputs(query=KPI_QUERY, answers=(Answer(200, "KpiHistory", "The KPI over the window."),))
def kpi_trend() -> Response:
    """The once-a-minute values of one city-wide KPI over a window (kept 90 days by default)."""
    r = redis_client()
    domain, name = g.query["domain"], g.query["kpi"]
    current = {k["name"]: k for k in kpi_reading.current(r, domain, city_only=True)}
    if name not in current:
        bad_request(f"'kpi': {domain} has no city-wide KPI '{name}' (it has "
                    f"{_listed(sorted(current))})")
    since, until, step = _window()
    try:
        history = kpi_history(r, domain, name, since, until, step)
    except HistoryError as exc:
        bad_request(str(exc))
    return _answer(history, domain=domain, kpi=name, title=current[name].get("title", ""),
                   unit=current[name].get("unit", ""))
