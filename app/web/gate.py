"""The default-deny gate: every request is a known principal allowed this path, or it is refused."""

from __future__ import annotations

from urllib.parse import urlencode

import redis
from flask import g, redirect, request, session
from flask_login import current_user
from werkzeug.wrappers import Response as BaseResponse

from app import accounts, audit, i18n
from app.model import roles
from app.model.principal import Principal
from app.web import fonts, install
from app.web.context import client_addr, redis_client
from app.web.context import settings as current_settings
from app.web.csrf import csrf_ok, set_csrf_cookie
from app.web.documents import error_response, is_machine_path
from app.web.login import LANG_PATH, set_language_cookie
from app.web.sessions import keep_session_alive, start_session

# Matched exactly: a prefix such as "/login/" would also let anonymous visitors reach Dash's
# catch-all page under /login/anything.
PUBLIC_PATHS = frozenset({"/login", "/login/login.css", "/healthz",
                          # The public status page and its CAP feed (app/web/public.py).
                          "/public", "/public/cap.atom",
                          # The web manifest and its icons, which a browser installing the app
                          # fetches without cookies (app/web/install.py).
                          *install.PUBLIC_PATHS,
                          # A wall display shows its pairing code there (app/web/pairing.py).
                          "/pair",
                          # The Chinese font and its stylesheet, used by the login page too.
                          *fonts.PUBLIC_PATHS})
# Where a wall display opens with ?token= (the slash: a hand-typed URL).
DISPLAY_PATHS = frozenset({"/wall", "/wall/"})


# What the wall page needs besides itself; a wall token may use nothing else.
WALL_MACHINE_PREFIXES = ("/_dash-layout", "/_dash-dependencies", "/_dash-update-component",
                         "/_live-versions", "/_wall-map/",
                         "/_dash-component-suites/", "/_favicon", "/assets/")


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def _refused(principal: Principal, status: int, message: str, why: str) -> BaseResponse:
    """A signed-in caller refused by the gate: audited (who, which path, why), then answered."""
    audit.record_quietly(redis_client(), principal.name, "refused", target=request.path[:200],
                         addr=client_addr(), outcome="denied", detail=why)
    return error_response(status, message)


def _login_redirect() -> BaseResponse:
    """Send a person to the login page, to come back here after; a token in the URL stays out
    of the login page's URL (it would land in history, logs and the form's next field)."""
    kept = [(k, v) for k, v in request.args.items(multi=True) if k != "token"]
    back = request.path + (f"?{urlencode(kept)}" if kept else "")
    return redirect(f"/login?{urlencode({'next': back})}", code=302)


def gate() -> BaseResponse | None:
    """Default deny: establish who is asking, or refuse."""
    path = request.path
    if path in PUBLIC_PATHS:
        return None
    principal: Principal | None = None
    auth_header = request.headers.get("Authorization")
    r = redis_client()
    if auth_header is not None:
        scheme, _, credential = auth_header.partition(" ")
        if scheme.lower() != "bearer" or not credential.strip():
            return error_response(401, i18n.t("error.bad_auth_header"))
        try:
            principal = accounts.token_principal(r, credential.strip()[:512])
        except redis.RedisError:
            return error_response(503, i18n.t("error.token_check"))
        if principal is None:
            audit.refuse_anonymous(r, "anonymous", "token_refused", addr=client_addr())
            return error_response(401, i18n.t("error.bad_token"))
        g.auth_via = "bearer"
    elif path in DISPLAY_PATHS and "token" in request.args:
        return _open_display_session(r)
    elif current_user.is_authenticated:
        principal = current_user._get_current_object()  # type: ignore[attr-defined]
        g.auth_via = "session"
    if principal is None:
        if is_machine_path(path):
            return error_response(401, i18n.t("error.login_required"))
        return _login_redirect()
    g.principal = principal
    if g.auth_via == "session":
        keep_session_alive()
    if principal.role == roles.WALL and not (path in ("/wall", LANG_PATH)
                                             or path.startswith(WALL_MACHINE_PREFIXES)):
        return _refused(principal, 403, i18n.t("error.wall_only"), "wall token off the wall")
    if request.method not in SAFE_METHODS and g.auth_via == "session" and not csrf_ok():
        return _refused(principal, 403, i18n.t("error.csrf"), "CSRF token missing or wrong")
    if (not is_machine_path(path) and path not in ("/logout", LANG_PATH)
            and not roles.may_open(principal.role, path)):
        return _refused(principal, 403, i18n.t("error.page_role"), f"page not for {principal.role}")
    return None


def _open_display_session(r: redis.Redis) -> BaseResponse:
    """A wall display opens /wall?token=...: swap the token for a session, drop it from the URL.

    A person signed in on this browser keeps their session: a token in a link never replaces it
    silently (409 saying so); only a display session may be replaced by another display's.
    """
    signed_in = current_user._get_current_object() if current_user.is_authenticated else None  # type: ignore[attr-defined]
    if signed_in is not None and signed_in.kind != "token":
        audit.record_quietly(r, signed_in.name, "display_login", addr=client_addr(),
                             outcome="denied", detail="a person is signed in on this browser")
        return error_response(409, i18n.t("error.display_over_session", user=signed_in.name))
    try:
        principal = accounts.token_principal(r, request.args.get("token", "")[:512])
    except redis.RedisError:
        return error_response(503, i18n.t("error.token_check"))
    if principal is None or principal.role != roles.WALL:
        audit.refuse_anonymous(r, principal.name if principal else "anonymous", "display_login",
                               addr=client_addr())
        return error_response(401, i18n.t("error.bad_display_token"))
    start_session(principal)
    audit.record_quietly(r, principal.name, "display_login", addr=client_addr())
    rest = {k: v for k, v in request.args.items() if k not in ("token", "lang")}
    response = redirect("/wall" + (f"?{urlencode(rest)}" if rest else ""), code=302)
    set_csrf_cookie(response, session["csrf"], current_settings())
    # A wall has no account to keep a language on: /wall?token=...&lang=zh sets the cookie.
    chosen = i18n.normalize(request.args.get("lang"))
    if chosen:
        set_language_cookie(response, chosen, current_settings())
    return response
