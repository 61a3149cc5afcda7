"""The city's live data as JSON (/api/v1): who asks, entities, events, KPIs and feed health."""

from __future__ import annotations

from flask import Blueprint, Response, abort, g, jsonify

from app.alerts.policy import acting_domains
from app.kpis import reading as kpi_reading
from app.live.entities import domain_entities, domain_events
from app.live.feeds import read_health
from app.model import roles
from app.model.domains import DOMAINS
from app.web.api.schema import Field, inputs
from app.web.context import current_principal, redis_client, require_roles

api = Blueprint("api", __name__, url_prefix="/api/v1")


MAX_KIND_LENGTH = 32


DOMAIN_QUERY = (Field("domain", "choice", choices=DOMAINS),)


def _domains_asked() -> list[str]:
    """The domains named by ``?domain=`` (all when absent)."""
    domain = g.query.get("domain")
    return [domain] if domain else list(DOMAINS)


@api.get("/me")
@require_roles(roles.API_READERS)
@inputs()
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
@inputs(query=(Field("kind", "text", max_length=MAX_KIND_LENGTH),
               Field("include", "choice", choices=("shape",))))
def entities(domain: str) -> Response:
    """The live entities of one domain (``?kind=vehicle``; ``?include=shape`` for route shapes)."""
    if domain not in DOMAINS:
        abort(404, description=f"unknown domain '{domain[:40]}': use one of {', '.join(DOMAINS)}")
    kind = g.query["kind"]
    include_heavy = g.query["include"] == "shape"
    return jsonify({"entities": domain_entities(redis_client(), domain, kind, include_heavy)})


@api.get("/events")
@require_roles(roles.API_READERS)
@inputs(query=DOMAIN_QUERY)
def events() -> Response:
    """The stored events of a domain (``?domain=transport``) or of all domains."""
    domains = _domains_asked()
    rows = [dict(ev, domain=d) for d in domains for ev in domain_events(redis_client(), d)]
    return jsonify({"events": sorted(rows, key=lambda ev: ev["id"])})


@api.get("/kpis")
@require_roles(roles.API_READERS)
@inputs(query=DOMAIN_QUERY)
def kpis() -> Response:
    """The current KPIs of a domain (``?domain=transport``) or of all domains."""
    domains = _domains_asked()
    return jsonify({"kpis": [k for d in domains for k in kpi_reading.current(redis_client(), d)]})


@api.get("/feeds")
@require_roles(roles.API_READERS)
@inputs()
def feeds() -> Response:
    """Every feed's health record, with its state (ok, stale, down, waiting)."""
    return jsonify({"feeds": [h.as_json() for h in read_health(redis_client())]})
