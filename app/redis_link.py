"""How a CityOps process reaches Redis: the configured URL, the running embedded server, or its own.

``cityops up`` owns the embedded server of its data directory. Every other command calls
:func:`redis_session`, which uses the configured ``CITYOPS_REDIS_URL``, else the server that
``up`` runs for the same data directory, else starts one for the command's own duration.
"""

from __future__ import annotations

import contextlib
import re
from typing import Iterator

import redis

from app.config import Settings, ensure_data_dir
from app.embedded_redis import EmbeddedRedis, EmbeddedRedisError, die_with_parent

CONNECT_TIMEOUT_S = 2.0
SOCKET_TIMEOUT_S = 5.0


class RedisUnavailable(RuntimeError):
    """Redis cannot be reached; the message names the URL (without its password)."""


def public_url(url: str) -> str:
    """``url`` with any password replaced by ***, safe to print."""
    return re.sub(r"//([^@/]*)@", lambda m: "//***@" if m.group(1) else "//", url, count=1)


def connect(url: str) -> redis.Redis:
    """A redis-py client for ``url`` with short timeouts, so a lost link fails fast."""
    return redis.Redis.from_url(
        url,
        decode_responses=True,
        socket_connect_timeout=CONNECT_TIMEOUT_S,
        socket_timeout=SOCKET_TIMEOUT_S,
        health_check_interval=15,
    )


def check(client: redis.Redis, url: str) -> None:
    """Raise :class:`RedisUnavailable` naming ``url`` unless Redis answers PING."""
    try:
        client.ping()
    except redis.AuthenticationError as exc:
        raise RedisUnavailable(f"Redis at {public_url(url)} refused the credentials: {exc}") from None
    except redis.RedisError as exc:
        raise RedisUnavailable(f"cannot reach Redis at {public_url(url)}: {exc}") from None


@contextlib.contextmanager
def redis_session(settings: Settings) -> Iterator[redis.Redis]:
    """Yield a checked client for the installation's Redis, starting the embedded one if needed."""
    embedded: EmbeddedRedis | None = None
    if settings.redis_url:
        url = settings.redis_url
    else:
        ensure_data_dir(settings)
        embedded = EmbeddedRedis(settings.data_dir)
        info = embedded.running()
        if info is None:
            if not embedded.try_own():
                raise RedisUnavailable(
                    f"the embedded Redis of {settings.data_dir} is starting or stopping; try again"
                )
            try:
                # A command killed meanwhile (SIGTERM, SIGKILL) must not leave its server behind.
                info = embedded.start(preexec_fn=die_with_parent)
            except EmbeddedRedisError as exc:
                embedded.stop()
                raise RedisUnavailable(f"cannot start the embedded Redis: {exc}") from None
        else:
            embedded = None
        url = info.url
    client = connect(url)
    try:
        check(client, url)
        yield client
    finally:
        client.close()
        if embedded is not None:
            embedded.stop()
