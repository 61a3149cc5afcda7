"""The threads that send: one per webhook receiver and one for the mail server, each working
through its own queue in Redis, oldest first. A receiver that hangs or fails holds up only its
own thread; the runner, the web workers and the other receivers never wait for it."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable

import orjson
import redis

from app import store
from app.config import Settings
from app.model.outbound import Receiver
from app.outbound import delivery as http_delivery
from app.outbound import mail

log = logging.getLogger("cityops.outbound")
IDLE_WAIT_S = 1.0


class _QueueWorker(threading.Thread):
    """Sends the head of one queue until it is empty, then waits to be woken (or a second)."""

    def __init__(self, name: str, r: redis.Redis, settings: Settings,
                 may_send: Callable[[], bool]) -> None:
        super().__init__(name=name, daemon=True)
        self.r = r
        self.settings = settings
        self.may_send = may_send  # False while this dispatcher does not hold the lease
        self.wake = threading.Event()
        self.stopping = threading.Event()
        self.failures = 0
        self.failing_since: float | None = None

    def stop(self) -> None:
        """Stop after the attempt under way (if any)."""
        self.stopping.set()
        self.wake.set()

    def run(self) -> None:
        try:
            while not self.stopping.is_set():
                try:
                    worked = self.may_send() and self.attempt()
                except redis.RedisError as exc:
                    log.warning("%s: Redis unavailable (%s); retrying", self.name, exc)
                    worked = False
                if not worked:
                    self.wake.wait(IDLE_WAIT_S)
                    self.wake.clear()
        finally:
            self.r.close()

    def attempt(self) -> bool:
        """Send the head of the queue once; False when there was nothing to send."""
        raise NotImplementedError

    def _record(self, ok: bool, done: bool, status: str, now: float,
                retry_after: float | None = None) -> dict[str, Any]:
        """The status fields after an attempt; waits the back-off after a failure."""
        fields: dict[str, Any] = {"last_status": status, "last_attempt_at": f"{now:.3f}"}
        if ok or done:
            self.failures, self.failing_since = 0, None
            fields.update(state="ok", failures=0, failing_since=None)
            if ok:
                fields["last_success_at"] = f"{now:.3f}"
            return fields
        self.failures += 1
        self.failing_since = self.failing_since or now
        down = now - self.failing_since >= self.settings.outbound.down_after_s
        fields.update(state="down" if down else "failing", failures=self.failures,
                      failing_since=f"{self.failing_since:.3f}")
        return fields

    def _pause(self, retry_after: float | None) -> None:
        """Wait before the next attempt (a stop cuts it short)."""
        wait = http_delivery.backoff_s(self.failures, self.settings.outbound.max_backoff_s,
                                       retry_after)
        self.stopping.wait(wait)


class ReceiverWorker(_QueueWorker):
    """Delivers one receiver's queue, in order, retrying the head until it is taken or refused."""

    def __init__(self, receiver: Receiver, r: redis.Redis, settings: Settings,
                 may_send: Callable[[], bool]) -> None:
        super().__init__(f"webhook-{receiver.id}", r, settings, may_send)
        self.receiver = receiver

    def attempt(self) -> bool:
        raw = store.outbound.queue_head(self.r, self.receiver.id)
        if raw is None:
            return False
        # The receiver as it is now: a new secret or address applies from the next attempt.
        receiver = store.outbound.read_receiver(self.r, self.receiver.id)
        if receiver is None or not receiver.enabled:
            return False
        queued = orjson.loads(raw)
        body = queued["body"]
        if queued.get("format") == "alertmanager":
            body = {**body, "receiver": receiver.name}
        data = orjson.dumps(body)
        outcome = http_delivery.post(receiver.url, data, receiver.secret, queued["type"],
                                     queued["id"], self.settings.outbound.timeout_s)
        now = time.time()
        fields = self._record(outcome.delivered, outcome.done, outcome.status, now)
        if outcome.done:
            store.outbound.queue_pop(self.r, self.receiver.id)
            if not outcome.delivered:
                log.warning("webhook %s refused delivery %s: %s", receiver.name, queued["id"],
                            outcome.status)
        store.outbound.write_status(self.r, self.receiver.id, fields, delivered=outcome.delivered,
                                    refused=outcome.done and not outcome.delivered)
        if not outcome.done:
            self._pause(outcome.retry_after)
        return True


class MailWorker(_QueueWorker):
    """Sends the queued e-mails, in order; a message the server refuses for good is set aside."""

    def __init__(self, r: redis.Redis, settings: Settings, may_send: Callable[[], bool]) -> None:
        super().__init__("mail", r, settings, may_send)

    def attempt(self) -> bool:
        raw = store.outbound.mail_head(self.r)
        if raw is None:
            return False
        queued = orjson.loads(raw)
        now = time.time()
        try:
            mail.send(queued, self.settings.mail)
        except mail.MailError as exc:
            fields = self._record(False, exc.permanent, str(exc), now)
            if exc.permanent:
                log.warning("e-mail %s not sent: %s", queued.get("id"), exc)
                store.outbound.mail_pop(self.r)
            store.outbound.write_mail_status(self.r, fields)
            if not exc.permanent:
                self._pause(None)
            return True
        store.outbound.mail_pop(self.r)
        store.outbound.write_mail_status(self.r, self._record(True, True, "250", now),
                                         delivered=True)
        return True
