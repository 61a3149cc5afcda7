"""The water feed adapter: a SenML (RFC 8428) JSON pack polled from one URL."""

from __future__ import annotations

from collections import Counter
from typing import Any, ClassVar, Iterator, Mapping

from app.model.records import ParseItem, RawPayload
from data_adapters.feed_settings import FeedSettings, HttpFeedSettings, interval_setting
from data_adapters.http import HttpPollAdapter
from data_adapters.water.senml import parse_senml, zones_setting


class SenmlHttpSettings(HttpFeedSettings):
    """The [[feeds]] keys of a SenML pack polled over HTTP."""

    interval_s: float = interval_setting(60.0)
    zones: dict[str, str] = zones_setting()


class SenmlHttpAdapter(HttpPollAdapter):
    """SenML JSON from an HTTP(S) URL: sensor readings as Observations, positioned sensors as Entities."""

    name: ClassVar[str] = "senml_http"
    domain: ClassVar[str] = "water"
    settings_model: ClassVar[type[FeedSettings]] = SenmlHttpSettings
    settings: SenmlHttpSettings

    accept: ClassVar[str] = "application/senml+json, application/json"

    def __init__(self, config: Mapping[str, Any] | None = None) -> None:
        super().__init__(config)
        self.zones = dict(self.settings.zones)
        # What the last parse held that is valid but not stored (text values).
        self.last_counts: Counter[str] = Counter()

    def parse(self, raw: RawPayload) -> Iterator[ParseItem]:
        """Resolve the pack (relative times against the fetch time) and map it to water records."""
        counts: Counter[str] = Counter()
        yield from parse_senml(raw.data, self.feed, raw.fetched_at, id_prefix=self.id_prefix,
                               zones=self.zones, counts=counts)
        self.last_counts = counts
