"""A real `cityops up` for the system tests: started, signed into over HTTP, inspected, stopped."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import pytest
import redis
import requests

from app import store
from app.store.embedded import free_port
from tests.support.cli import base_env, redis_pids_for
from tests.support.paths import REPO

START_TIMEOUT_S = 60.0


STOP_TIMEOUT_S = 30.0


RUNNING_RE = re.compile(r"CityOps is running at (http://127\.0\.0\.1:(\d+)/)")


# -- helpers ---------------------------------------------------------------------------------------
class LineReader:
    """Collects the lines of a pipe in a thread, so that waiting for one never blocks forever."""

    def __init__(self, stream: object) -> None:
        self.lines: list[str] = []
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream: object) -> None:
        for line in stream:  # type: ignore[attr-defined]
            with self._cond:
                self.lines.append(line.rstrip("\n"))
                self._cond.notify_all()

    def wait_for(self, predicate: Callable[[str], object], timeout: float,
                 alive: Callable[[], bool] = lambda: True) -> str | None:
        """The first line satisfying ``predicate``, or None after ``timeout`` or when not alive()."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for line in self.lines:
                    if predicate(line):
                        return line
                if time.monotonic() >= deadline or not alive():
                    return None
                self._cond.wait(0.1)

    def closed(self, timeout: float) -> bool:
        """Wait up to ``timeout`` for the end of the pipe; True when it was reached."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def text(self) -> str:
        """Everything read so far."""
        with self._cond:
            return "\n".join(self.lines)


@dataclass
class Up:
    """A running `cityops up` in its own process group."""

    process: subprocess.Popen[str]
    data_dir: Path
    port: int
    out: LineReader
    err: LineReader
    admin_password: str | None = None
    base: str = field(init=False)

    def __post_init__(self) -> None:
        self.base = f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        """stdout and stderr so far, for assertion messages."""
        return f"--- stdout\n{self.out.text()}\n--- stderr\n{self.err.text()}"


# Every `cityops up` a test started, so that a failing test still stops it.
_launched: list[Up] = []


def up_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """The environment of an embedded `up` in ``data_dir`` (one web worker keeps the tests fast)."""
    env = base_env(data_dir, None)
    env["CITYOPS_WEB_WORKERS"] = "1"
    env["CITYOPS_HEARTBEAT_SECONDS"] = "0.5"
    env.update(extra)
    return env


def launch(data_dir: Path, port: int | None = None, env: dict[str, str] | None = None,
           demo: bool = False, args: Sequence[str] = ()) -> Up:
    """Start `python -m app.ops.cli up` (without waiting for it)."""
    port = port or free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "app.ops.cli", "up", "--host", "127.0.0.1", "--port", str(port)]
        + ([] if demo else ["--no-demo"]) + list(args), cwd=REPO, env=env or up_env(data_dir),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    up = Up(process, data_dir, port, LineReader(process.stdout), LineReader(process.stderr))
    _launched.append(up)
    return up


def wait_running(up: Up) -> Up:
    """Wait for the "running" line; remember the first-run admin password if one was printed."""
    line = up.out.wait_for(RUNNING_RE.search, START_TIMEOUT_S, lambda: up.process.poll() is None)
    if line is None:
        kill_group(up)
        pytest.fail(f"`cityops up` did not report running:\n{up.output()}")
    lines = up.out.lines
    for i, text in enumerate(lines):
        if text.startswith("First run:") and i + 1 < len(lines):
            up.admin_password = lines[i + 1].strip()
    return up


def start_up(data_dir: Path, env: dict[str, str] | None = None) -> Up:
    """Start `cityops up` on ``data_dir`` and wait until it serves."""
    return wait_running(launch(data_dir, env=env))


def group_pids(pgid: int) -> list[int]:
    """Pids of the live processes in process group ``pgid``."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[2]) == pgid and fields[0] != "Z":
            pids.append(int(entry.name))
    return pids


