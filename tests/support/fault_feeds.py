"""A GTFS-Realtime feed server that can time out, fail, send garbage or freeze, for the fault tests."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from google.transit import gtfs_realtime_pb2 as rt

from tests.support.payloads.fhir import YIYANG


# -- the feeds ---------------------------------------------------------------------------------------
@dataclass
class FeedState:
    """How one path of the server answers, and when it was asked."""

    mode: str = "ok"  # ok, mixed, stall, status, slow, garbage, frozen
    status: int = 500
    frozen_at: int = 0  # the one snapshot time a frozen feed keeps sending
    retry_after: str | None = None
    delay_s: float = 0.0
    hits: list[float] = field(default_factory=list)


def vehicle_positions(bad_row: bool = False, at: int = 0) -> bytes:
    """A FULL_DATASET VehiclePositions message of time ``at`` (now when 0) with two buses (with
    ``bad_row``, the second is off the globe)."""
    at = at or int(time.time())
    message = rt.FeedMessage()
    message.header.gtfs_realtime_version = "2.0"
    message.header.incrementality = rt.FeedHeader.FULL_DATASET
    message.header.timestamp = at
    for number, lat in ((1, YIYANG[0]), (2, 95.0 if bad_row else YIYANG[0] + 0.01)):
        entity = message.entity.add()
        entity.id = f"e{number}"
        entity.vehicle.vehicle.id = f"bus-{number}"
        entity.vehicle.position.latitude = lat
        entity.vehicle.position.longitude = YIYANG[1]
        entity.vehicle.timestamp = at
    return message.SerializeToString()


class FeedServer:
    """GTFS-rt feeds on one fixed loopback port; stop() and start() make it refuse and return."""

    def __init__(self) -> None:
        self.feeds: dict[str, FeedState] = {}
        self.released = threading.Event()  # ends every stall at close
        self.httpd: ThreadingHTTPServer | None = None
        self.port = 0
        self.start()

    def url(self, path: str) -> str:
        """The URL of the feed at ``path`` (created in state "ok")."""
        self.feeds.setdefault(path, FeedState())
        return f"http://127.0.0.1:{self.port}/{path}"

    def start(self) -> None:
        """Listen (again, on the same port after a stop)."""
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # http.server's name
                status, headers, body = outer.respond(self.path.strip("/"))
                try:
                    self.send_response(status)
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:  # the runner gave up on a stalled answer: nobody to tell
                    pass

            def log_message(self, *_: Any) -> None:
                pass

        ThreadingHTTPServer.allow_reuse_address = True
        self.httpd = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.httpd.daemon_threads = True
        self.port = int(self.httpd.server_address[1])
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self) -> None:
        """Close the listening socket: new connections are refused."""
        if self.httpd is not None:
            self.httpd.shutdown()
            self.httpd.server_close()
            self.httpd = None

    def close(self) -> None:
        """Stop for good and let every stalled answer go."""
        self.released.set()
        self.stop()

    def respond(self, path: str) -> tuple[int, dict[str, str], bytes]:
        """The answer of the feed at ``path`` in its current mode."""
        state = self.feeds.get(path)
        if state is None:
            return 404, {}, b"no such feed"
        state.hits.append(time.monotonic())
        if state.mode == "stall":
            self.released.wait(state.delay_s)
        elif state.mode == "slow":
            time.sleep(state.delay_s)
        elif state.mode == "status":
            headers = {"Retry-After": state.retry_after} if state.retry_after else {}
            return state.status, headers, b"upstream trouble"
        elif state.mode == "garbage":
            return 200, {"Content-Type": "application/x-protobuf"}, GARBAGE
        return 200, {"Content-Type": "application/x-protobuf"}, vehicle_positions(
            bad_row=state.mode == "mixed", at=state.frozen_at if state.mode == "frozen" else 0)


GARBAGE = b"<html><body>502 Bad Gateway</body></html>"
