"""The CAP feed adapter: public warnings (OASIS CAP 1.1/1.2, bare or enveloped) polled from one URL."""

from __future__ import annotations

from typing import Any, ClassVar, Iterator, Mapping

from pydantic import field_validator

from app.model.domains import DOMAINS
from app.model.records import ParseItem, RawPayload
from data_adapters.cap.parse import parse_cap
from data_adapters.feed_settings import FeedSettings, HttpFeedSettings, interval_setting, setting
from data_adapters.http import HttpPollAdapter


class CapSettings(HttpFeedSettings):
    """The [[feeds]] keys of a CAP warnings feed."""

    interval_s: float = interval_setting(120.0)
    languages: list[str] = setting(
        ["en", "zh"], expected="a language tag or a list of them, such as [\"zh\", \"en\"]",
        description="preferred info languages, best first (a prefix matches: \"en\" takes en-US)")
    domain: str = setting("city", expected="one of " + ", ".join(repr(d) for d in DOMAINS),
                          description="the domain of the warnings (a flood warning feed may "
                                      "belong on the water desk)")

    @field_validator("languages", mode="before")
    @classmethod
    def _one_language(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value  # one tag need not be a list

    @field_validator("languages")
    @classmethod
    def _tags(cls, value: list[str]) -> list[str]:
        if not value or not all(tag.strip() for tag in value):
            raise ValueError("an empty language tag" if value else "no language")
        return value

    @field_validator("domain")
    @classmethod
    def _domain(cls, value: str) -> str:
        if value not in DOMAINS:
            raise ValueError()  # no reason to add: the expected text lists the domains
        return value


class CapAdapter(HttpPollAdapter):
    """CAP alerts from an HTTP(S) URL as cap_warning Events (Removed for updated/cancelled ones)."""

    name: ClassVar[str] = "cap"
    domain: ClassVar[str] = "city"
    settings_model: ClassVar[type[FeedSettings]] = CapSettings
    settings: CapSettings

    accept: ClassVar[str] = ("application/cap+xml, application/atom+xml, application/xml, "
                             "text/xml")

    def __init__(self, config: Mapping[str, Any] | None = None) -> None:
        super().__init__(config)
        # An instance attribute: a flood warning feed may belong on the water desk.
        self.domain = self.settings.domain  # type: ignore[misc]
        self.languages: tuple[str, ...] = tuple(self.settings.languages)

    def parse(self, raw: RawPayload) -> Iterator[ParseItem]:
        """The CAP document's warnings in the configured language, ids under the feed's prefix."""
        yield from parse_cap(raw.data, self.feed, raw.fetched_at, languages=self.languages,
                             id_prefix=self.id_prefix, domain=self.domain)
