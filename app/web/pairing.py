"""GET /pair: a wall display shows a short code until an admin confirms it on /admin, then it is
signed in to /wall (issue 19; app/accounts/pairing.py; docs/security.md, "Pairing a wall")."""

from __future__ import annotations

import time

import redis
from flask import Blueprint, Response, redirect, request, session
from flask_login import current_user
from werkzeug.wrappers import Response as BaseResponse

from app import audit, i18n
from app.accounts import pairing
from app.model.principal import Principal
from app.web.context import client_addr, redis_client, settings
from app.web.csrf import set_csrf_cookie
from app.web.documents import error_response, render_page
from app.web.login import set_language_cookie
from app.web.sessions import start_session

blueprint = Blueprint("pairing", __name__)

PATH = "/pair"
COOKIE = "cityops_pair"  # "<code>.<the display's secret>", only ever sent back to /pair
REFRESH_S = 3


def _page(code: str, opened_at: float) -> Response:
    expires = i18n.format_datetime(opened_at + pairing.PAIRING_TTL_S, False,
                                   tz=settings().city.timezone)
    return Response(render_page("pair.html", i18n.t("pair.title"), code=pairing.shown(code),
                                expires=expires, refresh_s=REFRESH_S), mimetype="text/html")


def _signed_in(principal: Principal) -> BaseResponse:
    start_session(principal)
    response = redirect("/wall", code=302)
    set_csrf_cookie(response, session["csrf"], settings())
    response.delete_cookie(COOKIE, path=PATH)
    return response


@blueprint.route(PATH, methods=["GET", "HEAD"])
def pair() -> BaseResponse:
    """Show this display's code (a new one when it has none waiting), or, once an admin
    confirmed it, sign the display in and go to the wall. ``?lang=zh`` chooses the display's
    language (kept in its cookie, as /wall?token=...&lang= does)."""
    chosen = i18n.normalize(request.args.get("lang"))
    with i18n.use_language(chosen or i18n.current_language()):
        response = _pair()
    if chosen:
        set_language_cookie(response, chosen, settings())
    return response


def _pair() -> BaseResponse:
    if current_user.is_authenticated and getattr(current_user, "kind", "") != "token":
        # A person's session is never replaced by a display's (as with /wall?token=).
        return error_response(409, i18n.t("error.display_over_session", user=current_user.name))
    r = redis_client()
    held = request.cookies.get(COOKIE, "")[:200]
    code, _, secret = held.partition(".")
    try:
        if code and secret:
            outcome = pairing.claim(r, code, secret)
            if isinstance(outcome, Principal):
                audit.record_quietly(r, outcome.name, "display_login", addr=client_addr(),
                                     detail="paired")
                return _signed_in(outcome)
            if outcome == "waiting":
                return _page(code, pairing.opened_at(r, code))
        opened = pairing.open_request(r, client_addr())
    except redis.RedisError:
        return error_response(503, i18n.t("error.token_check"))
    if opened is None:
        audit.refuse_anonymous(r, "anonymous", "display_pair_throttled", addr=client_addr())
        return error_response(429, i18n.t("pair.too_many"))
    response = _page(opened.code, time.time())
    response.set_cookie(COOKIE, f"{opened.code}.{opened.secret}", max_age=pairing.PAIRING_TTL_S,
                        httponly=True, samesite="Strict", secure=settings().web.secure_cookies,
                        path=PATH)
    return response
