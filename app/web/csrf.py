"""CSRF: a session's state-changing request echoes the _csrf_token cookie bound to it at sign-in."""

from __future__ import annotations

import hmac
import secrets

from flask import request, session
from werkzeug.wrappers import Response as BaseResponse

from app.config import Settings

CSRF_COOKIE = "_csrf_token"


CSRF_HEADER = "X-CSRFToken"


def new_csrf_token() -> str:
    return secrets.token_urlsafe(32)


def set_csrf_cookie(response: BaseResponse, token: str, settings: Settings) -> None:
    # Readable by JavaScript on purpose: Dash copies it into the X-CSRFToken header.
    response.set_cookie(CSRF_COOKIE, token, httponly=False, samesite="Strict",
                        secure=settings.web.secure_cookies, path="/")


def same_secret(a: object, b: object) -> bool:
    """Constant-time equality of two secrets as sent (any text: hmac.compare_digest refuses str
    with non-ASCII characters with a TypeError, so both are compared as UTF-8 bytes)."""
    if not isinstance(a, str) or not isinstance(b, str):
        return False
    return hmac.compare_digest(a.encode("utf-8", "surrogatepass"), b.encode("utf-8", "surrogatepass"))


def csrf_ok() -> bool:
    cookie = request.cookies.get(CSRF_COOKIE, "")
    header = request.headers.get(CSRF_HEADER, "") or request.form.get("csrf_token", "")
    bound = session.get("csrf", "")
    return bool(cookie) and same_secret(cookie, header) and same_secret(cookie, bound)
