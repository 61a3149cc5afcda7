"""Webhooks from a real `cityops up`: receivers added with the CLI, a hung receiver that delays
neither the wall's data nor the other receiver, and a killed dispatcher that loses nothing."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from typing import Iterator

import pytest

from app.alerts import lifecycle
from tests.support.cli import base_env, run_cli
from tests.support.up import (
    Up,
    _launched,
    child_pid,
    embedded_client,
    kill_group,
    login,
    poll,
    start_up,
    stop,
    up_env,
)
from tests.support.webhook_receiver import WebhookReceiver


@pytest.fixture
def city(tmp_path: Path) -> Iterator[Up]:
    data_dir = tmp_path.resolve() / "data"
    up = start_up(data_dir, up_env(data_dir, CITYOPS_PUBLIC_URL="https://ops.example.org"))
    yield up
    first = _launched.index(up)
    if up.process.poll() is None:
        assert stop(up) == 0, up.output()
    for launched in _launched[first:]:
        kill_group(launched)
    del _launched[first:]
    assert "Traceback" not in up.err.text(), up.output()


def add_receiver(up: Up, name: str, url: str) -> tuple[str, str]:
    """`cityops webhooks add` on the running city: (receiver id, secret)."""
    result = run_cli(base_env(up.data_dir, None), "webhooks", "add", "--name", name, "--url", url,
                     "--events", "alert.raised,alert.acknowledged")
    assert result.returncode == 0, result.stderr
    listed = run_cli(base_env(up.data_dir, None), "webhooks", "list", "--json")
    receiver_id = next(row["id"] for row in json.loads(listed.stdout) if row["name"] == name)
    return receiver_id, result.stdout.strip()


def test_a_hung_receiver_delays_neither_the_city_nor_the_others(city: Up) -> None:
    hung, healthy = WebhookReceiver(), WebhookReceiver()
    try:
        hung.hang()
        _, hung_secret = add_receiver(city, "hung", hung.url)
        _, secret = add_receiver(city, "healthy", healthy.url)
        r = embedded_client(city.data_dir)
        first = lifecycle.raise_alert(r, fingerprint="up|1", title="Main burst", severity="critical",
                                      domain="water", source="test").alert_id
        got = healthy.wait_deliveries(1, timeout=30)
        assert got[0].signed_by(secret) and got[0].json["alerts"][0]["fingerprint"] == first[3:]
        assert got[0].json["externalURL"] == "https://ops.example.org"
        poll(lambda: len(hung.attempts) == 1, 30, "the hung receiver was not called")
        # While it hangs: the runner beats, the API answers at once, the other receiver is served.
        session = login(city.base, "admin", city.admin_password or "")
        beat = r.hget("co:{system}:runner:heartbeat", "beat_at") or ""
        started = time.perf_counter()
        assert session.get(f"{city.base}/api/v1/alerts", timeout=10).status_code == 200
        assert time.perf_counter() - started < 2.0
        second = lifecycle.raise_alert(r, fingerprint="up|2", title="Pump stopped",
                                       severity="major", domain="water", source="test").alert_id
        got = healthy.wait_deliveries(2, timeout=30)
        assert got[1].json["alerts"][0]["fingerprint"] == second[3:]
        poll(lambda: (r.hget("co:{system}:runner:heartbeat", "beat_at") or "") != beat, 30,
             "the runner stopped beating while a receiver hung")
        # The dispatcher is killed while the hung receiver still owes both: its restart delivers.
        dispatcher = child_pid(city, "_dispatch")
        assert dispatcher is not None
        os.kill(dispatcher, signal.SIGKILL)
        poll(lambda: (child_pid(city, "_dispatch") or dispatcher) != dispatcher, 60,
             "the dispatcher was not restarted")
        hung.release()

        def prints() -> list[str]:
            return [d.json["alerts"][0]["fingerprint"] for d in hung.deliveries]

        poll(lambda: second[3:] in prints(), 60, "the hung receiver never got the second alert")
        # The killed dispatcher's request may still have been answered (the receiver cannot tell):
        # then the first comes twice, with the same delivery id. Nothing is missing or reordered.
        assert list(dict.fromkeys(prints())) == [first[3:], second[3:]]
        assert len({d.headers["X-Cityops-Delivery"] for d in hung.deliveries}) == 2
        assert all(d.signed_by(hung_secret) for d in hung.deliveries)
        r.close()
    finally:
        hung.close()
        healthy.close()
