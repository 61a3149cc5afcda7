"""What leaves the system: webhook receivers, their queues and delivery state, the mail queue,
the change streams the dispatcher tails, and its lease."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import orjson
import redis

from app.model.outbound import Receiver
from app.store.keys import Keys
from app.store.scripts import script

STATUS_FLOATS = ("last_attempt_at", "last_success_at", "failing_since")
STATUS_INTS = ("failures", "delivered", "dropped", "refused")


# -- receivers --------------------------------------------------------------------------------------
def save_receiver(r: redis.Redis, receiver: Receiver) -> None:
    """Add or replace a receiver (the dispatcher sees the change within a second or two)."""
    with r.pipeline(transaction=True) as pipe:
        pipe.hset(Keys.outbound_receivers, receiver.id, orjson.dumps(receiver.as_json(with_secret=True)))
        pipe.hincrby(Keys.outbound_meta, "version", 1)
        pipe.execute()


def delete_receiver(r: redis.Redis, receiver_id: str) -> bool:
    """Remove a receiver with its queue and state; False when there was none."""
    with r.pipeline(transaction=True) as pipe:
        pipe.hdel(Keys.outbound_receivers, receiver_id)
        pipe.delete(Keys.outbound_queue(receiver_id), Keys.outbound_status(receiver_id))
        pipe.hincrby(Keys.outbound_meta, "version", 1)
        return bool(pipe.execute()[0])


def read_receivers(r: redis.Redis) -> list[Receiver]:
    """Every receiver, by name."""
    found = [Receiver.from_json(orjson.loads(raw)) for raw in r.hvals(Keys.outbound_receivers)]
    return sorted(found, key=lambda rc: (rc.name.lower(), rc.id))


def read_receiver(r: redis.Redis, receiver_id: str) -> Receiver | None:
    """One receiver, or None."""
    raw = r.hget(Keys.outbound_receivers, receiver_id)
    return Receiver.from_json(orjson.loads(raw)) if raw else None


def receivers_version(r: redis.Redis) -> int:
    """Bumped by every change to the receivers."""
    return int(r.hget(Keys.outbound_meta, "version") or 0)


# -- queues and delivery state ----------------------------------------------------------------------
def enqueue(r: redis.Redis, receiver_ids: Sequence[str], delivery: bytes, limit: int) -> list[bool]:
    """Queue ``delivery`` for each receiver whose queue has room (else counted as dropped)."""
    if not receiver_ids:
        return []
    keys = [k for rid in receiver_ids for k in (Keys.outbound_queue(rid), Keys.outbound_status(rid))]
    return [bool(v) for v in r.eval(script("outbound_enqueue"), len(keys), *keys, limit, delivery)]


def queue_head(r: redis.Redis, receiver_id: str) -> bytes | str | None:
    """The oldest delivery waiting for a receiver, left in its queue."""
    return r.lindex(Keys.outbound_queue(receiver_id), 0)  # type: ignore[return-value]


def queue_pop(r: redis.Redis, receiver_id: str) -> None:
    """Take the oldest delivery off a receiver's queue (it was delivered)."""
    r.lpop(Keys.outbound_queue(receiver_id))


def queue_length(r: redis.Redis, receiver_id: str) -> int:
    """How many deliveries wait for a receiver."""
    return int(r.llen(Keys.outbound_queue(receiver_id)))


def write_status(r: redis.Redis, receiver_id: str, fields: Mapping[str, Any],
                 delivered: bool = False, refused: bool = False) -> None:
    """Record how a delivery went (None clears a field); ``delivered`` and ``refused`` count one
    more of those."""
    key = Keys.outbound_status(receiver_id)
    with r.pipeline(transaction=True) as pipe:
        clear = [k for k, v in fields.items() if v is None]
        values = {k: str(v) for k, v in fields.items() if v is not None}
        if values:
            pipe.hset(key, mapping=values)
        if clear:
            pipe.hdel(key, *clear)
        if delivered:
            pipe.hincrby(key, "delivered", 1)
        if refused:
            pipe.hincrby(key, "refused", 1)
        pipe.execute()


