"""Wall display pairing requests in Redis (slot {auth}): opening one, an admin's confirmation, and
the display's single claim, each one Lua script (issue 19, docs/security.md)."""

from __future__ import annotations

from typing import Any

import redis

from app.store.keys import Keys
from app.store.scripts import script


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def open_request(r: redis.Redis, code: str, kiosk_digest: str, addr: str, now: float, ttl_s: int,
                 window_s: int, most_per_window: int) -> int:
    """Open request ``code``: -1 when ``addr`` opened ``most_per_window`` in ``window_s`` already,
    0 when the code is taken, 1 when opened (it lives ``ttl_s``)."""
    return int(r.eval(script("pairing_open"), 2, Keys.pairing_opened(addr[:100]),
                      Keys.pairing(code), window_s, most_per_window, ttl_s, kiosk_digest,
                      f"{now:.0f}", addr[:100]))


def get_request(r: redis.Redis, code: str) -> dict[str, str] | None:
    """The stored fields of request ``code`` (None when never opened, expired or used)."""
    return r.hgetall(Keys.pairing(code)) or None


def confirm(r: redis.Redis, code: str, token_id: str, name: str, by: str) -> int:
    """Give request ``code`` the token ``token_id``: 1 done, 0 no such request, -1 confirmed
    already."""
    return int(r.eval(script("pairing_confirm"), 1, Keys.pairing(code), token_id, name, by))


def claim(r: redis.Redis, code: str, kiosk_digest: str) -> tuple[int, str]:
    """The display's claim: (2, token id) confirmed and now used up; (1, "") waiting; (0, "") no
    such request; (-1, "") the secret is not the one that opened it."""
    state, token_id = r.eval(script("pairing_claim"), 1, Keys.pairing(code), kiosk_digest)
    return int(state), _text(token_id)
