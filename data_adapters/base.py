"""The adapter contract: normalized records, typed feed errors, and what fetch() and parse() do.

An adapter is two halves, in the spirit of Singer taps and Home Assistant coordinators:
``fetch()`` does I/O only and returns a :class:`RawPayload`; ``parse(raw)`` is pure and yields
:class:`Entity`, :class:`Observation` and :class:`Event` records, plus a :class:`Rejected` for each
row it had to skip (the runner keeps those in a dead-letter stream). ``parse`` raises
:class:`ParseError` only when nothing in the payload is usable.

An adapter declares its ``[[feeds]]`` keys as a pydantic model (``settings_model``, see
data_adapters/feed_settings.py); the constructor validates the feed's table against it and raises
:class:`FeedConfigError`, one line naming the feed and the key, when the table does not fit. JSON
payloads are decoded by data_adapters/json_payload.py.
"""

from __future__ import annotations

import contextlib
import gc
import re
from abc import ABC, abstractmethod
from typing import Any, ClassVar, Iterator, Mapping, TypeVar

from pydantic import ValidationError

from app.model.records import ParseItem, RawPayload, Retention, excerpt_of
from data_adapters.feed_settings import FeedSettings, OpenFeedSettings, describe_error, shown

# The largest payload a parser reads, as fetch() caps a download (http.DEFAULT_MAX_BYTES): a
# recorded file given to `cityops ingest` must not be a way around it. CAP and Open311 cap lower.
MAX_PAYLOAD_BYTES = 64 * 1024 * 1024


# -- errors ----------------------------------------------------------------------------------------
class FeedError(Exception):
    """Something went wrong with a feed."""


class RetryableFeedError(FeedError):
    """Try again later: timeouts, 429, 5xx. ``retry_after`` (seconds) is honoured when given."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class FatalFeedError(FeedError):
    """Retrying will not help until someone changes something: bad credentials, other 4xx."""


class FeedConfigError(FatalFeedError):
    """A feed's [[feeds]] table is wrong: an unknown key, a value of the wrong type or range, an
    unknown adapter. The message is one line naming the feed, the key and what is expected."""

    def __init__(self, feed: str, message: str, key: str | None = None) -> None:
        # repr-quoted: a name with a line break must not break the one line.
        super().__init__(f"feed {shown(feed)}: {message}")
        self.feed = feed
        self.key = key


class ParseError(FeedError):
    """Nothing in the payload was usable; ``excerpt`` shows the start of it."""

    def __init__(self, message: str, excerpt: bytes | str = b"") -> None:
        super().__init__(message)
        self.excerpt = excerpt_of(excerpt)


def check_size(data: bytes, limit: int = MAX_PAYLOAD_BYTES) -> None:
    """Raise ParseError when ``data`` is larger than ``limit`` bytes (before any decoding)."""
    if len(data) > limit:
        raise ParseError(f"payload of {len(data)} bytes is larger than the limit of {limit} bytes",
                         data)


_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def without_lone_surrogates(doc: Any, text: str) -> Any:
    """``doc`` (json.loads of ``text``) with lone UTF-16 surrogates replaced by U+FFFD.

    JSON may escape half of a surrogate pair ("\\ud800"); json.loads keeps it as a str that no
    UTF-8 encoder (the store's, a browser's) accepts. Only a payload whose text has such an
    escape is walked, iteratively so that depth cannot exhaust the stack.
    """
    if not _SURROGATE_ESCAPE.search(text):
        return doc
    root = [doc]
    stack: list[tuple[Any, Any]] = [(root, 0)]
    while stack:
        parent, key = stack.pop()
        value = parent[key]
        if isinstance(value, str):
            parent[key] = _SURROGATE.sub("\ufffd", value)
        elif isinstance(value, list):
            stack.extend((value, index) for index in range(len(value)))
        elif isinstance(value, dict):
            if any(_SURROGATE.search(k) for k in value if isinstance(k, str)):
                cleaned = {_SURROGATE.sub("\ufffd", k) if isinstance(k, str) else k: v
                           for k, v in value.items()}
                value.clear()
                value.update(cleaned)
            stack.extend((value, k) for k in list(value))
    return root[0]


SettingsT = TypeVar("SettingsT", bound=FeedSettings)


def feed_name_of(config: Mapping[str, Any], default: str) -> str:
    """The feed's name for a message, even when the configured one is invalid."""
    name = config.get("name")
    return name if isinstance(name, str) and name else default


