"""The supervisor's watch on the embedded Redis: silence is a hang, a busy answer is not.

Each test runs its own embedded redis-server (it is stopped or kept busy on purpose).
"""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path
from typing import Iterator

import pytest
import redis

from app.ops.supervisor import HungRedisWatch, responds
from app.store.embedded import EmbeddedRedis

BUSY_SCRIPT = """
local start = redis.call('TIME')
while true do
  local now = redis.call('TIME')
  if (now[1] - start[1]) * 1000000 + (now[2] - start[2]) > tonumber(ARGV[1]) then return 1 end
end
"""


@pytest.fixture
def embedded(tmp_path: Path) -> Iterator[EmbeddedRedis]:
    """A private embedded Redis (stopped and resumed by the tests, so never the shared one)."""
    server = EmbeddedRedis(tmp_path / "data")
    assert server.try_own()
    server.start()
    try:
        yield server
    finally:
        if server.process is not None and server.process.poll() is None:
            os.kill(server.process.pid, signal.SIGCONT)
        server.stop()


def client_of(server: EmbeddedRedis, timeout_s: float = 1.0) -> redis.Redis:
    assert server.info is not None
    return redis.Redis(host=server.info.host, port=server.info.port, password=server.info.password,
                       socket_timeout=timeout_s, socket_connect_timeout=timeout_s)


def run_busy_script(server: EmbeddedRedis, micros: int) -> threading.Thread:
    """Keep the server inside one Lua script for ``micros`` microseconds (in a thread)."""
    client = client_of(server, timeout_s=30)
    thread = threading.Thread(target=lambda: client.eval(BUSY_SCRIPT, 0, micros), daemon=True)
    thread.start()
    return thread


def test_an_answering_redis_responds(embedded: EmbeddedRedis) -> None:
    assert responds(client_of(embedded)) is True


def test_a_stopped_redis_does_not(embedded: EmbeddedRedis) -> None:
    assert embedded.process is not None
    os.kill(embedded.process.pid, signal.SIGSTOP)
    assert responds(client_of(embedded, timeout_s=0.5)) is False


def test_a_busy_redis_responds_with_busy_and_counts_as_alive(embedded: EmbeddedRedis) -> None:
    """Inside a long script Redis answers BUSY to everyone: an answer, so no reason to kill it."""
    probe = client_of(embedded)
    probe.config_set("lua-time-limit", 100)
    busy = run_busy_script(embedded, 1_500_000)
    time.sleep(0.4)
    with pytest.raises(redis.ResponseError, match="BUSY"):
        probe.ping()
    assert responds(probe) is True
    busy.join(timeout=10)
    assert probe.ping() is True


def test_the_watch_kills_a_silent_redis_and_leaves_a_busy_one(embedded: EmbeddedRedis) -> None:
    """A server busy for longer than the limit keeps running; one that is silent that long is
    killed (the supervisor's loop then restarts it, see tests/system/test_faults_redis.py)."""
    stop = threading.Event()
    watch = HungRedisWatch(embedded, 2.0, stop.is_set)
    watch.start()
    try:
        client_of(embedded).config_set("lua-time-limit", 100)
        run_busy_script(embedded, 4_000_000).join(timeout=20)
        assert watch.kills == 0
        assert embedded.process is not None and embedded.process.poll() is None
        os.kill(embedded.process.pid, signal.SIGSTOP)
        stopped = time.monotonic()
        deadline = stopped + 15
        while embedded.process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        waited = time.monotonic() - stopped
        print(f"\nsilent Redis killed {waited:.2f} s after SIGSTOP (limit 2 s)")
        assert embedded.process.returncode == -signal.SIGKILL
        assert watch.kills == 1 and waited >= 2.0
    finally:
        stop.set()
        watch.join(timeout=10)
