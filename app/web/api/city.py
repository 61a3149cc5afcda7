"""The city's live data as JSON (/api/v1): who asks, entities with their readings, events, KPIs and
feed health.

Lists come in pages (app/web/api/paging.py). Entities and events carry an ETag made from their
domain's live-data version, so a poller that has the newest answer gets 304 without a read. Times
are Unix seconds with ISO 8601 beside them (``<name>_iso``), as in the incidents API.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, abort, g, jsonify

from app.alerts.policy import acting_domains
from app.incidents.queries import iso
from app.kpis import reading as kpi_reading
from app.live.entities import domain_entities, domain_events, entity, with_readings
from app.live.feeds import read_health
from app.live.status import domain_versions
from app.model import roles
from app.model.domains import DOMAINS
from app.web.api import paging
from app.web.api.etags import versioned
from app.web.api.schema import Answer, Field, inputs
from app.web.context import current_principal, redis_client, require_roles

api = Blueprint("api", __name__, url_prefix="/api/v1")


MAX_KIND_LENGTH = 32
MAX_ENTITY_ID = 200


DOMAIN_QUERY = (Field("domain", "choice", choices=DOMAINS,
                      description="One domain (all of them without it).", example="transport"),)
ENTITIES_QUERY = (
    Field("kind", "text", max_length=MAX_KIND_LENGTH,
          description="Only entities of this kind (vehicle, stop, route, sensor, hospital, "
                      "request, ...).", example="sensor"),
    Field("include", "choice", choices=("shape",),
          description="`shape`: routes with their shape ([lon, lat] points), left out of lists "
                      "otherwise.", example="shape"),
    Field("readings", "choice", choices=("0", "1"),
          description="`0` leaves out each entity's newest readings (they are in by default).",
          example="0"),
    *paging.PAGE_QUERY,
)
ENTITY_QUERY = (Field("readings", "choice", choices=("0", "1"),
                      description="`0` leaves out the entity's newest readings.", example="1"),)


def _domains_asked() -> list[str]:
    """The domains named by ``?domain=`` (all when absent)."""
    domain = g.query.get("domain")
    return [domain] if domain else list(DOMAINS)


def _known_domain(domain: str) -> None:
    if domain not in DOMAINS:
        abort(404, description=f"unknown domain '{domain[:40]}': use one of {', '.join(DOMAINS)}")


def _domain_version(domain: str, **_rest: Any) -> str:
    """The live-data version of ``domain``: it moves with every entity, reading and event
    written (app/store/entities.py), so it stands for everything an entity answer holds."""
    if domain not in DOMAINS:
        return "unknown"
    version, updated_at = domain_versions(redis_client())[domain]
    return f"{version}:{updated_at}"


def _events_version(**_url: Any) -> str:
    versions = domain_versions(redis_client())
    return ",".join(f"{versions[d][0]}:{versions[d][1]}" for d in _domains_asked())


def _with_iso(row: dict[str, Any]) -> dict[str, Any]:
    """An entity row with its times in ISO 8601 beside the Unix seconds."""
    row["observed_at_iso"] = iso(row.get("observed_at"))
    for reading in (row.get("readings") or {}).values():
        reading["observed_at_iso"] = iso(reading.get("observed_at"))
    return row


@api.get("/me")
@require_roles(roles.API_READERS)
@inputs(answers=(Answer(200, "Me", "Who is asking."),))
def me() -> Response:
    """Who is asking, and with which role; for emergency staff, the domains they act on (every
    domain when their account names none: app.alerts.policy)."""
    principal = current_principal()
    assert principal is not None  # the gate admits no anonymous request here
    found = principal.as_json()
    if principal.role == roles.EMERGENCY:
        found["domains"] = list(acting_domains(principal))
    return jsonify(found)


@api.get("/entities/<domain>")
@require_roles(roles.API_READERS)
@inputs(query=ENTITIES_QUERY, answers=(Answer(200, "EntityPage", "A page of entities, by id."),))
@versioned(_domain_version)
def entities(domain: str) -> Response:
    """The live entities of one domain, by id, each with its newest readings.

    ``?kind=vehicle`` keeps one kind; ``?include=shape`` adds route shapes; ``?readings=0`` leaves
    the readings out. A vehicle has its delay (its own, else its trip's) as ``delay_s``."""
    _known_domain(domain)
    r = redis_client()
    rows, next_cursor = paging.page(
        domain_entities(r, domain, g.query["kind"], g.query["include"] == "shape"),
        key=lambda row: (row["id"],))
    if g.query["readings"] != "0":
        rows = with_readings(r, domain, rows)
    return paging.answer("entities", [_with_iso(row) for row in rows], next_cursor)


@api.get("/entities/<domain>/<path:entity_id>")
@require_roles(roles.API_READERS)
@inputs(query=ENTITY_QUERY, answers=(Answer(200, "Entity", "The entity, shape included."),))
@versioned(_domain_version)
def one_entity(domain: str, entity_id: str) -> Response:
    """One live entity with all its attributes (a route's shape too) and its newest readings."""
    _known_domain(domain)
    found = (entity(redis_client(), domain, entity_id, readings=g.query["readings"] != "0")
             if len(entity_id) <= MAX_ENTITY_ID else None)
    if found is None:
        abort(404, description=f"no {domain} entity '{entity_id[:60]}'")
    return jsonify(_with_iso(found))


@api.get("/events")
@require_roles(roles.API_READERS)
@inputs(query=(*DOMAIN_QUERY, *paging.PAGE_QUERY),
        answers=(Answer(200, "EventPage", "A page of events, by id."),))
@versioned(_events_version)
def events() -> Response:
    """The stored events of a domain (``?domain=transport``) or of all domains: service alerts,
    CAP warnings, service catalogues."""
    r = redis_client()
    rows = [dict(ev, domain=d) for d in _domains_asked() for ev in domain_events(r, d)]
    found, next_cursor = paging.page(rows, key=lambda ev: (ev["id"], ev["domain"]))
    return paging.answer("events", found, next_cursor)


@api.get("/kpis")
@require_roles(roles.API_READERS)
@inputs(query=DOMAIN_QUERY, answers=(Answer(200, "KpiList", "The current KPIs."),))
def kpis() -> Response:
    """The current KPIs of a domain (``?domain=transport``) or of all domains."""
    domains = _domains_asked()
    return jsonify({"kpis": [k for d in domains for k in kpi_reading.current(redis_client(), d)]})


@api.get("/feeds")
@require_roles(roles.API_READERS)
@inputs(query=paging.PAGE_QUERY, answers=(Answer(200, "FeedPage", "Feeds by name."),))
def feeds() -> Response:
    """Every feed's health record, with its state (ok, stale, down, waiting, paused)."""
    rows = [h.as_json() for h in read_health(redis_client())]
    found, next_cursor = paging.page(rows, key=lambda feed: (feed["feed"],))
    return paging.answer("feeds", found, next_cursor)
