"""The soak's load: a cookie-keeping HTTP session, wall and API clients, and what they measured."""

from __future__ import annotations

import http.client
import json
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from app.bench.web import STATUS_OUTPUTS, _tick_body
from app.soak.errors import SoakError

REQUEST_TIMEOUT_S = 15.0
SOAK_USER = "soak-operator"
API_PATHS = ("/api/v1/feeds", "/api/v1/kpis", "/api/v1/alerts", "/api/v1/entities/transport?kind=vehicle")


class HttpSession:
    """A cookie-keeping client of the local web server that echoes the CSRF cookie, as Dash does."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.cookies: dict[str, str] = {}
        self.conn: http.client.HTTPConnection | None = None
        self.etag = ""  # the last response's ETag, if it had one

    def close(self) -> None:
        """Drop the connection (the next request opens a new one)."""
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def request(self, method: str, path: str, body: bytes | None = None,
                content_type: str = "application/json",
                extra: dict[str, str] | None = None) -> tuple[int, bytes]:
        """One request (``extra``: more headers); (status, body). A broken connection is closed
        and the error raised."""
        if self.conn is None:
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=REQUEST_TIMEOUT_S)
        try:
            self.conn.request(method, path, body=body,
                              headers={**self._headers(body, content_type), **(extra or {})})
            response = self.conn.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException):
            self.close()
            raise
        self._keep_cookies(response)
        self.etag = response.getheader("ETag") or ""
        if response.will_close:
            self.close()
        return response.status, data

    def _headers(self, body: bytes | None, content_type: str) -> dict[str, str]:
        """The cookies, and for a body its type and the CSRF token."""
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}
        if body is not None:
            headers["Content-Type"] = content_type
            headers["X-CSRFToken"] = self.cookies.get("_csrf_token", "")
        return headers

    def _keep_cookies(self, response: http.client.HTTPResponse) -> None:
        for name, value in response.getheaders():
            if name.lower() == "set-cookie":
                key, _, rest = value.partition("=")
                self.cookies[key.strip()] = rest.split(";", 1)[0]

    def login(self, name: str, password: str) -> None:
        """Sign in through the login form; raises SoakError when refused."""
        self.request("GET", "/login")
        form = urllib.parse.urlencode({"username": name, "password": password, "next": "/",
                                       "csrf_token": self.cookies.get("_csrf_token", "")}).encode()
        status, _ = self.request("POST", "/login", form, "application/x-www-form-urlencoded")
        if status != 302:
            raise SoakError(f"the soak's operator could not log in (HTTP {status})")


@dataclass
class LoadStats:
    """What the clients did: requests and errors, and latencies (ms) of answered requests, per kind."""

    requests: int = 0
    errors: int = 0
    errors_by_kind: dict[str, int] = field(default_factory=dict)
    latencies: dict[str, list[float]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, kind: str, ms: float, ok: bool) -> None:
        """Count one request (a failed one adds no latency: it would only measure the fault)."""
        with self.lock:
            self.requests += 1
            if ok:
                self.latencies.setdefault(kind, []).append(ms)
            else:
                self.errors += 1
                self.errors_by_kind[kind] = self.errors_by_kind.get(kind, 0) + 1

    def counts(self) -> tuple[int, int]:
        """(requests, errors) so far."""
        with self.lock:
            return self.requests, self.errors

    def summary(self) -> dict[str, Any]:
        """Totals and the p95 latency of each request kind."""
        with self.lock:
            p95 = {kind: round(_percentile(values, 0.95), 1) for kind, values in self.latencies.items()}
            return {"requests": self.requests, "errors": self.errors,
                    "errors_by_kind": dict(self.errors_by_kind), "p95_ms": p95}


def _percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[int(q * (len(ordered) - 1))] if ordered else float("nan")


def _paced(period_s: float, stop: threading.Event, stats: LoadStats, step: Callable[[], None],
           errors: tuple[type[Exception], ...]) -> None:
    """``step()`` every ``period_s`` until ``stop``; a step failing with ``errors`` counts as one
    failed request of kind "error"."""
    while not stop.is_set():
        began = time.perf_counter()
        try:
            step()
        except errors:
            if stop.is_set():
                break  # the soak is stopping the city under this request: not the city's failure
            stats.add("error", (time.perf_counter() - began) * 1000, False)
        stop.wait(max(0.0, period_s - (time.perf_counter() - began)))


def _wall_map_url() -> str:
    """The frame a wall's city map asks for (layouts/wall_map.py), at the wall's opening view."""
    from app.situation import mapdata
    from layouts import ids, wall_map
    from layouts.wall import WALL_ZOOM

    return wall_map.frame_url(ids.WALL_MAP, mapdata.view_around(*mapdata.DEFAULT_CENTER, WALL_ZOOM))


class _Wall:
    """One wall display's session: its token URL, and what its status and map ticks returned."""

    def __init__(self, port: int, token: str, stats: LoadStats) -> None:
        self.session = HttpSession(port)
        self.token = token
        self.stats = stats
        self.seen: Any = None
        self.map_url = _wall_map_url()
        self.map_held = ""  # the ETag of the map frame this wall holds
        self.opened = False

    def poll(self) -> None:
        """One second of a wall: (re)open it if need be, then the status tick and the map's frame."""
        if not self.opened:  # again after a lost session: a wall reopens its token URL
            self.session.request("GET", f"/wall?token={urllib.parse.quote(self.token)}")
            self.opened = self.session.request("GET", "/wall")[0] == 200
        self._tick("status_tick", _tick_body(self.seen))
        self._map()

    def _map(self) -> None:
        """The map's frame, as assets/wall_map.js asks it: 304 while the one held is current."""
        started = time.perf_counter()
        status, _ = self.session.request(
            "GET", self.map_url, extra={"If-None-Match": self.map_held} if self.map_held else None)
        self.stats.add("map_tick", (time.perf_counter() - started) * 1000, status in (200, 304))
        if status == 200:
            self.map_held = self.session.etag
        elif status in (401, 403):
            self.opened = False

    def _tick(self, kind: str, body: dict[str, Any]) -> None:
        """The status strip's Dash callback, counted; keep what it returned for the next one."""
        started = time.perf_counter()
        status, data = self.session.request("POST", "/_dash-update-component", json.dumps(body).encode())
        self.stats.add(kind, (time.perf_counter() - started) * 1000, status in (200, 204))
        if status == 200:
            self.seen = json.loads(data)["response"][STATUS_OUTPUTS[2][0]]["data"]
        elif status in (401, 403):
            self.opened = False