def cmdline(pid: int) -> str:
    """The command line of ``pid`` ("" once it is gone)."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
    except OSError:
        return ""


def children_of(pid: int) -> dict[int, str]:
    """pid -> command line of the live children of ``pid``."""
    out = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[1]) == pid and fields[0] != "Z":
            out[int(entry.name)] = cmdline
    return out


def child_pid(up: Up, marker: str) -> int | None:
    """The pid of the child of `up` whose command line contains ``marker``."""
    found = [pid for pid, cmd in children_of(up.process.pid).items() if marker in cmd]
    assert len(found) <= 1, found
    return found[0] if found else None


def redis_url_of(data_dir: Path) -> str:
    """The URL of the embedded server, from server.json and the password file."""
    state = json.loads((data_dir / "redis" / "server.json").read_text(encoding="utf-8"))
    password = (data_dir / "redis" / "password").read_text(encoding="utf-8").strip()
    return f"redis://:{password}@{state['host']}:{state['port']}/0"


def embedded_client(data_dir: Path) -> redis.Redis:
    """A client of the embedded server of ``data_dir``."""
    return redis.Redis.from_url(redis_url_of(data_dir), decode_responses=True,
                                socket_connect_timeout=1, socket_timeout=2)


def beat_field(client: redis.Redis, name: str) -> str:
    """A field of the runner's heartbeat record (KeyError while there is none)."""
    return (store.status.read_runner_heartbeat(client) or {})[name]


def http() -> requests.Session:
    """A session that ignores proxy settings of the environment (everything is on loopback)."""
    session = requests.Session()
    session.trust_env = False
    return session


def post_login(base: str, name: str, password: str) -> tuple[requests.Session, requests.Response]:
    """Submit the login form as a browser does (the _csrf_token cookie echoed in the form)."""
    session = http()
    assert session.get(f"{base}/login", timeout=10).status_code == 200
    token = session.cookies.get("_csrf_token")
    assert token
    response = session.post(f"{base}/login", timeout=30, allow_redirects=False, data={
        "username": name, "password": password, "csrf_token": token, "next": "/"})
    return session, response


def login(base: str, name: str, password: str) -> requests.Session:
    """A session signed in through the login form (fails the test if the login is refused)."""
    session, response = post_login(base, name, password)
    assert response.status_code == 302, (response.status_code, response.text[:300])
    return session


def whoami(session: requests.Session, base: str) -> dict[str, object] | None:
    """What /api/v1/me says about the session, or None when it is not signed in."""
    response = session.get(f"{base}/api/v1/me", timeout=10)
    return response.json() if response.status_code == 200 else None


def poll(check: Callable[[], object], timeout: float, message: str) -> object:
    """Call ``check`` until it returns something truthy; fail with ``message`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = check()
        except (OSError, redis.RedisError, requests.RequestException, ValueError, TypeError,
                KeyError):  # not there yet (no heartbeat record, Redis restarting, ...)
            value = None
        if value:
            return value
        if time.monotonic() >= deadline:
            pytest.fail(f"{message} (within {timeout} s)")
        time.sleep(0.1)


def kill_group(up: Up) -> None:
    """Last resort after a failed test: kill whatever is left of the process group."""
    try:
        os.killpg(up.process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    up.process.wait(timeout=10)
    for pid in redis_pids_for(up.data_dir):
        os.kill(pid, signal.SIGKILL)


def stop(up: Up, signum: int = signal.SIGTERM, to_group: bool = False) -> int:
    """Signal `up` (or its whole group, as Ctrl-C does) and return its exit code."""
    if to_group:
        os.killpg(up.process.pid, signum)
    else:
        up.process.send_signal(signum)
    try:
        return up.process.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        kill_group(up)
        pytest.fail(f"`cityops up` did not stop within {STOP_TIMEOUT_S} s:\n{up.output()}")


def assert_nothing_left(up: Up) -> None:
    """No process of the group, and no redis-server of the data directory, is still alive."""
    # The group's members die with up or just after it: allow them a moment to be reaped.
    deadline = time.monotonic() + 5
    while left := group_pids(up.process.pid):
        if time.monotonic() >= deadline:
            pytest.fail(f"left in the process group: {[cmdline(pid) for pid in left]}")
        time.sleep(0.05)
    assert redis_pids_for(up.data_dir) == []


