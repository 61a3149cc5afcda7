"""Acting on an alert as a person: who may act is checked, and a refusal audited, before the step.

The /alerts page and the JSON API both come through here, so they cannot differ on who may
acknowledge, assign, claim, take over, note or resolve which alert, or on what the audit log says
about it. Acknowledging several alerts at once is the same step per alert (one atomic script and
one audit line each), with a summary of what was done and what was refused. An alert is assigned
only to someone who could act on it (``assignees`` lists them; anyone else is refused, audited).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import redis

from app import audit
from app.accounts import admin
from app.alerts.errors import AlertNotFound, Conflict, NotAssignable, NotPermitted
from app.alerts.lifecycle import acknowledge, add_note, assign, claim, resolve, take_over
from app.alerts.policy import acting_domains, assignee_refusal, may_act, user_principal
from app.alerts.queries import get_alert
from app.model.principal import Principal

ACTIONS: tuple[str, ...] = ("ack", "assign", "claim", "takeover", "note", "resolve")
MAX_BULK = 200  # alerts acknowledged in one request: a page of the list


def act(r: redis.Redis, principal: Principal, alert_id: str, action: str, *, text: str = "",
        user: str = "", expected: str = "", addr: str = "") -> dict[str, Any]:
    """Do ``action`` on the alert as ``principal``: ``text`` is the note (ack, note, resolve),
    ``user`` the new assignee and ``expected`` the assignee the caller saw (assign; takeover: the
    holder the person confirmed taking it from). A claim takes only an alert nobody holds.
    Returns the changed alert; raises AlertNotFound, NotPermitted (audited as denied),
    NotAssignable (assign: ``user`` could not act on it; audited as denied, nothing changed),
    Conflict (someone was first, or holds it: who and when) or AlertError."""
    if action not in ACTIONS:
        raise ValueError(f"unknown alert action {action!r}")
    alert = get_alert(r, alert_id)
    if alert is None:
        raise AlertNotFound(f"no alert '{alert_id[:40]}'")
    if not may_act(principal, alert):
        audit.record(r, principal.name, f"alert_{action}", target=alert_id, addr=addr,
                     outcome="denied")
        raise NotPermitted(alert["domain"])
    if action == "ack":
        return acknowledge(r, alert_id, principal.name, note=text, addr=addr)
    if action == "assign":
        _check_assignee(r, principal, alert, user, addr)
        return assign(r, alert_id, principal.name, user, expected=expected, addr=addr)
    if action == "claim":
        return claim(r, alert_id, principal.name, addr=addr)
    if action == "takeover":
        return take_over(r, alert_id, principal.name, expected, addr=addr)
    if action == "note":
        return add_note(r, alert_id, principal.name, text, addr=addr)
    return resolve(r, alert_id, principal.name, note=text, addr=addr)


def _check_assignee(r: redis.Redis, principal: Principal, alert: dict[str, Any], user: str,
                    addr: str) -> None:
    """Refuse (audited as denied, nothing else written) giving ``alert`` to a user who could
    not act on it: no such user, a disabled one, a role that reads only, another domain."""
    record = admin.get_user(r, user) if isinstance(user, str) else None
    why = assignee_refusal(record, alert)
    if why is None:
        return
    who = user_principal(record) if record is not None else None
    audit.record(r, principal.name, "alert_assign", target=alert["id"], addr=addr,
                 outcome="denied", detail=f"{str(user)[:64]}: {why}")
    raise NotAssignable(str(user)[:64], why, role=who.role if who else "",
                        domains=acting_domains(who) if who else (), domain=alert["domain"])


def assignees(r: redis.Redis, alert: Mapping[str, Any]) -> list[dict[str, str]]:
    """Whom ``alert`` may be assigned to: every enabled user who could act on it (role and
    domains), by name, each as ``{"name", "role"}``."""
    return [{"name": u["name"], "role": u["role"]} for u in admin.list_users(r)
            if assignee_refusal(u, alert) is None]


@dataclass
class BulkResult:
    """What acknowledging several alerts did: the ids acknowledged, and each refusal with why
    ("missing", "not permitted", or the conflict's reason with who and when)."""

    acknowledged: list[str] = field(default_factory=list)
    refused: list[dict[str, Any]] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        """The API's answer."""
        return {"acknowledged": list(self.acknowledged), "refused": list(self.refused)}


def acknowledge_many(r: redis.Redis, principal: Principal, alert_ids: Sequence[str], *,
                     note: str = "", addr: str = "") -> BulkResult:
    """Acknowledge each of ``alert_ids`` (duplicates once, at most MAX_BULK) as ``principal``.

    Each alert is its own atomic step and its own audit line (a refusal too), so two people
    acknowledging overlapping selections meet one winner per alert."""
    unique = list(dict.fromkeys(alert_ids))
    if len(unique) > MAX_BULK:
        raise ValueError(f"at most {MAX_BULK} alerts at once")
    result = BulkResult()
    for alert_id in unique:
        try:
            act(r, principal, alert_id, "ack", text=note, addr=addr)
        except AlertNotFound:
            result.refused.append({"id": alert_id, "reason": "missing", "by": "", "at": None})
        except NotPermitted:
            result.refused.append({"id": alert_id, "reason": "not permitted", "by": "", "at": None})
        except Conflict as exc:
            result.refused.append({"id": alert_id, "reason": exc.why, "by": exc.by, "at": exc.at})
        else:
            result.acknowledged.append(alert_id)
    return result
