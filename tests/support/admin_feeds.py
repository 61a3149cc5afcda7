"""Sample requests of /admin's feeds section (layouts/admin_feeds.py, issue 19) for the security
sweeps and the section's own tests: a confirmed pause of a running feed, a resume of a paused one,
each on a feed of its own so that every request writes when an admin sends it."""

from __future__ import annotations

import itertools
import json
import time
from typing import Any

import redis

from app import store
from app.model import roles
from layouts import ids

ADMIN_FEED_CALLBACKS: dict[str, frozenset[str]] = {
    "layouts.admin_feeds.pause": frozenset({roles.ADMIN}),
    "layouts.admin_feeds.resume": frozenset({roles.ADMIN}),
}

_made = itertools.count()


def reported_feed(r: redis.Redis, name: str, now: float | None = None, failures: int = 0,
                  **fields: Any) -> str:
    """A feed as a runner records it after a good poll (``fields`` change the record), then
    ``failures`` failed polls in a row."""
    now = time.time() if now is None else now
    store.feeds.write_health(r, name, {
        "domain": "city", "adapter": "test_csv", "interval_s": 1.0, "freshness_budget_s": 60.0,
        "first_attempt": f"{now - 120:.3f}", "last_attempt": f"{now - 1:.3f}",
        "last_success": f"{now - 1:.3f}", "accepted": 3, "rejected": 0, **fields})
    for _ in range(failures):
        store.feeds.write_health(r, name, {"last_attempt": f"{now:.3f}"}, incr_failures=True)
    return name


def pressed(spec: dict[str, Any], kind: str, feed: str, prop: str) -> tuple[dict[str, Any], str]:
    """(values, trigger) of pressing the ``kind`` button (pause or resume) of ``feed``'s row."""
    pattern = next(i for i in spec["inputs"] if i["id"].startswith("{"))
    match = {"id": {"type": kind, "feed": feed}, "property": prop, "value": 1}
    return ({f"{pattern['id']}.{prop}": [match]},
            json.dumps(match["id"], sort_keys=True, separators=(",", ":")) + f".{prop}")


def admin_feed_requests(r: redis.Redis, name: str,
                        spec: dict[str, Any]) -> list[tuple[dict[str, Any], str]]:
    """(values, trigger) for the callback ``name``: pausing a new running feed (confirmed), or
    resuming a new paused one."""
    feed = reported_feed(r, f"swept-feed-{next(_made)}")
    if name == "layouts.admin_feeds.pause":
        return [pressed(spec, ids.ADMIN_FEED_PAUSE, feed, "submit_n_clicks")]
    store.feeds.set_paused(r, feed, True, by="sweep", at=time.time())
    return [pressed(spec, ids.ADMIN_FEED_RESUME, feed, "n_clicks")]
