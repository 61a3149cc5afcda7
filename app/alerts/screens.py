"""What the alert screens share: which severities sound, the rules' load status, a change counter.

The sound switches are one setting for every screen in the room; switching one is role-checked
and audited here. The ticker writes the rules' load status; admins read it on /alerts.
"""

from __future__ import annotations

from typing import Any

import orjson
import redis

from app import audit, store
from app.alerts.errors import AlertError
from app.model import roles
from app.model.alerts import SEVERITIES
from app.model.principal import Principal

SOUND_EDITORS = frozenset({roles.OPERATOR, roles.ADMIN})
# Which severities sound unless an operator changed it: the two that need someone now.
SOUND_DEFAULT: dict[str, bool] = {"critical": True, "major": True, "minor": False,
                                  "warning": False, "info": False}


def sound_settings(r: redis.Redis) -> dict[str, bool]:
    """Severity -> whether it sounds (stored settings over the defaults)."""
    stored = store.alerts.read_settings(r)
    return {s: stored.get(f"sound:{s}", "on" if on else "off") == "on"
            for s, on in SOUND_DEFAULT.items()}


def set_sound(r: redis.Redis, principal: Principal, severity: str, on: bool,
              addr: str = "") -> None:
    """Switch one severity's sound on or off for every screen (operators and admins)."""
    if severity not in SEVERITIES:
        raise AlertError(f"unknown severity '{str(severity)[:20]}'")
    if principal.role not in SOUND_EDITORS:
        audit.record(r, principal.name, "alert_sound", target=severity, addr=addr,
                     outcome="denied")
        raise AlertError("your role may not change the alert sounds")
    store.alerts.write_settings(r, {f"sound:{severity}": "on" if on else "off"})
    audit.record(r, principal.name, "alert_sound", target=severity, addr=addr,
                 detail="on" if on else "off")


def rules_status(r: redis.Redis) -> dict[str, Any] | None:
    """Where the runner's rules came from, how many, when, and a refused file's error; None
    before the first evaluation."""
    raw = store.alerts.read_settings(r).get("rules_status")
    return orjson.loads(raw) if raw else None


def version(r: redis.Redis) -> int:
    """A number that changes whenever any alert or screen setting changed (screens poll it)."""
    return store.alerts.version(r)
