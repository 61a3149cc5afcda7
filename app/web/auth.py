"""Login, logout, the default-deny gate, CSRF, login throttling and security headers.

Every request passes :func:`gate` first. It admits anonymous requests only to the login page,
the files the login page needs and /healthz; everything else needs a session (flask-login)
or an ``Authorization: Bearer`` token. Machine endpoints answer 401/403 as JSON, pages redirect
to /login. State-changing requests of a session must echo the ``_csrf_token`` cookie in the
``X-CSRFToken`` header (Dash does this by itself) or, for the login form, in a form field.
"""

from __future__ import annotations

import hmac
import secrets
import time
from datetime import timedelta
from importlib import resources
from typing import Sequence
from urllib.parse import urlencode, urlsplit

import redis
from flask import Flask, Response, current_app, g, jsonify, redirect, request, session
from flask_login import LoginManager, current_user, login_user, logout_user
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response as BaseResponse

from app import accounts, i18n, store
from app.config import MIN_SECRET_KEY_LENGTH, ConfigError, Settings, weak_secret_reason
from app.model import roles
from app.model.principal import Principal
from app.web.context import client_addr, current_principal, redis_client
from app.web.context import settings as current_settings
from layouts import login as login_page

CSRF_COOKIE = "_csrf_token"
CSRF_HEADER = "X-CSRFToken"
SESSION_COOKIE = "cityops_session"
THROTTLE_LIMIT = 5
THROTTLE_WINDOW_S = 300
MAX_LOGIN_BODY = 16 * 1024
MAX_NAME_LENGTH = 64
MAX_NEXT_LENGTH = 2048
HSTS_MAX_AGE_S = 365 * 24 * 3600

LANG_PATH = "/lang"
LANG_COOKIE_MAX_AGE_S = 365 * 24 * 3600
PUBLIC_PATHS = frozenset({"/login", "/healthz"})
PUBLIC_PREFIXES = ("/login/",)
# Paths used by scripts rather than people: they answer 401/403 instead of redirecting.
MACHINE_PREFIXES = ("/_dash-", "/_reload-hash", "/_favicon", "/assets/", "/api/")
# What the wall page needs besides itself; a wall token may use nothing else.
WALL_MACHINE_PREFIXES = ("/_dash-layout", "/_dash-dependencies", "/_dash-update-component",
                         "/_dash-component-suites/", "/_favicon", "/assets/")
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def is_machine_path(path: str) -> bool:
    """True for paths that scripts call (Dash's endpoints, assets, the API)."""
    return path.startswith(MACHINE_PREFIXES)


def _error(status: int, message: str) -> Response:
    """A JSON error for scripts (machine paths, token callers), a small HTML page for people."""
    if is_machine_path(request.path) or "Authorization" in request.headers:
        response = jsonify({"error": message})
    else:
        response = Response(login_page.error_page(status, message), mimetype="text/html")
    response.status_code = status
    return response


def _safe_next(target: str | None) -> str:
    """Only same-site paths are followed after login (no //host or scheme://host)."""
    if (not target or len(target) > MAX_NEXT_LENGTH or not target.startswith("/")
            or target.startswith("//") or "\\" in target):
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return "/"
    return target


def _new_csrf_token() -> str:
    return secrets.token_urlsafe(32)


def _set_csrf_cookie(response: BaseResponse, token: str, settings: Settings) -> None:
    # Readable by JavaScript on purpose: Dash copies it into the X-CSRFToken header.
    response.set_cookie(CSRF_COOKIE, token, httponly=False, samesite="Strict",
                        secure=settings.secure_cookies, path="/")


def _session_principal_snapshot(principal: Principal) -> dict[str, object]:
    return {"name": principal.name, "role": principal.role, "kind": principal.kind,
            "domains": list(principal.domains), "token_id": principal.token_id}


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
        SESSION_COOKIE_SECURE=settings.secure_cookies,
        PERMANENT_SESSION_LIFETIME=timedelta(hours=settings.session_hours),
        # Not re-signed on every request (a wall polls every second): _keep_session_alive()
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
    return _error(exc.code or 500, exc.description or exc.name)


def _link_lost(exc: redis.RedisError) -> Response:
    """Redis is away: 503 "data link lost" with Retry-After, not a 500 and a traceback."""
    current_app.logger.warning("%s %s: Redis unreachable: %s", request.method, request.path, exc)
    response = _error(503, i18n.t("login.link_lost"))
    response.headers["Retry-After"] = "2"
    return response


