"""The one module that knows Redis key names, and the operations CityOps performs on them.

Every key carries a hash tag (``co:{transport}:...``, ``co:{auth}:...``) so that the keys one
operation touches share a Redis Cluster slot. Nothing outside this module spells a key.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

import redis

DOMAINS: tuple[str, ...] = ("transport", "water", "medical", "city")


class Keys:
    """Key names. Hash tags group keys that are used together into one cluster slot."""

    users = "co:{auth}:users"
    tokens = "co:{auth}:tokens"
    audit = "co:{audit}:log"
    runner_heartbeat = "co:{system}:runner:heartbeat"

    @staticmethod
    def user(name: str) -> str:
        return f"co:{{auth}}:user:{name}"

    @staticmethod
    def token(token_id: str) -> str:
        return f"co:{{auth}}:token:{token_id}"

    @staticmethod
    def login_failures(kind: str, subject: str) -> str:
        return f"co:{{auth}}:loginfail:{kind}:{subject}"

    @staticmethod
    def domain_meta(domain: str) -> str:
        return f"co:{{{domain}}}:meta"


class AlreadyExists(Exception):
    """The record to create exists already."""


class NotFound(Exception):
    """The record to change does not exist."""


# -- users ---------------------------------------------------------------------------------------
def create_user(r: redis.Redis, name: str, fields: Mapping[str, str]) -> None:
    """Create user ``name`` with ``fields``; :class:`AlreadyExists` if the name is taken."""
    key = Keys.user(name)
    with r.pipeline() as pipe:
        while True:
            try:
                pipe.watch(key)
                if pipe.exists(key):
                    raise AlreadyExists(name)
                pipe.multi()
                pipe.hset(key, mapping={"name": name, **fields})
                pipe.sadd(Keys.users, name)
                pipe.execute()
                return
            except redis.WatchError:
                continue


def get_user(r: redis.Redis, name: str) -> dict[str, str] | None:
    """The stored fields of user ``name``, or None."""
    data = r.hgetall(Keys.user(name))
    return data or None


def update_user(r: redis.Redis, name: str, fields: Mapping[str, str],
                bump_epoch: bool = False) -> None:
    """Change fields of an existing user; ``bump_epoch`` ends all of the user's sessions."""
    key = Keys.user(name)
    with r.pipeline() as pipe:
        while True:
            try:
                pipe.watch(key)
                if not pipe.exists(key):
                    raise NotFound(name)
                pipe.multi()
                if fields:
                    pipe.hset(key, mapping=dict(fields))
                if bump_epoch:
                    pipe.hincrby(key, "epoch", 1)
                pipe.execute()
                return
            except redis.WatchError:
                continue


def list_users(r: redis.Redis) -> list[dict[str, str]]:
    """All users' stored fields, sorted by name."""
    names = sorted(r.smembers(Keys.users))
    with r.pipeline(transaction=False) as pipe:
        for name in names:
            pipe.hgetall(Keys.user(name))
        rows = pipe.execute()
    return [row for row in rows if row]


def count_users(r: redis.Redis) -> int:
    """How many users exist."""
    return int(r.scard(Keys.users))


# -- API and display tokens ------------------------------------------------------------------------
def create_token(r: redis.Redis, token_id: str, fields: Mapping[str, str]) -> None:
    """Store a token record (its secret only as a hash)."""
    key = Keys.token(token_id)
    if not r.hsetnx(key, "id", token_id):
        raise AlreadyExists(token_id)
    with r.pipeline() as pipe:
        pipe.hset(key, mapping=dict(fields))
        pipe.sadd(Keys.tokens, token_id)
        pipe.execute()


def get_token(r: redis.Redis, token_id: str) -> dict[str, str] | None:
    """The stored fields of token ``token_id``, or None."""
    return r.hgetall(Keys.token(token_id)) or None


def list_tokens(r: redis.Redis) -> list[dict[str, str]]:
    """All token records (without secrets), sorted by creation time."""
    ids = list(r.smembers(Keys.tokens))
    with r.pipeline(transaction=False) as pipe:
        for token_id in ids:
            pipe.hgetall(Keys.token(token_id))
        rows = [row for row in pipe.execute() if row]
    return sorted(rows, key=lambda row: row.get("created_at", ""))


def update_token(r: redis.Redis, token_id: str, fields: Mapping[str, str]) -> None:
    """Change fields of an existing token record."""
    key = Keys.token(token_id)
    if not r.exists(key):
        raise NotFound(token_id)
    r.hset(key, mapping=dict(fields))


