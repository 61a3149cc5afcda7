"""The records a feed becomes: entities, observations, events, and what parse() may yield besides.

Adapters build them (pure); the pipeline stores them; nothing here does I/O.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Mapping, Union

EXCERPT_LIMIT = 2048
# Record times a datetime can hold in every time zone (1900-01-01 to 9999-01-01 UTC): a feed time
# outside them cannot be shown, and "older never overwrites newer" would keep it forever.
EARLIEST_TIME = -2_208_988_800.0
LATEST_TIME = 253_370_764_800.0


def excerpt_of(data: bytes | str, limit: int = EXCERPT_LIMIT) -> str:
    """At most ``limit`` bytes of ``data`` as text that is safe to store and show."""
    if isinstance(data, str):
        data = data.encode("utf-8", errors="replace")
    return data[:limit].decode("utf-8", errors="replace")


def valid_time(seconds: float | None) -> bool:
    """True for a record time (POSIX seconds) that is finite and a datetime can show anywhere."""
    return seconds is not None and EARLIEST_TIME <= seconds < LATEST_TIME


# -- payloads and records --------------------------------------------------------------------------
@dataclass(frozen=True)
class RawPayload:
    """What fetch() returns: the bytes as received and how they came."""

    data: bytes
    source: str
    fetched_at: float = field(default_factory=time.time)
    content_type: str = ""
    meta: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Entity:
    """Something on the map with live state (a vehicle, a sensor, a hospital, a request)."""

    domain: str
    kind: str
    id: str
    lat: float | None
    lon: float | None
    status: str
    observed_at: float
    source: str
    attrs: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Observation:
    """One reading of one metric of one entity, in UCUM units."""

    entity_id: str
    metric: str
    value: float
    unit: str
    observed_at: float


@dataclass(frozen=True)
class Event:
    """Something that happened in a feed: a service alert, a CAP warning, a request opened."""

    domain: str
    kind: str
    id: str
    title: str
    observed_at: float
    source: str
    severity: str = "info"
    starts_at: float | None = None
    ends_at: float | None = None
    area: Mapping[str, Any] | None = None  # GeoJSON geometry
    attrs: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Rejected:
    """A row parse() skipped: why, and an excerpt (at most 2 KB) for the dead-letter stream."""

    reason: str
    excerpt: str = ""

    @classmethod
    def of(cls, reason: str, data: bytes | str | object) -> "Rejected":
        """A rejection with an excerpt of ``data`` (bytes, text, or anything printable)."""
        raw = data if isinstance(data, (bytes, str)) else repr(data)
        return cls(reason, excerpt_of(raw))


@dataclass(frozen=True)
class Removed:
    """An entity the feed says is gone (GTFS-rt ``is_deleted``, a closed request)."""

    domain: str
    id: str


@dataclass(frozen=True)
class Retention:
    """Which of a feed's stored entities expire: those of ``kind`` whose status is ``status`` and
    whose last observation is older than ``max_age_s`` (closed service requests after 30 days).

    An incremental feed never lists its whole state, so nothing it sent would ever be retired
    without this; the runner applies it to the store now and then.
    """

    kind: str
    status: str
    max_age_s: float


@dataclass(frozen=True)
class FeedHeader:
    """What a payload says of itself, yielded first by parse() when the format has it.

    ``full_dataset`` with ``replaces`` (entity kinds): the payload is the whole current state
    of those kinds for this feed, so the store may retire this feed's entities it no longer lists.
    """

    timestamp: float | None
    full_dataset: bool = False
    replaces: tuple[str, ...] = ()


Record = Union[Entity, Observation, Event, Removed]


ParseItem = Union[Entity, Observation, Event, Removed, Rejected, FeedHeader]