def healthz() -> Response:
    """Liveness for load balancers: 200 and no data."""
    return Response("ok\n", mimetype="text/plain")


def login_css() -> Response:
    """The login page's stylesheet (assets/ itself is behind the gate)."""
    css = resources.files("assets").joinpath("login", "login.css").read_text(encoding="utf-8")
    return Response(css, mimetype="text/css", headers={"Cache-Control": "public, max-age=3600"})


SESSION_REISSUE_S = 300


def _keep_session_alive() -> None:
    """Slide a session's expiry while it is used, re-issuing the cookie at most every
    SESSION_REISSUE_S: a screen that stays open (a wall runs for weeks) never expires, and its
    one-second ticks do not each carry a freshly signed cookie."""
    now = int(time.time())
    issued = session.get("iat")
    if not isinstance(issued, int) or not 0 <= now - issued < SESSION_REISSUE_S:
        session["iat"] = now  # modified: Flask sends the cookie with a new expiry


def gate() -> BaseResponse | None:
    """Default deny: establish who is asking, or refuse."""
    path = request.path
    if path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES):
        return None
    principal: Principal | None = None
    auth_header = request.headers.get("Authorization")
    r = redis_client()
    if auth_header is not None:
        scheme, _, credential = auth_header.partition(" ")
        if scheme.lower() != "bearer" or not credential.strip():
            return _error(401, i18n.t("error.bad_auth_header"))
        try:
            principal = accounts.token_principal(r, credential.strip()[:512])
        except redis.RedisError:
            return _error(503, i18n.t("error.token_check"))
        if principal is None:
            return _error(401, i18n.t("error.bad_token"))
        g.auth_via = "bearer"
    elif path == "/wall" and request.args.get("token"):
        return _open_display_session(r)
    elif current_user.is_authenticated:
        principal = current_user._get_current_object()  # type: ignore[attr-defined]
        g.auth_via = "session"
    if principal is None:
        if is_machine_path(path):
            return _error(401, i18n.t("error.login_required"))
        query = urlencode({"next": request.full_path.rstrip("?")})
        return redirect(f"/login?{query}", code=302)
    g.principal = principal
    if g.auth_via == "session":
        _keep_session_alive()
    if principal.role == roles.WALL and not (path in ("/wall", LANG_PATH)
                                             or path.startswith(WALL_MACHINE_PREFIXES)):
        return _error(403, i18n.t("error.wall_only"))
    if request.method not in SAFE_METHODS and g.auth_via == "session" and not _csrf_ok():
        return _error(403, i18n.t("error.csrf"))
    if (not is_machine_path(path) and path not in ("/logout", LANG_PATH)
            and not roles.may_open(principal.role, path)):
        return _error(403, i18n.t("error.page_role"))
    return None


def _csrf_ok() -> bool:
    cookie = request.cookies.get(CSRF_COOKIE, "")
    header = request.headers.get(CSRF_HEADER, "") or request.form.get("csrf_token", "")
    bound = session.get("csrf", "")
    return bool(cookie) and hmac.compare_digest(cookie, header) and hmac.compare_digest(cookie,
                                                                                        bound)


def _open_display_session(r: redis.Redis) -> BaseResponse:
    """A wall display opens /wall?token=...: swap the token for a session, drop it from the URL."""
    try:
        principal = accounts.token_principal(r, request.args.get("token", "")[:512])
    except redis.RedisError:
        return _error(503, i18n.t("error.token_check"))
    if principal is None or principal.role != roles.WALL:
        store_audit(r, principal.name if principal else "anonymous", "display_login",
                    outcome="denied")
        return _error(401, i18n.t("error.bad_display_token"))
    _start_session(principal)
    store_audit(r, principal.name, "display_login")
    rest = {k: v for k, v in request.args.items() if k not in ("token", "lang")}
    response = redirect("/wall" + (f"?{urlencode(rest)}" if rest else ""), code=302)
    _set_csrf_cookie(response, session["csrf"], current_settings())
    # A wall has no account to keep a language on: /wall?token=...&lang=zh sets the cookie.
    chosen = i18n.normalize(request.args.get("lang"))
    if chosen:
        set_language_cookie(response, chosen, current_settings())
    return response


