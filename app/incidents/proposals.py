"""Incidents proposed from clustered alerts: found by the runner's job, accepted or dismissed by people.

Alerts cluster when at least ``min_alerts`` active, located alerts of at least ``min_domains``
domains lie each within ``radius_m`` of another (or inside the area of an active CAP warning
among them) and were all raised or repeated within ``window``. A cluster becomes a proposal,
never an incident: an operator accepts it (declaring the incident, app.incidents.lifecycle) or
dismisses it. A pending proposal grows as new alerts join its cluster; an alert that was in a
proposal once is never proposed again.
"""

from __future__ import annotations

import time
from typing import Any, Iterable, Mapping, Sequence

import orjson
import redis

from app import alerts, store
from app.incidents.errors import IncidentNotFound, NotPermitted
from app.incidents.lifecycle import SYSTEM_ACTOR, SYSTEM_ADDR, declare, record, settle, text
from app.incidents.policy import may_declare
from app.incidents.queries import get_proposal
from app.incidents.sop import Catalogue, ProposalRule
from app.model.alerts import ACTIVE, SEVERITY_RANK
from app.model.incidents import (
    MAX_NOTE,
    PROPOSAL_ID,
    check_polygon,
    distance_m,
    graver,
    in_polygon,
    level_of,
    new_id,
)
from app.model.principal import Principal


# -- finding clusters (pure) ------------------------------------------------------------------------
def _seen(alert: Mapping[str, Any]) -> float:
    return max(alert.get("opened_at") or 0.0, alert.get("last_seen") or 0.0)


def _polygon(alert: Mapping[str, Any]) -> Mapping[str, Any] | None:
    if alert.get("source") != "cap" or not alert.get("area"):
        return None
    try:
        return check_polygon(alert["area"])
    except ValueError:
        return None  # a malformed warning area clusters nothing


