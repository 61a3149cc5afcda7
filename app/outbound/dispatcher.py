"""The dispatcher process of `cityops up`: fans out what happened and runs the senders.

One dispatcher delivers at a time across hosts (a lease in Redis); another one waits and takes
over when the lease lapses. The fan-out runs in the main thread; each receiver, and the mail
server, has its own sending thread (app/outbound/workers.py), started and stopped as admins add
and remove receivers.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid

import redis

from app import store
from app.config import Settings
from app.model.outbound import Receiver
from app.outbound.fanout import FEED_CHECK_S, Fanout
from app.outbound.workers import MailWorker, ReceiverWorker
from app.store.link import connect

log = logging.getLogger("cityops.outbound")
LEASE_MS = 10_000
RENEW_S = 2.0
BLOCK_MS = 1_000


class Dispatcher:
    """Fan-out in the calling thread, senders in their own; until stop()."""

    def __init__(self, settings: Settings, redis_url: str, owner: str | None = None,
                 feed_check_s: float = FEED_CHECK_S) -> None:
        self.settings = settings
        self.redis_url = redis_url
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.stopping = threading.Event()
        self.ready = threading.Event()  # set after the first fan-out step as the leader
        self.leading = False
        self.fanout = Fanout(settings, feed_check_s)
        self.workers: dict[str, ReceiverWorker] = {}
        self.mail_worker: MailWorker | None = None
        self.receivers_version = -1
        self.receivers: list[Receiver] = []

    def stop(self) -> None:
        """Stop soon (from a signal handler or another thread)."""
        self.stopping.set()

    def may_send(self) -> bool:
        """Senders send only while this dispatcher holds the lease."""
        return self.leading and not self.stopping.is_set()

    def run(self) -> None:
        """The main loop, until stop(); a lost Redis is waited for, not fatal."""
        r = connect(self.redis_url)
        renew_at = 0.0
        try:
            while not self.stopping.is_set():
                try:
                    now = time.monotonic()
                    if now >= renew_at:
                        self.leading = store.outbound.hold_lease(r, self.owner, LEASE_MS)
                        renew_at = now + RENEW_S
                    self._sync_workers(r)
                    if not self.leading:
                        self.stopping.wait(RENEW_S)
                        continue
                    fanned = self.fanout.step(r, lambda: self._synced(r), block_ms=BLOCK_MS)
                    self.ready.set()
                    for rid in fanned.receivers:
                        if rid in self.workers:
                            self.workers[rid].wake.set()
                    if fanned.mails and self.mail_worker is not None:
                        self.mail_worker.wake.set()
                except redis.RedisError as exc:
                    self.leading = False
                    log.warning("dispatcher: Redis unavailable (%s); retrying", exc)
                    self.stopping.wait(1.0)
        finally:
            self._stop_workers()
            try:
                store.outbound.release_lease(r, self.owner)
            except redis.RedisError:
                pass
            r.close()

    def _synced(self, r: redis.Redis) -> list[Receiver]:
        """The receivers as they are now, their senders started (one HGET unless one changed)."""
        self._sync_workers(r)
        return self.receivers

    def _sync_workers(self, r: redis.Redis) -> None:
        """One sending thread per configured receiver (restarted when it changes), one for mail."""
        version = store.outbound.receivers_version(r)
        if version != self.receivers_version:
            self.receivers_version = version
            self.receivers = store.outbound.read_receivers(r)
            wanted = {rc.id: rc for rc in self.receivers if rc.enabled}
            for rid, worker in list(self.workers.items()):
                if rid not in wanted:  # (a changed one reads its new fields at each attempt)
                    worker.stop()
                    del self.workers[rid]
            for rid, receiver in wanted.items():
                if rid not in self.workers:
                    worker = ReceiverWorker(receiver, connect(self.redis_url), self.settings,
                                            self.may_send)
                    self.workers[rid] = worker
                    worker.start()
        if self.settings.mail.host and self.mail_worker is None:
            self.mail_worker = MailWorker(connect(self.redis_url), self.settings, self.may_send)
            self.mail_worker.start()

    def _stop_workers(self) -> None:
        threads = [*self.workers.values(), *([self.mail_worker] if self.mail_worker else [])]
        for worker in threads:
            worker.stop()
        for worker in threads:
            worker.join(timeout=self.settings.outbound.timeout_s + 5)
        self.workers.clear()
        self.mail_worker = None


def main(settings: Settings, redis_url: str) -> int:
    """Entry point of the dispatcher process started by `cityops up`: until SIGTERM or SIGINT."""
    import signal

    dispatcher = Dispatcher(settings, redis_url)
    signal.signal(signal.SIGTERM, lambda *_: dispatcher.stop())
    signal.signal(signal.SIGINT, lambda *_: dispatcher.stop())
    dispatcher.run()
    return 0
