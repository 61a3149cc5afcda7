"""Administration of users and tokens as admins do it, in the browser or on the command line.

Every change is role-checked and audited here, so the admin page and the CLI cannot differ on who
may do what or what is recorded: a refused attempt is audited as denied, a change as ok. Listings
never carry password hashes or token digests.
"""

from __future__ import annotations

from typing import Any

import redis

from app import audit, store
from app.accounts import tokens, users
from app.accounts.validation import NAME_RE, AccountError, validate_name
from app.model import roles
from app.model.principal import Principal

USER_FIELDS = ("name", "role", "domains", "departments", "disabled", "language", "created_at")
TOKEN_FIELDS = ("id", "name", "role", "created_at", "created_by", "expires_at", "revoked",
                "revoked_at")


class NotPermitted(AccountError):
    """The actor's role may not administer accounts."""


def _require_admin(r: redis.Redis, actor: Principal, action: str, target: str, addr: str) -> None:
    if actor.role != roles.ADMIN:
        audit.record(r, actor.name, action, target=target, addr=addr, outcome="denied")
        raise NotPermitted("only admins may change users and tokens")


def add_user(r: redis.Redis, actor: Principal, name: str, role: str, password: str,
             domains: tuple[str, ...] = (), addr: str = "",
             departments: tuple[str, ...] = ()) -> str:
    """Create a user (belonging to ``departments``, for incident tasks); returns the normalized name."""
    _require_admin(r, actor, "user_add", str(name)[:64], addr)
    created = users.add_user(r, name, role, password, domains, departments)
    detail = f"role={role}" + (f" departments={','.join(departments)}" if departments else "")
    audit.record(r, actor.name, "user_add", target=created, addr=addr, detail=detail)
    return created


def set_departments(r: redis.Redis, actor: Principal, name: str, departments: tuple[str, ...],
                    addr: str = "") -> tuple[str, ...]:
    """Set the departments a user belongs to."""
    _require_admin(r, actor, "user_departments", str(name)[:64], addr)
    chosen = users.set_departments(r, name, departments)
    audit.record(r, actor.name, "user_departments", target=name, addr=addr,
                 detail=",".join(chosen))
    return chosen


def set_password(r: redis.Redis, actor: Principal, name: str, password: str,
                 addr: str = "") -> None:
    """Set a user's password (their open sessions end)."""
    _require_admin(r, actor, "user_passwd", str(name)[:64], addr)
    users.set_password(r, name, password)
    audit.record(r, actor.name, "user_passwd", target=name, addr=addr)


def set_disabled(r: redis.Redis, actor: Principal, name: str, disabled: bool,
                 addr: str = "") -> str:
    """Disable (their sessions end) or enable a user; nobody disables their own account."""
    action = "user_disable" if disabled else "user_enable"
    _require_admin(r, actor, action, str(name)[:64], addr)
    target = validate_name(name)
    if disabled and target == actor.name:
        raise AccountError("you cannot disable your own account")
    users.set_disabled(r, target, disabled)
    audit.record(r, actor.name, action, target=target, addr=addr)
    return target


def create_token(r: redis.Redis, actor: Principal, name: str, role: str,
                 expires_days: float | None = None, addr: str = "") -> str:
    """Create a token; returns its full text, which is shown only this once."""
    _require_admin(r, actor, "token_create", str(name)[:64], addr)
    text = tokens.create_token(r, name, role, expires_days, created_by=actor.name)
    audit.record(r, actor.name, "token_create", target=name, addr=addr, detail=f"role={role}")
    return text


def revoke_token(r: redis.Redis, actor: Principal, name_or_id: str, addr: str = "") -> str:
    """Revoke a token by id or name; returns its id."""
    _require_admin(r, actor, "token_revoke", str(name_or_id)[:64], addr)
    token_id = tokens.revoke_token(r, name_or_id)
    audit.record(r, actor.name, "token_revoke", target=token_id, addr=addr)
    return token_id


def lift_backoff(r: redis.Redis, actor: Principal, name: str, addr: str = "") -> bool:
    """End the sign-in back-off of user ``name`` (app/accounts/signin.py), so that the person can
    sign in from a new device at once; True when one was held."""
    _require_admin(r, actor, "login_unlock", str(name)[:64], addr)
    target = validate_name(name)
    held = store.auth.lift_backoff(r, target)
    audit.record(r, actor.name, "login_unlock", target=target, addr=addr,
                 detail="held" if held else "none held")
    return held


def list_users(r: redis.Redis) -> list[dict[str, Any]]:
    """Every user's public fields (no password hash), sorted by name."""
    return [{key: row.get(key, "") for key in USER_FIELDS} for row in store.auth.list_users(r)]


def list_tokens(r: redis.Redis) -> list[dict[str, Any]]:
    """Every token's public fields (no digest), oldest first."""
    return [{key: row.get(key, "") for key in TOKEN_FIELDS} for row in store.auth.list_tokens(r)]


def get_user(r: redis.Redis, name: str) -> dict[str, Any] | None:
    """One user's public fields (no password hash), or None."""
    row = store.auth.get_user(r, name) if NAME_RE.match(name) else None
    return {key: row.get(key, "") for key in USER_FIELDS} if row else None


def enabled_user(r: redis.Redis, name: object) -> str | None:
    """``name`` when it is an enabled user's, else None (an assignee must be able to act)."""
    if not isinstance(name, str) or not NAME_RE.match(name):
        return None
    record = store.auth.get_user(r, name)
    return name if record is not None and record.get("disabled") != "1" else None


def enabled_users(r: redis.Redis) -> list[str]:
    """The names of every enabled user (whom an alert may be assigned to)."""
    return [u["name"] for u in list_users(r) if u.get("disabled") != "1"]
