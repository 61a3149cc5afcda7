"""The embedded Redis killed (SIGKILL) or hung (SIGSTOP) under a real `cityops up` with the demo city.

While the adapters poll the simulator and a user acts through the HTTP API, the embedded
redis-server is killed. The supervisor must have it serving again within 5 s on the same port,
with every alert action, note, assignment and audit entry acknowledged more than a second before
the kill (AOF everysec); the runner and the gunicorn workers must reconnect by themselves (same
pids). A hung Redis must make the pages say "data link lost" until it answers again, and one
that stays hung is killed and restarted by the supervisor.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator
from urllib.parse import urlsplit

import pytest
import redis
import requests
from playwright.sync_api import Route, expect, sync_playwright

from app import store
from app.store.link import PROBE_EVERY_S, SOCKET_TIMEOUT_S, LinkLost, connect
from tests.support.redis_server import RedisServer
from tests.support.up import (
    Up,
    assert_nothing_left,
    child_pid,
    children_of,
    embedded_client,
    kill_group,
    launch,
    login,
    poll,
    post_login,
    redis_url_of,
    start_up,
    stop,
    up_env,
    wait_running,
)
from tests.support.waiting import wait_for

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 "--disable-quic"]
BACK_WITHIN_S = 5.0
AOF_EVERYSEC_S = 1.0
FEED = "demo-vehicles"  # polled every 2 s by the demo


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Up]:
    """`cityops up` with a small demo city, two web workers and a fast heartbeat."""
    data_dir = tmp_path_factory.mktemp("faults").resolve() / "data"
    env = up_env(data_dir, CITYOPS_WEB_WORKERS="2", CITYOPS_DEMO_VEHICLES="20",
                 CITYOPS_DEMO_SENSORS="15", CITYOPS_DEMO_HOSPITALS="1",
                 CITYOPS_DEMO_AMBULANCES="1", CITYOPS_DEMO_REQUESTS="5")
    up = launch(data_dir, env=env, demo=True)
    try:
        wait_running(up)
        assert up.admin_password, up.output()
        yield up
    finally:
        redis_pid = child_pid(up, "redis-server")
        if redis_pid is not None:  # never leave it stopped for the shutdown
            os.kill(redis_pid, signal.SIGCONT)
        if up.process.poll() is None:
            code = stop(up)
            assert code == 0, up.output()
            assert_nothing_left(up)
        kill_group(up)


def csrf(session: requests.Session) -> dict[str, str]:
    """The header a browser's session sends with a POST: the _csrf_token cookie echoed."""
    return {"X-CSRFToken": session.cookies.get("_csrf_token") or ""}


def act(session: requests.Session, base: str, alert_id: str, action: str,
        body: dict[str, str]) -> requests.Response:
    """POST one alert action through the API as the signed-in user."""
    return session.post(f"{base}/api/v1/alerts/{alert_id}/{action}", json=body,
                        headers=csrf(session), timeout=20)


def health(client: redis.Redis, feed: str) -> dict[str, str]:
    """The feed's stored health record."""
    return next(row for row in store.feeds.read_health(client) if row["feed"] == feed)


@dataclass
class Note:
    """One note a user sent, and how the server answered."""

    text: str
    sent: float
    answered: float
    status: int  # 0: no answer (connection error or timeout)


class NoteWriter:
    """A user adding notes to an alert as fast as the server answers, until stopped."""

    def __init__(self, session: requests.Session, base: str, alert_id: str) -> None:
        self.session, self.base, self.alert_id = session, base, alert_id
        self.notes: list[Note] = []
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        number = 0
        while not self.done.is_set():
            number += 1
            text = f"status note {number}"
            sent = time.time()
            try:
                status = act(self.session, self.base, self.alert_id, "note",
                             {"text": text}).status_code
            except requests.RequestException:
                status = 0
            self.notes.append(Note(text, sent, time.time(), status))
            self.done.wait(0.05)

    def stop(self) -> list[Note]:
        """Stop writing; every note sent so far."""
        self.done.set()
        self.thread.join(timeout=30)
        return self.notes