def set_language_cookie(response: BaseResponse, lang: str, settings: Settings) -> None:
    """Remember ``lang`` in the browser (display sessions, the login page, anonymous errors)."""
    response.set_cookie(i18n.COOKIE, lang, max_age=LANG_COOKIE_MAX_AGE_S, httponly=True,
                        samesite="Lax", secure=settings.secure_cookies, path="/")


def _back_to_page() -> str:
    """Where the language switch returns: the page it was pressed on (same site only)."""
    referrer = urlsplit(request.referrer or "")
    if referrer.netloc and referrer.netloc != request.host:
        return "/"
    return _safe_next(referrer.path + (f"?{referrer.query}" if referrer.query else ""))


def language_view() -> BaseResponse:
    """POST /lang (CSRF-checked by the gate): store the choice on the user and in a cookie,
    then show the same page again, now in that language."""
    sent = request.form.getlist("lang")
    chosen = i18n.normalize(sent[0]) if len(sent) == 1 and len(sent[0]) <= 16 else None
    if chosen is None:
        return _error(400, i18n.t("error.bad_language"))
    principal = current_principal()
    if principal is not None and principal.kind == "user":
        r = redis_client()
        try:
            accounts.set_language(r, principal.name, chosen)
        except (redis.RedisError, accounts.AccountError):
            pass  # the cookie below still carries the choice for this browser
        store_audit(r, principal.name, "language", detail=chosen)
    response = redirect(_back_to_page(), code=303)
    set_language_cookie(response, chosen, current_settings())
    return response


def _start_session(principal: Principal) -> None:
    """Begin a fresh session (new content and CSRF token: no session fixation)."""
    session.clear()
    session.permanent = True
    login_user(principal, remember=False, fresh=True)
    session["csrf"] = _new_csrf_token()
    session["principal"] = _session_principal_snapshot(principal)
    session["iat"] = int(time.time())


def store_audit(r: redis.Redis, actor: str, action: str, **fields: str) -> None:
    """Audit with the request's address; an audit failure never hides the real answer."""
    try:
        store.audit.append(r, actor, action, addr=client_addr(), **fields)
    except redis.RedisError:
        pass


def _login_response(status: int, message: str = "", next_url: str = "/") -> Response:
    token = request.cookies.get(CSRF_COOKIE) or _new_csrf_token()
    chosen = i18n.normalize(request.args.get("lang")) if request.method == "GET" else None
    with i18n.use_language(chosen or i18n.current_language()):
        text = login_page.page(csrf_token=token, message=message, next_url=next_url)
    response = Response(text, status=status, mimetype="text/html")
    if chosen:
        # The login page's own switch: plain links, since an anonymous visitor has no session.
        set_language_cookie(response, chosen, current_settings())
    _set_csrf_cookie(response, token, current_settings())
    return response


# The login form's fields: (name, longest accepted value, required).
LOGIN_FIELDS: tuple[tuple[str, int, bool], ...] = (
    ("username", MAX_NAME_LENGTH, True),
    ("password", accounts.MAX_PASSWORD_LENGTH, True),
    ("csrf_token", 128, True),
    ("next", MAX_NEXT_LENGTH, False),
)


def _login_form_error() -> str | None:
    """What is wrong with the login form's fields (missing, sent twice, too long), naming the field;
    None when they can be checked. Such a form is not a failed attempt: nothing is counted."""
    labels = {"username": i18n.t("login.user"), "password": i18n.t("login.password")}
    for name, longest, required in LOGIN_FIELDS:
        values = request.form.getlist(name)
        label = labels.get(name, name)
        bad = len(values) > 1 or (required and (not values or not values[0])) or (
            bool(values) and len(values[0]) > longest)
        if bad and name == "csrf_token":
            return i18n.t("login.expired")  # the page's own hidden field: reloading fixes it
        if len(values) > 1:
            return i18n.t_or("login.field_twice", f"{label}: sent more than once.", field=label)
        if required and (not values or not values[0]):
            return i18n.t_or("login.field_missing", f"{label}: please fill this in.", field=label)
        if values and len(values[0]) > longest:
            return i18n.t_or("login.field_too_long",
                             f"{label}: too long (at most {longest} characters).",
                             field=label, max=longest)
    return None


