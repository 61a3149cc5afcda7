"""API and display tokens: 256-bit random secrets kept as SHA-256 digests, shown once at creation."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time

import redis

from app import store
from app.accounts.validation import AccountError, validate_name, validate_role
from app.model import roles
from app.model.principal import Principal

TOKEN_PREFIX = "cot"


# -- tokens -------------------------------------------------------------------------------------
def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def create_token(r: redis.Redis, name: str, role: str, expires_days: float | None = None,
                 created_by: str = "cli") -> str:
    """Create a token and return its full text, which is shown only this once."""
    name = validate_name(name)
    validate_role(role, roles.TOKEN_ROLES)
    if expires_days is not None and not 0 < expires_days <= 3650:
        raise AccountError("--expires-days must be between 0 and 3650")
    if any(t.get("name") == name and t.get("revoked") != "1" for t in store.auth.list_tokens(r)):
        raise AccountError(f"a token named '{name}' exists already: revoke it first")
    token_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    now = time.time()
    store.auth.create_token(r, token_id, {
        "name": name, "role": role, "digest": _digest(secret), "created_at": f"{now:.0f}",
        "created_by": created_by, "revoked": "0",
        "expires_at": f"{now + expires_days * 86400:.0f}" if expires_days else "",
    })
    return f"{TOKEN_PREFIX}_{token_id}_{secret}"


def revoke_token(r: redis.Redis, name_or_id: str) -> str:
    """Revoke the token with that id or name; returns its id."""
    for record in store.auth.list_tokens(r):
        if name_or_id in (record.get("id"), record.get("name")) and record.get("revoked") != "1":
            store.auth.update_token(r, record["id"], {"revoked": "1", "revoked_at": f"{time.time():.0f}"})
            return record["id"]
    raise AccountError(f"no active token '{name_or_id}'")


def _token_record_principal(record: dict[str, str] | None) -> Principal | None:
    """The principal of a stored token record that is neither revoked nor expired."""
    if record is None or record.get("revoked") == "1":
        return None
    expires_at = record.get("expires_at")
    if expires_at and float(expires_at) < time.time():
        return None
    if record.get("role") not in roles.TOKEN_ROLES:
        return None
    return Principal(name=f"token:{record['name']}", role=record["role"], kind="token",
                     token_id=record["id"])


def token_principal(r: redis.Redis, text: str) -> Principal | None:
    """The principal of a presented token, or None when it is malformed, unknown, revoked or expired."""
    parts = (text or "").strip().split("_", 2)
    if len(parts) != 3 or parts[0] != TOKEN_PREFIX or not re.fullmatch(r"[0-9a-f]{12}", parts[1]):
        return None
    record = store.auth.get_token(r, parts[1])
    if record is None or not hmac.compare_digest(record.get("digest", ""), _digest(parts[2])):
        return None
    return _token_record_principal(record)


def token_session_principal(r: redis.Redis, token_id: str) -> Principal | None:
    """The principal of a display session opened with a token, while the token stays valid."""
    if not re.fullmatch(r"[0-9a-f]{12}", token_id):
        return None
    return _token_record_principal(store.auth.get_token(r, token_id))
