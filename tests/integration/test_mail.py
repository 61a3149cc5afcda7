"""E-mail to a real SMTP server on loopback (aiosmtpd) with STARTTLS against a test certificate
authority and a login: escalations arrive, feed text is inert, a refused login or an absent
server loses nothing."""

from __future__ import annotations

import email
import email.policy
import threading
import time
from pathlib import Path
from typing import Any, Iterator

import pytest
import redis
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from app import store
from app.alerts import lifecycle
from app.config import Settings, load_settings, updated
from app.outbound.dispatcher import Dispatcher
from app.store.embedded import free_port
from tests.support.waiting import wait_for

HOSTILE = "<script>alert(1)</script> & 水管爆裂 \"x\""
USER, PASSWORD = "cityops", "mail password 42"


class Inbox:
    """What the SMTP server accepted."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], email.message.EmailMessage]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # aiosmtpd's name
        message = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), message))
        return "250 OK"


def _authenticator(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
    ok = isinstance(data, LoginPassword) and data.login == USER.encode() and \
        data.password == PASSWORD.encode()
    return AuthResult(success=ok, handled=False)  # handled=False: the server answers 535


class SmtpServer:
    """aiosmtpd on 127.0.0.1:``port`` requiring STARTTLS before AUTH."""

    def __init__(self, ca: trustme.CA, port: int) -> None:
        self.inbox = Inbox()
        context = ca.issue_cert("127.0.0.1").configure_cert
        import ssl

        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context(tls)
        self.controller = Controller(self.inbox, hostname="127.0.0.1", port=port,
                                     tls_context=tls, require_starttls=True,
                                     authenticator=_authenticator, auth_require_tls=True)

    def start(self) -> SmtpServer:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()


@pytest.fixture
def ca(tmp_path: Path) -> tuple[trustme.CA, Path]:
    authority = trustme.CA()
    pem = tmp_path / "ca.pem"
    authority.cert_pem.write_to_path(str(pem))
    return authority, pem


def mail_settings(tmp_path: Path, port: int, ca_file: Path, password: str = PASSWORD) -> Settings:
    base = load_settings(environ={"CITYOPS_DATA_DIR": str(tmp_path)})
    return updated(base, {"mail.host": "127.0.0.1", "mail.port": port, "mail.starttls": True,
                          "mail.ca_file": ca_file, "mail.username": USER, "mail.password": password,
                          "mail.sender": "cityops@city.example.org",
                          "mail.escalations_to": ("duty@city.example.org", "chief@city.example.org"),
                          "outbound.max_backoff_s": 1.0, "outbound.down_after_s": 0.5,
                          "outbound.public_url": "https://ops.example.org"})


class Running:
    """A dispatcher in a thread of the test."""

    def __init__(self, settings: Settings, redis_url: str) -> None:
        self.dispatcher = Dispatcher(settings, redis_url)
        self.thread = threading.Thread(target=self.dispatcher.run, daemon=True)
        self.thread.start()
        assert self.dispatcher.ready.wait(10)

    def stop(self) -> None:
        self.dispatcher.stop()
        self.thread.join(timeout=20)
        assert not self.thread.is_alive()


@pytest.fixture
def running() -> Iterator[list[Running]]:
    started: list[Running] = []
    yield started
    for one in started:
        if one.thread.is_alive():
            one.stop()


def escalate_one(r: redis.Redis, key: str) -> str:
    alert_id = lifecycle.raise_alert(r, fingerprint=f"mail|{key}", title=HOSTILE, severity="critical",
                                     domain="water", source="test", rule="pressure_low",
                                     description=HOSTILE).alert_id
    assert lifecycle.escalate(r, alert_id, deadline_s=0, now=time.time() + 1)
    return alert_id


def test_an_escalation_is_mailed_over_starttls_with_a_login(
        r: redis.Redis, redis_url: str, tmp_path: Path, ca: tuple[trustme.CA, Path],
        running: list[Running]) -> None:
    server = SmtpServer(ca[0], free_port()).start()
    try:
        running.append(Running(mail_settings(tmp_path, server.controller.port, ca[1]), redis_url))
        alert_id = escalate_one(r, "a")
        assert wait_for(lambda: len(server.inbox.messages) == 1, timeout=15)
        sender, recipients, message = server.inbox.messages[0]
        assert sender == "cityops@city.example.org"
        assert recipients == ["duty@city.example.org", "chief@city.example.org"]
        # The installation's mail language (zh by default), the feed's title as sent.
        assert message["Subject"] == f"[CityOps] 告警升级（无人确认）：{' '.join(HOSTILE.split())}"
        assert message["Auto-Submitted"] == "auto-generated"
        text = message.get_body(("plain",)).get_content()
        html = message.get_body(("html",)).get_content()
        assert HOSTILE in text and "紧急" in text and "供水" in text
        assert f"https://ops.example.org/alerts?alert={alert_id}" in text
        assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
        assert "#D55E00" in html  # the critical severity's one colour
        assert alert_id not in text.replace(f"alert={alert_id}", "")  # no id shown as text
        assert wait_for(lambda: store.outbound.mail_status(r)["delivered"] == 1)
        status = store.outbound.mail_status(r)
        assert status["state"] == "ok" and status["queued"] == 0
    finally:
        server.stop()


def test_a_refused_login_or_an_absent_server_loses_nothing(
        r: redis.Redis, redis_url: str, tmp_path: Path, ca: tuple[trustme.CA, Path],
        running: list[Running]) -> None:
    port = free_port()
    # No server at all: the e-mail waits, the state says why.
    first = Running(mail_settings(tmp_path, port, ca[1]), redis_url)
    running.append(first)
    escalate_one(r, "absent")
    assert wait_for(lambda: store.outbound.mail_status(r)["state"] == "down", timeout=15)
    assert store.outbound.mail_status(r)["last_status"].startswith("no answer")
    first.stop()
    # A server that refuses the login: still waiting.
    server = SmtpServer(ca[0], port).start()
    try:
        second = Running(mail_settings(tmp_path, port, ca[1], password="wrong password"), redis_url)
        running.append(second)
        escalate_one(r, "refused")
        assert wait_for(lambda: store.outbound.mail_status(r)["last_status"].startswith("535"),
                        timeout=15)
        assert wait_for(lambda: store.outbound.mail_status(r)["queued"] == 2)
        assert server.inbox.messages == []
        second.stop()
        # Fixed: both arrive, oldest first.
        running.append(Running(mail_settings(tmp_path, port, ca[1]), redis_url))
        assert wait_for(lambda: len(server.inbox.messages) == 2, timeout=15)
        assert wait_for(lambda: store.outbound.mail_status(r)["queued"] == 0)
    finally:
        server.stop()


def test_a_server_with_a_certificate_nobody_vouches_for_gets_nothing(
        r: redis.Redis, redis_url: str, tmp_path: Path, ca: tuple[trustme.CA, Path],
        running: list[Running]) -> None:
    """STARTTLS checks the server's certificate: another authority's is refused before the login."""
    stranger = trustme.CA()
    server = SmtpServer(stranger, free_port()).start()
    try:
        running.append(Running(mail_settings(tmp_path, server.controller.port, ca[1]), redis_url))
        escalate_one(r, "mitm")
        assert wait_for(lambda: "CERTIFICATE_VERIFY_FAILED" in store.outbound.mail_status(r)
                        .get("last_status", ""), timeout=15)
        assert server.inbox.messages == [] and store.outbound.mail_status(r)["queued"] == 1
    finally:
        server.stop()


def test_a_departments_tasks_and_notices_are_mailed_to_its_address(
        r: redis.Redis, redis_url: str, tmp_path: Path, ca: tuple[trustme.CA, Path],
        running: list[Running]) -> None:
    """Declaring an incident mails each department with an address its tasks; the SOP's
    "notify" step mails the departments it notifies."""
    from app import incidents
    from app.incidents import actions
    from app.model import roles
    from tests.support.incidents import CATALOGUE, person

    server = SmtpServer(ca[0], free_port()).start()
    try:
        settings = updated(mail_settings(tmp_path, server.controller.port, ca[1]), {
            "mail.departments": {"water_bureau": "duty@water.example.org",
                                 "emergency_management": "duty@ema.example.org"},
            "mail.language": "en"})
        running.append(Running(settings, redis_url))
        declared_at = time.time()
        incident = incidents.declare(r, person("ada", roles.ADMIN), CATALOGUE, title=HOSTILE,
                                     kind="water_main_burst", level="II", lat=28.55, lon=112.36,
                                     now=declared_at)
        def to(address: str) -> list[email.message.EmailMessage]:
            return [m[2] for m in server.inbox.messages if m[1] == [address]]

        assert wait_for(lambda: to("duty@water.example.org") and to("duty@ema.example.org"),
                        timeout=15)
        assert len(to("duty@water.example.org")) == 1  # one e-mail for all of its tasks
        message = to("duty@water.example.org")[0]
        assert message["Subject"].startswith("[CityOps] Water bureau: new tasks for incident #")
        text = message.get_body(("plain",)).get_content()
        html = message.get_body(("html",)).get_content()
        water_tasks = [t for t in incidents.incident_tasks(r, incident["id"])
                       if t["department"] == "water_bureau"]
        assert water_tasks and all(t["title"] in text for t in water_tasks)
        assert HOSTILE in text and "<script>" not in html
        # The steps the system does itself: a due "notify" step tells its departments.
        work = actions.due_tasks(r, declared_at + 7 * 86_400)
        notified = [task for task, action in work.done if action == "notify"]
        assert notified
        assert wait_for(lambda: any("notifies Water bureau" in m.get_body(("plain",)).get_content()
                                    for m in to("duty@water.example.org")), timeout=15)
    finally:
        server.stop()
