"""A webhook receiver on 127.0.0.1 for tests: records every POST, answers as the test says
(a status per delivery, or hanging until released)."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.support.waiting import wait_for


@dataclass
class Delivery:
    """One POST as the receiver saw it."""

    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    def signed_by(self, secret: str) -> bool:
        """True when the signature header is the HMAC-SHA256 of the body with ``secret``."""
        expected = "sha256=" + hmac.new(secret.encode(), self.body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(self.headers.get("X-Cityops-Signature", ""), expected)


class WebhookReceiver:
    """Serves POST on a free loopback port until close(). ``status`` is what it answers (200
    unless set); ``hang()`` holds every request until ``release()``."""

    def __init__(self) -> None:
        outer = self
        self.deliveries: list[Delivery] = []  # answered with 2xx
        self.attempts: list[Delivery] = []  # every POST, whatever the answer
        self.status = 200
        self.hanging = threading.Event()
        self.released = threading.Event()
        self.lock = threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # http.server's name
                length = int(self.headers.get("Content-Length") or 0)
                seen = Delivery({k.title(): v for k, v in self.headers.items()}, self.rfile.read(length))
                with outer.lock:
                    outer.attempts.append(seen)
                if outer.hanging.is_set():
                    outer.released.wait(60)
                status = outer.status
                if 200 <= status < 300:
                    with outer.lock:
                        outer.deliveries.append(seen)
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *_: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hook"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def hang(self) -> None:
        """Hold every request from now on (a receiver that accepts and never answers)."""
        self.released.clear()
        self.hanging.set()

    def release(self) -> None:
        """Answer the held requests and hold no more."""
        self.hanging.clear()
        self.released.set()

    def wait_deliveries(self, count: int, timeout: float = 15.0) -> list[Delivery]:
        """The first ``count`` deliveries, once they arrived (AssertionError otherwise)."""
        assert wait_for(lambda: len(self.deliveries) >= count, timeout), \
            f"{len(self.deliveries)} of {count} deliveries arrived"
        with self.lock:
            return list(self.deliveries[:count])

    def close(self) -> None:
        """Stop serving (held requests are released)."""
        self.release()
        self.httpd.shutdown()
        self.httpd.server_close()
