"""Browser sessions: begun fresh at sign-in (no fixation), their expiry slid while they are used."""

from __future__ import annotations

import time

from flask import session
from flask_login import login_user

from app.model.principal import Principal
from app.web.csrf import new_csrf_token

SESSION_COOKIE = "cityops_session"


def principal_snapshot(principal: Principal) -> dict[str, object]:
    return {"name": principal.name, "role": principal.role, "kind": principal.kind,
            "domains": list(principal.domains), "token_id": principal.token_id}


SESSION_REISSUE_S = 300


def keep_session_alive() -> None:
    """Slide a session's expiry while it is used, re-issuing the cookie at most every
    SESSION_REISSUE_S: a screen that stays open (a wall runs for weeks) never expires, and its
    one-second ticks do not each carry a freshly signed cookie."""
    now = int(time.time())
    issued = session.get("iat")
    if not isinstance(issued, int) or not 0 <= now - issued < SESSION_REISSUE_S:
        session["iat"] = now  # modified: Flask sends the cookie with a new expiry


def start_session(principal: Principal) -> None:
    """Begin a fresh session (new content and CSRF token: no session fixation)."""
    session.clear()
    session.permanent = True
    login_user(principal, remember=False, fresh=True)
    session["csrf"] = new_csrf_token()
    session["principal"] = principal_snapshot(principal)
    session["iat"] = int(time.time())
