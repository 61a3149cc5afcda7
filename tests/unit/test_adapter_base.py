"""The adapter contract's building blocks: positions, excerpts, typed errors."""

from __future__ import annotations

import math

import pytest

from app.model.geo import valid_position
from app.model.records import EXCERPT_LIMIT, Rejected, excerpt_of
from data_adapters.base import ParseError, RetryableFeedError


@pytest.mark.parametrize("lat, lon, ok", [
    (28.55, 112.36, True), (-33.9, 151.2, True), (0.0, 0.0, False), (None, 112.0, False),
    (91.0, 0.5, False), (10.0, 181.0, False), (math.nan, 1.0, False), (1.0, math.inf, False),
])
def test_valid_position(lat: float | None, lon: float | None, ok: bool) -> None:
    """Impossible positions and the 0,0 of a missing fix are not drawn."""
    assert valid_position(lat, lon) is ok


def test_excerpts_are_capped_and_text() -> None:
    """Excerpts hold at most 2 KB and survive invalid UTF-8."""
    assert len(excerpt_of(b"x" * 10_000).encode()) == EXCERPT_LIMIT
    assert excerpt_of(b"\xff\xfeok").endswith("ok")
    assert Rejected.of("bad row", {"id": 1}).excerpt == "{'id': 1}"
    assert ParseError("nothing usable", b"\x00" * 5000).excerpt == "\x00" * EXCERPT_LIMIT


def test_retryable_error_carries_retry_after() -> None:
    """A 429 or 5xx tells the runner when to come back."""
    assert RetryableFeedError("429", retry_after=30).retry_after == 30
    assert RetryableFeedError("timeout").retry_after is None
