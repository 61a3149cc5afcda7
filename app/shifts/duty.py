"""Who is on duty, signing on and off, and the shift log: timestamped entries by whoever is on
duty. Every step is audited; the log records signing on and off by itself."""

from __future__ import annotations

import time
from typing import Any

import redis

from app import audit, store
from app.model.principal import Principal
from app.model.shifts import DUTY_ROLES, MAX_NOTE, READ_ROLES
from app.shifts.errors import NotOnDuty, NotPermitted, ShiftError


def _may_be_on_duty(principal: Principal) -> None:
    if principal.kind != "user" or principal.role not in DUTY_ROLES:
        raise NotPermitted("only operators and admins sign on duty")


def may_read(principal: Principal) -> None:
    """Raise NotPermitted unless the principal may read the log and the handover sheets."""
    if principal.role not in READ_ROLES:
        raise NotPermitted("the shift log is for the operations room and officials")


def sign_on(r: redis.Redis, principal: Principal, addr: str = "",
            now: float | None = None) -> dict[str, Any]:
    """Put the principal on duty (already on duty: nothing changes); returns their duty record."""
    _may_be_on_duty(principal)
    moment = time.time() if now is None else now
    outcome, since = store.shifts.duty(r, "on", principal.name, principal.role, moment)
    if outcome == "ok":
        audit.record(r, principal.name, "shift_sign_on", target=principal.name, addr=addr)
    return {"user": principal.name, "on_duty": True, "since": since if since else moment}


def sign_off(r: redis.Redis, principal: Principal, addr: str = "",
             now: float | None = None) -> dict[str, Any]:
    """Take the principal off duty (not on duty: nothing changes)."""
    _may_be_on_duty(principal)
    moment = time.time() if now is None else now
    outcome, since = store.shifts.duty(r, "off", principal.name, principal.role, moment)
    if outcome == "ok":
        audit.record(r, principal.name, "shift_sign_off", target=principal.name, addr=addr,
                     detail=f"on duty since {since:.0f}" if since else "")
    return {"user": principal.name, "on_duty": False, "since": None}


def on_duty(r: redis.Redis) -> list[dict[str, Any]]:
    """Everyone on duty, longest on duty first."""
    people = store.shifts.on_duty(r)
    return sorted(({"user": user, "role": record.get("role", ""), "since": record.get("since")}
                   for user, record in people.items()), key=lambda p: (p["since"] or 0, p["user"]))


def write_note(r: redis.Redis, principal: Principal, text: str, notable: bool = False,
               addr: str = "", now: float | None = None) -> str:
    """Add a note to the shift log (``notable`` ones go on the next handover sheet)."""
    _may_be_on_duty(principal)
    if not isinstance(text, str) or not text.strip():
        raise ShiftError("a log entry needs some text", field="text")
    if len(text) > MAX_NOTE:
        raise ShiftError(f"a log entry holds at most {MAX_NOTE} characters", field="text")
    entry = store.shifts.write_note(r, principal.name, text.strip(), notable,
                                    time.time() if now is None else now)
    if entry is None:
        raise NotOnDuty("sign on duty before writing in the shift log")
    audit.record(r, principal.name, "shift_note", target=entry, addr=addr,
                 detail="notable" if notable else "")
    return entry


def entry_json(entry_id: str, fields: dict[str, str]) -> dict[str, Any]:
    """A log entry as the API and the pages use it."""
    return {"id": entry_id, "at": float(fields.get("at") or 0), "actor": fields.get("actor", ""),
            "kind": fields.get("kind", ""), "text": fields.get("text", ""),
            "notable": fields.get("notable") == "1", "handover": fields.get("handover", "")}


def read_log(r: redis.Redis, since: float | None = None, until: float | None = None,
             notable_only: bool = False, count: int = 500) -> list[dict[str, Any]]:
    """The shift log between two times (of the entries), newest first."""
    # Entry ids carry the time they were appended, a hair after the time an entry states: the id
    # range is widened by a minute and the entries' own times decide.
    entries = [entry_json(entry_id, fields) for entry_id, fields in store.shifts.read_log(
        r, None if since is None else since - 60, None if until is None else until + 60, count)]
    return [e for e in entries if (since is None or e["at"] >= since)
            and (until is None or e["at"] <= until) and (e["notable"] or not notable_only)]
