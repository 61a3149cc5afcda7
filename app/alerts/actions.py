"""Acting on an alert as a person: who may act is checked, and a refusal audited, before the step.

The /alerts page and the JSON API both come through here, so they cannot differ on who may
acknowledge, assign, note or resolve which alert, or on what the audit log says about it.
"""

from __future__ import annotations

from typing import Any

import redis

from app import audit
from app.alerts.errors import AlertNotFound, NotPermitted
from app.alerts.lifecycle import acknowledge, add_note, assign, resolve
from app.alerts.policy import may_act
from app.alerts.queries import get_alert
from app.model.principal import Principal

ACTIONS: tuple[str, ...] = ("ack", "assign", "note", "resolve")


def act(r: redis.Redis, principal: Principal, alert_id: str, action: str, *, text: str = "",
        user: str = "", expected: str = "", addr: str = "") -> dict[str, Any]:
    """Do ``action`` on the alert as ``principal``: ``text`` is the note (ack, note, resolve),
    ``user`` the new assignee and ``expected`` the assignee the caller saw (assign; a claim is
    an assignment to oneself). Returns the changed alert; raises AlertNotFound, NotPermitted
    (audited as denied), Conflict (someone was first: who and when) or AlertError."""
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
        return assign(r, alert_id, principal.name, user, expected=expected, addr=addr)
    if action == "note":
        return add_note(r, alert_id, principal.name, text, addr=addr)
    return resolve(r, alert_id, principal.name, note=text, addr=addr)
