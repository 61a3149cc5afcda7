"""The runner's incident jobs: auto-link new alerts, propose incidents from clusters, act on due steps.

app/ops/runner_process.py plugs each in as periodic work, like the alert ticker. One runner at a
time does them (the lease of the incident jobs); the SOP catalogue is re-read when its file
changes, and its status (where it came from, a refused edit's error) is kept for the screens.
A bug in a job is logged and never stops the feeds; a lost Redis link is the runner's to handle.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any, Callable

import orjson
import redis

from app import store
from app.incidents import actions, links, proposals, sop

log = logging.getLogger("cityops.incidents")
EVERY_S = 5.0
LEASE_MS = int(EVERY_S * 3 * 1000)
_status: dict[str, Any] = {}


def catalogue(r: redis.Redis, path: Path | None) -> sop.Catalogue:
    """The catalogue in force, its status written for the screens when it changes."""
    found, error = sop.current(path)
    status = {"source": found.source, "types": len(found.types), "error": error or ""}
    # Written when it changes, and again when Redis lost it (a flushed or replaced server).
    if _status != status or not store.incidents.read_meta(r).get("sop_status"):
        _status.clear()
        _status.update(status)
        store.incidents.write_meta(r, {"sop_status": orjson.dumps(
            dict(status, at=time.time())).decode()})
    return found


def _guarded(name: str, work: Callable[[], object]) -> object:
    try:
        return work()
    except redis.RedisError:
        raise
    except Exception:  # a bug in one job must not stop the feeds
        log.exception("incident job %s failed", name)
        return None


def link_alerts(r: redis.Redis, sop_file: Path | None, owner: str) -> object:
    """Link new alerts inside open incidents' areas (if this runner holds the lease)."""
    if not store.incidents.acquire_lease(r, owner, LEASE_MS):
        return None
    catalogue(r, sop_file)
    return _guarded("auto-link", lambda: links.auto_link(r))


def propose(r: redis.Redis, sop_file: Path | None, owner: str) -> object:
    """Propose incidents from clusters of alerts (if this runner holds the lease)."""
    if not store.incidents.acquire_lease(r, owner, LEASE_MS):
        return None
    found = catalogue(r, sop_file)
    return _guarded("proposals", lambda: proposals.propose(r, found))


def due_steps(r: redis.Redis, sop_file: Path | None, owner: str) -> object:
    """Do the due steps the system does itself and escalate overdue tasks (with the lease)."""
    if not store.incidents.acquire_lease(r, owner, LEASE_MS):
        return None
    catalogue(r, sop_file)
    return _guarded("due steps", lambda: actions.due_tasks(r, time.time()))
