"""The web app under gunicorn with 4 workers: sessions, CSRF, logout and live data agree on all.

Gunicorn is started as ``cityops up`` starts it (gthread workers, app.web.wsgi:application) on a free
port, against the test redis-server, with CITYOPS_SECRET_KEY set. Every request carries its own id
and ``Connection: close``, so each one is a new connection that any worker may accept; the access
log names the worker's pid per request id, so each answer is known to come from a given worker.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
import redis
import requests

from app import accounts, store
from app.model.records import Entity
from app.store.embedded import die_with_parent, free_port
from app.store.link import connect
from app.web import sessions
from tests.support.paths import REPO
from tests.support.web import LIVE_BODY, PASSWORD

WORKERS = 4
START_TIMEOUT_S = 120.0
# Enough tries that 4 workers all answer (each accept is a race between idle workers).
MAX_TRIES = 400
REQUEST_HEADER = "X-Test-Request"


@dataclass
class Gunicorn:
    """A gunicorn master with its workers, and the access log that maps request ids to pids."""

    process: subprocess.Popen[bytes]
    base_url: str
    redis_url: str
    access_log: Path
    error_log: Path
    pid_of: dict[str, int] = field(default_factory=dict)

    def workers(self) -> set[int]:
        """The pids of the master's worker processes now."""
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return {int(pid) for pid in children.read_text().split()}

    def _read_log(self) -> None:
        for line in self.access_log.read_text(encoding="utf-8", errors="replace").splitlines():
            # "<request id> <<pid>> <status>": gunicorn writes the pid in angle brackets.
            request_id, _, rest = line.partition(" ")
            pid = rest.partition(" ")[0].strip("<>")
            if pid.isdigit():
                self.pid_of[request_id] = int(pid)

    def worker_of(self, request_id: str) -> int:
        """The pid of the worker that served ``request_id`` (it logs right after answering)."""
        deadline = time.monotonic() + 10
        while request_id not in self.pid_of:
            if time.monotonic() > deadline:
                raise AssertionError(f"request {request_id} is not in the access log")
            time.sleep(0.02)
            self._read_log()
        return self.pid_of[request_id]

    def call(self, session: requests.Session, method: str, path: str,
             **kwargs: Any) -> tuple[requests.Response, int]:
        """One request on a fresh connection: (response, pid of the worker that answered)."""
        request_id = uuid.uuid4().hex
        headers = {REQUEST_HEADER: request_id, "Connection": "close", **kwargs.pop("headers", {})}
        response = session.request(method, self.base_url + path, headers=headers,
                                   allow_redirects=False, timeout=30, **kwargs)
        return response, self.worker_of(request_id)

    def on_every_worker(self, session: requests.Session, method: str, path: str,
                        check: Callable[[requests.Response], None],
                        **kwargs: Any) -> dict[int, int]:
        """Repeat a request until every worker answered it; ``check`` each answer.

        Returns worker pid -> how many answers it gave.
        """
        served: dict[int, int] = {}
        for _ in range(MAX_TRIES):
            response, pid = self.call(session, method, path, **kwargs)
            check(response)
            served[pid] = served.get(pid, 0) + 1
            if len(served) == WORKERS:
                break
        assert set(served) == self.workers(), (served, self.workers())
        return served

    def log_tail(self) -> str:
        """The end of gunicorn's error log, for failure messages."""
        try:
            return self.error_log.read_text(encoding="utf-8", errors="replace")[-3000:]
        except OSError:
            return "(no error log)"