def clusters(candidates: Iterable[Mapping[str, Any]], rule: ProposalRule,
             now: float) -> list[list[Mapping[str, Any]]]:
    """The clusters among ``candidates`` (active, located alerts in API form) that meet ``rule``,
    each as its alerts, oldest first."""
    located = [a for a in candidates if a.get("state") in ACTIVE and a.get("lat") is not None
               and a.get("lon") is not None]
    recent = [a for a in located if _seen(a) >= now - rule.window_s]
    warnings = [a for a in located if rule.warning_areas and _polygon(a) is not None]
    nodes = list({a["id"]: a for a in recent + warnings}.values())
    index = {a["id"]: i for i, a in enumerate(nodes)}
    parent = list(range(len(nodes)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def join(a: Mapping[str, Any], b: Mapping[str, Any]) -> None:
        parent[root(index[a["id"]])] = root(index[b["id"]])

    for i, a in enumerate(recent):
        for b in recent[i + 1:]:
            if distance_m(a["lat"], a["lon"], b["lat"], b["lon"]) <= rule.radius_m:
                join(a, b)
    for warning in warnings:
        polygon = _polygon(warning)
        assert polygon is not None
        for alert in recent:
            if alert["id"] != warning["id"] and in_polygon(alert["lat"], alert["lon"], polygon):
                join(alert, warning)
    groups: dict[int, list[Mapping[str, Any]]] = {}
    for node in nodes:
        groups.setdefault(root(index[node["id"]]), []).append(node)
    found = [sorted(group, key=_seen) for group in groups.values()
             if len(group) >= rule.min_alerts
             and len({a["domain"] for a in group}) >= rule.min_domains
             and any(a in recent for a in group)]
    return sorted(found, key=lambda group: _seen(group[0]))


def suggested_type(members: Sequence[Mapping[str, Any]], catalogue: Catalogue) -> str:
    """The incident type the alerts suggest: most keyword hits in their titles and descriptions,
    then most shared domains (the catalogue's order breaks ties)."""
    words = " ".join(f"{a.get('title', '')} {a.get('description', '')}" for a in members).lower()
    domains = {a["domain"] for a in members}
    best, best_score = "", (-1, -1)
    for kind in catalogue.types.values():
        score = (sum(1 for k in kind.keywords if k.lower() in words),
                 len(domains & set(kind.domains)))
        if score > best_score:
            best, best_score = kind.id, score
    return best


def describe(members: Sequence[Mapping[str, Any]], catalogue: Catalogue,
             rule: ProposalRule) -> dict[str, str]:
    """A proposal's fields: the domains, where (a warning's area, else the members' middle and
    the radius that holds them), the level their severities suggest, a type and a title."""
    warning = next((a for a in members if _polygon(a) is not None), None)
    lat = sum(a["lat"] for a in members) / len(members)
    lon = sum(a["lon"] for a in members) / len(members)
    if warning is not None:
        lat, lon = warning["lat"], warning["lon"]
    reach = max(distance_m(lat, lon, a["lat"], a["lon"]) for a in members)
    gravest = min(members, key=lambda a: (SEVERITY_RANK.get(a["severity"], 9), -_seen(a)))
    return {"domains": ",".join(sorted({a["domain"] for a in members})),
            "lat": f"{lat:.6f}", "lon": f"{lon:.6f}",
            "radius_m": f"{max(reach + rule.radius_m / 2, rule.radius_m):.0f}",
            "area": orjson.dumps(warning["area"]).decode() if warning is not None else "",
            "level": graver(*(level_of(a["severity"]) for a in members)),
            "suggested_type": suggested_type(members, catalogue), "title": gravest["title"],
            "first_at": f"{min(_seen(a) for a in members):.3f}",
            "last_at": f"{max(_seen(a) for a in members):.3f}"}


# -- the runner's job ----------------------------------------------------------------------------------
def propose(r: redis.Redis, catalogue: Catalogue, now: float | None = None) -> list[str]:
    """Propose an incident for every new cluster of alerts, and let pending proposals grow with
    their clusters. Returns the ids of the proposals created or extended."""
    now = time.time() if now is None else now
    rule = catalogue.proposals
    if not rule.enabled:
        return []
    proposed = store.incidents.proposed_alerts(r)
    pending = {row["id"] for row in store.incidents.read_proposals(r, pending_only=True, limit=10_000)}
    linked = store.incidents.linked_alerts(r)
    candidates = [a for a in alerts.list_alerts(r, open_only=True, limit=5000)
                  if a["id"] not in linked and proposed.get(a["id"], "") in pending | {""}]
    changed = []
    for members in clusters(candidates, rule, now):
        fields = describe(members, catalogue, rule)
        ids = [a["id"] for a in members]
        owners = sorted({proposed[i] for i in ids if i in proposed})
        fresh = [i for i in ids if i not in proposed]
        if owners:
            if fresh and store.incidents.propose(r, owners[0], "extend", fields, fresh,
                                                 now=now)[0] == "extended":
                record(r, SYSTEM_ACTOR, "proposal_extend", owners[0], SYSTEM_ADDR,
                       detail=",".join(fresh))
                changed.append(owners[0])
            continue
        proposal_id = new_id("pr")
        if store.incidents.propose(r, proposal_id, "create", fields, ids, now=now)[0] == "created":
            record(r, SYSTEM_ACTOR, "proposal_create", proposal_id, SYSTEM_ADDR,
                   detail=f"{len(ids)} alerts, {fields['domains']}: {fields['title']}"[:400])
            changed.append(proposal_id)
    return changed


# -- people judging proposals --------------------------------------------------------------------------
def dismiss(r: redis.Redis, principal: Principal, proposal_id: str, reason: str = "", addr: str = "",
            now: float | None = None) -> dict[str, Any]:
    """Dismiss a pending proposal (its alerts are not proposed again); Conflict when someone
    accepted or dismissed it first, with who and when."""
    now = time.time() if now is None else now
    if not may_declare(principal):
        record(r, principal.name, "proposal_dismiss", proposal_id[:40], addr, "denied")
        raise NotPermitted("only operators and admins judge proposals")
    if not PROPOSAL_ID.match(proposal_id):
        raise IncidentNotFound(f"no proposal '{proposal_id[:40]}'")
    reason = text(reason, MAX_NOTE, "reason")
    settle(r, store.incidents.dismiss(r, proposal_id, reason, actor=principal.name, now=now),
           principal.name, "proposal_dismiss", proposal_id, addr,
           f"no proposal '{proposal_id[:40]}'")
    record(r, principal.name, "proposal_dismiss", proposal_id, addr, detail=reason)
    found = get_proposal(r, proposal_id)
    assert found is not None  # just judged
    return found


def accept(r: redis.Redis, principal: Principal, catalogue: Catalogue, proposal_id: str, *,
           title: str = "", kind: str = "", level: str = "", commander: str = "",
           description: str = "", addr: str = "", now: float | None = None) -> dict[str, Any]:
    """Accept a pending proposal: the incident is declared from its alerts (the type it suggests
    and its gravest alert's title unless others are given). Conflict when someone judged it
    first, or one of its alerts joined another open incident meanwhile."""
    if not may_declare(principal):
        record(r, principal.name, "proposal_accept", proposal_id[:40], addr, "denied")
        raise NotPermitted("only operators and admins judge proposals")
    proposal = get_proposal(r, proposal_id)
    if proposal is None:
        raise IncidentNotFound(f"no proposal '{proposal_id[:40]}'")
    return declare(r, principal, catalogue, title=title or proposal["title"],
                   kind=kind or proposal["suggested_type"], level=level, commander=commander,
                   alert_ids=proposal["alerts"], description=description, proposal=proposal_id,
                   addr=addr, now=now)
