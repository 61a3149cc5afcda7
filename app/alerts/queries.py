"""Reading alerts: the API form of one, filtered lists (grouped by area), timelines and counts.

The one place for the order of what needs attention (issue 19, docs/alerts.md "Order"):
``attention_order`` sorts /alerts by default and the wall's panel; the API's lists stay newest
unacknowledged first (``newest_unacked_first``), which their paging cursors rely on.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, Mapping

import orjson
import redis

from app import i18n, store
from app.alerts.grouping import assign_groups
from app.model.alerts import (
    ALERT_ID,
    CLOSED,
    SEVERITIES,
    SEVERITY_RANK,
    STATES,
    UNACKED,
    newest_unacked_first,
)

_FLOAT_FIELDS = ("first_seen", "last_seen", "opened_at", "acked_at", "assigned_at", "cleared_at",
                 "closed_at", "resolved_at", "escalated_at", "updated_at")


# -- reading ----------------------------------------------------------------------------------------
def _float(value: str | None) -> float | None:
    try:
        return float(value) if value else None
    except ValueError:
        return None


def to_json(row: Mapping[str, str]) -> dict[str, Any]:
    """An alert as the API and the screens use it (typed fields; times as Unix seconds)."""
    out: dict[str, Any] = {
        "id": row.get("id", ""), "state": row.get("state", ""),
        "severity": row.get("severity", "info"), "domain": row.get("domain", ""),
        "title": row.get("title", ""), "title_zh": row.get("title_zh", ""),
        "description": row.get("description", ""),
        "count": int(row.get("count") or 0), "source": row.get("source", ""),
        "rule": row.get("rule", ""), "entity": row.get("entity", ""),
        "fingerprint": row.get("fingerprint", ""),
        "acked_by": row.get("acked_by", ""), "ack_note": row.get("ack_note", ""),
        "assignee": row.get("assignee", ""), "assigned_by": row.get("assigned_by", ""),
        "resolved_by": row.get("resolved_by", ""), "closed_by": row.get("closed_by", ""),
        "created_by": row.get("created_by", ""),
        "escalated": row.get("escalated") == "1", "notes": int(row.get("notes") or 0),
        "version": int(row.get("version") or 0),
        "lat": _float(row.get("lat")), "lon": _float(row.get("lon")),
        "area": orjson.loads(row["area"]) if row.get("area") else None,
        "group": None,
    }
    for name in _FLOAT_FIELDS:
        out[name] = _float(row.get(name))
    return out


def shown_title(alert: Mapping[str, Any], lang: str | None = None) -> str:
    """An alert's title in ``lang`` (the reader's language when None): its Chinese title when it
    has one (a rule's ``title_zh``, issue 19), else the one it was raised with (older alerts, feeds'
    and people's alerts carry one title)."""
    chosen = i18n.current_language() if lang is None else lang
    return str((chosen == i18n.ZH and alert.get("title_zh")) or alert.get("title") or "")


# -- the order of what needs attention ------------------------------------------------------------
# Within a severity: waiting for someone (still active before cleared), then owned ones, closed last.
ATTENTION_STATE_RANK: dict[str, int] = {"active_unack": 0, "cleared_unack": 1, "active_ack": 2,
                                        CLOSED: 3}


def attention_order(alert: Mapping[str, Any]) -> tuple[int, int, int, float, str]:
    """Sort key, most in need of attention first: escalated alerts nobody has acknowledged yet;
    then by severity (critical, major, minor, warning, info); then unacknowledged before
    acknowledged (an active one before a cleared one); then the one waiting longest first (since
    it opened or reopened); the id breaks ties. Closed alerts come after every open one.

    An escalated alert someone has since acknowledged has an owner: it sorts by its severity."""
    state = alert.get("state", "")
    tier = 2 if state == CLOSED else 0 if alert.get("escalated") and state in UNACKED else 1
    since = alert.get("opened_at") or alert.get("first_seen") or alert.get("last_seen") or 0.0
    return (tier, SEVERITY_RANK.get(alert.get("severity", ""), 9),
            ATTENTION_STATE_RANK.get(state, 9), float(since), str(alert.get("id", "")))


# How a list may be sorted: most in need of attention first, or newest unacknowledged first.
ORDERS: dict[str, Callable[[Mapping[str, Any]], tuple[Any, ...]]] = {
    "attention": attention_order, "newest": newest_unacked_first}


def get_alert(r: redis.Redis, alert_id: str) -> dict[str, Any] | None:
    """One alert (API form), or None (also for anything that is not an alert id)."""
    row = store.alerts.read_alert(r, alert_id) if ALERT_ID.match(alert_id) else None
    return to_json(row) if row else None


def list_alerts(r: redis.Redis, *, states: Iterable[str] | None = None,
                domains: Iterable[str] | None = None, severities: Iterable[str] | None = None,
                open_only: bool = False, limit: int = 200,
                order: str = "newest") -> list[dict[str, Any]]:
    """Alerts matching the filters (None: any), grouped by area, in ``order`` (ORDERS):
    "newest" unacknowledged first, or "attention" (``attention_order``); the first ``limit``.

    Grouping looks at every open alert, so a member is grouped even when its warning is
    filtered out of the answer.
    """
    state_set, domain_set = set(states or ()), set(domains or ())
    severity_set = set(severities or ())
    closed_wanted = not open_only and (not state_set or CLOSED in state_set)
    # Closed alerts accumulate for ever; open ones stay few. Every open alert is read; the
    # history only when closed ones are asked for, and then its most recently changed part.
    ids = store.alerts.ids(r, open_only=True, limit=100_000)
    if closed_wanted:
        ids = list(dict.fromkeys(ids + store.alerts.ids(r, limit=max(limit * 2, 500))))
    rows = [to_json(row) for row in store.alerts.read_alerts(r, ids)]
    assign_groups(rows)
    picked = [a for a in rows if (not state_set or a["state"] in state_set)
              and (not domain_set or a["domain"] in domain_set)
              and (not severity_set or a["severity"] in severity_set)]
    return sorted(picked, key=ORDERS.get(order, newest_unacked_first))[:limit]


def timeline(r: redis.Redis, alert_id: str) -> list[dict[str, Any]]:
    """An alert's whole story, oldest first: at, actor, action, addr, state, detail."""
    return [{"at": _float(e.get("at")), "actor": e.get("actor", ""), "action": e.get("action", ""),
             "addr": e.get("addr", ""), "state": e.get("state", ""), "detail": e.get("detail", "")}
            for e in store.alerts.read_timeline(r, alert_id)]


def counts(alerts: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, int]]:
    """severity -> state -> how many (every severity and state present, zeros included)."""
    table = {s: {state: 0 for state in STATES} | {"escalated": 0} for s in SEVERITIES}
    for alert in alerts:
        row = table.get(alert["severity"])
        if row is not None and alert["state"] in row:
            row[alert["state"]] += 1
            row["escalated"] += 1 if alert.get("escalated") and alert["state"] != CLOSED else 0
    return table
