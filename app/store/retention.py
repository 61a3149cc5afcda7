"""Removing records past their retention: closed alerts and incidents with everything that hangs
off them, old shift log entries and handover sheets, old dead letters. Each step stays within one
subject's hash tag; a pass removes at most ``limit`` records of a kind (the next pass goes on)."""

from __future__ import annotations

from typing import Sequence

import redis

from app.store.keys import Keys
from app.store.scripts import script


def _closed_before(r: redis.Redis, index: str, open_set: str, cutoff: float,
                   limit: int) -> list[str]:
    """Ids in ``index`` (id -> time of the last change) changed before ``cutoff`` and not open."""
    old = r.zrangebyscore(index, "-inf", f"({cutoff}", start=0, num=limit * 4)
    if not old:
        return []
    with r.pipeline(transaction=False) as pipe:
        for item in old:
            pipe.zscore(open_set, item)
        still_open = pipe.execute()
    return [item for item, score in zip(old, still_open, strict=True) if score is None][:limit]


def closed_alerts_before(r: redis.Redis, cutoff: float, limit: int = 500) -> list[str]:
    """Closed alerts whose last change was before ``cutoff``."""
    return _closed_before(r, Keys.alerts_index, Keys.alerts_open, cutoff, limit)


def delete_alerts(r: redis.Redis, alert_ids: Sequence[str]) -> int:
    """Remove alerts with their timelines and issued CAP messages (one transaction)."""
    if not alert_ids:
        return 0
    with r.pipeline(transaction=True) as pipe:
        for alert_id in alert_ids:
            pipe.delete(Keys.alert(alert_id), Keys.alert_timeline(alert_id),
                        Keys.alert_cap(alert_id))
        pipe.zrem(Keys.alerts_index, *alert_ids)
        pipe.hincrby(Keys.alerts_meta, "version", 1)
        pipe.execute()
    return len(alert_ids)


def closed_incidents_before(r: redis.Redis, cutoff: float, limit: int = 200) -> list[str]:
    """Closed incidents whose last change was before ``cutoff``."""
    return _closed_before(r, Keys.incidents_index, Keys.incidents_open, cutoff, limit)


def delete_incidents(r: redis.Redis, incident_ids: Sequence[str]) -> int:
    """Remove incidents with their tasks, timelines and alert links (one transaction)."""
    if not incident_ids:
        return 0
    with r.pipeline(transaction=False) as pipe:
        for incident_id in incident_ids:
            pipe.zrange(Keys.incident_tasks(incident_id), 0, -1)
        tasks = pipe.execute()
    with r.pipeline(transaction=True) as pipe:
        for incident_id, task_ids in zip(incident_ids, tasks, strict=True):
            pipe.delete(Keys.incident(incident_id), Keys.incident_timeline(incident_id),
                        Keys.incident_tasks(incident_id), Keys.incident_alerts(incident_id),
                        *(Keys.task(t) for t in task_ids))
        pipe.zrem(Keys.incidents_index, *incident_ids)
        pipe.hincrby(Keys.incidents_meta, "version", 1)
        pipe.execute()
    return len(incident_ids)


def settled_proposals_before(r: redis.Redis, cutoff: float, limit: int = 500) -> list[str]:
    """Proposals accepted or dismissed before ``cutoff`` (pending ones stay)."""
    return _closed_before(r, Keys.incident_proposals_index, Keys.incident_proposals, cutoff, limit)


def delete_proposals(r: redis.Redis, proposal_ids: Sequence[str]) -> int:
    """Remove settled proposals."""
    if not proposal_ids:
        return 0
    with r.pipeline(transaction=True) as pipe:
        pipe.delete(*(Keys.proposal(p) for p in proposal_ids))
        pipe.zrem(Keys.incident_proposals_index, *proposal_ids)
        pipe.execute()
    return len(proposal_ids)


def trim_stream_before(r: redis.Redis, stream: str, cutoff: float) -> int:
    """Remove a stream's entries appended before ``cutoff``; returns how many went."""
    return int(r.xtrim(stream, minid=f"{int(cutoff * 1000)}-0", approximate=False))


def trim_shifts_before(r: redis.Redis, cutoff: float) -> int:
    """Remove shift log entries and handover sheets from before ``cutoff``."""
    removed = trim_stream_before(r, Keys.shifts_log, cutoff)
    old = r.zrangebyscore(Keys.shifts_handovers, "-inf", f"({cutoff}")
    if old:
        with r.pipeline(transaction=True) as pipe:
            pipe.delete(*(Keys.shift_handover(h) for h in old))
            pipe.zrem(Keys.shifts_handovers, *old)
            pipe.execute()
    return removed + len(old)


def trim_dead_letters_before(r: redis.Redis, cutoff: float) -> int:
    """Remove every feed's dead letters from before ``cutoff``."""
    return sum(trim_stream_before(r, Keys.dead_letters(feed), cutoff)
               for feed in r.smembers(Keys.feeds_index))


def trim_notices_before(r: redis.Redis, departments: Sequence[str], cutoff: float) -> int:
    """Remove the departments' notices from before ``cutoff``."""
    return sum(trim_stream_before(r, Keys.department_notices(d), cutoff) for d in departments)


def hold_lease(r: redis.Redis, owner: str, ttl_ms: int) -> bool:
    """Take or renew the lease of the retention pass: one runner across hosts does it."""
    if r.set(Keys.retention_lease, owner, nx=True, px=ttl_ms):
        return True
    return bool(r.eval(script("renew_lease"), 1, Keys.retention_lease, owner, ttl_ms))
