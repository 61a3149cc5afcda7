"""Benchmarks of the running command center: startup time, many wall clients, worker memory.

Each case starts its own `cityops up --no-demo` on a temporary data directory and a free port,
so it never touches an installation's data, and stops it afterwards. Only the standard library
talks HTTP here: the benchmark runs where the package is installed, without the test extras.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from app.store.embedded import free_port

START_TIMEOUT_S = 60.0
# The 1 s status tick every page (and the wall) sends, as the Dash renderer posts it (its gate's
# pulse, layouts/pulse.py).
STATUS_OUTPUTS = [("data-as-of", "children"), ("link-banner", "hidden"), ("live-seen", "data")]


def _tick_body(seen: Any) -> dict[str, Any]:
    from layouts import ids

    pulse = ids.pulse_part(ids.SEEN, ids.PULSE)
    return {
        "output": ".." + "...".join(f"{i}.{p}" for i, p in STATUS_OUTPUTS) + "..",
        "outputs": [{"id": i, "property": p} for i, p in STATUS_OUTPUTS],
        "inputs": [{"id": pulse, "property": "data", "value": {"n": 1}}],
        "changedPropIds": [ids.prop_id(pulse, "data")],
        "state": [{"id": "live-seen", "property": "data", "value": seen}],
    }


@dataclass
class RunningUp:
    """A `cityops up` started by a benchmark: its process, data directory and port."""

    process: subprocess.Popen[bytes]
    data_dir: Path
    port: int
    started: float
    ready_s: float = 0.0
    env: dict[str, str] = field(default_factory=dict)


def _get_status(port: int, path: str, timeout: float = 2.0) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        return conn.getresponse().status
    finally:
        conn.close()


@contextlib.contextmanager
def running_up(extra_env: dict[str, str] | None = None, workers: int = 2) -> Iterator[RunningUp]:
    """`cityops up --no-demo` on a fresh data directory; ``ready_s`` = until /login served."""
    with tempfile.TemporaryDirectory(prefix="cityops-bench-up-") as directory:
        data_dir = Path(directory)
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("CITYOPS_")}
        env.update({"CITYOPS_DATA_DIR": str(data_dir), "CITYOPS_WEB_WORKERS": str(workers)})
        env.update(extra_env or {})
        started = time.perf_counter()
        process = subprocess.Popen(
            [sys.executable, "-m", "app.ops.cli", "up", "--no-demo", "--host", "127.0.0.1",
             "--port", str(port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True)
        up = RunningUp(process, data_dir, port, started, env=env)
        try:
            deadline = started + START_TIMEOUT_S
            while True:
                if process.poll() is not None:
                    raise RuntimeError(f"cityops up exited with {process.returncode}")
                try:
                    if _get_status(port, "/login", timeout=1.0) == 200:
                        break
                except OSError:
                    pass
                if time.perf_counter() > deadline:
                    raise RuntimeError("cityops up did not serve /login in time")
                time.sleep(0.02)
            up.ready_s = time.perf_counter() - started
            yield up
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()


def bench_startup(runs: int = 3) -> dict[str, float]:
    """`cityops up` to the first page served (median of ``runs`` fresh starts)."""
    times = []
    for _ in range(runs):
        with running_up() as up:
            times.append(up.ready_s)
    return {"startup_s": statistics.median(times)}


def _redis_of(up: RunningUp) -> Any:
    """A client of the embedded Redis of ``up`` (found the way every CLI command finds it)."""
    from app.store.embedded import EmbeddedRedis
    from app.store.link import connect

    info = EmbeddedRedis(up.data_dir).running()
    if info is None:
        raise RuntimeError("the benchmark's cityops up has no running Redis")
    return connect(info.url)


class WallClient:
    """One wall display: a display token swapped for a session, then the 1 s status tick."""

    def __init__(self, port: int, token: str) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        self.cookies: dict[str, str] = {}
        self.seen: Any = None
        self._get(f"/wall?token={urllib.parse.quote(token)}")
        self._get("/wall")

    def _remember(self, response: http.client.HTTPResponse) -> None:
        for header, value in response.getheaders():
            if header.lower() == "set-cookie":
                name, _, rest = value.partition("=")
                self.cookies[name.strip()] = rest.split(";", 1)[0]

    def _cookie_header(self) -> str:
        return "; ".join(f"{k}={v}" for k, v in self.cookies.items())

    def _get(self, path: str) -> int:
        self.conn.request("GET", path, headers={"Cookie": self._cookie_header()})
        response = self.conn.getresponse()
        response.read()
        self._remember(response)
        return response.status

    def tick(self) -> tuple[float, int, int]:
        """One status poll: (seconds, HTTP status, response bytes)."""
        body = json.dumps(_tick_body(self.seen)).encode()
        headers = {"Content-Type": "application/json", "Cookie": self._cookie_header(),
                   "X-CSRFToken": self.cookies.get("_csrf_token", "")}
        started = time.perf_counter()
        self.conn.request("POST", "/_dash-update-component", body=body, headers=headers)
        response = self.conn.getresponse()
        data = response.read()
        elapsed = time.perf_counter() - started
        self._remember(response)
        if response.status == 200:
            self.seen = json.loads(data)["response"]["live-seen"]["data"]
        return elapsed, response.status, len(data)


def bench_clients(clients: int = 50, seconds: float = 15.0, workers: int = 2) -> dict[str, float]:
    """p95 latency of ``clients`` walls polling every second under the production server."""
    from app import accounts

    with running_up(workers=workers) as up:
        r = _redis_of(up)
        token = accounts.create_token(r, "bench-wall", "wall")
        walls = [WallClient(up.port, token) for _ in range(clients)]
        latencies: list[float] = []
        errors = 0
        lock = threading.Lock()
        stop_at = time.perf_counter() + seconds

        def poll(wall: WallClient, offset: float) -> None:
            nonlocal errors
            time.sleep(offset)  # spread the clients over the second, as real walls are
            while time.perf_counter() < stop_at:
                began = time.perf_counter()
                try:
                    elapsed, status, _ = wall.tick()
                    ok = status in (200, 204)
                except (OSError, http.client.HTTPException, ValueError):
                    elapsed, ok = time.perf_counter() - began, False
                with lock:
                    latencies.append(elapsed)
                    errors += 0 if ok else 1
                time.sleep(max(0.0, 1.0 - (time.perf_counter() - began)))

        threads = [threading.Thread(target=poll, args=(w, i / clients)) for i, w in enumerate(walls)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        memory = worker_memory_mb(up.process.pid)
        r.close()
    latencies.sort()
    p95 = latencies[int(0.95 * (len(latencies) - 1))] if latencies else float("nan")
    return {"clients": float(clients), "clients_p95_ms": p95 * 1000,
            "clients_requests": float(len(latencies)), "clients_errors": float(errors),
            "web_worker_rss_mb": memory}


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as handle:
            return [int(p) for p in handle.read().split()]
    except OSError:
        return []


def _rss_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def worker_memory_mb(up_pid: int) -> float:
    """Resident memory of the gunicorn web workers under ``up_pid`` (largest worker, MB)."""
    workers: list[int] = []
    for child in _children(up_pid):
        try:
            cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
        except OSError:
            continue
        if b"gunicorn" in cmdline:
            workers.extend(_children(child))
    return max((_rss_mb(pid) for pid in workers), default=0.0)
