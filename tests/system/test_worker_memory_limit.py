"""Web workers' memory: the allocator settings they run with, free pages trimmed, and a worker past
CITYOPS_WEB_WORKER_MAX_MB replaced gracefully (0 turns the check off).

Real `cityops up` (no demo), one gunicorn worker; the limit is set below any Python process's
size so the check must fire at its first look (every CHECK_EVERY requests).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from app.web.gunicorn_conf import CHECK_EVERY
from tests.support.paths import REPO
from tests.support.up import assert_nothing_left, child_pid, children_of, http, poll, start_up, stop, up_env

TRIM_SCRIPT = """
from app.web.gunicorn_conf import release_free_memory, resident_mb
objects = [b"x" * 100 + i.to_bytes(4, "little") for i in range(1_000_000)]
kept = objects[::1000]  # survivors scattered through the heap, as a worker's caches are
del objects
before = resident_mb()
release_free_memory()
print(before, resident_mb(), len(kept))
"""


def _environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(item.decode().partition("=")[::2] for item in raw if b"=" in item)


def test_free_memory_goes_back_to_the_system_when_trimmed() -> None:
    """Under the web workers' allocator, a million freed small objects with every thousandth kept
    stay resident until the trim the hook makes every CHECK_EVERY requests hands them back."""
    out = subprocess.run([sys.executable, "-c", TRIM_SCRIPT], capture_output=True, text=True,
                         check=True, timeout=120,
                         env={"PYTHONMALLOC": "malloc", "MALLOC_ARENA_MAX": "2",
                              "PATH": "/usr/bin:/bin"}, cwd=REPO).stdout
    before, after, kept = out.split()
    print(f"\nresident {float(before):.1f} MB before the trim, {float(after):.1f} MB after")
    assert int(kept) == 1000
    assert float(after) < float(before) - 50


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
        env = _environ(next(iter(before)))
        assert (env["PYTHONMALLOC"], env["MALLOC_ARENA_MAX"], env["MALLOC_MMAP_THRESHOLD_"],
                env["CITYOPS_WEB_WORKER_MAX_MB"]) == ("malloc", "2", "262144", str(limit_mb))
        runner_pid = child_pid(up, "_runner")
        assert runner_pid is not None
        runner_env = _environ(runner_pid)
        assert runner_env["MALLOC_ARENA_MAX"] == "2" and "PYTHONMALLOC" not in runner_env
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
