"""The alerts service: the alert lifecycle, who may act, reading and grouping, rules, CAP export.

``from app import alerts`` gives the service's operations (raise, acknowledge, assign, note,
resolve, list, ...). The rules live in ``app.alerts.rules`` (loading), ``app.alerts.evaluation``
(one evaluation at an instant) and ``app.alerts.ticker`` (the runner's timer); the CAP 1.2
export in ``app.alerts.cap_export``; the vocabulary (severities, states) in ``app.model.alerts``.
"""

from app.alerts.actions import ACTIONS, act
from app.alerts.errors import AlertError, AlertNotFound, Conflict, NotPermitted
from app.alerts.grouping import assign_groups
from app.alerts.lifecycle import (
                                  SYSTEM_ACTOR,
                                  SYSTEM_ADDR,
                                  Raised,
                                  acknowledge,
                                  add_note,
                                  assign,
                                  clear,
                                  escalate,
                                  raise_alert,
                                  raise_manual,
                                  resolve,
)
from app.alerts.policy import ACT_ON_ALL, ACTORS, RAISERS, may_act
from app.alerts.queries import counts, get_alert, list_alerts, timeline, to_json

__all__ = ["ACTIONS", "ACTORS", "ACT_ON_ALL", "AlertError", "AlertNotFound", "Conflict",
           "NotPermitted", "RAISERS", "Raised", "SYSTEM_ACTOR", "SYSTEM_ADDR", "acknowledge", "act",
           "add_note", "assign", "assign_groups", "clear", "counts", "escalate", "get_alert",
           "list_alerts", "may_act", "raise_alert", "raise_manual", "resolve", "timeline",
           "to_json"]