def wall_client(port: int, token: str, stats: LoadStats, stop: threading.Event) -> None:
    """A wall display: each second the status tick and the map's frame, keeping what they return."""
    wall = _Wall(port, token, stats)
    _paced(1.0, stop, stats, wall.poll, (OSError, http.client.HTTPException, ValueError, KeyError))


class _ApiReader:
    """An operator's script: logged in, reading the API paths in turn."""

    def __init__(self, port: int, password: str, stats: LoadStats) -> None:
        self.session = HttpSession(port)
        self.password = password
        self.stats = stats
        self.logged_in = False
        self.n = 0

    def read(self) -> None:
        """Log in if need be, then read the next path."""
        began = time.perf_counter()
        if not self.logged_in:
            self.session.login(SOAK_USER, self.password)
            self.logged_in = True
        status, _ = self.session.request("GET", API_PATHS[self.n % len(API_PATHS)])
        self.n += 1
        self.stats.add("api", (time.perf_counter() - began) * 1000, status == 200)
        self.logged_in = status != 401


def api_client(port: int, password: str, stats: LoadStats, stop: threading.Event) -> None:
    """An operator's script: logged in, one API read every two seconds in turn."""
    reader = _ApiReader(port, password, stats)
    _paced(2.0, stop, stats, reader.read, (OSError, http.client.HTTPException, SoakError))


def start_clients(port: int, token: str, password: str, walls: int, stats: LoadStats,
                  stop: threading.Event) -> list[threading.Thread]:
    """``walls`` wall clients on ``token`` and one API client, each in its own daemon thread."""
    targets: list[tuple[Callable[..., None], tuple[Any, ...]]] = [
        (wall_client, (port, token, stats, stop)) for _ in range(walls)]
    targets.append((api_client, (port, password, stats, stop)))
    threads = []
    for target, args in targets:
        thread = threading.Thread(target=target, args=args, daemon=True, name="soak-client")
        thread.start()
        threads.append(thread)
    return threads
