"""gunicorn hooks of `cityops up`'s web server: free memory trimmed, a worker past its limit replaced.

`cityops up` runs gunicorn with ``-c python:app.web.gunicorn_conf``. After every CHECK_EVERY requests a
worker reads its own resident memory; past ``CITYOPS_WEB_WORKER_MAX_MB`` it finishes the requests
it holds and exits, and the gunicorn master starts a fresh one while the other workers serve (as
uWSGI's reload-on-rss does). Whatever makes a long-running worker grow (a leak in a library,
allocator fragmentation), a wall display that runs for months then never meets an out-of-memory
kill. 0 turns the check off.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from typing import Any

LIMIT_ENV = "CITYOPS_WEB_WORKER_MAX_MB"
CHECK_EVERY = 200
_PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")


def _load_malloc_trim() -> Any:
    """glibc's malloc_trim, or None on a C library without it (musl)."""
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None


_malloc_trim = _load_malloc_trim()


def release_free_memory() -> None:
    """Hand the C allocator's free pages back to the system (glibc only; a few ms)."""
    if _malloc_trim is not None:
        _malloc_trim(0)


def resident_mb() -> float:
    """This process's resident memory in MB (from /proc/self/statm)."""
    with open("/proc/self/statm", encoding="ascii") as handle:
        return int(handle.read().split()[1]) * _PAGE_BYTES / (1024 * 1024)


def limit_mb() -> float:
    """The configured limit (0: none); a malformed value counts as none (settings check it first)."""
    try:
        return max(float(os.environ.get(LIMIT_ENV, "0")), 0.0)
    except ValueError:
        return 0.0


def post_request(worker: Any, _req: Any, _environ: Any, _resp: Any) -> None:
    """gunicorn hook: every CHECK_EVERY requests, retire the worker when it is over its limit."""
    count = getattr(worker, "cityops_requests", 0) + 1
    worker.cityops_requests = count
    if count % CHECK_EVERY:
        return
    # Freed memory between live blocks stays resident until trimmed (workers run with
    # PYTHONMALLOC=malloc, see app/supervisor.py).
    release_free_memory()
    limit = limit_mb()
    if not limit or not worker.alive:
        return
    rss = resident_mb()
    if rss > limit:
        worker.log.warning("worker %s uses %.0f MB (limit %.0f MB, %s): replacing it after its "
                           "current requests", worker.pid, rss, limit, LIMIT_ENV)
        worker.alive = False
