"""Shifts: who is on duty, the shift log, and handover sheets with their acknowledgement."""

from __future__ import annotations

from typing import Any

import orjson
import redis

from app.store.keys import Keys
from app.store.scripts import script


def duty(r: redis.Redis, action: str, user: str, role: str, now: float) -> tuple[str, float | None]:
    """Sign ``user`` on ("on") or off ("off"): ("ok" or "noop", since when they were on duty)."""
    outcome, since = r.eval(script("shift_duty"), 3, Keys.shifts_on_duty, Keys.shifts_log,
                            Keys.shifts_meta, action, user, f"{now:.3f}", role)
    return str(outcome), float(since) if since else None


def on_duty(r: redis.Redis) -> dict[str, dict[str, Any]]:
    """user -> {since, role} of everyone on duty."""
    return {user: orjson.loads(raw) for user, raw in r.hgetall(Keys.shifts_on_duty).items()}


def write_note(r: redis.Redis, user: str, text: str, notable: bool, now: float,
               kind: str = "note") -> str | None:
    """Append to the shift log if ``user`` is on duty: the entry id, or None (not on duty)."""
    answer = r.eval(script("shift_note"), 3, Keys.shifts_on_duty, Keys.shifts_log,
                    Keys.shifts_meta, user, f"{now:.3f}", text, "1" if notable else "0", kind)
    return str(answer[1]) if answer[0] == "ok" else None


def read_log(r: redis.Redis, since: float | None = None, until: float | None = None,
             count: int = 500) -> list[tuple[str, dict[str, str]]]:
    """Log entries between two times (POSIX seconds), newest first."""
    newest = f"{int(until * 1000)}" if until is not None else "+"
    oldest = f"{int(since * 1000)}" if since is not None else "-"
    return [(entry_id, fields) for entry_id, fields in r.xrevrange(Keys.shifts_log, newest, oldest,
                                                                   count=count)]


def write_handover(r: redis.Redis, handover_id: str, sheet: dict[str, Any], user: str,
                   now: float) -> None:
    """Store a handover sheet and log it, in one step."""
    with r.pipeline(transaction=True) as pipe:
        pipe.hset(Keys.shift_handover(handover_id), mapping={
            "id": handover_id, "sheet": orjson.dumps(sheet), "created_by": user,
            "created_at": f"{now:.3f}", "acknowledged_by": "", "acknowledged_at": "",
            "ack_note": ""})
        pipe.zadd(Keys.shifts_handovers, {handover_id: now})
        pipe.xadd(Keys.shifts_log, {"at": f"{now:.3f}", "actor": user, "kind": "handover",
                                    "text": str(sheet.get("note", "")), "notable": "0",
                                    "handover": handover_id})
        pipe.hincrby(Keys.shifts_meta, "version", 1)
        pipe.execute()


def acknowledge_handover(r: redis.Redis, handover_id: str, user: str, note: str,
                         now: float) -> list[str]:
    """The incoming shift's acknowledgement (see shift_handover_ack.lua for the answers)."""
    return [str(v) for v in r.eval(script("shift_handover_ack"), 4, Keys.shift_handover(handover_id),
                                   Keys.shifts_on_duty, Keys.shifts_log, Keys.shifts_meta,
                                   handover_id, user, f"{now:.3f}", note)]


def read_handover(r: redis.Redis, handover_id: str) -> dict[str, str] | None:
    """One stored handover (fields as stored), or None."""
    return r.hgetall(Keys.shift_handover(handover_id)) or None


def handover_ids(r: redis.Redis, limit: int = 50) -> list[str]:
    """The newest handover ids first."""
    return list(r.zrevrange(Keys.shifts_handovers, 0, limit - 1))


def last_handover_at(r: redis.Redis) -> float | None:
    """When the newest handover sheet was written, or None."""
    newest = r.zrevrange(Keys.shifts_handovers, 0, 0, withscores=True)
    return float(newest[0][1]) if newest else None


def version(r: redis.Redis) -> int:
    """Bumped by every change to shifts (cheap polling)."""
    return int(r.hget(Keys.shifts_meta, "version") or 0)
