"""The private `cityops up` a soak runs: its settings, start until the demo flows, tree and stop."""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Mapping

import redis

from app import accounts
from app.config import ConfigError, declared, load_settings
from app.live.feeds import read_health
from app.model import roles
from app.soak import uplog
from app.soak.clients import SOAK_USER, HttpSession
from app.soak.errors import SoakError, quietly
from app.soak.procs import Proc, classify, kill_group, scan_tree
from app.store.embedded import free_port
from app.store.link import connect

# Settings field -> the variable that sets it for `up`; the defaults come from Settings itself.
# The demo city's sizes (every [demo] setting but its seed and how often its ordinary incidents
# come): knob -> (environment variable, default).
DEMO_KNOBS: dict[str, tuple[str, int]] = {
    "demo_" + d.key.removeprefix("demo."): (d.env, d.default) for d in declared()
    if d.key.startswith("demo.") and d.key not in ("demo.seed", "demo.trickle_minutes")}
START_TIMEOUT_S = 120.0
READY_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 60.0


def scaled_knobs(scale: float) -> dict[str, int]:
    """The demo knobs at ``scale`` x their defaults (at least 1 each)."""
    if not scale > 0:
        raise SoakError("--scale must be a positive number")
    return {name: max(1, round(default * scale)) for name, (_, default) in DEMO_KNOBS.items()}


class City:
    """A `cityops up` on a data directory and a free port of its own, with an operator signed in."""

    def __init__(self, workers: int, knobs: Mapping[str, int], extra_env: Mapping[str, str] | None,
                 log: Callable[[str], None]) -> None:
        self.workers = workers
        self.knobs = dict(knobs)
        self.extra_env = dict(extra_env or {})
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None
        self.data_dir = Path()
        self.port = 0
        self.r: redis.Redis | None = None
        self.probe: HttpSession | None = None  # the operator's session, for checks
        self.password = accounts.generate_password()
        self.probe_feed = ""  # the demo feed with the shortest freshness budget

    @property
    def log_path(self) -> Path:
        """Where `up` writes its output."""
        return self.data_dir / "up.log"

    # -- start ---------------------------------------------------------------------------------
    def start(self, data_dir: Path) -> float:
        """Start `cityops up` on ``data_dir`` and wait until it serves and the demo feeds flow;
        the seconds that took."""
        self.data_dir, self.port = data_dir, free_port()
        env = self._environment()
        started = time.monotonic()
        self._spawn(env)
        self._wait(lambda: self._status("/login") == 200, START_TIMEOUT_S, "serve /login")
        self._sign_in()
        self._wait(self._demo_flowing, READY_TIMEOUT_S, "store the first demo data")
        return time.monotonic() - started

    def _environment(self) -> dict[str, str]:
        """`up`'s environment: ours without CITYOPS_ settings, then the soak's; checked here, so
        that a bad knob is a clear message rather than a dead `up`."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("CITYOPS_")}
        env.update({"CITYOPS_DATA_DIR": str(self.data_dir), "CITYOPS_WEB_WORKERS": str(self.workers)})
        env.update({DEMO_KNOBS[k][0]: str(v) for k, v in self.knobs.items()})
        env.update(self.extra_env)
        try:
            load_settings(environ=env)
        except ConfigError as exc:
            raise SoakError(f"configuration: {exc}") from None
        return env

    def _spawn(self, env: Mapping[str, str]) -> None:
        log_file = open(self.log_path, "wb")  # the child writes it until stopped
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "app.ops.cli", "up", "--host", "127.0.0.1", "--port", str(self.port)],
                env=env, stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT,
                start_new_session=True)  # Ctrl-C reaches the soak only; it stops `up` in order
        finally:
            log_file.close()
        self.log(f"soak: cityops up (pid {self.process.pid}) on port {self.port}, data in {self.data_dir}")

    def _sign_in(self) -> None:
        """Connect to `up`'s Redis, add the soak's operator and sign it in."""
        self.r = connect(self._redis_url())
        accounts.add_user(self.r, SOAK_USER, roles.OPERATOR, self.password)
        self.probe = HttpSession(self.port)
        self.probe.login(SOAK_USER, self.password)

    def _redis_url(self) -> str:
        redis_dir = self.data_dir / "redis"
        state = json.loads((redis_dir / "server.json").read_text(encoding="utf-8"))
        password = (redis_dir / "password").read_text(encoding="utf-8").strip()
        return f"redis://:{password}@{state['host']}:{state['port']}/0"

    def _demo_flowing(self) -> bool:
        assert self.r is not None
        health = [h for h in read_health(self.r) if h.last_success]
        if not health:
            return False
        self.probe_feed = min(health, key=lambda h: h.freshness_budget_s).feed
        return True

    def _wait(self, check: Callable[[], object], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not quietly(check):
            if self.process is not None and self.process.poll() is not None:
                raise SoakError(f"cityops up exited with {self.process.returncode} before it could "
                                f"{what}: {' | '.join(uplog.tail(self.log_path, 5))}")
            if time.monotonic() > deadline:
                raise SoakError(f"cityops up did not {what} within {timeout:.0f} s")
            time.sleep(0.2)

    def _status(self, path: str) -> int:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
        try:
            conn.request("GET", path)
            return conn.getresponse().status
        finally:
            conn.close()

    # -- running -------------------------------------------------------------------------------
    def roles(self) -> tuple[dict[int, Proc], dict[str, list[int]]]:
        """The tree of `up` now, and its pids per role."""
        assert self.process is not None
        procs = scan_tree(self.process.pid)
        return procs, classify(self.process.pid, procs)

    # -- stop ----------------------------------------------------------------------------------
    def stop(self) -> None:
        """Close the Redis connection, SIGTERM `up` and wait for it (SIGKILL its process group
        when it does not stop in time), then kill whatever it left behind."""
        if self.r is not None:
            self.r.close()
        process = self.process
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.log("soak: cityops up did not stop in time; killing its process group")
                kill_group(process.pid)
                process.wait()
        kill_group(process.pid)  # whatever `up` left behind (it should be nothing)

    def log_summary(self) -> dict[str, Any]:
        """What `up` logged (see uplog.summary)."""
        return uplog.summary(self.log_path)
