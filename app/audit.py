"""The audit trail: every change and refusal recorded with who, what, from where, and read back.

Services record what they change right after the change; the web and the CLI never write to the
store themselves. The stream is append-only and never trimmed (docs/security.md).
"""

from __future__ import annotations

import redis

from app import store
from app.store.audit import AuditEntry

__all__ = ["AuditEntry", "recent", "record", "record_quietly"]


def record(r: redis.Redis, actor: str, action: str, *, target: str = "", addr: str = "",
           outcome: str = "ok", detail: str = "") -> str:
    """Append one entry (``outcome`` "ok", "denied", "conflict", "failed"); returns its id."""
    return store.audit.append(r, actor, action, target=target, addr=addr, outcome=outcome,
                              detail=detail)


def record_quietly(r: redis.Redis, actor: str, action: str, **fields: str) -> None:
    """Record, unless Redis is away: an audit failure must never hide the real answer
    (a refused sign-in still gets its 401 while the link is lost)."""
    try:
        record(r, actor, action, **fields)
    except redis.RedisError:
        pass


def recent(r: redis.Redis, count: int = 100) -> list[AuditEntry]:
    """The newest ``count`` entries, newest first."""
    return store.audit.read(r, count)
