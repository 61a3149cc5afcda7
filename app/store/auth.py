"""Accounts in Redis: users, API and display tokens, and the login throttle's counters (slot {auth})."""

from __future__ import annotations

from typing import Iterable, Mapping

import redis

from app.store.errors import AlreadyExists, NotFound
from app.store.keys import Keys


# -- users ---------------------------------------------------------------------------------------
def create_user(r: redis.Redis, name: str, fields: Mapping[str, str]) -> None:
    """Create user ``name`` with ``fields``; :class:`AlreadyExists` if the name is taken."""
    key = Keys.user(name)
    with r.pipeline(transaction=True) as pipe:
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
    with r.pipeline(transaction=True) as pipe:
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
    with r.pipeline(transaction=True) as pipe:
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