def _env(data_dir: Path, redis_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CITYOPS_")}
    env.update(CITYOPS_DATA_DIR=str(data_dir), CITYOPS_REDIS_URL=redis_url,
               CITYOPS_SECRET_KEY=secrets.token_urlsafe(48), PYTHONUNBUFFERED="1")
    return env


@pytest.fixture(scope="module", params=["standalone", "cluster"])
def web(request: pytest.FixtureRequest,
        tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gunicorn]:
    """The web app under gunicorn with 4 gthread workers, every worker booted and answering,
    on the test redis-server and then on the test Redis Cluster (the whole scale-out)."""
    backend = request.getfixturevalue("redis_server" if request.param == "standalone"
                                      else "redis_cluster")
    redis_url = str(backend.url)
    # Leftovers of earlier modules (a feed turning stale, a heartbeat expiring) would change the
    # live status between two polls; from here on only this module writes.
    client = connect(redis_url)
    client.flushall()
    client.close()
    directory = tmp_path_factory.mktemp("gunicorn")
    access_log, error_log = directory / "access.log", directory / "error.log"
    port = free_port()
    # The arguments of app/supervisor.py's web child, plus an access log that names the pid.
    argv = [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}",
            "--workers", str(WORKERS), "--threads", "4", "--worker-class", "gthread",
            "--timeout", "60", "--graceful-timeout", "10", "--log-level", "warning",
            "--error-logfile", str(error_log), "--limit-request-field_size", "16384",
            "--access-logfile", str(access_log),
            "--access-logformat", f"%({{{REQUEST_HEADER.lower()}}}i)s %(p)s %(s)s",
            "app.web.wsgi:application"]
    process = subprocess.Popen(argv, cwd=REPO, env=_env(directory / "data", redis_url),
                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, preexec_fn=die_with_parent)
    server = Gunicorn(process, f"http://127.0.0.1:{port}", redis_url, access_log, error_log)
    session = requests.Session()
    session.trust_env = False  # no proxy for loopback
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            assert process.poll() is None, f"gunicorn exited: {server.log_tail()}"
            assert time.monotonic() < deadline, f"gunicorn did not answer: {server.log_tail()}"
            try:
                if session.get(server.base_url + "/healthz", timeout=5).status_code == 200:
                    break
            except requests.RequestException:  # refused, or queued while workers boot
                time.sleep(0.2)
        # Workers boot one after another; /healthz until each of the 4 has answered.
        while len(server.workers()) < WORKERS or len(
                {server.call(session, "GET", "/healthz")[1] for _ in range(40)}) < WORKERS:
            assert time.monotonic() < deadline, f"not all workers answer: {server.log_tail()}"
        yield server
    finally:
        session.close()
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def rr(web: Gunicorn) -> Iterator[redis.Redis]:
    """A client of the Redis the workers use (not flushed: each test uses its own names)."""
    client = connect(web.redis_url)
    yield client
    client.close()


def _user(r: redis.Redis, role: str = "operator") -> str:
    name = f"w{uuid.uuid4().hex[:10]}"
    return accounts.add_user(r, name, role, PASSWORD)


def _browser() -> requests.Session:
    session = requests.Session()
    session.trust_env = False
    return session


def _sign_in(web: Gunicorn, browser: requests.Session, name: str) -> int:
    """Log in through the form; returns the pid of the worker that made the session."""
    page, _ = web.call(browser, "GET", "/login")
    assert page.status_code == 200
    token = browser.cookies.get("_csrf_token")
    assert token
    answer, pid = web.call(browser, "POST", "/login", data={
        "username": name, "password": PASSWORD, "csrf_token": token, "next": "/"})
    assert answer.status_code == 302 and answer.headers["Location"].endswith("/"), answer.text
    assert browser.cookies.get(sessions.SESSION_COOKIE)
    return pid


def _csrf(browser: requests.Session) -> dict[str, str]:
    return {"X-CSRFToken": browser.cookies.get("_csrf_token") or ""}


def test_every_request_names_its_worker(web: Gunicorn) -> None:
    """Four workers, each of them answering: the other tests can tell them apart."""
    assert len(web.workers()) == WORKERS and web.process.pid not in web.workers()
    served = web.on_every_worker(_browser(), "GET", "/healthz",
                                 lambda resp: _expect(resp, 200))
    assert sum(served.values()) >= WORKERS


def _expect(response: requests.Response, status: int) -> None:
    assert response.status_code == status, (response.status_code, response.text[:300])


def test_a_session_made_on_one_worker_is_valid_on_every_worker(web: Gunicorn,
                                                               rr: redis.Redis) -> None:
    """Logged in on one worker: the API and the pages know the user on all four."""
    name = _user(rr)
    browser = _browser()
    made_on = _sign_in(web, browser, name)

    def me(resp: requests.Response) -> None:
        _expect(resp, 200)
        assert resp.json()["name"] == name and resp.json()["role"] == "operator"

    served = web.on_every_worker(browser, "GET", "/api/v1/me", me)
    assert made_on in served and len(served) == WORKERS
    web.on_every_worker(browser, "GET", "/", lambda resp: _expect(resp, 200))
    stranger = _browser()
    web.on_every_worker(stranger, "GET", "/api/v1/me", lambda resp: _expect(resp, 401))


