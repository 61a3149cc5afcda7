"""What leaves the system: webhook receivers, the events they can ask for, their delivery state."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from typing import Any, Mapping
from urllib.parse import urlsplit

from app.model.alerts import SEVERITIES
from app.model.domains import DOMAINS

# Event types a receiver subscribes to (docs/outbound.md describes each body).
ALERT_EVENTS: tuple[str, ...] = ("alert.raised", "alert.acknowledged", "alert.escalated",
                                 "alert.cleared")
INCIDENT_EVENTS: tuple[str, ...] = ("incident.changed", "task.changed")
FEED_EVENTS: tuple[str, ...] = ("feed.down", "feed.up")
EVENT_TYPES: tuple[str, ...] = ALERT_EVENTS + INCIDENT_EVENTS + FEED_EVENTS

# A receiver's delivery state: new (nothing tried yet), ok, failing (retrying), down (failing
# for a while: shown on /admin; deliveries keep being retried and nothing queued is lost).
RECEIVER_STATES: tuple[str, ...] = ("new", "ok", "failing", "down")
RECEIVER_ID = re.compile(r"^wh-[0-9a-f]{12}$")
MAX_NAME = 80
MAX_URL = 2000


class ReceiverError(ValueError):
    """A receiver's configuration is not usable; the message says which field and why."""


@dataclass(frozen=True)
class Receiver:
    """One webhook receiver as an admin configured it. An empty ``domains`` or ``severities``
    means every one of them."""

    id: str
    name: str
    url: str
    events: tuple[str, ...]
    secret: str
    domains: tuple[str, ...] = ()
    severities: tuple[str, ...] = ()
    enabled: bool = True
    created_at: float = 0.0
    created_by: str = ""

    def wants(self, event_type: str, domain: str = "", severity: str = "") -> bool:
        """True when this receiver asked for the event (its type, domain and severity)."""
        if not self.enabled or event_type not in self.events:
            return False
        if self.domains and domain and domain not in self.domains:
            return False
        return not (self.severities and severity and severity not in self.severities)

    def as_json(self, with_secret: bool = False) -> dict[str, Any]:
        """The stored (or shown) form; the secret only when asked for."""
        out: dict[str, Any] = {"id": self.id, "name": self.name, "url": self.url,
                               "events": list(self.events), "domains": list(self.domains),
                               "severities": list(self.severities), "enabled": self.enabled,
                               "created_at": self.created_at, "created_by": self.created_by}
        if with_secret:
            out["secret"] = self.secret
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Receiver:
        """A receiver from its stored form."""
        return cls(id=str(data["id"]), name=str(data["name"]), url=str(data["url"]),
                   events=tuple(data.get("events", ())), secret=str(data.get("secret", "")),
                   domains=tuple(data.get("domains", ())),
                   severities=tuple(data.get("severities", ())),
                   enabled=bool(data.get("enabled", True)),
                   created_at=float(data.get("created_at", 0.0)),
                   created_by=str(data.get("created_by", "")))


@dataclass
class ReceiverStatus:
    """How deliveries to one receiver went: the figures /admin shows."""

    state: str = "new"
    last_status: str = ""  # an HTTP status code, or what went wrong before one came back
    last_attempt_at: float | None = None
    last_success_at: float | None = None
    failing_since: float | None = None
    failures: int = 0  # consecutive
    delivered: int = 0
    dropped: int = 0  # events not queued because the queue was full
    queued: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


def check_url(url: str) -> str:
    """``url`` if it is an http(s) URL a receiver can have; raises ReceiverError otherwise."""
    url = url.strip()
    if not url or len(url) > MAX_URL:
        raise ReceiverError(f"url: give an http:// or https:// address of at most {MAX_URL} "
                            "characters")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ReceiverError("url: give an http:// or https:// address with a host name")
    if parts.username or parts.password:
        raise ReceiverError("url: no user name or password in the address (each delivery is "
                            "signed with the receiver's secret instead)")
    try:
        ipaddress.ip_address(parts.hostname)
    except ValueError:
        if not re.fullmatch(r"[A-Za-z0-9.-]+", parts.hostname):
            raise ReceiverError("url: the host name has characters a host name cannot have") from None
    return url


def check_choices(values: Any, allowed: tuple[str, ...], what: str,
                  required: bool = False) -> tuple[str, ...]:
    """``values`` (a list of names) if each is one of ``allowed``; raises ReceiverError."""
    if values is None:
        values = []
    if isinstance(values, str):
        values = [v.strip() for v in values.split(",") if v.strip()]
    if not isinstance(values, (list, tuple)) or not all(isinstance(v, str) for v in values):
        raise ReceiverError(f"{what}: give a list of names")
    unknown = [v for v in values if v not in allowed]
    if unknown:
        raise ReceiverError(f"{what}: unknown {', '.join(unknown)} (use {', '.join(allowed)})")
    if required and not values:
        raise ReceiverError(f"{what}: name at least one of {', '.join(allowed)}")
    return tuple(dict.fromkeys(values))


def receiver_fields(data: Mapping[str, Any]) -> dict[str, Any]:
    """The checked fields of a receiver to add or change (name, url, events, domains,
    severities, enabled); only those present. Raises ReceiverError naming the field."""
    known = {"name", "url", "events", "domains", "severities", "enabled"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ReceiverError(f"unknown field(s) {', '.join(unknown)} (use {', '.join(sorted(known))})")
    out: dict[str, Any] = {}
    if "name" in data:
        name = data["name"]
        if not isinstance(name, str) or not name.strip() or len(name.strip()) > MAX_NAME:
            raise ReceiverError(f"name: give a name of 1 to {MAX_NAME} characters")
        if any(ord(c) < 32 for c in name):
            raise ReceiverError("name: no control characters")
        out["name"] = name.strip()
    if "url" in data:
        if not isinstance(data["url"], str):
            raise ReceiverError("url: give an http:// or https:// address")
        out["url"] = check_url(data["url"])
    if "events" in data:
        out["events"] = check_choices(data["events"], EVENT_TYPES, "events", required=True)
    if "domains" in data:
        out["domains"] = check_choices(data["domains"], DOMAINS, "domains")
    if "severities" in data:
        out["severities"] = check_choices(data["severities"], SEVERITIES, "severities")
    if "enabled" in data:
        if not isinstance(data["enabled"], bool):
            raise ReceiverError("enabled: true or false")
        out["enabled"] = data["enabled"]
    return out
