"""Alerts: the lifecycle scripts, reads, screen settings, the rules' memory and inputs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import orjson
import redis

from app.model.domains import DOMAINS
from app.store.keys import Keys
from app.store.scripts import script

# -- alerts -------------------------------------------------------------------------------------------
# Every lifecycle step is one Lua script over the alert's keys (KEYS: alert hash, its timeline
# stream, the index, the open set, the meta hash, the change stream), so two people acting at
# once meet one winner, and the loser is answered from the same atomic read: who did it and when.
# The timeline entry, and the step in the change stream, are written in the same step as the
# change they record.
ALERT_LEASE_NAME = "alert-rules"





def _alert_keys(alert_id: str) -> list[str]:
    return [Keys.alert(alert_id), Keys.alert_timeline(alert_id), Keys.alerts_index,
            Keys.alerts_open, Keys.alerts_meta, Keys.alerts_changes]


def raise_alert(r: redis.Redis, alert_id: str, fingerprint: str, fields: Mapping[str, str], *,
                actor: str, addr: str, now: float) -> tuple[str, str]:
    """Create, repeat or reopen the alert ``alert_id`` atomically: (outcome, state)."""
    pairs = [item for key_value in fields.items() for item in key_value]
    if not pairs:
        raise ValueError("an alert needs at least one field")
    outcome = r.eval(script("alert_raise", "alert_prelude"), 6, *_alert_keys(alert_id), alert_id,
                     f"{now:.3f}", actor, addr,
                     fingerprint, *pairs)
    return str(outcome[0]), str(outcome[1])


def act(r: redis.Redis, alert_id: str, action: str, *, actor: str, addr: str, now: float,
              text: str = "", arg: str = "", expected: str = "") -> list[str]:
    """One lifecycle step on an alert, atomically (see _ALERT_ACT for the answers)."""
    return [str(v) for v in r.eval(script("alert_act", "alert_prelude"), 6, *_alert_keys(alert_id),
                                   alert_id, f"{now:.3f}",
                                   actor, addr, action, text, arg, expected)]


def read_alert(r: redis.Redis, alert_id: str) -> dict[str, str] | None:
    """The stored fields of one alert, or None."""
    return r.hgetall(Keys.alert(alert_id)) or None


def read_alerts(r: redis.Redis, alert_ids: Sequence[str]) -> list[dict[str, str]]:
    """The stored fields of several alerts (missing ones left out), in the order asked."""
    with r.pipeline(transaction=False) as pipe:
        for alert_id in alert_ids:
            pipe.hgetall(Keys.alert(alert_id))
        return [row for row in pipe.execute() if row]


def ids(r: redis.Redis, open_only: bool = False, limit: int = 200) -> list[str]:
    """Alert ids, most recently changed first: every alert, or only those not closed."""
    key = Keys.alerts_open if open_only else Keys.alerts_index
    return list(r.zrevrange(key, 0, max(limit, 1) - 1))


def read_timeline(r: redis.Redis, alert_id: str,
                        count: int | None = None) -> list[dict[str, str]]:
    """An alert's timeline, oldest first (all of it unless ``count`` limits it)."""
    return [dict(fields, id=entry_id)
            for entry_id, fields in r.xrange(Keys.alert_timeline(alert_id), count=count)]


def version(r: redis.Redis) -> int:
    """A number that changes whenever any alert (or the alert settings) changed."""
    return int(r.hget(Keys.alerts_meta, "version") or 0)


def read_settings(r: redis.Redis) -> dict[str, str]:
    """Settings of the alert screens (which severities sound)."""
    return r.hgetall(Keys.alert_settings)


def write_settings(r: redis.Redis, fields: Mapping[str, str]) -> None:
    """Change alert screen settings; screens see the change with the next version."""
    with r.pipeline(transaction=True) as pipe:
        pipe.hset(Keys.alert_settings, mapping=dict(fields))
        pipe.hincrby(Keys.alerts_meta, "version", 1)
        pipe.execute()


def read_rule_state(r: redis.Redis) -> dict[str, str]:
    """The rules' memory: rule|subject -> JSON (since when a condition holds, whether it fired)."""
    return r.hgetall(Keys.alert_rule_state)


def write_rule_state(r: redis.Redis, changes: Mapping[str, str | None]) -> None:
    """Set (a JSON text) or forget (None) entries of the rules' memory."""
    if not changes:
        return
    gone = [key for key, value in changes.items() if value is None]
    kept = {key: value for key, value in changes.items() if value is not None}
    with r.pipeline(transaction=True) as pipe:
        if gone:
            pipe.hdel(Keys.alert_rule_state, *gone)
        if kept:
            pipe.hset(Keys.alert_rule_state, mapping=kept)
        pipe.execute()


def acquire_rules_lease(r: redis.Redis, owner: str, ttl_ms: int) -> bool:
    """Hold the lease of rule evaluation, so that one runner across hosts evaluates the rules."""
    if r.set(Keys.alerts_lease, owner, nx=True, px=ttl_ms):
        return True
    return bool(r.eval(script("renew_lease"), 1, Keys.alerts_lease, owner, ttl_ms))


@dataclass(frozen=True)
class RuleInputs:
    """Everything one rule evaluation reads, fetched in one round trip."""

    kpis: dict[str, list[dict[str, Any]]]  # domain -> current KPIs
    events: dict[str, list[dict[str, Any]]]  # domain -> stored events
    feeds: dict[str, dict[str, str]]  # feed -> compact health (SUMMARY_FIELDS)
    latest: dict[tuple[str, str], dict[str, Any]]  # (domain, metric) -> entity id -> reading
    rule_state: dict[str, str]
    open_alerts: list[dict[str, str]]


def read_rule_inputs(r: redis.Redis, metrics: Sequence[tuple[str, str]] = ()) -> RuleInputs:
    """KPIs, events, feed health, the named metrics' readings, the rules' memory, open alerts."""
    with r.pipeline(transaction=False) as pipe:
        for domain in DOMAINS:
            pipe.hvals(Keys.kpis(domain))
        for domain in DOMAINS:
            pipe.hvals(Keys.events(domain))
        pipe.hgetall(Keys.feeds_summary)
        for domain, metric in metrics:
            pipe.hgetall(Keys.latest(domain, metric))
        pipe.hgetall(Keys.alert_rule_state)
        pipe.zrange(Keys.alerts_open, 0, -1)
        rows = pipe.execute()
    n = len(DOMAINS)
    kpis = {d: [orjson.loads(v) for v in rows[i]] for i, d in enumerate(DOMAINS)}
    events = {d: [orjson.loads(v) for v in rows[n + i]] for i, d in enumerate(DOMAINS)}
    feeds = {feed: orjson.loads(raw) for feed, raw in (rows[2 * n] or {}).items()}
    latest = {key: {entity: orjson.loads(v) for entity, v in rows[2 * n + 1 + i].items()}
              for i, key in enumerate(metrics)}
    return RuleInputs(kpis, events, feeds, latest, rows[-2] or {},
                      read_alerts(r, rows[-1]) if rows[-1] else [])
