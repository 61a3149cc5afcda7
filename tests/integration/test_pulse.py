"""Every server callback the page tick drives goes through a tick gate (layouts/pulse.py), so an
answer slower than one tick still lands; each gate's stores are on the page its callback draws."""

from __future__ import annotations

import json
from typing import Any

import pytest

from app import accounts
from layouts import ids

pytestmark = pytest.mark.integration


def _dependencies(client: Any, token: str) -> list[dict[str, Any]]:
    resp = client.get("/_dash-dependencies", headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 200
    return resp.json


def test_no_server_callback_runs_on_the_bare_tick_and_each_gate_has_one_callback(client, r) -> None:  # type: ignore[no-untyped-def]
    """The 1 s tick drives only browser-side callbacks; each server callback it reaches comes
    through its own gate and tells that gate while it waits (else the gate never holds). One
    browser callback per timer fires every gate of the page."""
    token = accounts.create_token(r, "gate-check", "admin")
    deps = _dependencies(client, token)
    server = [d for d in deps if not d.get("clientside_function")]
    on_tick = [d["output"] for d in server if any(i["id"] == ids.TICK for i in d["inputs"])]
    assert on_tick == []
    firing = [d for d in deps if (d.get("clientside_function") or {}).get("function_name") == "pulses"]
    timers = sorted(d["inputs"][0]["id"] for d in firing)
    assert timers == sorted([ids.TICK, ids.ADMIN_FEEDS_TICK]), timers
    for d in firing:
        tick = d["inputs"][0]["id"]
        fired, prop = d["output"].rsplit(".", 1)
        assert (json.loads(fired), prop) == ({"type": f"tick-{ids.PULSE}", "tick": tick,
                                              "gate": ["ALL"]}, "data")
    pulse_type = f"tick-{ids.PULSE}"
    users: dict[str, list[dict[str, Any]]] = {}
    for d in server:
        for i in d["inputs"]:
            if i["id"].startswith("{") and json.loads(i["id"]).get("type") == pulse_type:
                users.setdefault(json.loads(i["id"])["gate"], []).append(d)
    assert len(users) >= 10, sorted(users)  # the shell's strip, the alert panel, maps, wall views, boards
    for name, callbacks in users.items():
        assert len(callbacks) == 1, (name, [d["output"] for d in callbacks])
        tick = ids.ADMIN_FEEDS_TICK if name == ids.ADMIN_FEEDS else ids.TICK
        busy = ids.prop_id(ids.pulse_part(name, ids.BUSY, tick), "data")
        assert callbacks[0].get("running") == {"running": {busy: True},
                                               "runningOff": {busy: False}}, name
