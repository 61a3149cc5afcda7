"""The demo city's feed server: every feed of the demo city over HTTP on loopback.

Transport (GTFS static, GTFS-Realtime), ambulances (GTFS-Realtime VehiclePositions), water
(SensorThings API v1.1 and a SenML pack), hospitals (FHIR R4), service requests (Open311
GeoReport v2) and warnings (CAP 1.2 in Atom). Run it in a thread with :class:`SimulatorServer`,
or as a process with ``python -m data_adapters.simulator --port P --vehicles N --seed S``, which
prints ``simulator serving http://127.0.0.1:P/`` once it accepts connections and exits 0 on
SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType
from typing import Callable, Sequence
from urllib.parse import urlsplit

from data_adapters.simulator.ambulances import DEFAULT_AMBULANCES, AmbulanceService
from data_adapters.simulator.cap_feed import WarningFeed
from data_adapters.simulator.city import YIYANG, CityModel, LonLat
from data_adapters.simulator.medical import DEFAULT_HOSPITALS, FhirService, HospitalNetwork
from data_adapters.simulator.patterns import iso_local
from data_adapters.simulator.requests311 import DEFAULT_REQUESTS, RequestBook
from data_adapters.simulator.scenario import (
    BUS_DELAY_HOLD_MIN,
    BUS_DELAY_PEAK_S,
    BUS_DELAY_START_MIN,
    SCENARIOS,
    make_scenario,
)
from data_adapters.simulator.sta import ROOT_PATH as STA_ROOT
from data_adapters.simulator.sta import SensorThingsService
from data_adapters.simulator.transit import DEFAULT_VEHICLES, Fleet, TransitNetwork
from data_adapters.simulator.trickle import Trickle
from data_adapters.simulator.water import DEFAULT_SENSORS, WaterNetwork

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
CACHE_S = 1.0
CACHE_ENTRIES = 256
STATIC_PATH = "/gtfs/static.zip"
REALTIME_PATHS = {
    "/gtfs-rt/vehicle-positions.pb": "vehicle_positions",
    "/gtfs-rt/trip-updates.pb": "trip_updates",
    "/gtfs-rt/alerts.pb": "alerts",
}
AMBULANCES_PATH = "/gtfs-rt/ambulances.pb"
SENML_PATH = "/water/senml.json"
FHIR_ROOT = "/fhir"
OPEN311_ROOT = "/open311/v2"
CAP_PATH = "/cap/alerts.xml"
# A Host header goes into absolute links (STA, FHIR): anything but a host[:port] is ignored.
_HOST = re.compile(r"^[A-Za-z0-9.\-]+(:\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](:\d{1,5})?$")

# (status, body, content type, ETag)
Reply = tuple[int, bytes, str, str]


class SimulatorServer:
    """The simulated city served over HTTP from a daemon thread; ``start()`` returns its base URL."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, vehicles: int = DEFAULT_VEHICLES,
                 routes: int | None = None, seed: int = 1, center: LonLat | tuple[float, float] = YIYANG,
                 clock: Callable[[], float] = time.time, cache_s: float = CACHE_S, *,
                 scenario: str | None = None, scenario_start: float | None = None,
                 sensors: int = DEFAULT_SENSORS, hospitals: int = DEFAULT_HOSPITALS,
                 ambulances: int = DEFAULT_AMBULANCES, requests: int = DEFAULT_REQUESTS,
                 trickle_minutes: float = 0.0, trickle_start: float | None = None) -> None:
        self.host, self.port = host, port
        self.clock = clock
        self.cache_s = cache_s
        self.seed = seed
        self.city = CityModel.generate(seed, center)
        self.network = TransitNetwork.generate(self.city, routes=routes, seed=seed, vehicles=vehicles)
        self.fleet = Fleet(self.network, seed=seed)
        # The scenario starts when the server is made, unless told otherwise.
        start = clock() if scenario_start is None else float(scenario_start)
        self.scenario = make_scenario(scenario, self.city, start)
        if self.scenario is not None:
            self.fleet.add_delay_area(self.scenario.district.polygon, start + 60.0 * BUS_DELAY_START_MIN,
                                      BUS_DELAY_PEAK_S, hold_s=60.0 * BUS_DELAY_HOLD_MIN)
        # The trickle of ordinary incidents (off at 0), from when the server is made unless told;
        # it plays nothing while the scenario does (trickle.py).
        self.trickle = (Trickle(seed, clock() if trickle_start is None else float(trickle_start),
                                trickle_minutes, self.scenario, self.network)
                        if trickle_minutes > 0 else None)
        if self.trickle is not None:
            trickle, fleet = self.trickle, self.fleet
            fleet.add_incidents(lambda t: trickle.breakdowns(t, len(fleet)),
                                lambda now: trickle.notices(fleet, now))
        self.water = WaterNetwork(self.city, seed, sensors, self.scenario, self.trickle)
        self.sta = SensorThingsService(self.water)
        self.hospitals = HospitalNetwork(self.city, seed, hospitals, self.scenario, self.trickle)
        self.fhir = FhirService(self.hospitals)
        self.ambulances = AmbulanceService(self.city, self.hospitals.hospitals, seed, ambulances,
                                           self.scenario)
        self.requests = RequestBook(self.city, seed, requests, self.scenario, self.trickle)
        self.warnings = WarningFeed(self.city, seed, self.scenario)
        self._lock = threading.Lock()
        self._build_locks: dict[tuple[str, str, str], threading.Lock] = {}
        self._cache: dict[tuple[str, str, str], tuple[float, Reply]] = {}
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

    def health(self) -> dict[str, object]:
        """What /healthz says: the size of each part of the city, the seed and the scenario."""
        now = self.clock()
        scenario = self.scenario
        return {"status": "ok", "vehicles": len(self.fleet), "routes": len(self.network.active_routes),
                "stops": len(self.network.stops), "seed": self.network.seed,
                "sensors": len(self.water.sensors), "datastreams": len(self.water.datastreams),
                "hospitals": len(self.hospitals.hospitals), "ambulances": len(self.ambulances),
                "open_requests": self.requests.open_count(now), "warnings": len(self.warnings.current(now)),
                "scenario": scenario.name if scenario else None,
                "scenario_start": iso_local(scenario.start, self.hospitals.tz) if scenario else None,
                "trickle_minutes": self.trickle.mean_s / 60.0 if self.trickle else None}

    def payload(self, path: str, query: str = "", host: str | None = None) -> Reply | None:
        """(status, body, content type, ETag) for ``path`` and its query, or None when nothing is there.

        ``host`` (the request's Host header) roots the absolute links of STA and FHIR answers.
        """
        if path == STATIC_PATH:
            with self._lock:
                if self._static is None:
                    body = self.network.to_gtfs_zip()
                    self._static = (body, _etag(body))
            return 200, self._static[0], "application/zip", self._static[1]
        if path == "/healthz":
            body = json.dumps(self.health()).encode()
            return 200, body, JSON, _etag(body)
        build = self._builder(path)
        if build is None:
            return None
        origin = f"http://{host}" if host and _HOST.fullmatch(host) else self.url.rstrip("/")
        key = (origin, path, query)
        with self._lock:
            build_lock = self._build_locks.setdefault(key, threading.Lock())
        # One lock per URL: pollers of one feed arriving together share one build, while a slow
        # build (10,000 requests) does not hold up the vehicle positions.
        with build_lock:
            cached = self._cache.get(key)
            if cached is None or time.monotonic() >= cached[0]:
                status, body, content_type = build(origin, query, self.clock())
                cached = (time.monotonic() + self.cache_s, (status, body, content_type, _etag(body)))
                with self._lock:
                    self._drop_expired()
                    if len(self._cache) >= CACHE_ENTRIES:
                        self._evict()
                    self._cache[key] = cached
        return cached[1]

    def _drop_expired(self) -> None:
        """Drop answers past their second: pollers' varying queries (SensorThings nextLinks) would
        otherwise keep hundreds of multi-MB pages, and a lock per URL ever asked, until full."""
        now = time.monotonic()
        for k in [k for k, (until, _) in self._cache.items() if until <= now]:
            self._cache.pop(k, None)
            self._build_locks.pop(k, None)

    def _evict(self) -> None:
        """Drop expired entries (all of them if none has expired): pollers vary their queries."""
        now = time.monotonic()
        expired = [k for k, (until, _) in self._cache.items() if until <= now] or list(self._cache)
        for k in expired:
            self._cache.pop(k, None)
            self._build_locks.pop(k, None)

    def _builder(self, path: str) -> Callable[[str, str, float], tuple[int, bytes, str]] | None:
        """The function that builds ``path``'s answer from (origin, query, now), or None."""
        method = REALTIME_PATHS.get(path)
        if method is not None:
            return lambda _o, _q, now: (200, getattr(self.fleet, method)(now), PROTOBUF)
        if path == AMBULANCES_PATH:
            return lambda _o, _q, now: (200, self.ambulances.vehicle_positions(now), PROTOBUF)
        if path == SENML_PATH:
            return lambda _o, _q, now: (200, self.water.senml(now), "application/senml+json")
        if path == CAP_PATH:
            return lambda origin, _q, now: (200, self.warnings.atom(now, origin + CAP_PATH),
                                            "application/atom+xml")
        if path == STA_ROOT or path.startswith(STA_ROOT + "/"):
            rest = path[len(STA_ROOT):]
            return lambda origin, query, now: (*self.sta.handle(origin + STA_ROOT, rest, query, now), JSON)
        if path.startswith(FHIR_ROOT + "/"):
            rest = path[len(FHIR_ROOT):]
            return lambda origin, query, now: (*self.fhir.handle(origin + FHIR_ROOT, rest, query, now),
                                               "application/fhir+json")
        if path.startswith(OPEN311_ROOT + "/"):
            rest = path[len(OPEN311_ROOT):]
            return lambda _o, query, now: (*self.requests.handle(rest, query, now), JSON)
        return None


