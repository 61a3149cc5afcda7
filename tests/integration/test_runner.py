"""The adapter runner's heartbeat on a real Redis, and its survival of a lost link."""

from __future__ import annotations

import threading
import time

import redis

from app import store
from app.config import load_settings
from app.ops.runner_process import build_runner
from app.pipeline.runner import Runner
from tests.support.redis_server import RedisServer
from tests.support.waiting import wait_for


def _start_runner(url: str, data_dir) -> tuple[Runner, threading.Thread]:  # type: ignore[no-untyped-def]
    """A runner beating every 0.2 s in a background thread."""
    settings = load_settings(environ={"CITYOPS_DATA_DIR": str(data_dir),
                                      "CITYOPS_HEARTBEAT_SECONDS": "0.2"})
    runner = build_runner(settings, url)
    thread = threading.Thread(target=runner.run, daemon=True)
    thread.start()
    return runner, thread


def test_runner_beats_until_stopped(r: redis.Redis, redis_server: RedisServer, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The heartbeat appears while the runner runs and it stops when asked."""
    runner, thread = _start_runner(redis_server.url, tmp_path)
    try:
        assert wait_for(lambda: store.status.read_runner_heartbeat(r) is not None)
        first = float(store.status.read_runner_heartbeat(r)["beat_at"])  # type: ignore[index]
        assert wait_for(lambda: float(store.status.read_runner_heartbeat(r)["beat_at"]) > first)  # type: ignore[index]
    finally:
        runner.stop()
        thread.join(timeout=5)
    assert not thread.is_alive()


def test_runner_survives_a_redis_outage(r: redis.Redis, redis_server: RedisServer, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """With Redis gone the runner keeps trying, and beats again when it is back."""
    runner, thread = _start_runner(redis_server.url, tmp_path)
    try:
        assert wait_for(lambda: store.status.read_runner_heartbeat(r) is not None)
        redis_server.stop()
        time.sleep(0.6)
        assert thread.is_alive()
    finally:
        if redis_server.process.poll() is not None:
            redis_server.start()
    try:
        fresh = redis.Redis.from_url(redis_server.url, decode_responses=True)
        assert wait_for(lambda: store.status.read_runner_heartbeat(fresh) is not None)
    finally:
        runner.stop()
        thread.join(timeout=5)
