"""One payload with more bad rows than the dead-letter stream keeps: bounded writes, nothing silent."""

from __future__ import annotations

import time
from typing import Iterator

import redis

from app import store
from app.model.records import Entity, ParseItem, RawPayload, Rejected
from app.pipeline.ingest import ingest
from data_adapters.base import Adapter


class ManyBadRows(Adapter):
    """A feed whose payload holds one good row and 1,500 bad ones."""

    name = "many-bad"
    domain = "city"

    def fetch(self) -> RawPayload:
        """Not used: the test hands the payload in."""
        raise NotImplementedError

    def parse(self, raw: RawPayload) -> Iterator[ParseItem]:
        """One request, then 1,500 rejected rows."""
        yield Entity("city", "request", "many-bad:request:1", 28.5, 112.3, "open", time.time(),
                     "many-bad")
        for i in range(1500):
            yield Rejected.of(f"row {i} is bad", f"excerpt {i}")


def test_bad_rows_beyond_the_stream_length_are_counted_not_written(r: redis.Redis) -> None:
    """The stream gets at most its length plus one line saying how many more were rejected;
    the good row is stored and the result counts every rejection."""
    result = ingest(r, ManyBadRows(), RawPayload(b"x", "test"))
    assert (result.accepted, result.rejected) == (1, 1500)
    letters = store.feeds.read_dead_letters(r, "many-bad", count=5000)
    assert len(letters) <= store.feeds.DEAD_LETTER_MAXLEN + 1
    reasons = [letter["reason"] for letter in letters]
    assert "500 more rejected rows not kept" in reasons
    assert "row 0 is bad" in reasons or "row 999 is bad" in reasons
    assert store.entities.read_entity(r, "city", "many-bad:request:1") is not None
