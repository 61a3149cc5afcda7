"""A small CSV adapter, a local HTTP feed server that can fail on demand, and a runner in a thread."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler
from typing import Any, ClassVar, Iterator

import redis

from app import store
from app.config import load_settings
from app.model.records import Entity, FeedHeader, ParseItem, RawPayload, Rejected
from app.ops.runner_process import build_runner
from app.pipeline.runner import Runner
from data_adapters.base import Adapter, ParseError
from data_adapters.http import http_get
from tests.support.local_http import LocalHttpServer


class CsvPointsAdapter(Adapter):
    """A tiny test feed: one "id,lat,lon" line per city sensor."""

    name: ClassVar[str] = "test_csv"
    domain: ClassVar[str] = "city"

    def fetch(self) -> RawPayload:
        """GET the configured URL."""
        return http_get(self.config["url"], timeout_s=float(self.config.get("timeout_s", 1.0)))

    def parse(self, raw: RawPayload) -> Iterator[ParseItem]:
        """Yield an entity per good line, a rejection per bad one."""
        try:
            text = raw.data.decode("utf-8")
        except UnicodeDecodeError:
            raise ParseError("not UTF-8 text", raw.data) from None
        lines = [line for line in text.splitlines() if line.strip()]
        if not lines or not any("," in line for line in lines):
            raise ParseError("not a points file", raw.data)
        yield FeedHeader(timestamp=None, full_dataset=True, replaces=("sensor",))
        for line in lines:
            try:
                ident, lat, lon = line.split(",")
                yield Entity("city", "sensor", f"{self.feed}:{ident}", float(lat), float(lon),
                             "ok", raw.fetched_at, self.feed)
            except ValueError:
                yield Rejected.of("bad line", line)


class FeedServer(LocalHttpServer):
    """A local HTTP feed whose answer the test sets: a body, a status, or a stall."""

    def __init__(self) -> None:
        self.body = b"a,28.5,112.3\n"
        self.status = 200
        self.stall_s = 0.0
        self.retry_after: str | None = None
        self.hits = 0
        super().__init__()
        self.url = f"{self.origin}/points.csv"

    def respond(self, request: BaseHTTPRequestHandler) -> tuple[int, dict[str, str], bytes]:
        """The answer the test has set."""
        self.hits += 1
        if self.stall_s:
            time.sleep(self.stall_s)
        headers = {"Retry-After": self.retry_after} if self.retry_after else {}
        return self.status, headers, self.body


def start_runner(url: str, tmp_path: Any, adapters: list[Adapter],
                 owner: str | None = None) -> tuple[Runner, threading.Thread]:
    """A runner for ``adapters`` in a background thread."""
    settings = load_settings(environ={"CITYOPS_DATA_DIR": str(tmp_path),
                                      "CITYOPS_HEARTBEAT_SECONDS": "0.5"})
    runner = build_runner(settings, url, adapters, owner=owner)
    thread = threading.Thread(target=runner.run, daemon=True)
    thread.start()
    return runner, thread


def health(r: redis.Redis, feed: str) -> dict[str, str]:
    """The stored health record of ``feed`` (empty before the first poll)."""
    return next((row for row in store.feeds.read_health(r) if row["feed"] == feed), {})
