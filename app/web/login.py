"""Signing in and out, the language switch, and the two public answers (/healthz, the login stylesheet)."""

from __future__ import annotations

from importlib import resources
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

import redis
from flask import Response, redirect, request, session
from flask_login import current_user, logout_user
from werkzeug.wrappers import Response as BaseResponse

from app import accounts, audit, i18n
from app.accounts import signin
from app.config import Settings
from app.model import roles
from app.web import devices
from app.web.context import client_addr, current_principal, redis_client
from app.web.context import settings as current_settings
from app.web.csrf import CSRF_COOKIE, new_csrf_token, same_secret, set_csrf_cookie
from app.web.documents import error_response, login_page
from app.web.sessions import start_session

MAX_LOGIN_BODY = 16 * 1024




MAX_NEXT_LENGTH = 2048


LANG_PATH = "/lang"


LANG_COOKIE_MAX_AGE_S = 365 * 24 * 3600


# What a followed path may hold as it is: printable ASCII but the space (the rest is %-escaped).
_URL_SAFE = "/?&=#%:@!$'()*+,;~-._[]"


def safe_next(target: str | None) -> str:
    """Only same-site paths are followed after login (no //host or scheme://host), and only ones
    that fit in a Location header: control characters (CR/LF would split the header) give "/",
    anything else outside printable ASCII is %-escaped."""
    if (not target or len(target) > MAX_NEXT_LENGTH or not target.startswith("/")
            or target.startswith("//") or "\\" in target
            or any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in target)):
        return "/"
    try:
        parts = urlsplit(target)
    except ValueError:  # e.g. an unbalanced "[" read as an IPv6 host
        return "/"
    if parts.scheme or parts.netloc:
        return "/"
    if parts.query:
        # A display token never travels on to another URL (history, logs, the Referer header).
        kept = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "token"]
        target = parts.path + (f"?{urlencode(kept)}" if kept else "") + (
            f"#{parts.fragment}" if parts.fragment else "")
    return quote(target, safe=_URL_SAFE, errors="replace")


def healthz() -> Response:
    """Liveness for load balancers: 200 and no data."""
    return Response("ok\n", mimetype="text/plain")


def login_css() -> Response:
    """The login page's stylesheet (assets/ itself is behind the gate)."""
    css = resources.files("assets").joinpath("login", "login.css").read_text(encoding="utf-8")
    return Response(css, mimetype="text/css", headers={"Cache-Control": "public, max-age=3600"})


def set_language_cookie(response: BaseResponse, lang: str, settings: Settings) -> None:
    """Remember ``lang`` in the browser (display sessions, the login page, anonymous errors)."""
    response.set_cookie(i18n.COOKIE, lang, max_age=LANG_COOKIE_MAX_AGE_S, httponly=True,
                        samesite="Lax", secure=settings.web.secure_cookies, path="/")


def _back_to_page() -> str:
    """Where the language switch returns: the page it was pressed on (same site only)."""
    referrer = urlsplit(request.referrer or "")
    if referrer.netloc and referrer.netloc != request.host:
        return "/"
    return safe_next(referrer.path + (f"?{referrer.query}" if referrer.query else ""))


def language_view() -> BaseResponse:
    """POST /lang (CSRF-checked by the gate): store the choice on the user and in a cookie,
    then show the same page again, now in that language."""
    sent = request.form.getlist("lang")
    chosen = i18n.normalize(sent[0]) if len(sent) == 1 and len(sent[0]) <= 16 else None
    if chosen is None:
        return error_response(400, i18n.t("error.bad_language"))
    principal = current_principal()
    if principal is not None and principal.kind == "user":
        r = redis_client()
        try:
            accounts.set_language(r, principal.name, chosen)
        except (redis.RedisError, accounts.AccountError):
            pass  # the cookie below still carries the choice for this browser
        audit.record_quietly(r, principal.name, "language", addr=client_addr(), detail=chosen)
    response = redirect(_back_to_page(), code=303)
    set_language_cookie(response, chosen, current_settings())
    return response




def _login_response(status: int, message: str = "", next_url: str = "/") -> Response:
    token = request.cookies.get(CSRF_COOKIE) or new_csrf_token()
    chosen = i18n.normalize(request.args.get("lang")) if request.method == "GET" else None
    with i18n.use_language(chosen or i18n.current_language()):
        text = login_page(csrf_token=token, message=message, next_url=next_url)
    response = Response(text, status=status, mimetype="text/html")
    if chosen:
        # The login page's own switch: plain links, since an anonymous visitor has no session.
        set_language_cookie(response, chosen, current_settings())
    set_csrf_cookie(response, token, current_settings())
    return response


# The login form's fields: (name, longest accepted value, required).
LOGIN_FIELDS: tuple[tuple[str, int, bool], ...] = (
    ("username", accounts.NAME_MAX_LENGTH, True),
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
    next_url = safe_next(request.values.get("next"))
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
    if not cookie_token or not same_secret(form_token, cookie_token):
        return _login_response(400, i18n.t("login.expired"), next_url)
    r = redis_client()
    try:
        attempt = signin.sign_in(r, name, password, client_addr(),
                                 known_device=devices.is_known(signin.subject_of(name)))
    except redis.RedisError:
        return _login_response(503, i18n.t("login.link_lost"), next_url)
    if attempt.wait_s:
        response = _login_response(
            429, i18n.t("login.throttled", minutes=(attempt.wait_s + 59) // 60), next_url)
        response.headers["Retry-After"] = str(attempt.wait_s)
        return response
    if attempt.principal is None:
        return _login_response(401, i18n.t("login.wrong"), next_url)
    start_session(attempt.principal)
    # Emergency staff land on their alerts unless they asked for another page (issue 20).
    signed_in = redirect(roles.landing(attempt.principal.role, next_url), code=302)
    set_csrf_cookie(signed_in, session["csrf"], current_settings())
    devices.remember(signed_in, attempt.principal.name, current_settings())
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
        audit.record_quietly(r, principal.name, "logout", addr=client_addr())
    logout_user()
    session.clear()
    response = redirect("/login", code=302)
    response.delete_cookie(CSRF_COOKIE, path="/")
    return response
