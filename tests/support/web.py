"""Talking to the web app in-process the way a browser does: sign-in, CSRF header, Dash callbacks."""

from __future__ import annotations

from typing import Any

from layouts import ids

PASSWORD = "correct horse battery"


def login(client, name: str, password: str = PASSWORD, addr: str = "127.0.0.1"):  # type: ignore[no-untyped-def]
    """Sign ``client`` in through the login form; returns the response of the POST."""
    client.get("/login", environ_base={"REMOTE_ADDR": addr})
    token = client.get_cookie("_csrf_token").value
    return client.post("/login", data={"username": name, "password": password,
                                       "csrf_token": token, "next": "/"},
                       environ_base={"REMOTE_ADDR": addr})


def csrf_header(client) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """The header Dash sends with every POST: the _csrf_token cookie echoed."""
    cookie = client.get_cookie("_csrf_token")
    return {"X-CSRFToken": cookie.value if cookie else ""}


def callback_body(outputs: list[tuple[str, str]], inputs: list[tuple[str, str, Any]],
                  state: list[tuple[str, str, Any]] = ()) -> dict[str, Any]:  # type: ignore[assignment]
    """The JSON a Dash renderer POSTs to /_dash-update-component for one callback."""
    if len(outputs) == 1:
        output = f"{outputs[0][0]}.{outputs[0][1]}"
        outs: Any = {"id": outputs[0][0], "property": outputs[0][1]}
    else:
        output = ".." + "...".join(f"{i}.{p}" for i, p in outputs) + ".."
        outs = [{"id": i, "property": p} for i, p in outputs]
    return {
        "output": output, "outputs": outs,
        "inputs": [{"id": i, "property": p, "value": v} for i, p, v in inputs],
        "changedPropIds": [ids.prop_id(i, p) for i, p, _ in inputs],
        "state": [{"id": i, "property": p, "value": v} for i, p, v in state],
    }


LIVE_BODY = callback_body(
    [("data-as-of", "children"), ("link-banner", "hidden"), ("live-seen", "data")],
    [(ids.pulse_part(ids.SEEN, ids.PULSE), "data", {"n": 1})], [("live-seen", "data", None)])
