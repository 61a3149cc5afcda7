"""The whole suite's fixtures and kinds: a real redis-server, a Redis Cluster, the web app, users.

Tests are grouped by kind in folders, and each folder is a pytest marker (docs/testing.md):
``unit`` (pure: no server, no process), ``integration`` (a real redis-server, local HTTP and MQTT
servers on loopback, the web app in-process), ``system`` (real processes: `cityops up`, the CLI,
gunicorn, runner processes), ``browser`` (Chromium through Playwright). A test elsewhere that starts
a real `cityops` process says so with ``@pytest.mark.system``. Every test is bounded by the
per-test timeout of pyproject.toml; hypothesis runs derandomized under CI (HYPOTHESIS_PROFILE=ci).
"""

from __future__ import annotations

import inspect
import os
from pathlib import Path
from typing import Iterator

import pytest
import redis
from hypothesis import HealthCheck, settings

from app import accounts
from app.config import load_settings
from app.store.embedded import free_port
from app.store.link import connect
from tests.support.redis_cluster import RedisClusterServer, start_cluster
from tests.support.redis_server import RedisServer, spawn_redis
from tests.support.web import PASSWORD

KINDS = ("unit", "integration", "system", "browser")
# CI runs the property-based tests on a fixed sequence of examples, so a red build is the code's
# doing and can be replayed; at a desk they explore new examples each run.
settings.register_profile("ci", derandomize=True, database=None, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test with the kind of its folder, unless it says its own kind."""
    root = Path(__file__).resolve().parent
    for item in items:
        if any(item.get_closest_marker(kind) for kind in KINDS):
            continue
        folder = Path(str(item.fspath)).resolve().relative_to(root).parts[0]
        if folder in KINDS:
            item.add_marker(getattr(pytest.mark, folder))


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """One real redis-server for the whole test session."""
    directory = tmp_path_factory.mktemp("redis")
    port = free_port()
    server = RedisServer(f"redis://127.0.0.1:{port}/0", port, directory,
                         spawn_redis(port, directory))
    yield server
    if server.process.poll() is None:
        server.stop()


# Suites that also run against a 3-master Redis Cluster (issue 8): each of their tests that takes
# `r` runs twice, [standalone] and [cluster]. A test that also takes `redis_server` opens its own
# standalone connections, so it runs standalone only; `redis_url` is the backend-neutral way.
CLUSTER_SUITES = frozenset({"test_store", "test_store_live", "test_alerts_lifecycle", "test_map_share",
                            # incidents (issue 15)
                            "test_incidents_lifecycle", "test_incident_tasks",
                            "test_incident_proposals"})
REDIS_BACKENDS = ("standalone", "cluster")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Run the cluster suites' Redis tests against both a standalone server and the cluster."""
    module = metafunc.module.__name__.rpartition(".")[2]
    # The test's own arguments: `redis_server` is always in the closure, through `r`.
    asked = inspect.signature(metafunc.function).parameters
    if module in CLUSTER_SUITES and "r" in metafunc.fixturenames and "redis_server" not in asked:
        metafunc.parametrize("redis_backend", REDIS_BACKENDS, indirect=True)


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisClusterServer]:
    """One real 3-master Redis Cluster for the whole session, started when first needed."""
    cluster = start_cluster(tmp_path_factory.mktemp("redis-cluster"))
    yield cluster
    cluster.stop()


@pytest.fixture
def redis_backend(request: pytest.FixtureRequest) -> str:
    """Which Redis the test's `r` talks to: "standalone" unless the test is parametrized."""
    return str(getattr(request, "param", "standalone"))


@pytest.fixture
def redis_url(redis_backend: str, request: pytest.FixtureRequest) -> str:
    """The CityOps URL of the Redis under test (redis:// or redis+cluster://)."""
    if redis_backend == "cluster":
        return str(request.getfixturevalue("redis_cluster").url)
    return str(request.getfixturevalue("redis_server").url)


@pytest.fixture
def r(redis_server: RedisServer, redis_url: str) -> Iterator[redis.Redis]:
    """A client of the test Redis (or of the test cluster), emptied before each test."""
    client = connect(redis_url)
    # On a cluster, redis-py sends FLUSHALL to every master (tests/integration/test_cluster_misc.py checks).
    client.flushall()
    yield client
    client.close()


@pytest.fixture
def raw(redis_server: RedisServer) -> Iterator[redis.Redis]:
    """A client of the test Redis that returns bytes (DUMP values are binary)."""
    client = redis.Redis.from_url(redis_server.url)
    yield client
    client.close()


@pytest.fixture(scope="session")
def web_app(redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """The whole Dash/Flask app, configured against the test Redis."""
    from app.web.server import create_app

    settings = load_settings(environ={
        "CITYOPS_DATA_DIR": str(tmp_path_factory.mktemp("data")),
        "CITYOPS_REDIS_URL": redis_server.url,
    })
    return create_app(settings)


@pytest.fixture
def client(web_app, r):  # type: ignore[no-untyped-def]
    """A Flask test client with no session."""
    return web_app.server.test_client()


@pytest.fixture
def users(r: redis.Redis) -> dict[str, str]:
    """One user per role, all with the password PASSWORD: role -> user name."""
    names = {}
    for role in ("admin", "operator", "emergency", "official"):
        names[role] = accounts.add_user(r, f"{role}1", role, PASSWORD)
    return names


