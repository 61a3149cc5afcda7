"""Behind a reverse proxy: the client's address comes from X-Forwarded-For only when configured.

The login throttle and the audit log key on the client's address. With no trusted proxy the
forwarded headers are ignored (anyone can write them); with ``CITYOPS_TRUSTED_PROXIES=1`` the entry
the proxy appended counts, never one the client wrote before it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import redis

from app import store
from app.accounts import signin
from app.config import ConfigError, load_settings
from tests.support.redis_server import RedisServer
from tests.support.web import PASSWORD, login

PROXY = "10.0.0.2"


@pytest.fixture(scope="module")
def proxied_app(redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The web app configured for one trusted reverse proxy."""
    from app.web.server import create_app

    settings = load_settings(environ={
        "CITYOPS_DATA_DIR": str(tmp_path_factory.mktemp("proxied")),
        "CITYOPS_REDIS_URL": redis_server.url,
        "CITYOPS_TRUSTED_PROXIES": "1",
    })
    assert settings.web.trusted_proxies == 1
    return create_app(settings)


def _failed_login(client: Any, name: str, forwarded: str) -> Any:
    """One wrong-password login from the proxy's connection carrying ``forwarded``."""
    client.get("/login", environ_base={"REMOTE_ADDR": PROXY})
    token = client.get_cookie("_csrf_token").value
    return client.post("/login", data={"username": name, "password": "wrong password!",
                                       "csrf_token": token, "next": "/"},
                       headers={"X-Forwarded-For": forwarded},
                       environ_base={"REMOTE_ADDR": PROXY})


def _last_addr(r: redis.Redis, action: str) -> str:
    return next(e.addr for e in store.audit.read(r, 20) if e.action == action)


def test_the_audit_records_the_address_the_trusted_proxy_forwarded(proxied_app: Any, r: redis.Redis,
                                                                   users: dict[str, str]) -> None:
    """A client that writes its own X-Forwarded-For entry is audited at the address the proxy
    appended after it, not at the one it wrote, nor at the proxy's."""
    client = proxied_app.server.test_client()
    assert _failed_login(client, users["operator"], "203.0.113.66, 198.51.100.7").status_code == 401
    assert _last_addr(r, "login_failed") == "198.51.100.7"


def test_without_a_trusted_proxy_forwarded_headers_are_ignored(client: Any, r: redis.Redis,
                                                               users: dict[str, str]) -> None:
    """The default app (no trusted proxy) audits the connection's address whatever the header says."""
    assert _failed_login(client, users["operator"], "198.51.100.7").status_code == 401
    assert _last_addr(r, "login_failed") == PROXY


def test_the_address_budget_is_per_forwarded_client(proxied_app: Any, users: dict[str, str]) -> None:
    """Failures from one client behind the proxy block that client's address, not every client
    behind the same proxy; the failures are against many names, so only the address budget counts."""
    client = proxied_app.server.test_client()
    for i in range(signin.THROTTLE_LIMIT):
        _failed_login(client, f"guess{i}", "198.51.100.9")
    blocked = _failed_login(client, users["admin"], "198.51.100.9")
    assert blocked.status_code == 429
    other = proxied_app.server.test_client()
    other.get("/login", environ_base={"REMOTE_ADDR": PROXY})
    token = other.get_cookie("_csrf_token").value
    signed_in = other.post("/login", data={"username": users["admin"], "password": PASSWORD,
                                           "csrf_token": token, "next": "/"},
                           headers={"X-Forwarded-For": "198.51.100.10"},
                           environ_base={"REMOTE_ADDR": PROXY})
    assert signed_in.status_code == 302
    # Without the header the connection's address (the proxy's) is a budget of its own, untouched.
    assert login(proxied_app.server.test_client(), users["official"], addr=PROXY).status_code == 302


def _switch_language_from(app: Any, users: dict[str, str], referer: str) -> str:
    """Sign in through the proxy, press the language switch on ``referer``; where it returns."""
    client = app.server.test_client()
    assert login(client, users["official"], addr=PROXY).status_code == 302
    token = client.get_cookie("_csrf_token").value
    response = client.post("/lang", data={"lang": "en", "csrf_token": token},
                           headers={"Referer": referer, "X-Forwarded-Host": "ops.city.example",
                                    "X-Forwarded-For": "192.0.2.4"},
                           environ_base={"REMOTE_ADDR": PROXY})
    assert response.status_code == 303
    return response.headers["Location"]


def test_the_forwarded_host_is_the_site_the_browser_is_on(proxied_app: Any, web_app: Any,
                                                          users: dict[str, str]) -> None:
    """The language switch returns only to pages of the same site. Behind the trusted proxy the
    public host it forwarded is that site; without a trusted proxy the header is ignored and the
    public page counts as foreign (back to the start page)."""
    page = "https://ops.city.example/official?tab=water"
    assert _switch_language_from(proxied_app, users, page) == "/official?tab=water"
    assert _switch_language_from(web_app, users, page) == "/"


@pytest.mark.parametrize("value", ["-1", "6", "two"])
def test_an_impossible_proxy_count_is_refused(tmp_path: Path, value: str) -> None:
    with pytest.raises(ConfigError, match="CITYOPS_TRUSTED_PROXIES"):
        load_settings(environ={"CITYOPS_DATA_DIR": str(tmp_path), "CITYOPS_TRUSTED_PROXIES": value})
