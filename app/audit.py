"""The audit trail: every change and refusal recorded with who, what, from where, and read back.

Services record what they change right after the change; the web and the CLI never write to the
store themselves. Refusals of anonymous clients (wrong passwords, throttled sign-ins, bad display
and API tokens) are aggregated: one entry per address, kind and name in each ANON_WINDOW_S, with
a count, so a loop cannot flood the log. Nothing is trimmed silently: entries older than
RETENTION_DAYS go only once an admin has taken them in an archive export and confirmed it
(``archive_entries`` then ``confirm_archive``; docs/security.md, "The audit log").
"""

from __future__ import annotations

import time
from typing import Iterator

import redis

from app import store
from app.store.audit import AuditEntry

__all__ = ["ANON_WINDOW_S", "ANON_WINDOWS_MAX", "AuditEntry", "RETENTION_DAYS", "archive_entries",
           "archived_through", "confirm_archive", "entry_exists", "recent", "record",
           "record_quietly", "refuse_anonymous", "search"]

ANON_WINDOW_S = 300
# Windows opened (distinct address, kind and name) per ANON_WINDOW_S before the rest of that
# window shares one "many addresses" entry per kind: a bound even for a botnet.
ANON_WINDOWS_MAX = 100
# The default of retention.audit_days: a year and a month, so a yearly review finds the whole year.
RETENTION_DAYS = 400


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


def refuse_anonymous(r: redis.Redis, actor: str, action: str, *, addr: str, target: str = "",
                     detail: str = "") -> None:
    """Count a refusal of a client that is not signed in (aggregated per address, kind and name
    and window; quietly, like record_quietly)."""
    try:
        store.audit.append_refusal(r, actor, action, addr=addr, target=target, detail=detail,
                                   window_s=ANON_WINDOW_S, most_per_window=ANON_WINDOWS_MAX)
    except redis.RedisError:
        pass


def recent(r: redis.Redis, count: int = 100) -> list[AuditEntry]:
    """The newest ``count`` entries, newest first."""
    return store.audit.read(r, count)


# How many entries one search reads at most (a filter that matches little must not read the
# whole stream in one request: the next page goes on where this one stopped).
SEARCH_SCAN_MAX = 5000


def search(r: redis.Redis, *, actor: str = "", action: str = "", since: float = 0.0,
           before: str = "", limit: int = 50, target: str = "") -> tuple[list[AuditEntry], str]:
    """Entries newest first, older than entry ``before`` ("" for the newest), written since Unix
    time ``since`` (0: any time), whose actor contains ``actor`` and whose target contains
    ``target`` (any case: an id such as an alert's stays searchable where screens show words) and
    whose action is ``action`` (""; any); at most ``limit``. Returns them and the id to go on from
    for older ones ("" when there are none)."""
    found: list[AuditEntry] = []
    cursor, scanned = before, 0
    wanted, acted_on = actor.casefold(), target.casefold()
    while len(found) < limit and scanned < SEARCH_SCAN_MAX:
        batch = store.audit.read_older(r, cursor, int(since * 1000), 500)
        if not batch:
            return found, ""
        for entry in batch:
            scanned += 1
            cursor = entry.id
            if ((not action or entry.action == action) and wanted in entry.actor.casefold()
                    and acted_on in entry.target.casefold()):
                found.append(entry)
                if len(found) == limit:
                    break
    more = store.audit.read_older(r, cursor, int(since * 1000), 1)
    return found, cursor if more else ""


def archive_entries(r: redis.Redis, before: float | None = None) -> tuple[str, Iterator[AuditEntry]]:
    """What an archive export writes out: (the id of its last entry, the entries not archived
    yet up to ``before`` (Unix seconds; now when None), oldest first, read as they are written).
    The id is the archive mark when nothing is new."""
    cutoff = time.time() if before is None else before
    after = store.audit.archived_through(r)
    through = store.audit.last_id(r, int(cutoff * 1000))
    if not through or (after and store.audit.id_order(through) <= store.audit.id_order(after)):
        return after, iter(())
    return through, store.audit.entries_after(r, after, through)


def archived_through(r: redis.Redis) -> str:
    """The id of the newest entry an admin confirmed as archived ("" when none was)."""
    return store.audit.archived_through(r)


def entry_exists(r: redis.Redis, entry_id: str) -> bool:
    """True when the stream holds an entry with id ``entry_id``."""
    return store.audit.exists(r, entry_id)


def confirm_archive(r: redis.Redis, actor: str, through: str, addr: str = "",
                    retention_days: float = RETENTION_DAYS) -> int:
    """An admin kept an archive up to entry ``through``: entries up to it that are also past
    ``retention_days`` (the installation's retention.audit_days) leave the stream (and only
    those). Audited; returns how many left."""
    older_than_ms = int((time.time() - retention_days * 86400) * 1000)
    removed = store.audit.mark_archived(r, through, older_than_ms)
    record(r, actor, "audit_archive", target=through, addr=addr, detail=f"removed={removed}")
    return removed
