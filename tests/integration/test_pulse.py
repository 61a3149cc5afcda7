"""Every server callback the page tick drives goes through a tick gate (layouts/pulse.py), so an
answer slower than one tick still lands; each gate's stores are on the page its callback draws."""

from __future__ import annotations

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
    through its own gate and tells that gate while it waits (else the gate never holds)."""
    token = accounts.create_token(r, "gate-check", "admin")
    deps = _dependencies(client, token)
    server = [d for d in deps if not d.get("clientside_function")]
    on_tick = [d["output"] for d in server if any(i["id"] == ids.TICK for i in d["inputs"])]
    assert on_tick == []
    suffix = f"-{ids.PULSE}"
    gates = [d["output"] for d in deps if d.get("clientside_function")
             and any(i["id"] == ids.TICK for i in d["inputs"]) and d["output"].endswith(suffix + ".data")]
    assert len(gates) >= 10, gates  # the shell's strip, the alert panel, maps, wall views, boards
    for gate_output in gates:
        name = gate_output.removesuffix(".data").removesuffix(suffix)
        users = [d for d in server if any(i["id"] == ids.pulse_part(name, ids.PULSE)
                                          for i in d["inputs"])]
        assert len(users) == 1, (name, [d["output"] for d in users])
        busy = f"{ids.pulse_part(name, ids.BUSY)}.data"
        assert users[0].get("running") == {"running": {busy: True}, "runningOff": {busy: False}}, name