def _etag(body: bytes) -> str:
    return '"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"'


class _Handler(BaseHTTPRequestHandler):
    """GET and HEAD of the simulator's endpoints; 304 when the client already has the payload."""

    server_version = "CityOpsSimulator/1"

    def do_GET(self) -> None:  # the name http.server dispatches to
        """Send the payload of the path."""
        self._respond(with_body=True)

    def do_HEAD(self) -> None:
        """Send the headers a GET would get."""
        self._respond(with_body=False)

    def _respond(self, with_body: bool) -> None:
        simulator: SimulatorServer = self.server.simulator  # type: ignore[attr-defined]
        parts = urlsplit(self.path)
        try:
            found = simulator.payload(parts.path, parts.query, self.headers.get("Host"))
        except Exception:  # a bug in one feed must not take the server down: answer 500, go on
            self.send_error(500, "simulator error")
            raise
        if found is None:
            body = b"not found\n"
            self.send_response(404)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if with_body:
                self.wfile.write(body)
            return
        status, body, content_type, etag = found
        if status == 200 and etag in (self.headers.get("If-None-Match") or ""):
            self.send_response(304)
            self.send_header("ETag", etag)
            self.end_headers()
            return
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("ETag", etag)
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        if with_body:
            try:
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the poller gave up (its timeout) before the answer: nothing to report

    def log_message(self, format: str, *args: object) -> None:  # the base class's name
        """Quiet: pollers hit this every few seconds."""


