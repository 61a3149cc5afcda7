"""How a CityOps process reaches Redis: the configured URL, the running embedded server, or its own.

``cityops up`` owns the embedded server of its data directory. Every other command calls
:func:`redis_session`, which uses the configured ``CITYOPS_REDIS_URL``, else the server that
``up`` runs for the same data directory, else starts one for the command's own duration.

Standalone clients made by :func:`connect` remember a lost link: once a call fails to reach
Redis, further calls fail at once (``LinkLost``) while one call at a time probes whether it
answers again. A hung or unreachable Redis thus costs each process one timeout, not one per
call: pages can say "data link lost", and web threads and runner loops do not pile up waiting.
"""

from __future__ import annotations

import contextlib
import logging
import re
import threading
import time
from typing import Any, Iterator, cast
from urllib.parse import urlsplit, urlunsplit

import redis
from redis.client import Pipeline
from redis.cluster import ClusterNode, RedisCluster
from redis.exceptions import RedisClusterException

from app.config import Settings, ensure_data_dir
from app.store.embedded import EmbeddedRedis, EmbeddedRedisError, die_with_parent

CONNECT_TIMEOUT_S = 2.0
SOCKET_TIMEOUT_S = 5.0
PROBE_EVERY_S = 0.5  # while the link is lost, how often one call may try Redis again
log = logging.getLogger("cityops.redis")
# CITYOPS_REDIS_URL with one of these schemes names a Redis Cluster (docs/architecture.md).
CLUSTER_SCHEMES = ("redis+cluster://", "rediss+cluster://")


class RedisUnavailable(RuntimeError):
    """Redis cannot be reached; the message names the URL (without its password)."""


def public_url(url: str) -> str:
    """``url`` with any password replaced by ***, safe to print."""
    return re.sub(r"//([^@/]*)@", lambda m: "//***@" if m.group(1) else "//", url, count=1)


def is_cluster_url(url: str) -> bool:
    """True for a Redis Cluster URL (``redis+cluster://`` or ``rediss+cluster://``)."""
    return url.startswith(CLUSTER_SCHEMES)


class LinkLost(redis.ConnectionError):
    """Redis did not answer a moment ago and is not being tried again yet."""


class LinkGuard:
    """One client's memory of a lost link: calls fail at once while another call probes it."""

    def __init__(self, probe_every_s: float = PROBE_EVERY_S) -> None:
        self.probe_every_s = probe_every_s
        self.lost_since: float | None = None  # monotonic
        self.reason = ""
        self._next_probe = 0.0
        self._probing = False
        self._lock = threading.Lock()

    def enter(self) -> bool:
        """Before a call: True when this call is the probe; raises LinkLost when it may not try."""
        if self.lost_since is None:  # the common case, without the lock
            return False
        with self._lock:
            if self.lost_since is None:
                return False
            if self._probing or time.monotonic() < self._next_probe:
                raise LinkLost(f"Redis link lost {time.monotonic() - self.lost_since:.1f} s ago: "
                               f"{self.reason}")
            self._probing = True
            return True

    def answered(self, probe: bool) -> None:
        """Redis answered a call: the link is back."""
        if self.lost_since is None and not probe:
            return
        with self._lock:
            if self.lost_since is not None:
                log.info("Redis link back after %.1f s", time.monotonic() - self.lost_since)
            self.lost_since, self._probing = None, False

    def failed(self, probe: bool, exc: Exception) -> None:
        """A call could not reach Redis (refused, reset, timed out)."""
        with self._lock:
            now = time.monotonic()
            if self.lost_since is None:
                self.lost_since, self.reason = now, str(exc)
                self._next_probe = now + self.probe_every_s
            if probe:
                self._probing = False
                self._next_probe = now + self.probe_every_s

    def guard(self, call: Any, *args: Any, **kwargs: Any) -> Any:
        """Run ``call`` under the guard."""
        probe = self.enter()
        try:
            result = call(*args, **kwargs)
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            self.failed(probe, exc)
            raise
        except redis.RedisError:
            self.answered(probe)  # an error reply is an answer: the link works
            raise
        except BaseException:
            if probe:  # not Redis's doing: let another call probe
                with self._lock:
                    self._probing = False
            raise
        self.answered(probe)
        return result