def validated_settings(model: type[SettingsT], config: Mapping[str, Any], adapter: str) -> SettingsT:
    """``config`` validated against ``model``; FeedConfigError (one line) when it does not fit.

    ``adapter`` is the registered name of the adapter reading the feed: it names a feed that has
    no name, and a configured ``adapter`` key must agree with it.
    """
    feed = feed_name_of(config, adapter)
    try:
        settings = model.model_validate(dict(config))
    except ValidationError as exc:
        key, message = describe_error(model, config, exc)
        raise FeedConfigError(feed, message, key) from None
    if settings.adapter is not None and settings.adapter != adapter:
        raise FeedConfigError(feed, f"adapter: expected {adapter!r} (the adapter built), got "
                                    f"{shown(settings.adapter)}", "adapter")
    return settings


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Hold off the cyclic garbage collector while a large batch is built and written."""
    # 20k vehicles allocate ~60k container objects: left on, the collector makes dozens of young
    # and some full passes over the whole heap (tens of ms per batch on a 2-core machine), though
    # building records creates no reference cycles for it to find. Whoever disabled it first
    # re-enables it, so concurrent batches cannot leave it off.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


# -- the adapter ----------------------------------------------------------------------------------
class Adapter(ABC):
    """One feed. Subclasses set ``name`` and ``domain`` and implement fetch() and parse()."""

    name: ClassVar[str]
    domain: ClassVar[str]
    # The feed's [[feeds]] keys. Each registered adapter declares its own model (unknown keys are
    # errors there); this default lets a test double take whatever it is given.
    settings_model: ClassVar[type[FeedSettings]] = OpenFeedSettings
    settings: FeedSettings  # an instance of settings_model (subclasses narrow the type)

    def __init__(self, config: Mapping[str, Any] | None = None) -> None:
        # The table as configured (what a health record or a log may quote); everything reads
        # the validated self.settings.
        self.config: dict[str, Any] = dict(config or {})
        self.settings = validated_settings(self.settings_model, self.config, self.name)
        # The feed's name: prefixes its entity ids and names its health record and dead letters.
        self.feed: str = self.settings.name or self.name
        self.interval_s: float = self.settings.interval_s
        # Past this age without a successful poll, the feed is stale on every screen.
        self.freshness_budget_s: float = (self.settings.freshness_budget_s
                                          if self.settings.freshness_budget_s is not None
                                          else 3 * self.interval_s)
        # Feeds of one system (a transit agency's vehicles and trip updates, a utility's
        # gateways) may share a prefix so that their ids meet.
        self.id_prefix: str = self.settings.id_prefix or self.feed

    @abstractmethod
    def fetch(self) -> RawPayload:
        """Get the feed's current payload (I/O only). Raises Retryable/FatalFeedError."""

    @abstractmethod
    def parse(self, raw: RawPayload) -> Iterator[ParseItem]:
        """Yield records and rejections from ``raw`` (pure). Raises ParseError if nothing is usable."""

    def close(self) -> None:
        """Release what the adapter holds open between polls (a subscription); default: nothing."""
        return None

    def committed(self, raw: RawPayload) -> None:
        """Called once the batch parsed from ``raw`` is stored: an adapter that reads a feed
        incrementally moves its cursor here, so a failed write is read again; default: nothing."""
        return None

    def retention(self) -> Retention | None:
        """Which stored entities of this feed expire (see :class:`Retention`); default: none."""
        return None