def login_view() -> BaseResponse:
    """GET shows the login form; POST checks it (throttled, audited, CSRF-checked)."""
    next_url = _safe_next(request.values.get("next"))
    if request.method == "GET":
        if current_user.is_authenticated:
            return redirect(next_url)
        return _login_response(200, next_url=next_url)
    if (request.content_length or 0) > MAX_LOGIN_BODY:
        return _login_response(413, i18n.t("login.too_large"), next_url)
    refused = _login_form_error()
    if refused is not None:
        return _login_response(400, refused, next_url)
    name = request.form["username"]
    password = request.form["password"]
    form_token = request.form.get("csrf_token", "")
    cookie_token = request.cookies.get(CSRF_COOKIE, "")
    if not cookie_token or not hmac.compare_digest(form_token, cookie_token):
        return _login_response(400, i18n.t("login.expired"), next_url)
    r = redis_client()
    subject_name = name.strip().lower()[:MAX_NAME_LENGTH] or "-"
    subjects = [("user", subject_name), ("addr", client_addr())]
    try:
        counts = store.auth.login_failures(r, subjects)
        blocked = [ttl for count, ttl in counts if count >= THROTTLE_LIMIT]
        if blocked:
            wait = max(max(blocked), 1)
            store_audit(r, subject_name, "login_throttled", outcome="denied")
            response = _login_response(
                429, i18n.t("login.throttled", minutes=(wait + 59) // 60), next_url)
            response.headers["Retry-After"] = str(wait)
            return response
        principal = accounts.authenticate(r, name, password)
        if principal is None:
            store.auth.record_login_failure(r, subjects, THROTTLE_WINDOW_S)
            store_audit(r, subject_name, "login_failed", outcome="denied")
            return _login_response(401, i18n.t("login.wrong"), next_url)
        store.auth.clear_login_failures(r, "user", principal.name)
    except redis.RedisError:
        return _login_response(503, i18n.t("login.link_lost"), next_url)
    _start_session(principal)
    store_audit(r, principal.name, "login")
    signed_in = redirect(next_url, code=302)
    _set_csrf_cookie(signed_in, session["csrf"], current_settings())
    return signed_in


def logout_view() -> BaseResponse:
    """End the session (POST with the CSRF token, checked by the gate)."""
    principal = current_principal()
    if principal is not None:
        r = redis_client()
        if principal.kind == "user":
            # The session lives in a signed cookie that a copy (a shared machine, a proxy log)
            # would keep valid: moving the account's session epoch makes every copy worthless.
            try:
                accounts.end_sessions(r, principal.name)
            except (redis.RedisError, accounts.AccountError):
                pass  # Redis is away: this browser's cookie is still cleared below
        store_audit(r, principal.name, "logout")
    logout_user()
    session.clear()
    response = redirect("/login", code=302)
    response.delete_cookie(CSRF_COOKIE, path="/")
    return response


def content_security_policy(script_hashes: list[str], tile_origins: Sequence[str] = ()) -> str:
    """As strict as Dash and plotly.js allow: no remote origins (but a configured tile server's),
    no inline script but Dash's own."""
    scripts = " ".join(["'self'", *script_hashes])  # Dash quotes its hashes already
    tiles = "".join(f" {origin}" for origin in tile_origins)
    return "; ".join([
        "default-src 'self'",
        f"script-src {scripts}",
        # plotly.js writes <style> elements at run time.
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data: blob:" + tiles,
        "font-src 'self' data:",
        "connect-src 'self'" + tiles,
        "worker-src 'self' blob:",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ])


def security_headers(response: BaseResponse) -> BaseResponse:
    """Add CSP and the other protective headers to every answer."""
    policy = current_app.extensions["cityops"].get("csp")
    # A policy governs documents: the once-a-second JSON and 204 answers need none, and it is
    # most of their bytes.
    if policy and response.mimetype == "text/html" and response.status_code != 204:
        response.headers.setdefault("Content-Security-Policy", policy)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
    response.headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    if current_settings().secure_cookies:
        # Secure cookies mean the site is served over HTTPS: browsers should never try plain HTTP.
        response.headers.setdefault("Strict-Transport-Security", f"max-age={HSTS_MAX_AGE_S}")
    if not request.path.startswith(("/assets/", "/_dash-component-suites/", "/login/")):
        response.headers.setdefault("Cache-Control", "no-store")
    return response
