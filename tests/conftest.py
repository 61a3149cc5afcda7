"""Shared fixtures: a real redis-server (the embedded binary) on a free port, the web app, users."""

from __future__ import annotations

import inspect
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import pytest
import redis

from app import accounts
from app.config import load_settings
from app.store.embedded import free_port, redis_server_binary
from app.store.link import connect
from tests.redis_cluster import RedisClusterServer, start_cluster

PASSWORD = "correct horse battery"


@dataclass
class RedisServer:
    """A redis-server started for the tests."""

    url: str
    port: int
    dir: Path
    process: subprocess.Popen[bytes]

    def start(self) -> None:
        """(Re)start the server on the same port and directory."""
        self.process = _spawn_redis(self.port, self.dir)

    def stop(self) -> None:
        """Stop the server (the data link is lost until start())."""
        self.process.terminate()
        self.process.wait(timeout=10)


def _spawn_redis(port: int, directory: Path) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [redis_server_binary(), "--port", str(port), "--bind", "127.0.0.1", "--dir", str(directory),
         "--save", "", "--appendonly", "no", "--daemonize", "no"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client = redis.Redis(port=port, socket_connect_timeout=0.5)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            if client.ping():
                return process
        except redis.RedisError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError("the test redis-server did not start")


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """One real redis-server for the whole test session."""
    directory = tmp_path_factory.mktemp("redis")
    port = free_port()
    server = RedisServer(f"redis://127.0.0.1:{port}/0", port, directory,
                         _spawn_redis(port, directory))
    yield server
    if server.process.poll() is None:
        server.stop()


# Suites that also run against a 3-master Redis Cluster (issue 8): each of their tests that takes
# `r` runs twice, [standalone] and [cluster]. A test that also takes `redis_server` opens its own
# standalone connections, so it runs standalone only; `redis_url` is the backend-neutral way.
CLUSTER_SUITES = frozenset({"test_store", "test_store_live", "test_alerts_lifecycle", "test_map_share"})
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
    # On a cluster, redis-py sends FLUSHALL to every master (tests/test_cluster_misc.py checks).
    client.flushall()
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


def login(client, name: str, password: str = PASSWORD, addr: str = "127.0.0.1"):  # type: ignore[no-untyped-def]
    """Sign ``client`` in through the login form; returns the response of the POST."""
    client.get("/login", environ_base={"REMOTE_ADDR": addr})
    token = client.get_cookie("_csrf_token").value
    return client.post("/login", data={"username": name, "password": password,
                                       "csrf_token": token, "next": "/"},
                       environ_base={"REMOTE_ADDR": addr})


def csrf_header(client) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """The header Dash sends with every POST: the _csrf_token cookie echoed."""
    cookie = client.get_cookie("_csrf_token")
    return {"X-CSRFToken": cookie.value if cookie else ""}


def wait_for(predicate: Callable[[], object], timeout: float = 10.0) -> bool:
    """Poll ``predicate`` until it is true or ``timeout`` seconds pass (no fixed sleeps)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False
