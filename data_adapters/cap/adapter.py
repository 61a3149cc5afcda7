"""The CAP feed adapter: public warnings (OASIS CAP 1.1/1.2, bare or enveloped) polled from one URL."""

from __future__ import annotations

from typing import Any, ClassVar, Iterator, Mapping

from app.model.domains import DOMAINS
from app.model.records import ParseItem, RawPayload
from data_adapters.base import FatalFeedError
from data_adapters.cap.parse import parse_cap
from data_adapters.http import HttpPollAdapter


class CapAdapter(HttpPollAdapter):
    """CAP alerts from an HTTP(S) URL as cap_warning Events (Removed for updated/cancelled ones)."""

    name: ClassVar[str] = "cap"
    domain: ClassVar[str] = "city"
    default_interval_s: ClassVar[float] = 120.0

    accept: ClassVar[str] = ("application/cap+xml, application/atom+xml, application/xml, "
                             "text/xml")

    def __init__(self, config: Mapping[str, Any] | None = None) -> None:
        super().__init__(config)
        domain = str(self.config.get("domain") or type(self).domain)
        if domain not in DOMAINS:
            raise FatalFeedError(f"feed {self.feed}: domain must be one of {', '.join(DOMAINS)}")
        # An instance attribute: a flood warning feed may belong on the water desk.
        self.domain = domain  # type: ignore[misc]
        languages = self.config.get("languages", ["en", "zh"])
        if isinstance(languages, str):
            languages = [languages]
        if not isinstance(languages, (list, tuple)) or not all(
                isinstance(lang, str) and lang for lang in languages):
            raise FatalFeedError(f"feed {self.feed}: languages must be a list of language tags")
        self.languages: tuple[str, ...] = tuple(languages)

    def parse(self, raw: RawPayload) -> Iterator[ParseItem]:
        """The CAP document's warnings in the configured language, ids under the feed's prefix."""
        yield from parse_cap(raw.data, self.feed, raw.fetched_at, languages=self.languages,
                             id_prefix=self.id_prefix, domain=self.domain)
