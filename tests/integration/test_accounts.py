"""Accounts and tokens on a real Redis: hashing, validation, authentication, revocation."""

from __future__ import annotations

import pytest
import redis

from app import accounts, store


def test_password_is_stored_only_as_scrypt_hash(r: redis.Redis) -> None:
    """The stored record holds an scrypt hash, never the password."""
    accounts.add_user(r, "Alice", "operator", "a long enough password")
    record = store.auth.get_user(r, "alice")
    assert record is not None and record["pw"].startswith("scrypt:")
    dump = repr([r.hgetall(k) for k in r.keys("*") if r.type(k) == "hash"])
    assert "a long enough password" not in dump


def test_authenticate(r: redis.Redis) -> None:
    """Right password signs in; wrong password, unknown and disabled users do not."""
    accounts.add_user(r, "bob", "official", "a long enough password")
    principal = accounts.authenticate(r, "bob", "a long enough password")
    assert principal is not None and principal.role == "official"
    assert accounts.authenticate(r, "bob", "wrong password") is None
    assert accounts.authenticate(r, "nobody", "a long enough password") is None
    assert accounts.authenticate(r, "../etc", "x") is None
    accounts.set_disabled(r, "bob", True)
    assert accounts.authenticate(r, "bob", "a long enough password") is None


@pytest.mark.parametrize("name, role, password, domains, message", [
    ("", "operator", "a long enough password", (), "a name is"),
    ("Bad Name", "operator", "a long enough password", (), "a name is"),
    ("x" * 65, "operator", "a long enough password", (), "a name is"),
    ("carol", "superuser", "a long enough password", (), "unknown role"),
    ("carol", "wall", "a long enough password", (), "unknown role"),
    ("carol", "operator", "short", (), "at least"),
    ("carol", "operator", "p" * 2000, (), "at most"),
    ("carol", "emergency", "a long enough password", ("fire",), "unknown domain"),
])
def test_bad_user_input_changes_nothing(r: redis.Redis, name: str, role: str, password: str,
                                        domains: tuple[str, ...], message: str) -> None:
    """Each invalid field is refused with a message, and Redis stays empty."""
    with pytest.raises(accounts.AccountError, match=message):
        accounts.add_user(r, name, role, password, domains)
    assert r.dbsize() == 0


def test_duplicate_user_is_refused(r: redis.Redis) -> None:
    """A second user with the same name is refused and the first is untouched."""
    accounts.add_user(r, "dave", "operator", "a long enough password")
    before = store.auth.get_user(r, "dave")
    with pytest.raises(accounts.AccountError, match="exists already"):
        accounts.add_user(r, "dave", "admin", "another long password")
    assert store.auth.get_user(r, "dave") == before


def test_session_epoch(r: redis.Redis) -> None:
    """A session id stays valid until the password changes or the account is disabled."""
    accounts.add_user(r, "erin", "emergency", "a long enough password", ("water", "medical"))
    principal = accounts.authenticate(r, "erin", "a long enough password")
    assert principal is not None and principal.domains == ("water", "medical")
    session_id = principal.get_id()
    assert accounts.load_session_user(r, session_id) == principal
    accounts.set_password(r, "erin", "a different password")
    assert accounts.load_session_user(r, session_id) is None
    assert accounts.load_session_user(r, "erin:999") is None
    assert accounts.load_session_user(r, "nobody:1") is None


def test_tokens(r: redis.Redis) -> None:
    """A token is stored as a digest, works until revoked, and names are unique while active."""
    text = accounts.create_token(r, "wall-a", "wall")
    prefix, token_id, secret = text.split("_", 2)
    assert prefix == "cot" and len(token_id) == 12 and len(secret) >= 40
    assert secret not in repr(store.auth.get_token(r, token_id))
    principal = accounts.token_principal(r, text)
    assert principal is not None and principal.role == "wall" and principal.kind == "token"
    assert accounts.token_principal(r, text[:-1] + ("A" if text[-1] != "A" else "B")) is None
    with pytest.raises(accounts.AccountError, match="exists already"):
        accounts.create_token(r, "wall-a", "wall")
    assert accounts.revoke_token(r, "wall-a") == token_id
    assert accounts.token_principal(r, text) is None
    with pytest.raises(accounts.AccountError, match="no active token"):
        accounts.revoke_token(r, token_id)
    with pytest.raises(accounts.AccountError, match="unknown role"):
        accounts.create_token(r, "x", "root")
