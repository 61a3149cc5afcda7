"""The alerts service: the alert lifecycle, who may act, reading and grouping, rules, CAP export.

``from app import alerts`` gives the service's operations (raise, acknowledge, assign, note,
resolve, list, ...). The rules live in ``app.alerts.rules`` (loading), ``app.alerts.evaluation``
(one evaluation at an instant) and ``app.alerts.ticker`` (the runner's timer); the CAP 1.2
export in ``app.alerts.cap_export``; the vocabulary (severities, states) in ``app.model.alerts``.
"""

from app.alerts.actions import ACTIONS, MAX_BULK, BulkResult, acknowledge_many, act, assignees
from app.alerts.errors import AlertError, AlertNotFound, Conflict, NotAssignable, NotPermitted
from app.alerts.grouping import assign_groups
from app.alerts.lifecycle import (
                                  SYSTEM_ACTOR,
                                  SYSTEM_ADDR,
                                  Raised,
                                  acknowledge,
                                  add_note,
                                  assign,
                                  claim,
                                  clear,
                                  escalate,
                                  raise_alert,
                                  raise_manual,
                                  resolve,
                                  take_over,
)
from app.alerts.policy import (
    ACT_ON_ALL,
    ACTORS,
    ASSIGNEE_DISABLED,
    ASSIGNEE_UNKNOWN,
    RAISERS,
    REFUSED_DOMAIN,
    REFUSED_ROLE,
    acting_domains,
    assignee_refusal,
    may_act,
    refusal,
)
from app.alerts.queries import (
    ORDERS,
    attention_order,
    counts,
    get_alert,
    list_alerts,
    shown_title,
    timeline,
    to_json,
)

__all__ = ["ACTIONS", "ACTORS", "ACT_ON_ALL", "ASSIGNEE_DISABLED", "ASSIGNEE_UNKNOWN", "AlertError",
           "AlertNotFound", "BulkResult", "Conflict", "MAX_BULK", "NotAssignable", "NotPermitted",
           "ORDERS", "RAISERS", "REFUSED_DOMAIN", "REFUSED_ROLE",
           "Raised", "SYSTEM_ACTOR",
           "SYSTEM_ADDR", "acknowledge", "acknowledge_many", "act", "acting_domains", "add_note",
           "assign", "assign_groups", "assignee_refusal", "assignees", "attention_order", "claim",
           "clear", "counts", "escalate", "get_alert",
           "list_alerts", "may_act", "raise_alert", "raise_manual", "refusal", "resolve",
           "shown_title", "take_over", "timeline", "to_json"]
