"""Installing the web's protection on the Flask server: flask-login, the gate, sign-in routes,
security headers, error answers, and the refusal of a guessable session key.

Every request passes the gate (app/web/gate.py) first; sessions (app/web/sessions.py) carry the
CSRF token (app/web/csrf.py) that every state-changing request of a session must echo.
"""

from __future__ import annotations

from datetime import timedelta

import redis
from flask import Flask, Response, current_app, request, session
from flask_login import LoginManager
from werkzeug.exceptions import HTTPException

from app import accounts, i18n
from app.config import MIN_SECRET_KEY_LENGTH, ConfigError, Settings, weak_secret_reason
from app.model.principal import Principal
from app.web.context import redis_client
from app.web.documents import error_response
from app.web.gate import gate
from app.web.headers import security_headers
from app.web.login import LANG_PATH, healthz, language_view, login_css, login_view, logout_view
from app.web.sessions import SESSION_COOKIE


def check_secret_key(key: str | bytes | None) -> None:
    """Refuse (ConfigError) to sign sessions with a missing or guessable key."""
    text = key.decode("utf-8", "replace") if isinstance(key, bytes) else (key or "")
    if len(text) < MIN_SECRET_KEY_LENGTH:
        raise ConfigError(f"CITYOPS_SECRET_KEY: expected a random string of at least "
                          f"{MIN_SECRET_KEY_LENGTH} characters")
    reason = weak_secret_reason(text)
    if reason is not None:
        raise ConfigError(f"CITYOPS_SECRET_KEY: refused because {reason}; generate one with "
                          "`python -c 'import secrets; print(secrets.token_urlsafe(48))'`, or "
                          "leave it unset to have one generated into the data directory")


def init_auth(server: Flask, settings: Settings) -> None:
    """Install flask-login, the gate, the login routes and the security headers on ``server``.

    Refuses (ConfigError) a secret key that anyone could guess: it signs every session.
    """
    check_secret_key(server.secret_key)
    server.config.update(
        SESSION_COOKIE_NAME=SESSION_COOKIE,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.web.secure_cookies,
        PERMANENT_SESSION_LIFETIME=timedelta(hours=settings.web.session_hours),
        # Not re-signed on every request (a wall polls every second): keep_session_alive()
        # renews the expiry every SESSION_REISSUE_S instead.
        SESSION_REFRESH_EACH_REQUEST=False,
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SAMESITE="Lax",
    )
    manager = LoginManager()
    manager.session_protection = None  # the gate and session epochs do this job
    manager.init_app(server)

    @manager.user_loader
    def load_user(session_id: str) -> Principal | None:
        r = redis_client()
        try:
            if session_id.startswith("token:"):
                return accounts.token_session_principal(r, session_id.removeprefix("token:"))
            return accounts.load_session_user(r, session_id)
        except redis.RedisError:
            # Redis is away: trust the signed session for reading, so pages can still load and
            # say "data link lost"; nothing can change while Redis is down anyway.
            snapshot = session.get("principal")
            if not isinstance(snapshot, dict):
                return None
            return Principal(name=str(snapshot.get("name")), role=str(snapshot.get("role")),
                             kind=str(snapshot.get("kind", "user")),
                             domains=tuple(snapshot.get("domains") or ()),
                             token_id=str(snapshot.get("token_id", "")))

    server.before_request(gate)
    server.after_request(security_headers)
    server.add_url_rule("/login", "login", login_view, methods=["GET", "POST"])
    server.add_url_rule("/logout", "logout", logout_view, methods=["POST"])
    server.add_url_rule(LANG_PATH, "language", language_view, methods=["POST"])
    server.add_url_rule("/login/login.css", "login_css", login_css)
    server.add_url_rule("/healthz", "healthz", healthz)
    server.register_error_handler(HTTPException, _http_error)
    server.register_error_handler(redis.RedisError, _link_lost)


def _http_error(exc: HTTPException) -> Response:
    return error_response(exc.code or 500, exc.description or exc.name)


def _link_lost(exc: redis.RedisError) -> Response:
    """Redis is away: 503 "data link lost" with Retry-After, not a 500 and a traceback."""
    current_app.logger.warning("%s %s: Redis unreachable: %s", request.method, request.path, exc)
    response = error_response(503, i18n.t("login.link_lost"))
    response.headers["Retry-After"] = "2"
    return response


