"""Pairing a wall display without typing a token: the display shows a short code, an admin
confirms it at the desk, the display is signed in (issue 19; docs/security.md, "Pairing a wall").

The display opens a request and keeps a 256-bit secret of its own (a cookie); the code is only
what a person reads off the wall and types. A confirmation creates a wall token (audited, like
one made on /admin) and binds it to the request; the display that holds the secret claims it
once, and the request is gone. Requests live PAIRING_TTL_S; each address may open
OPENS_PER_WINDOW of them in PAIRING_TTL_S.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from dataclasses import dataclass

import redis

from app import audit
from app.accounts import admin, tokens
from app.accounts.validation import AccountError, validate_name
from app.model import roles
from app.model.principal import Principal
from app.store import pairing as pairing_store

PAIRING_TTL_S = 600
OPENS_PER_WINDOW = 10
# No 0/O, 1/I/L: read off a wall across a room and typed at a desk. 31^8 is about 8.5e11.
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 8
CODE_RE = re.compile(rf"^[{CODE_ALPHABET}]{{{CODE_LENGTH}}}$")


class PairingError(AccountError):
    """A code that is not (or no longer) waiting to be confirmed."""


@dataclass(frozen=True)
class Opened:
    """A new request: the code to show, and the display's own secret (its cookie)."""

    code: str
    secret: str


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "replace")).hexdigest()


def shown(code: str) -> str:
    """A code as the wall shows it, in two halves (``ABCD-EFGH``)."""
    return f"{code[:4]}-{code[4:]}"


def normalize_code(text: object) -> str:
    """A code as typed (any case, spaces or a hyphen) as stored; PairingError if it cannot be one."""
    code = re.sub(r"[\s-]", "", text).upper() if isinstance(text, str) and len(text) <= 40 else ""
    if not CODE_RE.match(code):
        raise PairingError(f"a pairing code is {CODE_LENGTH} letters and digits, as the wall shows it")
    return code


def open_request(r: redis.Redis, addr: str) -> Opened | None:
    """Open a pairing request for the display at ``addr``; None when that address opened too many."""
    secret = secrets.token_urlsafe(32)
    for _ in range(5):  # a taken code is unlikely; try a few fresh ones
        code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
        opened = pairing_store.open_request(r, code, _digest(secret), addr, time.time(),
                                            PAIRING_TTL_S, PAIRING_TTL_S, OPENS_PER_WINDOW)
        if opened < 0:
            return None
        if opened:
            return Opened(code, secret)
    return None


def confirm(r: redis.Redis, actor: Principal, code: object, name: str,
            expires_days: float | None = None, addr: str = "") -> str:
    """An admin confirms the code read off a wall: a wall token ``name`` is created for that
    display (audited as token_create and display_pair); returns the token's name."""
    if actor.role != roles.ADMIN:
        audit.record(r, actor.name, "display_pair", target=str(code)[:40], addr=addr,
                     outcome="denied")
        raise admin.NotPermitted("only admins may pair wall displays")
    wanted = normalize_code(code)
    name = validate_name(name)
    request = pairing_store.get_request(r, wanted)
    if request is None or request.get("token_id"):
        audit.record(r, actor.name, "display_pair", target=shown(wanted), addr=addr,
                     outcome="failed", detail="no display waits with this code")
        raise PairingError("no display waits with this code: it may have expired or been used")
    text = admin.create_token(r, actor, name, roles.WALL, expires_days, addr=addr)
    token_id = text.split("_", 2)[1]
    if pairing_store.confirm(r, wanted, token_id, name, actor.name) != 1:
        # Expired or confirmed by someone else meanwhile: the token must not stay unused.
        tokens.revoke_token(r, token_id)
        raise PairingError("no display waits with this code: it may have expired or been used")
    audit.record(r, actor.name, "display_pair", target=name, addr=addr,
                 detail=f"from {request.get('addr', '')}")
    return name


def claim(r: redis.Redis, code: str, secret: str) -> Principal | str:
    """The display's question: its wall principal once confirmed (the request is then used up),
    "waiting" while not yet, "gone" when the request does not exist (expired, used, not its own)."""
    if not CODE_RE.match(code):
        return "gone"
    state, token_id = pairing_store.claim(r, code, _digest(secret))
    if state == 1:
        return "waiting"
    if state == 2:
        principal = tokens.token_session_principal(r, token_id)
        if principal is not None:
            return principal
    return "gone"


def opened_at(r: redis.Redis, code: str) -> float:
    """When request ``code`` was opened (now, when it is gone meanwhile)."""
    request = pairing_store.get_request(r, code) if CODE_RE.match(code) else None
    try:
        return float((request or {}).get("created_at") or time.time())
    except ValueError:
        return time.time()
