"""Administration of users and tokens as admins do it, in the browser or on the command line.

Every change is role-checked and audited here, so the admin page and the CLI cannot differ on who
may do what or what is recorded: a refused attempt is audited as denied, a change as ok. Listings
never carry password hashes or token digests.
"""

from __future__ import annotations

from typing import Any, Callable

import redis

from app import audit, store
from app.accounts import tokens, users
from app.accounts.validation import NAME_RE, AccountError, generate_password, validate_name, validate_role
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


def set_domains(r: redis.Redis, actor: Principal, name: str, domains: tuple[str, ...],
                addr: str = "") -> tuple[str, ...]:
    """Set the domains an emergency user acts on (an empty list: every domain)."""
    _require_admin(r, actor, "user_domains", str(name)[:64], addr)
    chosen = users.set_domains(r, name, domains)
    audit.record(r, actor.name, "user_domains", target=name, addr=addr,
                 detail=",".join(chosen) or "all")
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


# -- administration in the browser (issue 19): role, password reset, deletion ---------------------
class LastAdmin(AccountError):
    """The change would leave no enabled admin."""


def _keeps_an_admin(actor: Principal, target: str, role: str | None,
                    deleted: bool) -> Callable[[dict[str, dict[str, str]]], None]:
    """A check (store.auth.change_users) that the acting person is still an enabled admin and that
    an enabled admin remains once ``target`` gets ``role`` or is ``deleted``: nobody locks the
    city out of its own administration, even with two admins acting at once."""
    def check(rows: dict[str, dict[str, str]]) -> None:
        me = rows.get(actor.name)
        if actor.kind == "user" and (me is None or me.get("role") != roles.ADMIN
                                     or me.get("disabled") == "1"):
            raise NotPermitted("only admins may change users and tokens")
        after = {name: ("" if deleted and name == target else
                        role if role is not None and name == target else row.get("role", ""))
                 for name, row in rows.items()}
        if not any(r == roles.ADMIN and rows[n].get("disabled") != "1" for n, r in after.items()):
            raise LastAdmin("the last enabled admin must stay: make someone else admin first")
    return check


def set_role(r: redis.Redis, actor: Principal, name: str, role: str, addr: str = "") -> str:
    """Give user ``name`` another role; nobody changes their own role, and the last enabled admin
    stays an admin. Sessions stay open: the role is read from the account on every request."""
    _require_admin(r, actor, "user_role", str(name)[:64], addr)
    target = validate_name(name)
    validate_role(role)
    if target == actor.name:
        raise AccountError("you cannot change your own role")
    try:
        store.auth.change_users(r, target, {"role": role},
                                _keeps_an_admin(actor, target, role, deleted=False))
    except store.NotFound:
        raise AccountError(f"no user '{target}'") from None
    audit.record(r, actor.name, "user_role", target=target, addr=addr, detail=f"role={role}")
    return target


def reset_password(r: redis.Redis, actor: Principal, name: str, addr: str = "") -> str:
    """Give user ``name`` a new generated password (their open sessions end); returns it, to be
    shown to the admin only this once."""
    password = generate_password()
    set_password(r, actor, name, password, addr=addr)
    return password


def delete_user(r: redis.Redis, actor: Principal, name: str, addr: str = "") -> str:
    """Delete user ``name`` (their sessions end; a later account of the name starts afresh); nobody
    deletes their own account or the last enabled admin. The audit trail keeps their entries."""
    _require_admin(r, actor, "user_delete", str(name)[:64], addr)
    target = validate_name(name)
    if target == actor.name:
        raise AccountError("you cannot delete your own account")
    try:
        store.auth.change_users(r, target, None, _keeps_an_admin(actor, target, None, deleted=True))
    except store.NotFound:
        raise AccountError(f"no user '{target}'") from None
    audit.record(r, actor.name, "user_delete", target=target, addr=addr)
    return target
