"""Signing in: the login throttle, the password check and its audit, in one place.

Five failures within five minutes, counted per user name and per address, block further attempts
from either until the window ends; a success clears the user's count. Every attempt is audited.
"""

from __future__ import annotations

from dataclasses import dataclass

import redis

from app import audit, store
from app.accounts.users import authenticate
from app.accounts.validation import NAME_MAX_LENGTH
from app.model.principal import Principal

THROTTLE_LIMIT = 5
THROTTLE_WINDOW_S = 300


@dataclass(frozen=True)
class SignIn:
    """How an attempt went: the principal when it succeeded, else None and, when the throttle
    refused it without checking, how many seconds remain (``wait_s`` > 0)."""

    principal: Principal | None
    wait_s: int = 0


def sign_in(r: redis.Redis, name: str, password: str, addr: str) -> SignIn:
    """Check ``name`` and ``password`` from ``addr`` under the throttle; audited either way."""
    subject = name.strip().lower()[:NAME_MAX_LENGTH] or "-"
    subjects = [("user", subject), ("addr", addr)]
    blocked = [ttl for count, ttl in store.auth.login_failures(r, subjects)
               if count >= THROTTLE_LIMIT]
    if blocked:
        audit.record_quietly(r, subject, "login_throttled", addr=addr, outcome="denied")
        return SignIn(None, max(max(blocked), 1))
    principal = authenticate(r, name, password)
    if principal is None:
        store.auth.record_login_failure(r, subjects, THROTTLE_WINDOW_S)
        audit.record_quietly(r, subject, "login_failed", addr=addr, outcome="denied")
        return SignIn(None)
    store.auth.clear_login_failures(r, "user", principal.name)
    audit.record_quietly(r, principal.name, "login", addr=addr)
    return SignIn(principal)