def main(argv: Sequence[str] | None = None) -> int:
    """Serve the demo city in the foreground until SIGTERM or SIGINT; 0 on a clean stop."""
    parser = argparse.ArgumentParser(prog="python -m data_adapters.simulator",
                                     description="Serve the CityOps demo city's feeds on loopback.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--vehicles", type=int, default=DEFAULT_VEHICLES)
    parser.add_argument("--routes", type=int, default=None, help="at least this many routes")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--scenario", choices=SCENARIOS, default=None,
                        help="play a scripted scenario (default: the calm city)")
    parser.add_argument("--scenario-start", type=float, default=None, metavar="UNIX_TIME",
                        help="when the scenario starts (default: now)")
    parser.add_argument("--sensors", type=int, default=DEFAULT_SENSORS, help="water network sensors")
    parser.add_argument("--hospitals", type=int, default=DEFAULT_HOSPITALS)
    parser.add_argument("--ambulances", type=int, default=DEFAULT_AMBULANCES)
    parser.add_argument("--requests", type=int, default=DEFAULT_REQUESTS,
                        help="service requests open at a time, on average")
    parser.add_argument("--trickle-minutes", type=float, default=0.0, metavar="MINUTES",
                        help="mean minutes between ordinary incidents (default 0: none)")
    parser.add_argument("--trickle-start", type=float, default=None, metavar="UNIX_TIME",
                        help="when the trickle starts (default: now)")
    args = parser.parse_args(argv)
    if args.vehicles < 1:
        parser.error("--vehicles must be at least 1")
    if not 0 <= args.trickle_minutes <= 1440:
        parser.error("--trickle-minutes must be from 0 (none) to 1440")
    try:
        server = SimulatorServer(args.host, args.port, vehicles=args.vehicles, routes=args.routes,
                                 seed=args.seed, scenario=args.scenario, scenario_start=args.scenario_start,
                                 sensors=args.sensors, hospitals=args.hospitals, ambulances=args.ambulances,
                                 requests=args.requests, trickle_minutes=args.trickle_minutes,
                                 trickle_start=args.trickle_start)
    except ValueError as exc:
        parser.error(str(exc))

    stopping = threading.Event()

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        url = server.start()
    except OSError as exc:
        print(f"simulator: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr, flush=True)
        return 1
    print(f"simulator serving {url}", flush=True)
    if server.scenario is not None:
        start = iso_local(server.scenario.start, server.hospitals.tz)
        print(f"simulator: scenario {server.scenario.name} from {start}", file=sys.stderr, flush=True)
    if server.trickle is not None:
        start = iso_local(server.trickle.start, server.hospitals.tz)
        print(f"simulator: an ordinary incident every {server.trickle.mean_s / 60:g} min or so from "
              f"{start}", file=sys.stderr, flush=True)
    try:
        while not stopping.wait(0.5):  # short waits keep the main thread responsive to signals
            pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":  # pragma: no cover - python -m data_adapters.simulator.server
    sys.exit(main())
