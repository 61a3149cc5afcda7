"""Webhook receivers as an admin manages them: add, change, remove, a new secret, a test
delivery, and the list with how deliveries go. Every change is audited (without the secret)."""

from __future__ import annotations

import secrets
import time
import uuid
from typing import Any, Mapping

import orjson
import redis

from app import audit, store
from app.config import Settings
from app.model.outbound import EVENT_TYPES, Receiver, ReceiverError, receiver_fields
from app.outbound import events

MAX_RECEIVERS = 50
REQUIRED = ("name", "url", "events")


class ReceiverNotFound(LookupError):
    """No receiver has that id."""


def new_secret() -> str:
    """A receiver's signing secret: 256 random bits, shown to the admin once."""
    return secrets.token_hex(32)


def add(r: redis.Redis, data: Mapping[str, Any], *, actor: str, addr: str = "") -> Receiver:
    """A new receiver from an admin's fields (name, url, events; domains, severities, enabled);
    raises ReceiverError naming the field. The answer holds the secret: the only time it is
    shown."""
    fields = receiver_fields(data)
    missing = [name for name in REQUIRED if name not in fields]
    if missing:
        raise ReceiverError(f"{', '.join(missing)}: required")
    if len(store.outbound.read_receivers(r)) >= MAX_RECEIVERS:
        raise ReceiverError(f"at most {MAX_RECEIVERS} receivers: remove one first")
    receiver = Receiver(id=f"wh-{uuid.uuid4().hex[:12]}", secret=new_secret(),
                        created_at=round(time.time(), 3), created_by=actor, **fields)
    store.outbound.save_receiver(r, receiver)
    # What happens from now on is the new receiver's, even before the dispatcher's first pass.
    store.outbound.begin_announcing(r, receiver.created_at)
    audit.record(r, actor, "webhook_add", target=receiver.id, addr=addr,
                 detail=_described(receiver))
    return receiver


def change(r: redis.Redis, receiver_id: str, data: Mapping[str, Any], *, actor: str,
           addr: str = "") -> Receiver:
    """Change some fields of a receiver (its queue is kept)."""
    receiver = get(r, receiver_id)
    fields = receiver_fields(data)
    updated = Receiver(**{**receiver.__dict__, **fields})
    store.outbound.save_receiver(r, updated)
    audit.record(r, actor, "webhook_change", target=receiver_id, addr=addr,
                 detail=_described(updated))
    return updated


def rotate_secret(r: redis.Redis, receiver_id: str, *, actor: str, addr: str = "") -> Receiver:
    """A new secret for a receiver (the old one stops signing at once)."""
    receiver = get(r, receiver_id)
    updated = Receiver(**{**receiver.__dict__, "secret": new_secret()})
    store.outbound.save_receiver(r, updated)
    audit.record(r, actor, "webhook_secret", target=receiver_id, addr=addr)
    return updated


def remove(r: redis.Redis, receiver_id: str, *, actor: str, addr: str = "") -> None:
    """Remove a receiver with what was queued for it."""
    if not store.outbound.delete_receiver(r, receiver_id):
        raise ReceiverNotFound(receiver_id)
    audit.record(r, actor, "webhook_remove", target=receiver_id, addr=addr)


def get(r: redis.Redis, receiver_id: str) -> Receiver:
    """One receiver; raises ReceiverNotFound."""
    receiver = store.outbound.read_receiver(r, receiver_id)
    if receiver is None:
        raise ReceiverNotFound(receiver_id)
    return receiver


def listing(r: redis.Redis) -> list[dict[str, Any]]:
    """Every receiver (without its secret) with its delivery state, by name."""
    receivers = store.outbound.read_receivers(r)
    status = store.outbound.read_status(r, [rc.id for rc in receivers])
    return [{**rc.as_json(), "status": status[rc.id]} for rc in receivers]


def send_test(r: redis.Redis, receiver_id: str, settings: Settings, *, actor: str,
              addr: str = "") -> str:
    """Queue a "test" event for one receiver (delivered like any other); returns its id."""
    receiver = get(r, receiver_id)
    delivery_id = f"test-{uuid.uuid4().hex[:12]}"
    body = events.event_body("test", delivery_id, time.time(),
                             {"receiver": receiver.name, "events": list(receiver.events)})
    queued = store.outbound.enqueue(r, [receiver.id], orjson.dumps(
        {"id": delivery_id, "type": "test", "format": "cityops", "body": body}),
        settings.outbound.queue_limit)
    if not queued[0]:
        raise ReceiverError("the receiver's queue is full: it has not taken deliveries for a while")
    audit.record(r, actor, "webhook_test", target=receiver_id, addr=addr)
    return delivery_id


def _described(receiver: Receiver) -> str:
    """An audit line's detail: what the receiver gets and where (never the secret)."""
    events_text = ",".join(e for e in EVENT_TYPES if e in receiver.events)
    return (f"{receiver.name} -> {receiver.url} [{events_text}]"
            f"{' domains=' + ','.join(receiver.domains) if receiver.domains else ''}"
            f"{' severities=' + ','.join(receiver.severities) if receiver.severities else ''}"
            f"{'' if receiver.enabled else ' disabled'}")[:500]


def mail_state(r: redis.Redis) -> dict[str, Any]:
    """How sending e-mail goes: state, last answer, queued and delivered (for /admin)."""
    return store.outbound.mail_status(r)
