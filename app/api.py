"""The JSON API (/api/v1), behind the same gate as the pages."""

from __future__ import annotations

from flask import Blueprint, Response, abort, jsonify, request

from app import roles, store
from app.context import current_principal, redis_client, require_roles
from app.entities import domain_entities
from app.feeds import read_health

api = Blueprint("api", __name__, url_prefix="/api/v1")
MAX_KIND_LENGTH = 32


def _domains_asked() -> list[str]:
    """The domains named by ``?domain=`` (all when absent); 400 for an unknown one."""
    domain = request.args.get("domain")
    if domain is not None and domain not in store.DOMAINS:
        abort(400, description=f"unknown domain: use one of {', '.join(store.DOMAINS)}")
    return [domain] if domain else list(store.DOMAINS)


@api.get("/me")
@require_roles(roles.API_READERS)
def me() -> Response:
    """Who is asking, and with which role."""
    principal = current_principal()
    assert principal is not None  # the gate admits no anonymous request here
    return jsonify(principal.as_json())


@api.get("/entities/<domain>")
@require_roles(roles.API_READERS)
def entities(domain: str) -> Response:
    """The live entities of one domain (``?kind=vehicle``; ``?include=shape`` for route shapes)."""
    if domain not in store.DOMAINS:
        abort(404, description=f"unknown domain '{domain}': use one of {', '.join(store.DOMAINS)}")
    kind = request.args.get("kind") or None
    if kind is not None and len(kind) > MAX_KIND_LENGTH:
        abort(400, description="kind is too long")
    include_heavy = request.args.get("include") == "shape"
    return jsonify({"entities": domain_entities(redis_client(), domain, kind, include_heavy)})


@api.get("/events")
@require_roles(roles.API_READERS)
def events() -> Response:
    """The stored events of a domain (``?domain=transport``) or of all domains."""
    domains = _domains_asked()
    rows = [dict(ev, domain=d) for d in domains for ev in store.read_events(redis_client(), d)]
    return jsonify({"events": sorted(rows, key=lambda ev: ev["id"])})


@api.get("/kpis")
@require_roles(roles.API_READERS)
def kpis() -> Response:
    """The current KPIs of a domain (``?domain=transport``) or of all domains."""
    domains = _domains_asked()
    return jsonify({"kpis": [k for d in domains for k in store.read_kpis(redis_client(), d)]})


@api.get("/feeds")
@require_roles(roles.API_READERS)
def feeds() -> Response:
    """Every feed's health record, with its state (ok, stale, down, waiting)."""
    return jsonify({"feeds": [h.as_json() for h in read_health(redis_client())]})
