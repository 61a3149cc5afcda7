"""Signing in: the login throttle, the password check and its audit, in one place.

Every attempt is counted before its password is checked, in one atomic step
(app/store/lua/login_attempt.lua), so attempts sent in parallel cannot all be checked before any
is counted; a success is refunded. The budgets (docs/security.md, "Login throttling"):

- per (user name, address) pair: PAIR_LIMIT attempts per THROTTLE_WINDOW_S; a guesser at one
  address stops there, and the user signing in from elsewhere is not held;
- per address: THROTTLE_LIMIT attempts per THROTTLE_WINDOW_S, whatever the names (spraying);
- per user name, from devices that never signed in as that user: USER_LIMIT attempts per
  USER_WINDOW_S, then an exponential back-off (BACKOFF_BASE_S doubling up to BACKOFF_MAX_S).
  A browser that signed in as the user before (a signed "known device" cookie) is not held by
  it, so guessing from many addresses slows the guesser without locking the person out; an
  admin can lift it (app.accounts.admin.lift_backoff), and the person's own success ends it.

Refusals are audited through the anonymous aggregation (app.audit.refuse_anonymous): one entry
per address, kind and name in each window, with a count.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import redis

from app import audit, store
from app.accounts.users import authenticate
from app.accounts.validation import NAME_MAX_LENGTH
from app.model.principal import Principal

PAIR_LIMIT = 5
THROTTLE_LIMIT = 20  # per address, whatever the user names
THROTTLE_WINDOW_S = 300
USER_LIMIT = 10  # per user name, from devices not known to it
USER_WINDOW_S = 900
BACKOFF_BASE_S = 60
BACKOFF_MAX_S = 3600
BACKOFF_MEMORY_S = 86400  # the back-off's level is forgotten a day after the last one


@dataclass(frozen=True)
class SignIn:
    """How an attempt went: the principal when it succeeded, else None and, when the throttle
    refused it without checking, how many seconds remain (``wait_s`` > 0) and which budget."""

    principal: Principal | None
    wait_s: int = 0
    spent: str = ""


def subject_of(name: str) -> str:
    """The name the budgets count against: any spelling of a user name is the same subject."""
    return name.strip().lower()[:NAME_MAX_LENGTH] or "-"


def budgets() -> store.auth.Budgets:
    """The budgets as this module's settings say (read at call time: tests shorten them)."""
    return store.auth.Budgets(
        pair_limit=PAIR_LIMIT, address_limit=THROTTLE_LIMIT, window_s=THROTTLE_WINDOW_S,
        user_limit=USER_LIMIT, user_window_s=USER_WINDOW_S, base_s=BACKOFF_BASE_S,
        longest_s=BACKOFF_MAX_S, memory_s=BACKOFF_MEMORY_S)


def sign_in(r: redis.Redis, name: str, password: str, addr: str,
            known_device: bool = False) -> SignIn:
    """Check ``name`` and ``password`` from ``addr`` under the throttle; audited either way.

    ``known_device``: the request carries this user's signed known-device cookie, so the user's
    slow budget and back-off do not hold it (the pair and address budgets still do).
    """
    subject = subject_of(name)
    wait, spent = store.auth.count_attempt(r, subject, addr, known_device, budgets(), time.time())
    if wait:
        audit.refuse_anonymous(r, subject, "login_throttled", addr=addr, target=subject,
                               detail=f"budget={spent}")
        return SignIn(None, wait, spent)
    principal = authenticate(r, name, password)
    if principal is None:
        audit.refuse_anonymous(r, subject, "login_failed", addr=addr, target=subject)
        return SignIn(None)
    store.auth.refund_attempt(r, subject, addr)
    audit.record_quietly(r, principal.name, "login", addr=addr)
    return SignIn(principal)
