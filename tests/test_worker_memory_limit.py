"""A web worker past CITYOPS_WEB_WORKER_MAX_MB is replaced gracefully; 0 turns the check off.

Real `cityops up` (no demo), one gunicorn worker; the limit is set below any Python process's
size so the check must fire at its first look (every CHECK_EVERY requests).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from app.gunicorn_conf import CHECK_EVERY
from tests.test_up import (assert_nothing_left, child_pid, children_of, http, poll, start_up, stop,
                           up_env)


def _worker_pids(up_pid: int) -> set[int]:
    master = next(pid for pid, cmd in children_of(up_pid).items() if "gunicorn" in cmd)
    return set(children_of(master))


@pytest.mark.parametrize(("limit_mb", "replaced"), [(1, True), (0, False)], ids=["1 MB", "no limit"])
def test_a_worker_over_its_memory_limit_is_replaced(tmp_path: Path, limit_mb: int,
                                                    replaced: bool) -> None:
    data_dir = tmp_path / "data"
    up = start_up(data_dir, env=up_env(data_dir, CITYOPS_WEB_WORKER_MAX_MB=str(limit_mb)))
    try:
        assert child_pid(up, "gunicorn") is not None
        before = _worker_pids(up.process.pid)
        assert len(before) == 1
        session = http()
        statuses = [session.get(f"{up.base}/healthz", timeout=10).status_code
                    for _ in range(CHECK_EVERY + 20)]
        # Every request answered: the old worker finished what it held, the new one took over.
        assert set(statuses) == {200}
        if replaced:
            after = poll(lambda: (pids := _worker_pids(up.process.pid)) and pids != before and pids,
                         30, "the worker over its limit was not replaced")
            assert len(after) == 1  # type: ignore[arg-type]
            poll(lambda: "replacing it after its current requests" in up.err.text()
                 + up.out.text(), 10, "no log line says why the worker was replaced")
            assert session.get(f"{up.base}/healthz", timeout=10).status_code == 200
        else:
            assert _worker_pids(up.process.pid) == before
            assert "replacing it" not in up.err.text() + up.out.text()
    finally:
        assert stop(up) == 0, up.output()
        assert_nothing_left(up)
