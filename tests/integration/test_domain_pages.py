"""The per-domain pages: indicators, feeds and reported things from the store; stale data labelled."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
import redis

from app import store
from app.model.records import Entity
from tests.support.seeds.domains import HOSTILE, seed_medical, texts
from tests.support.web import callback_body, csrf_header, login


def refresh_body(domain: str, seen: Any, shown: Any = None) -> dict[str, Any]:
    """The domain page's refresh callback as the renderer posts it."""
    return callback_body([(f"domain-body-{domain}", "children"), (f"domain-shown-{domain}", "data")],
                         [("live-seen", "data", seen)], [(f"domain-shown-{domain}", "data", shown)])


@pytest.mark.parametrize("role", ["operator", "official", "emergency"])
def test_domain_page_shows_kpis_things_and_staleness(client, users, r: redis.Redis,
                                                     role: str) -> None:  # type: ignore[no-untyped-def]
    """KPIs (city-wide and per subject), the hospital's name as text, and the stale feed named."""
    now = time.time()
    seed_medical(r, now)
    login(client, users[role])
    version = store.status.domain_versions(r)["medical"][0]
    seen = [["medical", version, now], True, [["fhir", "medical", "stale"]]]
    resp = client.post("/_dash-update-component", json=refresh_body("medical", seen),
                       headers=csrf_header(client))
    assert resp.status_code == 200, resp.text
    payload = resp.get_json()["response"]
    words = texts(payload["domain-body-medical"]["children"])
    joined = " ".join(words)
    assert "Beds available" in joined and "42" in joined
    assert "h1" in words  # the per-hospital table
    assert HOSTILE in words  # shown as text: React escapes it; never raw HTML
    assert "dangerouslySetInnerHTML" not in json.dumps(payload)
    assert any(w.startswith("Stale: fhir since") for w in words)
    # Nothing changed for this domain: the next tick answers 204 (no work, no bytes).
    shown = payload["domain-shown-medical"]["data"]
    again = client.post("/_dash-update-component", json=refresh_body("medical", seen, shown),
                        headers=csrf_header(client))
    assert again.status_code == 204


def test_wall_token_and_anonymous_get_no_domain_data(client, users, r: redis.Redis) -> None:  # type: ignore[no-untyped-def]
    """The refresh callback is role-checked on the server, not just hidden."""
    seed_medical(r, time.time())
    seen = [["medical", 1, 1.0], True, []]
    assert client.post("/_dash-update-component", json=refresh_body("medical", seen)).status_code in (
        401, 403)


def test_sessions_share_one_read_of_the_entities_per_version(client, users, r: redis.Redis,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    """Two refreshes at the same version read the entities once; a new version reads again."""
    from layouts import domain_view

    reads: list[str] = []
    real = domain_view.domain_entities
    monkeypatch.setattr(domain_view, "domain_entities",
                        lambda rr, domain: reads.append(domain) or real(rr, domain))
    now = time.time()
    seed_medical(r, now)
    login(client, users["operator"])

    def refresh() -> list[str]:
        version = store.status.domain_versions(r)["medical"][0]
        seen = [["medical", version, now], True, [["fhir", "medical", "stale"]]]
        resp = client.post("/_dash-update-component", json=refresh_body("medical", seen),
                           headers=csrf_header(client))
        assert resp.status_code == 200
        return texts(resp.get_json()["response"]["domain-body-medical"]["children"])

    # The table names a thing by the feed's own reference, not the stored id (issue 19).
    assert "h1" in refresh() and "h1" in refresh()
    assert reads == ["medical"]
    store.entities.write_batch(r, "medical", "fhir", entities=[Entity(
        "medical", "hospital", "fhir:hospital:h2", 28.56, 112.36, "active", now, "test", {})])
    assert "h2" in refresh()
    assert reads == ["medical", "medical"]
