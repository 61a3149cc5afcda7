"""Accounts in Redis: users, API and display tokens, and the login throttle's counters (slot {auth})."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable, Mapping

import redis

from app.store.errors import AlreadyExists, NotFound
from app.store.keys import Keys
from app.store.scripts import script


# -- users ---------------------------------------------------------------------------------------
def create_user(r: redis.Redis, name: str, fields: Mapping[str, str]) -> None:
    """Create user ``name`` with ``fields``; :class:`AlreadyExists` if the name is taken."""
    key = Keys.user(name)
    with r.pipeline(transaction=True) as pipe:
        while True:
            try:
                pipe.watch(key, Keys.users_retired)
                if pipe.exists(key):
                    raise AlreadyExists(name)
                retired = pipe.hget(Keys.users_retired, name)
                pipe.multi()
                pipe.hset(key, mapping={"name": name, **fields})
                if retired:
                    # A deleted account of this name: sessions start past its last epoch.
                    pipe.hincrby(key, "epoch", int(retired))
                    pipe.hdel(Keys.users_retired, name)
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


def change_users(r: redis.Redis, name: str, fields: Mapping[str, str] | None,
                 check: Callable[[dict[str, dict[str, str]]], None]) -> None:
    """Change fields of user ``name`` (``fields`` None: delete the account) once ``check`` passed
    on every user's stored fields (name -> fields), all read and written as one transaction: two
    admins acting at once cannot both pass a check that only one of them may (the last admin).

    ``check`` raises to refuse; :class:`NotFound` when ``name`` does not exist."""
    key = Keys.user(name)
    with r.pipeline(transaction=True) as pipe:
        while True:
            try:
                pipe.watch(Keys.users)
                names = sorted(pipe.smembers(Keys.users))
                pipe.watch(*[Keys.user(n) for n in names], key)
                rows = {n: pipe.hgetall(Keys.user(n)) for n in names}
                if not pipe.exists(key):
                    raise NotFound(name)
                check({n: row for n, row in rows.items() if row})
                pipe.multi()
                if fields is None:
                    pipe.hset(Keys.users_retired, name, rows.get(name, {}).get("epoch") or "1")
                    pipe.delete(key)
                    pipe.srem(Keys.users, name)
                else:
                    pipe.hset(key, mapping=dict(fields))
                pipe.execute()
                return
            except redis.WatchError:
                continue


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


# -- sign-in budgets (counted before the password is checked) --------------------------------------
@dataclass(frozen=True)
class Budgets:
    """The sign-in budgets: per (user, address) pair and per address within ``window_s``; per user
    from unknown devices within ``user_window_s``, then an exponential back-off from ``base_s`` to
    ``longest_s``, whose level is forgotten ``memory_s`` after the last back-off."""

    pair_limit: int
    address_limit: int
    window_s: int
    user_limit: int
    user_window_s: int
    base_s: int
    longest_s: int
    memory_s: int


def _attempt_keys(user: str, addr: str) -> list[str]:
    return [Keys.login_failures("pair", f"{user}|{addr}"), Keys.login_failures("addr", addr),
            Keys.login_failures("user", user), Keys.login_backoff(user)]


def count_attempt(r: redis.Redis, user: str, addr: str, known_device: bool, budgets: Budgets,
                  now: float) -> tuple[int, str]:
    """Count one attempt (atomically, before the password is checked): (0, "") when it may be
    checked, else (seconds to wait, the budget that is spent: "pair", "address" or "user")."""
    allowed, wait, spent = r.eval(
        script("login_attempt"), 4, *_attempt_keys(user, addr), f"{now:.3f}", budgets.window_s,
        budgets.pair_limit, budgets.address_limit, budgets.user_window_s, budgets.user_limit,
        "1" if known_device else "0", budgets.base_s, budgets.longest_s, budgets.memory_s)
    if int(allowed):
        return 0, ""
    spent = spent.decode() if isinstance(spent, bytes) else str(spent)
    return max(int(wait), 1), spent


def refund_attempt(r: redis.Redis, user: str, addr: str) -> None:
    """A sign-in succeeded: its attempt is not a failure, and the user's counts are forgotten."""
    r.eval(script("login_success"), 4, *_attempt_keys(user, addr))


def backoff(r: redis.Redis, user: str, now: float) -> tuple[int, float]:
    """(back-off level, seconds it still holds) of ``user``'s slow budget."""
    fields = r.hgetall(Keys.login_backoff(user))
    level = int(fields.get("level") or 0) if fields else 0
    held = float(fields.get("until") or 0) if fields else 0.0
    return level, max(held - now, 0.0)


def lift_backoff(r: redis.Redis, user: str) -> bool:
    """End ``user``'s back-off and slow count (an admin lifted it); True if one was held."""
    with r.pipeline(transaction=True) as pipe:
        pipe.delete(Keys.login_backoff(user))
        pipe.delete(Keys.login_failures("user", user))
        held, _ = pipe.execute()
    return bool(held)