def test_sigkill_of_redis_loses_nothing_acknowledged_and_everyone_reconnects(city: Up) -> None:
    """kill -9 of the embedded Redis while adapters run and a user acts: back within 5 s, the
    acknowledged work kept, runner and web workers reconnected by themselves."""
    assert city.admin_password
    base = city.base
    client = embedded_client(city.data_dir)
    poll(lambda: health(client, FEED).get("last_success"), 60, "the demo feed never succeeded")
    session = login(base, "admin", city.admin_password)
    created = session.post(f"{base}/api/v1/alerts", headers=csrf(session), timeout=20, json={
        "title": "Water main burst on Kangfu Road", "domain": "water", "severity": "major"})
    assert created.status_code == 201, created.text
    alert_id = created.json()["id"]
    for action, body in (("ack", {"note": "crew on the way"}), ("assign", {"user": "admin"}),
                         ("note", {"text": "valve 12 closed"})):
        answer = act(session, base, alert_id, action, body)
        assert answer.status_code == 200, (action, answer.status_code, answer.text)
    writer = NoteWriter(session, base, alert_id)
    # Enough notes acknowledged first (a loaded machine writes them slowly), then the AOF's
    # one-second fsync window passes so that they are on disk before the kill.
    poll(lambda: sum(n.status == 200 for n in writer.notes) >= 6, 60, "the notes are not answered")
    time.sleep(AOF_EVERYSEC_S + 0.5)

    redis_pid = child_pid(city, "redis-server")
    assert redis_pid is not None and int(client.info("server")["process_id"]) == redis_pid
    runner_pid = child_pid(city, "_runner")
    web_pid = child_pid(city, "gunicorn")
    assert runner_pid and web_pid
    workers = set(children_of(web_pid))
    assert len(workers) == 2, workers
    url = redis_url_of(city.data_dir)

    os.kill(redis_pid, signal.SIGKILL)
    killed = time.time()
    poll(lambda: (pid := child_pid(city, "redis-server")) not in (None, redis_pid) and pid, 10,
         "no new redis-server")
    fresh = redis.Redis.from_url(url, decode_responses=True, socket_connect_timeout=0.5,
                                 socket_timeout=1)
    poll(lambda: fresh.ping(), BACK_WITHIN_S + 5, "the embedded Redis is not serving again")
    outage = time.time() - killed
    print(f"\nembedded Redis serving again {outage:.2f} s after SIGKILL (same port, same URL: "
          f"{redis_url_of(city.data_dir) == url})")
    assert outage < BACK_WITHIN_S
    assert redis_url_of(city.data_dir) == url

    # The web workers answer by themselves: a note written after the restart is acknowledged.
    poll(lambda: any(n.status == 200 and n.sent > killed + outage for n in writer.notes), 15,
         "the web app does not answer API calls again")
    notes = writer.stop()

    # Nothing acknowledged before the last second is lost.
    alert = store.alerts.read_alert(fresh, alert_id)
    assert alert is not None, "the alert is gone"
    assert (alert["state"], alert["assignee"]) == ("active_ack", "admin"), alert
    story = store.alerts.read_timeline(fresh, alert_id)
    details = {entry.get("detail", "") for entry in story}
    assert {"crew on the way", "valve 12 closed"} <= details, story
    assert any(entry["action"] == "assign" for entry in story), story
    durable = [n for n in notes if n.status == 200 and n.answered < killed - AOF_EVERYSEC_S]
    last_second = [n for n in notes if n.status == 200 and killed - AOF_EVERYSEC_S <= n.answered
                   < killed]
    assert len(durable) >= 5, notes
    missing = [n.text for n in durable if n.text not in details]
    assert missing == [], missing
    kept_last = sum(n.text in details for n in last_second)
    audited = {(e.action, e.detail) for e in store.audit.read(fresh, count=10_000)
               if e.target == alert_id}
    assert {("alert_ack", "crew on the way"), ("alert_note", "valve 12 closed")} <= audited, \
        audited
    assert any(action == "alert_assign" for action, _ in audited), audited
    assert all(("alert_note", n.text) in audited for n in durable)
    failed = [n for n in notes if n.status != 200]
    print(f"notes acknowledged more than 1 s before the kill: {len(durable)}, all kept; in the "
          f"last second: {kept_last}/{len(last_second)} kept; answered with an error while "
          f"Redis was away: {len(failed)} (statuses {sorted({n.status for n in failed})})")

    # Nobody was restarted: the runner and the web workers reconnected on their own.
    assert child_pid(city, "_runner") == runner_pid
    assert child_pid(city, "gunicorn") == web_pid and set(children_of(web_pid)) == workers
    poll(lambda: float(health(fresh, FEED)["last_success"]) > killed + outage, 15,
         "the runner does not write new data after the restart")
    poll(lambda: float((store.status.read_runner_heartbeat(fresh) or {})["beat_at"]) > killed + outage,
         10, "the runner does not beat after the restart")
    after = time.time()
    again = session.get(f"{base}/api/v1/alerts/{alert_id}", timeout=20)
    assert again.status_code == 200 and again.json()["state"] == "active_ack", again.text
    print(f"runner wrote {FEED} again {float(health(fresh, FEED)['last_success']) - killed:.2f} s "
          f"after the kill; API answered {time.time() - after:.3f} s")
    fresh.close()
    client.close()


