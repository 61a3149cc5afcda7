"""The bodies of what leaves the system: alert steps in the Alertmanager webhook format (version
4, so receivers written for Prometheus's Alertmanager work unchanged), everything else as
CityOps events (docs/outbound.md). Pure functions of the stored records."""

from __future__ import annotations

import datetime as dt
from typing import Any, Mapping

from app.model.alerts import ACTIVE

# An alert's lifecycle step (its timeline action) -> the event receivers subscribe to. Repeats,
# notes and assignments are not events outside the room.
ALERT_ACTION_EVENTS: dict[str, str] = {
    "raised": "alert.raised", "reopened": "alert.raised", "ack": "alert.acknowledged",
    "escalate": "alert.escalated", "clear": "alert.cleared", "resolve": "alert.cleared"}
# Alertmanager's "no end yet".
NO_END = "0001-01-01T00:00:00Z"


def rfc3339(ts: float | None) -> str | None:
    """A POSIX time as RFC 3339 in UTC (None stays None)."""
    if ts is None:
        return None
    return dt.datetime.fromtimestamp(ts, dt.timezone.utc).isoformat(timespec="milliseconds") \
        .replace("+00:00", "Z")


def alert_link(public_url: str | None, alert_id: str) -> str:
    """Where a person opens the alert ("" when the installation has no public address)."""
    return f"{public_url}/alerts?alert={alert_id}" if public_url else ""


def alertmanager_body(alert: Mapping[str, Any], event_type: str, state: str,
                      public_url: str | None) -> dict[str, Any]:
    """One alert's step as an Alertmanager webhook (``receiver`` is filled in per receiver).

    ``state`` is the alert's state right after the step (the change stream's), not whatever it
    is by the time the body is built. Labels carry what identifies the condition, annotations
    what describes it and which CityOps step this is (``cityops_event``).
    """
    firing = state in ACTIVE
    labels = {"alertname": alert.get("rule") or "manual", "severity": alert.get("severity", ""),
              "domain": alert.get("domain", ""), "source": alert.get("source", "")}
    if alert.get("entity"):
        labels["entity"] = alert["entity"]
    annotations = {"summary": alert.get("title", ""), "description": alert.get("description", ""),
                   "cityops_event": event_type, "cityops_state": state}
    ends = NO_END if firing else (rfc3339(alert.get("cleared_at") or alert.get("closed_at"))
                                  or NO_END)
    one = {"status": "firing" if firing else "resolved", "labels": labels,
           "annotations": annotations, "startsAt": rfc3339(alert.get("opened_at")) or NO_END,
           "endsAt": ends, "generatorURL": alert_link(public_url, alert["id"]),
           # Alertmanager's fingerprint is 16 hex digits: an alert id is "al-" and those.
           "fingerprint": str(alert["id"]).removeprefix("al-")}
    return {"version": "4", "groupKey": f'{{}}:{{alert_id="{alert["id"]}"}}',
            "truncatedAlerts": 0, "status": one["status"], "receiver": "",
            "groupLabels": {"alert_id": alert["id"]}, "commonLabels": labels,
            "commonAnnotations": annotations, "externalURL": public_url or "", "alerts": [one]}


def event_body(event_type: str, delivery_id: str, at: float, data: Mapping[str, Any]) -> dict[str, Any]:
    """A CityOps event: its type, id (the same on every retry: receivers can drop repeats), time
    and data."""
    return {"type": event_type, "id": delivery_id, "at": rfc3339(at), "data": dict(data)}


def feed_data(health: Any, state: str) -> dict[str, Any]:
    """What a feed.down / feed.up event says about the feed."""
    return {"feed": health.feed, "domain": health.domain, "state": state,
            "last_success": rfc3339(health.last_success), "last_error": health.last_error,
            "consecutive_failures": health.consecutive_failures}
