"""Sample requests of /admin's user and token forms (layouts/admin_users.py, layouts/admin_tokens.py,
issue 19) for the security sweeps: each button on an account or token of its own, so that every
request writes when an admin sends it."""

from __future__ import annotations

import itertools
import json
from typing import Any

import redis

from app import accounts
from app.accounts import pairing
from app.model import roles
from layouts import ids
from tests.support.web import PASSWORD

ADMIN_USER_CALLBACKS: dict[str, frozenset[str]] = {
    "layouts.admin_users.act": frozenset({roles.ADMIN}),
    "layouts.admin_tokens.create": frozenset({roles.ADMIN}),
    "layouts.admin_tokens.revoke": frozenset({roles.ADMIN}),
    "layouts.admin_tokens.pair": frozenset({roles.ADMIN}),
}

_made = itertools.count()


def admin_user_requests(r: redis.Redis, name: str = "layouts.admin_users.act",
                        spec: dict[str, Any] | None = None) -> list[tuple[dict[str, Any], str]]:
    """(values, trigger) for the callback ``name``: each of the user form's buttons on a new
    operator's account (the one to enable is disabled first); a new token; revoking a new token;
    confirming a display's new pairing request."""
    if name == "layouts.admin_tokens.create":
        return [({f"{ids.ADMIN_TOKEN_CREATE}.n_clicks": 1,
                  f"{ids.ADMIN_TOKEN_NAME}.value": f"swept-token-{next(_made)}",
                  f"{ids.ADMIN_TOKEN_ROLE}.value": roles.WALL, f"{ids.ADMIN_TOKEN_DAYS}.value": 30},
                 f"{ids.ADMIN_TOKEN_CREATE}.n_clicks")]
    if name == "layouts.admin_tokens.pair":
        made = next(_made)
        opened = pairing.open_request(r, f"192.0.2.{made % 250}")
        assert opened is not None
        return [({f"{ids.ADMIN_PAIR}.n_clicks": 1, f"{ids.ADMIN_PAIR_CODE}.value": opened.code,
                  f"{ids.ADMIN_PAIR_NAME}.value": f"swept-wall-{made}",
                  f"{ids.ADMIN_PAIR_DAYS}.value": 30}, f"{ids.ADMIN_PAIR}.n_clicks")]
    if name == "layouts.admin_tokens.revoke":
        assert spec is not None
        text = accounts.create_token(r, f"swept-token-{next(_made)}", roles.WALL)
        pattern = next(i for i in spec["inputs"] if i["id"].startswith("{"))
        match = {"id": {"type": ids.ADMIN_TOKEN_REVOKE, "token": text.split("_")[1]},
                 "property": "submit_n_clicks", "value": 1}
        return [({f"{pattern['id']}.submit_n_clicks": [match]},
                 json.dumps(match["id"], sort_keys=True, separators=(",", ":")) + ".submit_n_clicks")]
    cases = []
    for button, prop in ((ids.ADMIN_USER_SAVE, "n_clicks"), (ids.ADMIN_USER_ENABLE, "n_clicks"),
                         (ids.ADMIN_USER_DISABLE, "submit_n_clicks"),
                         (ids.ADMIN_USER_RESET, "submit_n_clicks"),
                         (ids.ADMIN_USER_DELETE, "submit_n_clicks")):
        name = accounts.add_user(r, f"swept-user-{next(_made)}", roles.OPERATOR, PASSWORD)
        if button == ids.ADMIN_USER_ENABLE:
            accounts.set_disabled(r, name, True)
        cases.append(({f"{button}.{prop}": 1, f"{ids.ADMIN_USER_PICK}.value": name,
                       f"{ids.ADMIN_USER_ROLE}.value": roles.EMERGENCY,
                       f"{ids.ADMIN_USER_DOMAINS}.value": ["water"]}, f"{button}.{prop}"))
    return cases