def test_csrf_token_from_one_worker_is_accepted_by_all_and_a_wrong_one_by_none(
        web: Gunicorn, rr: redis.Redis) -> None:
    """A Dash POST echoing the token issued at login passes everywhere; wrong or missing: 403."""
    browser = _browser()
    _sign_in(web, browser, _user(rr))
    web.on_every_worker(browser, "POST", "/_dash-update-component",
                        lambda resp: _expect(resp, 200), json=LIVE_BODY, headers=_csrf(browser))
    web.on_every_worker(browser, "POST", "/_dash-update-component",
                        lambda resp: _expect(resp, 403), json=LIVE_BODY,
                        headers={"X-CSRFToken": secrets.token_urlsafe(32)})
    web.on_every_worker(browser, "POST", "/_dash-update-component",
                        lambda resp: _expect(resp, 403), json=LIVE_BODY)
    # The token of another session is no key to this one.
    other = _browser()
    _sign_in(web, other, _user(rr))
    web.on_every_worker(browser, "POST", "/_dash-update-component",
                        lambda resp: _expect(resp, 403), json=LIVE_BODY, headers=_csrf(other))


def test_logout_on_one_worker_ends_the_session_on_every_worker(web: Gunicorn,
                                                               rr: redis.Redis) -> None:
    """After logout the browser is anonymous on all workers, and a copy of the old session
    cookie (kept by an attacker) is refused by all of them too."""
    browser = _browser()
    _sign_in(web, browser, _user(rr))
    stolen = _browser()
    stolen.cookies.update(browser.cookies)
    web.on_every_worker(stolen, "GET", "/api/v1/me", lambda resp: _expect(resp, 200))
    answer, _ = web.call(browser, "POST", "/logout", headers=_csrf(browser))
    assert answer.status_code == 302 and answer.headers["Location"].endswith("/login")
    web.on_every_worker(browser, "GET", "/api/v1/me", lambda resp: _expect(resp, 401))
    web.on_every_worker(browser, "GET", "/", lambda resp: _expect(resp, 302))
    web.on_every_worker(stolen, "GET", "/api/v1/me", lambda resp: _expect(resp, 401))


def _bus(lat: float, at: float) -> Entity:
    return Entity("transport", "vehicle", "gw:vehicle:1", lat, 112.36, "in_service", at, "gw",
                  {"label": "Bus 1"})


def test_live_updates_written_after_the_page_loaded_reach_every_worker(
        web: Gunicorn, rr: redis.Redis) -> None:
    """Data written to Redis after a page loaded is what every worker serves next: the API's
    entities and the live status callback (the browser's 1 s poll, answered 204 when unchanged)."""
    browser = _browser()
    _sign_in(web, browser, _user(rr))
    at = time.time()
    store.entities.write_batch(rr, "transport", "gw", entities=[_bus(28.50, at)])
    _expect(web.call(browser, "GET", "/")[0], 200)  # the page is loaded

    def bus_at(lat: float) -> Callable[[requests.Response], None]:
        def check(resp: requests.Response) -> None:
            _expect(resp, 200)
            rows = [e for e in resp.json()["entities"] if e["id"] == "gw:vehicle:1"]
            assert [row["lat"] for row in rows] == [lat]
        return check

    path = "/api/v1/entities/transport?kind=vehicle"
    web.on_every_worker(browser, "GET", path, bus_at(28.50))
    seen: list[Any] = []

    def status_with(version: int) -> Callable[[requests.Response], None]:
        def check(resp: requests.Response) -> None:
            _expect(resp, 200)
            signature = resp.json()["response"]["live-seen"]["data"]
            assert signature[0][:2] == ["transport", version]
            seen[:] = [signature]
        return check

    version = store.status.domain_versions(rr)["transport"][0]
    web.on_every_worker(browser, "POST", "/_dash-update-component", status_with(version),
                        json=LIVE_BODY, headers=_csrf(browser))
    polled = dict(LIVE_BODY, state=[{"id": "live-seen", "property": "data", "value": seen[0]}])
    web.on_every_worker(browser, "POST", "/_dash-update-component",
                        lambda resp: _expect(resp, 204), json=polled, headers=_csrf(browser))
    # The bus moves: every worker's next answer has it, and none says "nothing changed".
    store.entities.write_batch(rr, "transport", "gw", entities=[_bus(28.51, at + 1)])
    moved = store.status.domain_versions(rr)["transport"][0]
    assert moved > version
    web.on_every_worker(browser, "GET", path, bus_at(28.51))
    web.on_every_worker(browser, "POST", "/_dash-update-component", status_with(moved),
                        json=polled, headers=_csrf(browser))
