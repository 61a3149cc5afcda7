"""The soak's own error, and the errors of a city in the middle of a fault, which mean "not yet"."""

from __future__ import annotations

import http.client
from typing import Callable

import redis


class SoakError(RuntimeError):
    """The soak could not run (the city did not start); the message is one line."""


def quietly(check: Callable[[], object]) -> bool:
    """``check()`` as a bool; the errors of a city in the middle of a fault count as False."""
    try:
        return bool(check())
    except (OSError, redis.RedisError, http.client.HTTPException, ValueError, KeyError, TypeError,
            SoakError):
        return False
