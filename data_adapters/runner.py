"""The adapter runner: the process that polls feeds and hands their batches to the store.

Until feeds are configured it only beats: a heartbeat record in Redis tells every screen whether
adapters are running. It survives Redis outages by retrying, and stops cleanly on SIGTERM/SIGINT.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
from types import FrameType

import redis

from app import store
from app.config import Settings
from app.redis_link import connect

log = logging.getLogger("cityops.runner")


class Runner:
    """Runs until :meth:`stop` is called, beating every ``settings.heartbeat_seconds``."""

    def __init__(self, settings: Settings, redis_url: str) -> None:
        self.settings = settings
        self.redis_url = redis_url
        self.stopping = threading.Event()
        self.started_at = time.time()

    def stop(self, *_: object) -> None:
        """Ask the loop to finish its current step and return."""
        self.stopping.set()

    def beat(self, r: redis.Redis) -> None:
        """Write one heartbeat; it expires after three missed beats."""
        interval = self.settings.heartbeat_seconds
        store.write_runner_heartbeat(r, {
            "pid": os.getpid(), "host": socket.gethostname(),
            "started_at": f"{self.started_at:.3f}", "beat_at": f"{time.time():.3f}",
        }, ttl_s=max(int(interval * 3) + 1, 2))

    def run(self) -> None:
        """The main loop."""
        r = connect(self.redis_url)
        link_ok = True
        while not self.stopping.is_set():
            try:
                self.beat(r)
                if not link_ok:
                    log.warning("Redis is back")
                link_ok = True
            except redis.RedisError as exc:
                if link_ok:
                    log.warning("Redis unreachable, retrying: %s", exc)
                link_ok = False
            self.stopping.wait(self.settings.heartbeat_seconds)
        r.close()


def main(settings: Settings, redis_url: str) -> int:
    """Entry point of the runner process started by `cityops up`."""
    runner = Runner(settings, redis_url)

    def handle(_signum: int, _frame: FrameType | None) -> None:
        runner.stop()

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)
    runner.run()
    return 0
