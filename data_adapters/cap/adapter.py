"""The CAP feed adapter: public warnings (OASIS CAP 1.1/1.2, bare or enveloped) polled from one URL.

An Atom or RSS index that links its alerts has them followed in fetch() (follow.py: bounded,
same host or ``link_hosts``, cached by identifier and sent time); parse() stays pure and reads
the index with its messages from one frame (frame.py).
"""

from __future__ import annotations

import re
from typing import Any, Callable, ClassVar, Iterator, Mapping

from pydantic import field_validator

from app.model.domains import DOMAINS
from app.model.records import ParseItem, RawPayload
from data_adapters.cap.follow import LinkFollower
from data_adapters.cap.frame import is_frame, parse_frame
from data_adapters.cap.parse import parse_cap
from data_adapters.cap.xml import MAX_BYTES
from data_adapters.feed_settings import FeedSettings, HttpFeedSettings, interval_setting, setting
from data_adapters.http import HttpPollAdapter, http_get

DEFAULT_MAX_LINKED = 50
MAX_LINKED = 500
DEFAULT_ALERT_BYTES = 1024 * 1024
# A host name as a URL has it: labels of letters, digits and hyphens, or an IPv4/IPv6 literal.
_HOST = re.compile(r"(?=.{1,253}\Z)[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*"
                   r"\Z|\[?[0-9a-f:.]+\]?\Z")


class CapSettings(HttpFeedSettings):
    """The [[feeds]] keys of a CAP warnings feed."""

    interval_s: float = interval_setting(120.0)
    languages: list[str] = setting(
        ["en", "zh"], expected="a language tag or a list of them, such as [\"zh\", \"en\"]",
        description="preferred info languages, best first (a prefix matches: \"en\" takes en-US)")
    domain: str = setting("city", expected="one of " + ", ".join(repr(d) for d in DOMAINS),
                          description="the domain of the warnings (a flood warning feed may "
                                      "belong on the water desk)")
    max_linked_alerts: int = setting(
        DEFAULT_MAX_LINKED, ge=0, le=MAX_LINKED,
        description="CAP messages an Atom or RSS index links that are followed per poll (0: "
                    "none); the rest are skipped and dead-lettered")
    max_alert_bytes: int = setting(
        DEFAULT_ALERT_BYTES, ge=1024, le=MAX_BYTES,
        description="a linked CAP message larger than this is not read (skipped, dead-lettered)")
    link_hosts: list[str] = setting(
        [], expected="a list of host names such as [\"alerts.example.org\"]",
        description="hosts besides the index's own that its links (and their redirects) may "
                    "lead to; links elsewhere are refused")

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

    @field_validator("link_hosts")
    @classmethod
    def _hosts(cls, value: list[str]) -> list[str]:
        bad = [host for host in value if not _HOST.match(host.lower())]
        if bad:
            raise ValueError(f"{bad[0]!r} is no host name (no scheme, port or path)")
        return [host.lower().strip("[]") for host in value]


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
        s = self.settings
        self.follower = LinkFollower(self._get, max_links=s.max_linked_alerts,
                                     max_bytes=s.max_alert_bytes,
                                     hosts=frozenset(s.link_hosts),
                                     budget_s=max(self.interval_s, self.timeout_s))

    def _get(self, url: str, max_bytes: int, redirect_ok: Callable[[str], bool]) -> RawPayload:
        """GET one linked CAP message."""
        return http_get(url, timeout_s=self.timeout_s, max_bytes=max_bytes,
                        headers={"Accept": self.accept}, redirect_ok=redirect_ok)

    def fetch(self) -> RawPayload:
        """GET the URL; an index that links its alerts comes back with them, as one frame."""
        return self.follower.follow(super().fetch())

    def parse(self, raw: RawPayload) -> Iterator[ParseItem]:
        """The CAP document's warnings in the configured language, ids under the feed's prefix."""
        options: dict[str, Any] = {"languages": self.languages, "id_prefix": self.id_prefix,
                                   "domain": self.domain}
        if is_frame(raw.data):  # an index with its linked messages (fetch(), or a saved frame)
            yield from parse_frame(raw.data, self.feed, raw.fetched_at, **options)
        else:
            yield from parse_cap(raw.data, self.feed, raw.fetched_at, **options)