class GuardedPipeline(Pipeline):
    """A pipeline whose execute() goes through its client's LinkGuard."""

    link_guard: LinkGuard

    def execute(self, raise_on_error: bool = True) -> list[Any]:
        """Send the queued commands (LinkLost at once while the link is known lost)."""
        if not self.command_stack:  # nothing to send, nothing to learn about the link
            return super().execute(raise_on_error)
        return self.link_guard.guard(super().execute, raise_on_error)  # type: ignore[no-any-return]


class GuardedRedis(redis.Redis):
    """redis.Redis whose commands and pipelines go through one LinkGuard per client."""

    link_guard: LinkGuard

    def execute_command(self, *args: Any, **options: Any) -> Any:
        """Run one command (LinkLost at once while the link is known lost)."""
        return self.link_guard.guard(super().execute_command, *args, **options)

    def pipeline(self, transaction: bool = True, shard_hint: Any = None) -> GuardedPipeline:
        """A pipeline sharing this client's guard."""
        pipe = GuardedPipeline(self.connection_pool, self.response_callbacks, transaction,
                               shard_hint)
        pipe.link_guard = self.link_guard
        return pipe


def connect(url: str) -> redis.Redis:
    """A redis-py client for ``url`` with short timeouts, so a lost link fails fast.

    A cluster URL gives a :class:`redis.cluster.RedisCluster` (same command API, routed by
    slot). Unlike a standalone client it reads the cluster's slot map at once, so it raises
    :class:`RedisUnavailable` here when no seed node answers.
    """
    if is_cluster_url(url):
        return _connect_cluster(url)
    client = GuardedRedis.from_url(
        url,
        decode_responses=True,
        socket_connect_timeout=CONNECT_TIMEOUT_S,
        socket_timeout=SOCKET_TIMEOUT_S,
        health_check_interval=15,
    )
    client.link_guard = LinkGuard()
    return client


def _seed_node(text: str) -> ClusterNode:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit():
        raise RedisUnavailable(f"a cluster seed must be host:port, got '{text}'")
    return ClusterNode(host.strip("[]"), int(port))


def _connect_cluster(url: str) -> redis.Redis:
    """A RedisCluster client from ``redis+cluster://[user:pass@]host:port[,host:port...][/0]``."""
    parts = urlsplit(url)
    userinfo, _, hosts = parts.netloc.rpartition("@")
    seeds = [seed for seed in hosts.split(",") if seed]
    if not seeds:
        raise RedisUnavailable(f"the cluster URL {public_url(url)} names no node")
    # redis-py reads the first seed (with credentials and options) from a plain URL; the
    # other seeds are tried in turn when it does not answer.
    first = urlunsplit((parts.scheme.removesuffix("+cluster"),
                        f"{userinfo}@{seeds[0]}" if userinfo else seeds[0],
                        parts.path, parts.query, ""))
    try:
        client = RedisCluster(
            url=first,
            startup_nodes=[_seed_node(seed) for seed in seeds[1:]],
            decode_responses=True,
            socket_connect_timeout=CONNECT_TIMEOUT_S,
            socket_timeout=SOCKET_TIMEOUT_S,
            health_check_interval=15,
        )
    except (RedisClusterException, redis.RedisError, ValueError) as exc:
        raise RedisUnavailable(f"cannot reach the Redis Cluster at {public_url(url)}: {exc}") from None
    # Same command API as redis.Redis for everything CityOps calls (app/store.py keeps each
    # multi-key operation in one slot), so callers keep one type.
    return cast(redis.Redis, client)


def check(client: redis.Redis, url: str) -> None:
    """Raise :class:`RedisUnavailable` naming ``url`` unless Redis answers PING."""
    try:
        client.ping()
    except redis.AuthenticationError as exc:
        raise RedisUnavailable(f"Redis at {public_url(url)} refused the credentials: {exc}") from None
    except (redis.RedisError, RedisClusterException) as exc:
        raise RedisUnavailable(f"cannot reach Redis at {public_url(url)}: {exc}") from None


@contextlib.contextmanager
def redis_session(settings: Settings) -> Iterator[redis.Redis]:
    """Yield a checked client for the installation's Redis, starting the embedded one if needed."""
    embedded: EmbeddedRedis | None = None
    if settings.redis.url:
        url = settings.redis.url
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
