"""From a raw payload to the store: parse, write the batch atomically, keep what was rejected.

Shared by the runner (every poll) and `cityops ingest` (a recorded payload), so both follow the
same rules: an unusable payload raises ParseError and leaves the store unchanged (its excerpt
goes to the feed's dead-letter stream); valid records are stored even when others were rejected.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import redis

from app import store
from app.config import HistorySettings
from app.model.records import Entity, Event, FeedHeader, Observation, RawPayload, Rejected, Removed
from data_adapters.base import Adapter, ParseError, gc_paused

MAX_REPORTED_ERRORS = 20
# The kind a FeedHeader names when the payload lists a feed's events (alerts) in full.
EVENT_KIND = "service_alert"
# The installation's defaults, for callers that have no settings at hand (tests, benchmarks).
DEFAULT_HISTORY = HistorySettings()


@dataclass
class IngestResult:
    """What one payload gave: counts, the first reasons for rejection, and the feed's own time."""

    accepted: int = 0
    rejected: int = 0
    older: int = 0
    retired: int = 0
    expired: int = 0  # records already past the feed's retention limit, not stored
    errors: list[str] = field(default_factory=list)
    feed_timestamp: float | None = None

    def as_json(self) -> dict[str, object]:
        """The one-line summary `cityops ingest` prints."""
        return {"accepted": self.accepted, "rejected": self.rejected, "older": self.older,
                "retired": self.retired, "expired": self.expired, "errors": self.errors}


def ingest(r: redis.Redis, adapter: Adapter, raw: RawPayload,
           dead_letter_unusable: bool = True,
           history: HistorySettings | None = DEFAULT_HISTORY) -> IngestResult:
    """Parse ``raw`` with ``adapter`` and store the result; raises ParseError if nothing is usable.

    ``dead_letter_unusable=False`` (a person ingesting a file sees the reason at once) leaves
    Redis entirely untouched by an unusable payload. ``history`` says how long each metric's
    readings are kept as time series (the installation's [history] settings; None: not kept).
    """
    with gc_paused():
        return _ingest(r, adapter, raw, dead_letter_unusable, history)


def _ingest(r: redis.Redis, adapter: Adapter, raw: RawPayload,
            dead_letter_unusable: bool, history: HistorySettings | None) -> IngestResult:
    entities: list[Entity] = []
    observations: list[Observation] = []
    events: list[Event] = []
    removed: list[str] = []
    rejected: list[Rejected] = []
    header = FeedHeader(timestamp=None)
    try:
        for item in adapter.parse(raw):
            kind = type(item)
            if kind is Entity:
                entities.append(item)  # type: ignore[arg-type]
            elif kind is Observation:
                observations.append(item)  # type: ignore[arg-type]
            elif kind is Rejected:
                rejected.append(item)  # type: ignore[arg-type]
            elif kind is Event:
                events.append(item)  # type: ignore[arg-type]
            elif kind is Removed:
                removed.append(item.id)  # type: ignore[union-attr]
            elif kind is FeedHeader:
                header = item  # type: ignore[assignment]
    except ParseError as exc:
        if dead_letter_unusable:
            store.feeds.dead_letter(r, adapter.feed, [(f"unusable payload: {exc}", exc.excerpt)])
        raise
    if rejected:
        # The stream keeps the newest DEAD_LETTER_MAXLEN anyway: millions of bad rows in one
        # payload must not cost millions of writes. The count says what was not kept.
        letters = [(rj.reason, rj.excerpt) for rj in rejected[:store.feeds.DEAD_LETTER_MAXLEN]]
        if len(rejected) > len(letters):
            letters.append((f"{len(rejected) - len(letters)} more rejected rows not kept", ""))
        store.feeds.dead_letter(r, adapter.feed, letters)
    expired = 0
    keep = adapter.retention()
    if keep is not None:
        # A request closed long ago (a first poll's wide window, a server that ignores
        # updated_after) would be stored only for the next retention pass to retire it.
        cutoff = time.time() - keep.max_age_s
        fresh = [e for e in entities if not (e.kind == keep.kind and e.status == keep.status
                                             and e.observed_at < cutoff)]
        expired, entities = len(entities) - len(fresh), fresh
    replaces = header.replaces if header.full_dataset else ()
    batch = store.entities.write_batch(
        r, adapter.domain, adapter.feed, entities=entities, observations=observations,
        events=events, removed=removed,
        replaces=[kind for kind in replaces if kind != EVENT_KIND],
        retire_events=EVENT_KIND in replaces, history=history)
    adapter.committed(raw)
    return IngestResult(
        accepted=batch.accepted + len(observations) + len(events) + len(removed),
        rejected=len(rejected), older=batch.older, retired=batch.retired, expired=expired,
        errors=[rj.reason for rj in rejected[:MAX_REPORTED_ERRORS]],
        feed_timestamp=header.timestamp)
