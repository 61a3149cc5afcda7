"""The demo city's feed server: GTFS static and GTFS-Realtime over HTTP on loopback.

Run it in a thread with :class:`SimulatorServer`, or as a process with
``python -m data_adapters.simulator --port P --vehicles N --seed S``, which prints
``simulator serving http://127.0.0.1:P/`` once it accepts connections and exits 0 on SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType
from typing import Callable, Sequence
from urllib.parse import urlsplit

from data_adapters.simulator.city import YIYANG, CityModel, LonLat
from data_adapters.simulator.transit import DEFAULT_VEHICLES, Fleet, TransitNetwork

PROTOBUF = "application/x-protobuf"
CACHE_S = 1.0
STATIC_PATH = "/gtfs/static.zip"
REALTIME_PATHS = {
    "/gtfs-rt/vehicle-positions.pb": "vehicle_positions",
    "/gtfs-rt/trip-updates.pb": "trip_updates",
    "/gtfs-rt/alerts.pb": "alerts",
}


class SimulatorServer:
    """The simulated city served over HTTP from a daemon thread; ``start()`` returns its base URL."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, vehicles: int = DEFAULT_VEHICLES,
                 routes: int | None = None, seed: int = 1, center: LonLat | tuple[float, float] = YIYANG,
                 clock: Callable[[], float] = time.time, cache_s: float = CACHE_S) -> None:
        self.host, self.port = host, port
        self.clock = clock
        self.cache_s = cache_s
        self.city = CityModel.generate(seed, center)
        self.network = TransitNetwork.generate(self.city, routes=routes, seed=seed, vehicles=vehicles)
        self.fleet = Fleet(self.network, seed=seed)
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[float, bytes, str]] = {}
        self._static: tuple[bytes, str] | None = None
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The base URL, ending in a slash (valid once started)."""
        return f"http://{self.host}:{self.port}/"

    def start(self) -> str:
        """Bind, serve in a daemon thread, and return the base URL."""
        if self._httpd is not None:
            return self.url
        httpd = ThreadingHTTPServer((self.host, self.port), _Handler)
        httpd.daemon_threads = True
        httpd.simulator = self  # type: ignore[attr-defined]
        self._httpd = httpd
        self.port = int(httpd.server_address[1])
        self._thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.2},
                                        name="cityops-simulator", daemon=True)
        self._thread.start()
        return self.url

    def stop(self) -> None:
        """Stop serving and release the port."""
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        httpd.shutdown()
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> "SimulatorServer":
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def payload(self, path: str) -> tuple[bytes, str, str] | None:
        """(body, content type, ETag) for ``path``, or None when nothing is served there."""
        if path == STATIC_PATH:
            with self._lock:
                if self._static is None:
                    body = self.network.to_gtfs_zip()
                    self._static = (body, _etag(body))
            return self._static[0], "application/zip", self._static[1]
        if path == "/healthz":
            body = json.dumps({"status": "ok", "vehicles": len(self.fleet),
                               "routes": len(self.network.active_routes),
                               "stops": len(self.network.stops), "seed": self.network.seed}).encode()
            return body, "application/json", _etag(body)
        method = REALTIME_PATHS.get(path)
        if method is None:
            return None
        # One lock for all feeds: pollers arriving together wait for one build and share it.
        with self._lock:
            cached = self._cache.get(path)
            if cached is None or time.monotonic() >= cached[0]:
                body = getattr(self.fleet, method)(self.clock())
                cached = (time.monotonic() + self.cache_s, body, _etag(body))
                self._cache[path] = cached
        return cached[1], PROTOBUF, cached[2]


def _etag(body: bytes) -> str:
    return '"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"'


class _Handler(BaseHTTPRequestHandler):
    """GET and HEAD of the simulator's endpoints; 304 when the client already has the payload."""

    server_version = "CityOpsSimulator/1"

    def do_GET(self) -> None:  # noqa: N802 - the name http.server dispatches to
        """Send the payload of the path."""
        self._respond(with_body=True)

    def do_HEAD(self) -> None:  # noqa: N802
        """Send the headers a GET would get."""
        self._respond(with_body=False)

    def _respond(self, with_body: bool) -> None:
        simulator: SimulatorServer = self.server.simulator  # type: ignore[attr-defined]
        found = simulator.payload(urlsplit(self.path).path)
        if found is None:
            body = b"not found\n"
            self.send_response(404)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if with_body:
                self.wfile.write(body)
            return
        body, content_type, etag = found
        if etag in (self.headers.get("If-None-Match") or ""):
            self.send_response(304)
            self.send_header("ETag", etag)
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("ETag", etag)
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        if with_body:
            self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
        """Quiet: pollers hit this every few seconds."""


def main(argv: Sequence[str] | None = None) -> int:
    """Serve the demo city in the foreground until SIGTERM or SIGINT; 0 on a clean stop."""
    parser = argparse.ArgumentParser(prog="python -m data_adapters.simulator",
                                     description="Serve the CityOps demo city's transport feeds.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--vehicles", type=int, default=DEFAULT_VEHICLES)
    parser.add_argument("--routes", type=int, default=None, help="at least this many routes")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    if args.vehicles < 1:
        parser.error("--vehicles must be at least 1")

    stopping = threading.Event()

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    server = SimulatorServer(args.host, args.port, vehicles=args.vehicles, routes=args.routes, seed=args.seed)
    try:
        url = server.start()
    except OSError as exc:
        print(f"simulator: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr, flush=True)
        return 1
    print(f"simulator serving {url}", flush=True)
    try:
        while not stopping.wait(0.5):  # short waits keep the main thread responsive to signals
            pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":  # pragma: no cover - python -m data_adapters.simulator.server
    sys.exit(main())
