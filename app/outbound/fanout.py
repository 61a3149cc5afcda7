"""From what happened to what must be sent: alert steps from the alerts' change stream, incident
and task changes (app/outbound/incident_events.py) and feed state changes become deliveries queued
per receiver, and e-mails queued for the mail server.

Queues live in Redis, so nothing is lost while a receiver, the mail server or the dispatcher
itself is down; a full queue counts what it could not keep. The cursor of the change stream is
written after the deliveries are queued: a dispatcher stopped in between queues them again on
its next start (each delivery carries the same id, so a receiver can drop the repeat).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

import orjson
import redis

from app import store
from app.alerts.queries import get_alert
from app.config import Settings
from app.live.feeds import read_health
from app.model.feeds import UNJUDGED_STATES
from app.model.outbound import Receiver
from app.outbound import events, mail, notices
from app.outbound.incident_events import IncidentFanout
from app.store.keys import Keys

FEED_CHECK_S = 5.0
BATCH = 500
# Feed states that are a feed "down" to the outside (stale: past its freshness budget).
FEED_DOWN = frozenset({"down", "stale"})


@dataclass
class Fanned:
    """What one step queued: the receivers that got something, and how many e-mails."""

    receivers: set[str] = field(default_factory=set)
    mails: int = 0
    changes: int = 0


class Fanout:
    """Reads what happened since the last step and queues what must be sent."""

    def __init__(self, settings: Settings, feed_check_s: float = FEED_CHECK_S) -> None:
        self.settings = settings
        self.feed_check_s = feed_check_s
        self.next_feed_check = 0.0
        self.incidents = IncidentFanout(settings)

    def step(self, r: redis.Redis, current: Callable[[], Sequence[Receiver]],
             block_ms: int | None = None, now: float | None = None) -> Fanned:
        """One pass: new alert steps (waiting up to ``block_ms`` for one), the incidents' new
        timeline entries and notices, then, every few seconds, the feeds' states.

        ``current`` gives the receivers as they are now; it is asked after the wait, so a receiver
        added while the pass waited gets what woke it."""
        fanned = Fanned()
        self._alert_changes(r, current, block_ms, fanned)
        receivers = current()
        now = time.time() if now is None else now
        fanned.mails += self.incidents.step(
            r, receivers, lambda r_, targets, delivery: self._queue(r_, targets, delivery, fanned),
            now)
        if now >= self.next_feed_check:
            self.next_feed_check = now + self.feed_check_s
            self._feed_changes(r, receivers, now, fanned)
        return fanned

    # -- alerts -----------------------------------------------------------------------------------
    def _alert_changes(self, r: redis.Redis, current: Callable[[], Sequence[Receiver]],
                       block_ms: int | None, fanned: Fanned) -> None:
        stream = Keys.alerts_changes
        cursor = store.outbound.read_cursor(r, stream)
        if cursor is None:
            # A first start announces what happens from now on, not the city's whole past.
            store.outbound.begin_announcing(r, time.time())
            return
        changes = store.outbound.read_changes(r, stream, cursor, count=BATCH, block_ms=block_ms)
        receivers = current() if changes else ()
        for entry_id, change in changes:
            self._alert_change(r, receivers, entry_id, change, fanned)
            fanned.changes += 1
        if changes:
            store.outbound.write_cursor(r, stream, changes[-1][0])

    def _alert_change(self, r: redis.Redis, receivers: Sequence[Receiver], entry_id: str,
                      change: dict[str, str], fanned: Fanned) -> None:
        event_type = events.ALERT_ACTION_EVENTS.get(change.get("action", ""))
        if event_type is None:
            return
        alert = get_alert(r, change.get("id", ""))
        if alert is None:
            return
        targets = [rc.id for rc in receivers
                   if rc.wants(event_type, alert["domain"], alert["severity"])]
        if targets:
            body = events.alertmanager_body(alert, event_type, change.get("state", ""),
                                            self.settings.outbound.public_url)
            delivery = {"id": entry_id, "type": event_type, "format": "alertmanager", "body": body}
            self._queue(r, targets, delivery, fanned)
        mail_settings = self.settings.mail
        if event_type == "alert.escalated" and mail_settings.host and mail_settings.escalations_to:
            notice = notices.escalation_notice(alert, mail_settings.language,
                                               self.settings.city.timezone,
                                               self.settings.outbound.public_url)
            queued = mail.compose(notice, mail_settings.escalations_to, mail_settings)
            if store.outbound.enqueue_mail(r, orjson.dumps(queued), mail_settings.queue_limit):
                fanned.mails += 1

    # -- feeds ------------------------------------------------------------------------------------
    def _feed_changes(self, r: redis.Redis, receivers: Sequence[Receiver], now: float,
                      fanned: Fanned) -> None:
        announced = store.outbound.read_feed_states(r)
        for health in read_health(r, now):
            if health.state in UNJUDGED_STATES:  # no data yet, or paused by an admin (issue 19)
                continue
            state = "down" if health.state in FEED_DOWN else "up"
            before = announced.get(health.feed)
            if before == state:
                continue
            store.outbound.write_feed_state(r, health.feed, state)
            if before is None and state == "up":
                continue  # a feed seen for the first time, working: nothing happened
            event_type = f"feed.{state}"
            targets = [rc.id for rc in receivers if rc.wants(event_type, health.domain)]
            if targets:
                delivery_id = f"feed-{health.feed}-{state}-{now:.0f}"
                body = events.event_body(event_type, delivery_id, now,
                                         events.feed_data(health, state))
                self._queue(r, targets, {"id": delivery_id, "type": event_type,
                                         "format": "cityops", "body": body}, fanned)

    def _queue(self, r: redis.Redis, targets: list[str], delivery: dict[str, object],
               fanned: Fanned) -> None:
        queued = store.outbound.enqueue(r, targets, orjson.dumps(delivery),
                                        self.settings.outbound.queue_limit)
        fanned.receivers.update(rid for rid, ok in zip(targets, queued, strict=True) if ok)