def test_client_fails_fast_while_redis_hangs_and_finds_it_again(redis_server: RedisServer) -> None:
    """A hung Redis costs one timeout per client, not one per call; the link comes back alone."""
    client = connect(redis_server.url)
    client.set("fault:probe", "1")
    os.kill(redis_server.process.pid, signal.SIGSTOP)
    try:
        started = time.monotonic()
        with pytest.raises(redis.TimeoutError):
            client.get("fault:probe")
        first = time.monotonic() - started
        started = time.monotonic()
        for _ in range(20):
            with pytest.raises(LinkLost):
                client.get("fault:probe")
        with pytest.raises(LinkLost):
            client.pipeline().get("fault:probe").execute()
        fast = (time.monotonic() - started) / 21
    finally:
        os.kill(redis_server.process.pid, signal.SIGCONT)

    def answers() -> bool:
        try:
            return client.get("fault:probe") == "1"
        except redis.RedisError:
            return False

    resumed = time.monotonic()
    assert wait_for(answers, timeout=PROBE_EVERY_S + SOCKET_TIMEOUT_S + 2)
    print(f"\nhung Redis: first call failed after {first:.2f} s, the next ones in "
          f"{fast * 1000:.2f} ms each; answered again {time.monotonic() - resumed:.2f} s after "
          f"SIGCONT")
    assert first >= SOCKET_TIMEOUT_S - 0.5
    assert fast < 0.05
    assert client.pipeline().get("fault:probe").execute() == ["1"]
    client.close()


def _loopback_only(route: Route) -> None:
    """Let requests to 127.0.0.1 through; abort anything else."""
    if urlsplit(route.request.url).hostname == "127.0.0.1":
        route.continue_()
    else:
        route.abort("blockedbyclient")


@pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is missing")
def test_hung_redis_shows_data_link_lost_until_it_answers(city: Up) -> None:
    """SIGSTOP of the embedded Redis (it accepts connections but never answers): the page says
    "data link lost"; SIGCONT: the banner goes away by itself."""
    assert city.admin_password
    redis_pid = child_pid(city, "redis-server")
    assert redis_pid is not None
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                             args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1280, "height": 800})
        context.set_default_timeout(30_000)
        context.route("**/*", _loopback_only)
        page = context.new_page()
        page.goto(f"{city.base}/login")
        page.fill("#username", "admin")
        page.fill("#password", city.admin_password)
        page.click("#login-submit")
        expect(page).to_have_url(f"{city.base}/", timeout=30_000)
        banner = page.locator("#link-banner")
        expect(page.locator("#data-as-of .as-of-main")).to_be_visible(timeout=30_000)
        expect(banner).to_be_hidden()
        os.kill(redis_pid, signal.SIGSTOP)
        stopped = time.monotonic()
        try:
            expect(banner).to_be_visible(timeout=30_000)
            shown = time.monotonic() - stopped
            expect(banner).to_contain_text("Data link lost")
        finally:
            os.kill(redis_pid, signal.SIGCONT)
        resumed = time.monotonic()
        expect(banner).to_be_hidden(timeout=30_000)
        hidden = time.monotonic() - resumed
        print(f"\nhung Redis: banner shown {shown:.2f} s after SIGSTOP, hidden {hidden:.2f} s "
              f"after SIGCONT")
        context.close()
        browser.close()
    assert child_pid(city, "redis-server") == redis_pid  # a hang is not a crash: no restart


HUNG_AFTER_S = 3.0


def test_a_redis_hung_for_good_is_killed_and_restarted_with_its_data(tmp_path: Path) -> None:
    """SIGSTOP of the embedded Redis that never ends: after CITYOPS_REDIS_HUNG_SECONDS without an
    answer the supervisor kills it and starts it again from its AOF, on the same port, and the
    web app serves again (a short hang, as in the banner test above, is waited out instead)."""
    data_dir = tmp_path / "data"
    up = start_up(data_dir, env=up_env(data_dir, CITYOPS_REDIS_HUNG_SECONDS=str(HUNG_AFTER_S)))
    try:
        assert up.admin_password
        url = redis_url_of(data_dir)
        client = redis.Redis.from_url(url, decode_responses=True, socket_connect_timeout=1,
                                      socket_timeout=2)
        marker = f"before-the-hang-{time.time_ns()}"
        store.audit.append(client, "test", "marker", target=marker)
        aof = data_dir / "redis" / "cityops.aof"
        poll(lambda: marker.encode() in aof.read_bytes(), 5, "the marker is not in the AOF")
        hung = child_pid(up, "redis-server")
        assert hung is not None
        os.kill(hung, signal.SIGSTOP)
        stopped = time.monotonic()
        poll(lambda: child_pid(up, "redis-server") not in (None, hung) and client.ping(),
             HUNG_AFTER_S + 15, "the hung Redis was not replaced")
        back = time.monotonic() - stopped
        print(f"\nRedis hung for good (SIGSTOP): serving again {back:.2f} s later "
              f"(CITYOPS_REDIS_HUNG_SECONDS={HUNG_AFTER_S:.0f})")
        assert back >= HUNG_AFTER_S - 0.5  # not killed before its time
        assert redis_url_of(data_dir) == url
        assert any(e.target == marker for e in store.audit.read(client))
        client.close()
        assert "has not answered for" in up.err.text(), up.output()
        poll(lambda: post_login(up.base, "admin", up.admin_password or "")[1].status_code == 302,
             15, "the web app does not serve again")
    finally:
        leftover = child_pid(up, "redis-server")
        if leftover is not None:
            os.kill(leftover, signal.SIGCONT)
        assert stop(up) == 0, up.output()
        assert_nothing_left(up)