# -- login throttling -----------------------------------------------------------------------------
def login_failures(r: redis.Redis, subjects: Iterable[tuple[str, str]]) -> list[tuple[int, int]]:
    """(failures in the current window, seconds until it ends) for each (kind, subject)."""
    subjects = list(subjects)
    with r.pipeline(transaction=False) as pipe:
        for kind, subject in subjects:
            key = Keys.login_failures(kind, subject)
            pipe.get(key)
            pipe.ttl(key)
        raw = pipe.execute()
    return [(int(raw[i] or 0), max(int(raw[i + 1]), 0)) for i in range(0, len(raw), 2)]


def record_login_failure(r: redis.Redis, subjects: Iterable[tuple[str, str]],
                         window_s: int) -> None:
    """Count one failed login against each (kind, subject); a window starts at its first failure."""
    with r.pipeline(transaction=False) as pipe:
        for kind, subject in subjects:
            key = Keys.login_failures(kind, subject)
            # SET NX EX opens the window once; INCR keeps its expiry (EXPIRE NX needs Redis 7).
            pipe.set(key, 0, ex=window_s, nx=True)
            pipe.incr(key)
        pipe.execute()


def clear_login_failures(r: redis.Redis, kind: str, subject: str) -> None:
    """Forget the failures counted against one subject (after a successful login)."""
    r.delete(Keys.login_failures(kind, subject))


# -- audit ----------------------------------------------------------------------------------------
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


def audit(r: redis.Redis, actor: str, action: str, *, target: str = "", addr: str = "",
          outcome: str = "ok", detail: str = "") -> str:
    """Append an entry to the audit stream (never trimmed) and return its id."""
    return r.xadd(Keys.audit, {
        "at": f"{time.time():.3f}", "actor": actor, "action": action, "target": target,
        "addr": addr, "outcome": outcome, "detail": detail[:500],
    })


def read_audit(r: redis.Redis, count: int = 100) -> list[AuditEntry]:
    """The newest ``count`` audit entries, newest first."""
    rows = r.xrevrange(Keys.audit, count=count)
    return [AuditEntry(id=entry_id, at=float(f.get("at", 0)), actor=f.get("actor", ""),
                       action=f.get("action", ""), target=f.get("target", ""),
                       addr=f.get("addr", ""), outcome=f.get("outcome", ""),
                       detail=f.get("detail", "")) for entry_id, f in rows]


# -- live data versions ---------------------------------------------------------------------------
def bump_domain_version(r: redis.Redis, domain: str, updated_at: float | None = None) -> int:
    """Mark that ``domain``'s live data changed; returns its new version number."""
    key = Keys.domain_meta(domain)
    with r.pipeline() as pipe:
        pipe.hincrby(key, "version", 1)
        pipe.hset(key, "updated_at", f"{time.time() if updated_at is None else updated_at:.3f}")
        version, _ = pipe.execute()
    return int(version)


def _meta_pipeline(pipe: redis.client.Pipeline) -> None:
    for domain in DOMAINS:
        pipe.hmget(Keys.domain_meta(domain), "version", "updated_at")


def _meta_rows(rows: list[Any]) -> dict[str, tuple[int, float | None]]:
    return {domain: (int(version or 0), float(updated_at) if updated_at else None)
            for domain, (version, updated_at) in zip(DOMAINS, rows, strict=True)}


def domain_versions(r: redis.Redis) -> dict[str, tuple[int, float | None]]:
    """(version, updated_at) of every domain; version 0 and None when it never had data."""
    with r.pipeline(transaction=False) as pipe:
        _meta_pipeline(pipe)
        return _meta_rows(pipe.execute())


def live_status(r: redis.Redis) -> tuple[dict[str, tuple[int, float | None]], bool]:
    """Every domain's (version, updated_at) and whether a runner beats, in one round trip."""
    with r.pipeline(transaction=False) as pipe:
        _meta_pipeline(pipe)
        pipe.exists(Keys.runner_heartbeat)
        rows = pipe.execute()
    return _meta_rows(rows[:-1]), bool(rows[-1])


# -- runner heartbeat -----------------------------------------------------------------------------
def write_runner_heartbeat(r: redis.Redis, fields: Mapping[str, Any], ttl_s: int) -> None:
    """Record that an adapter runner is alive; the record expires when it stops beating."""
    key = Keys.runner_heartbeat
    with r.pipeline() as pipe:
        pipe.hset(key, mapping={k: str(v) for k, v in fields.items()})
        pipe.expire(key, ttl_s)
        pipe.execute()


def read_runner_heartbeat(r: redis.Redis) -> dict[str, str] | None:
    """The newest runner heartbeat, or None when no runner beat recently."""
    return r.hgetall(Keys.runner_heartbeat) or None
