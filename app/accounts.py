"""User accounts and API/display tokens: validation, password hashing, and who a request is.

Passwords are hashed with scrypt (werkzeug.security); token secrets are 256-bit random values
stored as SHA-256 digests, which is enough for secrets that no person chose.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass, field

import redis
from werkzeug.security import check_password_hash, generate_password_hash

from app import i18n, store
from app.model import roles
from app.model.domains import DOMAINS

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 1024
PASSWORD_METHOD = "scrypt:32768:8:1"
TOKEN_PREFIX = "cot"


@functools.cache
def _dummy_hash() -> str:
    """Checked against when the user does not exist, so that the time taken does not tell."""
    return generate_password_hash("not a real password", method=PASSWORD_METHOD)


class AccountError(ValueError):
    """A request about accounts or tokens that cannot be carried out; the message says why."""


@dataclass(frozen=True)
class Principal:
    """Who is making a request: a person's account or an API/display token."""

    name: str
    role: str
    kind: str = "user"  # "user" or "token"
    domains: tuple[str, ...] = field(default_factory=tuple)
    epoch: int = 0
    token_id: str = ""
    language: str = ""  # the person's chosen language ("" = not chosen: cookie or browser decide)

    @property
    def is_authenticated(self) -> bool:  # flask-login protocol
        return True

    @property
    def is_active(self) -> bool:  # flask-login protocol
        return True

    @property
    def is_anonymous(self) -> bool:  # flask-login protocol
        return False

    def get_id(self) -> str:
        """The session's id: a token's id, or a user's name and session epoch (so that a password
        change or a disabled account ends the sessions opened before)."""
        if self.kind == "token":
            return f"token:{self.token_id}"
        return f"{self.name}:{self.epoch}"

    def as_json(self) -> dict[str, object]:
        """What GET /api/v1/me answers."""
        return {"name": self.name, "role": self.role, "kind": self.kind,
                "domains": list(self.domains)}


def validate_name(name: object) -> str:
    """Normalize and check a user or token name (anything but a fitting string is refused)."""
    name = name.strip().lower() if isinstance(name, str) else ""
    if not NAME_RE.match(name):
        raise AccountError("a name is 1 to 64 characters: lowercase letters, digits, '.', '_' or '-', "
                           "starting with a letter or digit")
    return name


def validate_password(password: str) -> str:
    """Check a new password's type and length."""
    if not isinstance(password, str):
        raise AccountError("a password must be text")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise AccountError(f"a password may have at most {MAX_PASSWORD_LENGTH} characters")
    return password


def validate_role(role: str, allowed: tuple[str, ...] = roles.USER_ROLES) -> str:
    """Check a role name against ``allowed``."""
    if not isinstance(role, str) or role not in allowed:
        shown = role[:40] if isinstance(role, str) else type(role).__name__
        raise AccountError(f"unknown role '{shown}': choose one of {', '.join(allowed)}")
    return role


def validate_domains(domains: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """Check a list of domain names (for emergency staff)."""
    unknown = [d for d in domains if not isinstance(d, str) or d not in DOMAINS]
    if unknown:
        raise AccountError(f"unknown domain '{str(unknown[0])[:40]}': choose from "
                           f"{', '.join(DOMAINS)}")
    return tuple(dict.fromkeys(domains))


def generate_password() -> str:
    """A random password that is easy to type from a printout."""
    return secrets.token_urlsafe(15)


# -- users --------------------------------------------------------------------------------------
def add_user(r: redis.Redis, name: str, role: str, password: str,
             domains: tuple[str, ...] = ()) -> str:
    """Create a user; returns the normalized name."""
    name = validate_name(name)
    validate_role(role)
    validate_password(password)
    domains = validate_domains(list(domains))
    try:
        store.auth.create_user(r, name, {
            "role": role,
            "pw": generate_password_hash(password, method=PASSWORD_METHOD),
            "disabled": "0",
            "domains": ",".join(domains),
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


def validate_language(language: object) -> str:
    """A supported language code ("en", "zh"); anything else is refused with the choices."""
    chosen = i18n.normalize(language)
    if chosen is None or not isinstance(language, str) or len(language) > 16:
        raise AccountError(f"unknown language {str(language)[:16]!r}: choose from "
                           f"{', '.join(i18n.LANGUAGES)}")
    return chosen


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


# -- tokens -------------------------------------------------------------------------------------
def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


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
