"""The append-only audit stream: who did what, to what, from where, when."""

from __future__ import annotations

import time
from dataclasses import dataclass

import redis

from app.store.keys import Keys


@dataclass(frozen=True)
class AuditEntry:
    """One line of the append-only audit stream."""

    id: str
    at: float
    actor: str
    action: str
    target: str
    addr: str
    outcome: str
    detail: str


def append(r: redis.Redis, actor: str, action: str, *, target: str = "", addr: str = "",
          outcome: str = "ok", detail: str = "") -> str:
    """Append an entry to the audit stream (never trimmed) and return its id."""
    return r.xadd(Keys.audit, {
        "at": f"{time.time():.3f}", "actor": actor, "action": action, "target": target,
        "addr": addr, "outcome": outcome, "detail": detail[:500],
    })


def read(r: redis.Redis, count: int = 100) -> list[AuditEntry]:
    """The newest ``count`` audit entries, newest first."""
    rows = r.xrevrange(Keys.audit, count=count)
    return [AuditEntry(id=entry_id, at=float(f.get("at", 0)), actor=f.get("actor", ""),
                       action=f.get("action", ""), target=f.get("target", ""),
                       addr=f.get("addr", ""), outcome=f.get("outcome", ""),
                       detail=f.get("detail", "")) for entry_id, f in rows]
