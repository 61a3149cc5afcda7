"""A real redis-server for the tests: the embedded binary on a free port, restartable."""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import redis

from app.store.embedded import redis_server_binary


@dataclass
class RedisServer:
    """A redis-server started for the tests."""

    url: str
    port: int
    dir: Path
    process: subprocess.Popen[bytes]

    def start(self) -> None:
        """(Re)start the server on the same port and directory."""
        self.process = spawn_redis(self.port, self.dir)

    def stop(self) -> None:
        """Stop the server (the data link is lost until start())."""
        self.process.terminate()
        self.process.wait(timeout=10)


def spawn_redis(port: int, directory: Path) -> subprocess.Popen[bytes]:
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