def read_status(r: redis.Redis, receiver_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Each receiver's delivery state with its queue length (numbers parsed)."""
    with r.pipeline(transaction=False) as pipe:
        for rid in receiver_ids:
            pipe.hgetall(Keys.outbound_status(rid))
            pipe.llen(Keys.outbound_queue(rid))
        raw = pipe.execute()
    out = {}
    for i, rid in enumerate(receiver_ids):
        status: dict[str, Any] = dict(raw[2 * i])
        for name in STATUS_FLOATS:
            status[name] = float(status[name]) if status.get(name) else None
        for name in STATUS_INTS:
            status[name] = int(status.get(name) or 0)
        status["queued"] = int(raw[2 * i + 1])
        status.setdefault("state", "new")
        status.setdefault("last_status", "")
        out[rid] = status
    return out


# -- e-mail -----------------------------------------------------------------------------------------
def enqueue_mail(r: redis.Redis, message: bytes, limit: int) -> bool:
    """Queue one e-mail (JSON) if the mail queue has room; else it is counted as dropped."""
    return bool(r.eval(script("outbound_enqueue"), 2, Keys.outbound_mail, Keys.outbound_mail_status,
                       limit, message)[0])


def mail_head(r: redis.Redis) -> bytes | str | None:
    """The oldest e-mail waiting, left in the queue."""
    return r.lindex(Keys.outbound_mail, 0)  # type: ignore[return-value]


def mail_pop(r: redis.Redis) -> None:
    """Take the oldest e-mail off the queue (it was sent, or can never be)."""
    r.lpop(Keys.outbound_mail)


def mail_status(r: redis.Redis) -> dict[str, Any]:
    """The mail server's delivery state, like a receiver's."""
    status: dict[str, Any] = dict(r.hgetall(Keys.outbound_mail_status))
    for name in STATUS_FLOATS:
        status[name] = float(status[name]) if status.get(name) else None
    for name in STATUS_INTS:
        status[name] = int(status.get(name) or 0)
    status["queued"] = int(r.llen(Keys.outbound_mail))
    status.setdefault("state", "new")
    return status


def write_mail_status(r: redis.Redis, fields: Mapping[str, Any], delivered: bool = False) -> None:
    """Record how sending went, like write_status for a receiver."""
    with r.pipeline(transaction=True) as pipe:
        values = {k: str(v) for k, v in fields.items() if v is not None}
        clear = [k for k, v in fields.items() if v is None]
        if values:
            pipe.hset(Keys.outbound_mail_status, mapping=values)
        if clear:
            pipe.hdel(Keys.outbound_mail_status, *clear)
        if delivered:
            pipe.hincrby(Keys.outbound_mail_status, "delivered", 1)
        pipe.execute()


# -- what the dispatcher reads ----------------------------------------------------------------------
def read_changes(r: redis.Redis, stream: str, after: str, count: int = 500,
                 block_ms: int | None = None) -> list[tuple[str, dict[str, str]]]:
    """Entries of a change stream after ``after`` (a stream id; "0" for all), oldest first."""
    answer = r.xread({stream: after}, count=count, block=block_ms)
    if not answer:
        return []
    return [(entry_id, fields) for entry_id, fields in answer[0][1]]


def last_change_id(r: redis.Redis, stream: str) -> str:
    """The id of a stream's newest entry ("0-0" when empty)."""
    newest = r.xrevrange(stream, count=1)
    return newest[0][0] if newest else "0-0"


def read_cursor(r: redis.Redis, stream: str) -> str | None:
    """The last entry of ``stream`` the dispatcher fanned out, or None (never started)."""
    return r.hget(Keys.outbound_cursors, stream)


def write_cursor(r: redis.Redis, stream: str, entry_id: str) -> None:
    """Remember the last entry fanned out."""
    r.hset(Keys.outbound_cursors, stream, entry_id)


# The cursors' fields for incidents: time of the last incident change read, and when announcing
# began (an incident seen first starts its timeline there).
INCIDENTS_CURSOR = "incidents"
INCIDENTS_START = "incidents:start"


def begin_announcing(r: redis.Redis, now: float) -> None:
    """Start the cursors at ``now`` where none is set yet: what happens from here on is sent.

    Called when a receiver is added as well as by the dispatcher's first pass, so an alert raised
    right after `webhooks add` is announced even if the dispatcher had not stepped yet."""
    last_alert = last_change_id(r, Keys.alerts_changes)
    with r.pipeline(transaction=True) as pipe:
        pipe.hsetnx(Keys.outbound_cursors, Keys.alerts_changes, last_alert)
        pipe.hsetnx(Keys.outbound_cursors, INCIDENTS_START, f"{int(now * 1000)}-0")
        pipe.hsetnx(Keys.outbound_cursors, INCIDENTS_CURSOR, f"{now:.3f}")
        pipe.execute()


def read_feed_states(r: redis.Redis) -> dict[str, str]:
    """feed -> "up"/"down", as last announced to receivers."""
    return dict(r.hgetall(Keys.outbound_feeds))


def write_feed_state(r: redis.Redis, feed: str, state: str) -> None:
    """Remember what was announced about a feed."""
    r.hset(Keys.outbound_feeds, feed, state)


def hold_lease(r: redis.Redis, owner: str, ttl_ms: int) -> bool:
    """Take or renew the dispatcher's lease: one dispatcher delivers, across hosts."""
    if r.set(Keys.outbound_lease, owner, nx=True, px=ttl_ms):
        return True
    return bool(r.eval(script("renew_lease"), 1, Keys.outbound_lease, owner, ttl_ms))


def release_lease(r: redis.Redis, owner: str) -> None:
    """Give the lease up (a stopping dispatcher), so another need not wait for it to expire."""
    r.eval(script("release_lease"), 1, Keys.outbound_lease, owner)


# -- incidents, as the dispatcher reads them ---------------------------------------------------------
# The incident scripts write each step to the incident's timeline and move the incident in the
# index (id -> time of its last change): the dispatcher reads the incidents changed since its last
# pass, and each one's timeline after the last entry it announced.
def incidents_changed_since(r: redis.Redis, since: float) -> list[tuple[str, float]]:
    """(incident id, time of its last change) of every incident changed at or after ``since``."""
    return [(i, float(score)) for i, score in r.zrangebyscore(Keys.incidents_index, since, "+inf",
                                                              withscores=True)]


def timeline_after(r: redis.Redis, incident_id: str, after: str,
                   count: int = 500) -> list[tuple[str, dict[str, str]]]:
    """An incident's timeline entries after the entry id ``after``, oldest first."""
    return list(r.xrange(Keys.incident_timeline(incident_id), f"({after}", "+", count=count))


def read_incident_seen(r: redis.Redis, incident_ids: Sequence[str]) -> list[str | None]:
    """The last timeline entry announced of each incident (None: none yet)."""
    return list(r.hmget(Keys.outbound_incidents_seen, list(incident_ids))) if incident_ids else []


def write_incident_seen(r: redis.Redis, incident_id: str, entry_id: str) -> None:
    """Remember the last timeline entry of an incident that was announced."""
    r.hset(Keys.outbound_incidents_seen, incident_id, entry_id)


def forget_incidents_seen(r: redis.Redis, before: float) -> int:
    """Drop what is remembered of incidents not changed since ``before`` (they are done)."""
    seen = r.hkeys(Keys.outbound_incidents_seen)
    if not seen:
        return 0
    with r.pipeline(transaction=False) as pipe:
        for incident_id in seen:
            pipe.zscore(Keys.incidents_index, incident_id)
        scores = pipe.execute()
    old = [i for i, score in zip(seen, scores, strict=True) if score is None or score < before]
    if old:
        r.hdel(Keys.outbound_incidents_seen, *old)
    return len(old)


def notices_after(r: redis.Redis, department: str, after: str,
                  count: int = 100) -> list[tuple[str, dict[str, str]]]:
    """A department's notices (the SOP's "notify" steps) after the entry id ``after``."""
    return list(r.xrange(Keys.department_notices(department), f"({after}", "+", count=count))


def last_notice_id(r: redis.Redis, department: str) -> str:
    """The id of a department's newest notice ("0-0" when none)."""
    return last_change_id(r, Keys.department_notices(department))
