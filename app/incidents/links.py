"""Alerts linked to incidents: by hand (link, unlink) and automatically (new alerts inside an open
incident's area, in the domains its type names).

An alert belongs to one open incident at a time. The link is one atomic step in the incidents'
slot; the alert's own timeline then says "linked to incident #N" (a second step, in the alerts'
slot, like the audit line). An alert someone unlinked by hand is never linked back automatically.
"""

from __future__ import annotations

import time
from typing import Any

import redis

from app import alerts, store
from app.incidents import areas
from app.incidents.errors import IncidentError, IncidentNotFound, NotPermitted
from app.incidents.lifecycle import (
    SYSTEM_ACTOR,
    SYSTEM_ADDR,
    incident_or_404,
    record,
    settle,
    text,
)
from app.incidents.policy import may_change
from app.incidents.queries import incident_json
from app.model.alerts import ACTIVE
from app.model.incidents import INCIDENT_ID, LEVEL_RANK, MAX_NOTE
from app.model.principal import Principal


def _side(r: redis.Redis, alert_id: str, linked: bool, number: str, title: str, actor: str,
          addr: str, now: float) -> None:
    store.incidents.alert_side(r, alert_id, "incident_linked" if linked else "incident_unlinked",
                               f"#{number} {title}", actor=actor, addr=addr, now=now)


def link(r: redis.Redis, principal: Principal, incident_id: str, alert_id: str, *,
         unlink: bool = False, note: str = "", addr: str = "",
         now: float | None = None) -> dict[str, Any]:
    """Link an alert to the incident (or unlink it) by hand; Conflict when it is already linked
    there or to another open incident (or, unlinking, is not linked), with who and when."""
    now = time.time() if now is None else now
    op = "unlink" if unlink else "link"
    if not INCIDENT_ID.match(incident_id):
        raise IncidentNotFound(f"no incident '{incident_id[:40]}'")
    incident = incident_or_404(r, incident_id)
    if not may_change(principal, incident):
        record(r, principal.name, f"incident_{op}", incident_id, addr, "denied")
        raise NotPermitted("only the incident's commander, operators and admins link alerts")
    alert = alerts.get_alert(r, alert_id.strip())
    if alert is None:
        raise IncidentError(f"no alert '{alert_id[:40]}'", "alert")
    note = text(note, MAX_NOTE, "note")
    answer = settle(r, store.incidents.link(r, incident_id, op, alert["id"], alert["title"],
                                            note=note, actor=principal.name, addr=addr, now=now),
                    principal.name, f"incident_{op}", incident_id, addr,
                    f"no incident '{incident_id[:40]}'")
    _side(r, alert["id"], not unlink, answer[1], incident["title"], principal.name, addr, now)
    record(r, principal.name, f"incident_{op}", incident_id, addr, detail=alert["id"])
    return incident_or_404(r, incident_id)


def auto_link(r: redis.Redis, now: float | None = None) -> list[tuple[str, str]]:
    """The runner's job: link every new active alert (raised since the incident was declared)
    that lies inside an open incident's area and is of a domain the incident's type names.
    Returns the (incident, alert) pairs it linked."""
    now = time.time() if now is None else now
    # The gravest first (then the newest): an alert inside two incidents' areas joins that one.
    rows = store.incidents.read_incidents(r, store.incidents.ids(r, open_only=True, limit=10_000))
    incidents = sorted((incident_json(row) for row in rows),
                       key=lambda i: (LEVEL_RANK.get(i["level"], 9), -(i["declared_at"] or 0)))
    incidents = [i for i in incidents if areas.of_incident(i).known]
    if not incidents:
        return []
    taken = store.incidents.linked_alerts(r)
    candidates = [a for a in alerts.list_alerts(r, open_only=True, limit=5000)
                  if a["state"] in ACTIVE and a["id"] not in taken and a.get("lat") is not None]
    done: list[tuple[str, str]] = []
    for incident in incidents:
        place = areas.of_incident(incident)
        for alert in candidates:
            if (alert["domain"] not in incident["domains"] or alert["id"] in taken
                    or (alert.get("opened_at") or 0) < (incident["declared_at"] or 0)
                    or not place.contains(alert["lat"], alert["lon"])):
                continue
            answer = store.incidents.link(r, incident["id"], "autolink", alert["id"],
                                          alert["title"], actor=SYSTEM_ACTOR, addr=SYSTEM_ADDR,
                                          now=now)
            if answer[0] != "ok":
                continue
            taken[alert["id"]] = {"incident": incident["id"]}
            _side(r, alert["id"], True, answer[1], incident["title"], SYSTEM_ACTOR, SYSTEM_ADDR, now)
            record(r, SYSTEM_ACTOR, "incident_autolink", incident["id"], SYSTEM_ADDR,
                   detail=alert["id"])
            done.append((incident["id"], alert["id"]))
    return done
