"""The audit stream: who did what, to what, from where, when; aggregated anonymous refusals; and
the archive mark below which an admin's confirmed archive lets old entries go (slot {audit})."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from typing import Any, Iterator

import redis

from app.store.keys import Keys
from app.store.scripts import script


@dataclass(frozen=True)
class AuditEntry:
    """One line of the audit stream; ``count`` > 1 when it stands for repeated refusals of one
    anonymous client within ``window_s`` seconds (aggregated, not appended one by one)."""

    id: str
    at: float
    actor: str
    action: str
    target: str
    addr: str
    outcome: str
    detail: str
    count: int = 1
    window_s: int = 0

    def as_json(self) -> dict[str, Any]:
        """The entry as the API and the archive give it."""
        return {"id": self.id, "at": self.at, "actor": self.actor, "action": self.action,
                "target": self.target, "addr": self.addr, "outcome": self.outcome,
                "detail": self.detail, "count": self.count, "window_s": self.window_s}


def append(r: redis.Redis, actor: str, action: str, *, target: str = "", addr: str = "",
           outcome: str = "ok", detail: str = "") -> str:
    """Append an entry to the audit stream and return its id."""
    return r.xadd(Keys.audit, {
        "at": f"{time.time():.3f}", "actor": actor, "action": action, "target": target,
        "addr": addr, "outcome": outcome, "detail": detail[:500],
    })


def append_refusal(r: redis.Redis, actor: str, action: str, *, addr: str, target: str = "",
                   detail: str = "", window_s: int, most_per_window: int) -> tuple[str, int]:
    """Count one refusal of an anonymous client; returns (its entry's id, refusals counted in it).

    The first refusal of (address, action, target) in a window appends an entry; later ones raise
    its count. Past ``most_per_window`` windows opened within one window (many addresses at once),
    further ones share one entry per action whose address is "*".
    """
    addr, target = addr[:100], target[:100]
    digest = hashlib.sha256(f"{addr}\n{action}\n{target}".encode("utf-8", "replace")).hexdigest()
    overflow = hashlib.sha256(f"*\n{action}".encode()).hexdigest()
    entry_id, count = r.eval(
        script("audit_refusal"), 5, Keys.audit, Keys.audit_refusing(digest[:32]),
        Keys.audit_counts, Keys.audit_refusing_new, Keys.audit_refusing(overflow[:32]),
        f"{time.time():.3f}", window_s, most_per_window, actor[:100], action, target, addr,
        detail[:500])
    return _text(entry_id), int(count)


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _entries(r: redis.Redis, rows: list[tuple[Any, dict[Any, Any]]]) -> list[AuditEntry]:
    """Stream rows as entries, with the counts of aggregated ones (works with a bytes client)."""
    parsed = [(_text(entry_id), {_text(k): _text(v) for k, v in fields.items()})
              for entry_id, fields in rows]
    aggregated = [entry_id for entry_id, f in parsed if f.get("window")]
    extra = dict(zip(aggregated, r.hmget(Keys.audit_counts, aggregated), strict=True)) if aggregated else {}
    out = []
    for entry_id, f in parsed:
        try:
            at = float(f.get("at") or 0)
        except ValueError:
            at = 0.0
        more = extra.get(entry_id)
        out.append(AuditEntry(id=entry_id, at=at, actor=f.get("actor", ""),
                              action=f.get("action", ""), target=f.get("target", ""),
                              addr=f.get("addr", ""), outcome=f.get("outcome", ""),
                              detail=f.get("detail", ""), count=1 + int(_text(more)) if more else 1,
                              window_s=int(f.get("window") or 0)))
    return out


def read(r: redis.Redis, count: int = 100) -> list[AuditEntry]:
    """The newest ``count`` audit entries, newest first."""
    return _entries(r, r.xrevrange(Keys.audit, count=count))


def archived_through(r: redis.Redis) -> str:
    """The id of the newest entry an admin confirmed as archived ("" when none was)."""
    return _text(r.get(Keys.audit_archived) or "")


def exists(r: redis.Redis, entry_id: str) -> bool:
    """True when the stream holds the entry ``entry_id`` (an id such as 1700000000000-0)."""
    return bool(r.xrange(Keys.audit, min=entry_id, max=entry_id, count=1))


def last_id(r: redis.Redis, up_to_ms: int) -> str:
    """The id of the newest entry written up to ``up_to_ms`` (that millisecond included), or ""."""
    rows = r.xrevrange(Keys.audit, max=f"{max(up_to_ms, 0)}-18446744073709551615", count=1)
    return _text(rows[0][0]) if rows else ""


def entries_after(r: redis.Redis, after: str, through: str,
                  batch: int = 1000) -> Iterator[AuditEntry]:
    """Every entry with an id above ``after`` ("" for the first) up to ``through`` (included),
    oldest first, read ``batch`` at a time."""
    if not through:
        return
    start = f"({after}" if after else "-"
    while True:
        rows = r.xrange(Keys.audit, min=start, max=through, count=batch)
        if not rows:
            return
        yield from _entries(r, rows)
        start = f"({_text(rows[-1][0])}"


def read_older(r: redis.Redis, before: str, since_ms: int, count: int) -> list[AuditEntry]:
    """Up to ``count`` entries older than entry ``before`` ("" for the newest) and written at
    ``since_ms`` or later (0: any time), newest first (/admin's paged log, issue 19)."""
    newest = f"({before}" if before else "+"
    oldest = f"{since_ms}-0" if since_ms > 0 else "-"
    return _entries(r, r.xrevrange(Keys.audit, max=newest, min=oldest, count=count))


def id_order(entry_id: str) -> tuple[int, int]:
    """An entry id as a sortable (milliseconds, sequence) pair."""
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


def mark_archived(r: redis.Redis, through: str, older_than_ms: int) -> int:
    """Record that every entry up to ``through`` is archived, and let go of those that are also
    older than ``older_than_ms`` (with their counts); returns how many entries went."""
    previous = archived_through(r)
    if not previous or id_order(through) > id_order(previous):
        r.set(Keys.audit_archived, through)
    else:
        through = previous
    ms, seq = id_order(through)
    limit = min((ms, seq + 1), (older_than_ms, 0))
    aggregated = [e.id for e in entries_after(r, "", last_id(r, limit[0]))
                  if e.window_s and id_order(e.id) < limit]
    removed = int(r.xtrim(Keys.audit, minid=f"{limit[0]}-{limit[1]}", approximate=False))
    if aggregated:
        r.hdel(Keys.audit_counts, *aggregated)
    return removed
