"""User accounts: creating and changing them, checking a password, the user behind a session.

Passwords are hashed with scrypt (werkzeug.security); a session id carries the account's session
epoch, so a password change or a disabled account ends every session opened before.
"""

from __future__ import annotations

import functools
import time

import redis
from werkzeug.security import check_password_hash, generate_password_hash

from app import store
from app.accounts.validation import (
    MAX_PASSWORD_LENGTH,
    NAME_RE,
    AccountError,
    validate_departments,
    validate_domains,
    validate_language,
    validate_name,
    validate_password,
    validate_role,
)
from app.model import roles
from app.model.principal import Principal

PASSWORD_METHOD = "scrypt:32768:8:1"


@functools.cache
def _dummy_hash() -> str:
    """Checked against when the user does not exist, so that the time taken does not tell."""
    return generate_password_hash("not a real password", method=PASSWORD_METHOD)


# -- users --------------------------------------------------------------------------------------
def add_user(r: redis.Redis, name: str, role: str, password: str,
             domains: tuple[str, ...] = (), departments: tuple[str, ...] = ()) -> str:
    """Create a user (of the SOP catalogue's ``departments``, for incident tasks); returns the
    normalized name."""
    name = validate_name(name)
    validate_role(role)
    validate_password(password)
    domains = validate_domains(list(domains))
    departments = validate_departments(list(departments))
    try:
        store.auth.create_user(r, name, {
            "role": role,
            "pw": generate_password_hash(password, method=PASSWORD_METHOD),
            "disabled": "0",
            "domains": ",".join(domains),
            "departments": ",".join(departments),
            "epoch": "1",
            "created_at": f"{time.time():.0f}",
        })
    except store.AlreadyExists:
        raise AccountError(f"user '{name}' exists already") from None
    return name


def set_password(r: redis.Redis, name: str, password: str) -> None:
    """Change a user's password and end their open sessions."""
    validate_password(password)
    try:
        store.auth.update_user(r, validate_name(name),
                          {"pw": generate_password_hash(password, method=PASSWORD_METHOD)},
                          bump_epoch=True)
    except store.NotFound:
        raise AccountError(f"no user '{name}'") from None


def set_disabled(r: redis.Redis, name: str, disabled: bool) -> None:
    """Disable (ending their sessions) or enable a user."""
    try:
        store.auth.update_user(r, validate_name(name), {"disabled": "1" if disabled else "0"},
                          bump_epoch=disabled)
    except store.NotFound:
        raise AccountError(f"no user '{name}'") from None


def end_sessions(r: redis.Redis, name: str) -> None:
    """End every open session of a user (sign-out: a copied session cookie stops working)."""
    try:
        store.auth.update_user(r, validate_name(name), {}, bump_epoch=True)
    except store.NotFound:
        raise AccountError(f"no user '{name}'") from None


def set_departments(r: redis.Redis, name: str, departments: tuple[str, ...]) -> tuple[str, ...]:
    """Set the departments a user belongs to (sessions stay open: tasks are checked per action)."""
    chosen = validate_departments(list(departments))
    try:
        store.auth.update_user(r, validate_name(name), {"departments": ",".join(chosen)})
    except store.NotFound:
        raise AccountError(f"no user '{name}'") from None
    return chosen


def set_domains(r: redis.Redis, name: str, domains: tuple[str, ...]) -> tuple[str, ...]:
    """Set the domains an emergency user acts on (none: every domain; app/alerts/policy.py).
    Sessions stay open: the domains are read from the account on every request."""
    chosen = validate_domains(list(domains))
    try:
        store.auth.update_user(r, validate_name(name), {"domains": ",".join(chosen)})
    except store.NotFound:
        raise AccountError(f"no user '{name}'") from None
    return chosen


def departments_of(r: redis.Redis, name: str) -> tuple[str, ...]:
    """The departments user ``name`` belongs to (none for an unknown or disabled user)."""
    fields = store.auth.get_user(r, name) if NAME_RE.match(name) else None
    if not fields or fields.get("disabled") == "1":
        return ()
    return tuple(d for d in fields.get("departments", "").split(",") if d)


def set_language(r: redis.Redis, name: str, language: str) -> str:
    """Store a user's language (sessions stay open: it changes nothing about who they are)."""
    chosen = validate_language(language)
    try:
        store.auth.update_user(r, validate_name(name), {"language": chosen})
    except store.NotFound:
        raise AccountError(f"no user '{name}'") from None
    return chosen


def _principal_from_user(fields: dict[str, str]) -> Principal:
    domains = tuple(d for d in fields.get("domains", "").split(",") if d)
    return Principal(name=fields["name"], role=fields.get("role", ""), kind="user",
                     domains=domains, epoch=int(fields.get("epoch", "1") or 1),
                     language=fields.get("language", ""))


def authenticate(r: redis.Redis, name: str, password: str) -> Principal | None:
    """The user for a correct name and password of an enabled account, else None.

    Takes the same time whether or not the user exists.
    """
    try:
        name = validate_name(name)
    except AccountError:
        name = ""
    fields = store.auth.get_user(r, name) if name else None
    if fields is None or len(password) > MAX_PASSWORD_LENGTH:
        check_password_hash(_dummy_hash(), password[:MAX_PASSWORD_LENGTH])
        return None
    if not check_password_hash(fields.get("pw", _dummy_hash()), password):
        return None
    if fields.get("disabled") == "1" or fields.get("role") not in roles.USER_ROLES:
        return None
    return _principal_from_user(fields)


def load_session_user(r: redis.Redis, session_id: str) -> Principal | None:
    """The user behind a session id ``name:epoch``, if the account is enabled and the epoch current."""
    name, _, epoch = session_id.partition(":")
    fields = store.auth.get_user(r, name) if NAME_RE.match(name) else None
    if not fields or fields.get("disabled") == "1" or fields.get("epoch", "1") != epoch:
        return None
    if fields.get("role") not in roles.USER_ROLES:
        return None
    return _principal_from_user(fields)


