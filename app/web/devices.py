"""Known devices: a signed cookie naming the users who signed in from this browser before.

The login throttle's slow per-user budget (app/accounts/signin.py) holds back guesses from
devices a user never used, with an exponential back-off; a browser that signed in as the user
before carries this cookie and is not held by it, so somebody guessing from anywhere cannot lock
the person out. The cookie is signed with the session key (itsdangerous, as Flask's sessions), is
sent only to /login, and names at most MAX_NAMES users (a shared control-room PC).
"""

from __future__ import annotations

from flask import current_app, request
from itsdangerous import BadSignature, URLSafeTimedSerializer
from werkzeug.wrappers import Response as BaseResponse

from app.config import Settings

DEVICE_COOKIE = "cityops_device"
DEVICE_MAX_AGE_S = 90 * 86400
MAX_NAMES = 8
_SALT = "cityops-known-device"


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.secret_key, salt=_SALT)  # type: ignore[arg-type]


def known_names() -> list[str]:
    """The user names this browser signed in as within DEVICE_MAX_AGE_S (none if the cookie is
    missing, forged, expired or signed with another key)."""
    raw = request.cookies.get(DEVICE_COOKIE)
    if not raw or len(raw) > 4096:
        return []
    try:
        names = _serializer().loads(raw, max_age=DEVICE_MAX_AGE_S)
    except (BadSignature, ValueError, TypeError):
        return []
    return [n for n in names if isinstance(n, str)] if isinstance(names, list) else []


def is_known(subject: str) -> bool:
    """True when this browser signed in as ``subject`` (a normalized user name) before."""
    return subject in known_names()


def remember(response: BaseResponse, name: str, settings: Settings) -> None:
    """After a sign-in as ``name``: this browser is a known device of that user from now on."""
    names = [name] + [n for n in known_names() if n != name]
    response.set_cookie(DEVICE_COOKIE, _serializer().dumps(names[:MAX_NAMES]),
                        max_age=DEVICE_MAX_AGE_S, httponly=True, samesite="Lax",
                        secure=settings.web.secure_cookies, path="/login")
