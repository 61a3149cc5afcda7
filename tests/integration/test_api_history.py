"""Entities with their readings, one entity, and the history of readings and KPIs through the API."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app import store
from app.config import HistorySettings
from app.model.records import Observation, RawPayload
from app.pipeline.ingest import ingest
from data_adapters import registry
from tests.support.api import SENSORS, sensor, water_city
from tests.support.paths import SAMPLES
from tests.support.security import OPERATOR, Caller, session_caller

HOUR = 3600.0


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


@pytest.fixture
def operator(web_app: Any, users: dict[str, str]) -> Caller:
    return session_caller(web_app, OPERATOR, users[OPERATOR])


@pytest.fixture
def city(r: redis.Redis) -> dict[str, list[tuple[float, float]]]:
    return water_city(r)


def _error(response: Any) -> str:
    return str((response.get_json(silent=True) or {}).get("error", ""))


# -- readings on entities ----------------------------------------------------------------------------
def test_entities_carry_their_newest_readings(operator: Caller, city: dict[str, Any]) -> None:
    """Each sensor's row has its newest pressure with unit and time (both ways); ?readings=0
    leaves the readings out."""
    rows = operator.call("GET", "/api/v1/entities/water?kind=sensor").get_json()["entities"]
    assert [row["id"] for row in rows] == SENSORS
    for row in rows:
        at, value = city[row["id"]][-1]
        assert row["readings"] == {"pressure_bar": {"value": value, "unit": "bar", "observed_at": at,
                                                    "observed_at_iso": _iso(at)}}
        assert row["observed_at_iso"] == _iso(row["observed_at"])
    bare = operator.call("GET", "/api/v1/entities/water?readings=0").get_json()["entities"]
    assert [row["id"] for row in bare] == SENSORS and all("readings" not in row for row in bare)


def test_one_entity(operator: Caller, city: dict[str, Any]) -> None:
    """GET /entities/{domain}/{id}: the entity with its readings; unknown: 404 JSON."""
    found = operator.call("GET", f"/api/v1/entities/water/{SENSORS[2]}")
    assert found.status_code == 200
    body = found.get_json()
    assert (body["id"], body["zone"], body["readings"]["pressure_bar"]["value"]) == (
        SENSORS[2], "Z1", city[SENSORS[2]][-1][1])
    assert "readings" not in operator.call(
        "GET", f"/api/v1/entities/water/{SENSORS[2]}?readings=0").get_json()
    for path in ("/api/v1/entities/water/w:sensor:nowhere", f"/api/v1/entities/medical/{SENSORS[2]}",
                 "/api/v1/entities/spaceports/x", "/api/v1/entities/water/" + "x" * 300):
        missing = operator.call("GET", path)
        assert missing.status_code == 404 and missing.is_json and len(missing.data) < 300, path


def test_an_id_with_slashes(operator: Caller, r: redis.Redis) -> None:
    """SenML names hold '/': such an entity is found, and so is its history."""
    now = time.time()
    odd = "w:sensor:urn:dev:x/3303/0/5700"
    store.entities.write_batch(r, "water", "w", entities=[sensor(odd, now)],
                               observations=[Observation(odd, "pressure_bar", 3.5, "bar", now)],
                               history=HistorySettings())
    assert operator.call("GET", f"/api/v1/entities/water/{odd}").get_json()["id"] == odd
    got = operator.call("GET", f"/api/v1/entities/water/{odd}/history?metric=pressure_bar")
    assert got.status_code == 200 and [p["value"] for p in got.get_json()["points"]] == [3.5]


# -- history of readings -------------------------------------------------------------------------------
def test_history_as_kept(operator: Caller, city: dict[str, Any]) -> None:
    """Every reading of the window, with its time in Unix seconds and ISO 8601; the window is the
    same given either way."""
    points = city[SENSORS[3]]
    since, until = points[2][0], points[8][0]
    by_unix = operator.call("GET", f"/api/v1/entities/water/{SENSORS[3]}/history?metric=pressure_bar"
                                   f"&since={since:.0f}&until={until:.0f}")
    assert by_unix.status_code == 200, by_unix.data
    body = by_unix.get_json()
    assert [(p["at"], p["value"]) for p in body["points"]] == points[2:9]
    assert [p["at_iso"] for p in body["points"]] == [_iso(t) for t, _ in points[2:9]]
    assert (body["entity"], body["metric"], body["unit"], body["step_s"]) == (
        SENSORS[3], "pressure_bar", "bar", None)
    assert (body["since_iso"], body["until_iso"]) == (_iso(since), _iso(until))
    # The same window in ISO 8601, once in UTC and once with Yiyang's offset.
    local = datetime.fromtimestamp(until, timezone(timedelta(hours=8))).isoformat()
    by_iso = operator.client.get(
        f"/api/v1/entities/water/{SENSORS[3]}/history",
        query_string={"metric": "pressure_bar", "since": _iso(since), "until": local},
        headers=operator.headers())
    assert by_iso.get_json()["points"] == body["points"]


def test_history_in_steps(operator: Caller, city: dict[str, Any]) -> None:
    """step=PT30M (or 1800): each step the mean of its readings, starting at `since`."""
    points = city[SENSORS[0]]
    since = points[0][0]
    for step in ("PT30M", "1800"):
        got = operator.client.get(f"/api/v1/entities/water/{SENSORS[0]}/history", query_string={
            "metric": "pressure_bar", "since": f"{since:.0f}", "until": f"{points[-1][0]:.0f}",
            "step": step}, headers=operator.headers()).get_json()
        assert got["step_s"] == 1800.0
        expected = []
        for k in range(5):
            inside = [v for t, v in points if since + k * 1800 <= t < since + (k + 1) * 1800]
            if inside:
                expected.append((since + k * 1800, sum(inside) / len(inside)))
        assert [p["at"] for p in got["points"]] == [t for t, _ in expected]
        assert [p["value"] for p in got["points"]] == pytest.approx([v for _, v in expected])


def test_the_default_window_is_the_last_day(operator: Caller, city: dict[str, Any]) -> None:
    got = operator.call("GET", f"/api/v1/entities/water/{SENSORS[1]}/history?metric=pressure_bar")
    body = got.get_json()
    assert body["until"] - body["since"] == 86_400.0 and abs(body["until"] - time.time()) < 60
    assert [(p["at"], p["value"]) for p in body["points"]] == city[SENSORS[1]]


@pytest.mark.parametrize(("query", "named"), [
    ("", "metric"),
    ("metric=flow_m3h", "metric"),
    ("metric=pressure_bar&since=2026-01-02T00:00:00Z&until=2026-01-01T00:00:00Z", "since"),
    ("metric=pressure_bar&since=2026-01-01T08:00:00", "since"),
    ("metric=pressure_bar&until=tomorrow", "until"),
    ("metric=pressure_bar&step=0.5", "step"),
    ("metric=pressure_bar&step=P1M", "step"),
    ("metric=pressure_bar&since=2026-01-01T00:00:00Z&until=2026-01-30T00:00:00Z&step=1", "step"),
    ("metric=pressure_bar&since=1000000000&until=1900000000", "since"),
])
def test_bad_windows_are_400_naming_the_parameter(operator: Caller, city: dict[str, Any],
                                                  query: str, named: str) -> None:
    got = operator.call("GET", f"/api/v1/entities/water/{SENSORS[0]}/history?{query}")
    assert got.status_code == 400 and f"'{named}'" in _error(got), (query, got.data)


def test_history_of_an_unknown_entity_is_404(operator: Caller, city: dict[str, Any]) -> None:
    got = operator.call("GET", "/api/v1/entities/water/w:sensor:gone/history?metric=pressure_bar")
    assert got.status_code == 404 and "gone" in _error(got)


_TEXT = st.characters(blacklist_categories=("Cs",))  # what a URL can carry
_TIMES = (st.datetimes(timezones=st.none() | st.timezones()).map(lambda d: d.isoformat())
          | st.floats(allow_nan=True, allow_infinity=True).map(str) | st.integers().map(str)
          | st.text(_TEXT, max_size=12))
_STEPS = (st.from_regex(r"\AP[0-9WDTHMS.]{0,12}\Z") | st.floats().map(str) | st.text(_TEXT, max_size=8))


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(since=_TIMES, until=_TIMES, step=_STEPS, kpi=st.booleans())
def test_any_window_gets_an_answer_below_500(operator: Caller, city: dict[str, Any], since: str,
                                             until: str, step: str, kpi: bool) -> None:
    """Whatever a client writes for the window and step: 200 or a 400 naming a parameter."""
    path, asked = (("/api/v1/kpis/history", {"domain": "water", "kpi": "min_pressure"}) if kpi else
                   (f"/api/v1/entities/water/{SENSORS[0]}/history", {"metric": "pressure_bar"}))
    got = operator.client.get(path, query_string=dict(asked, since=since, until=until, step=step),
                              headers=operator.headers())
    assert got.status_code in (200, 400), (since, until, step, got.data[:200])
    if got.status_code == 400:
        assert any(f"'{name}'" in _error(got) for name in ("since", "until", "step", "kpi")), got.data


# -- KPI history ----------------------------------------------------------------------------------------
def test_kpi_history(operator: Caller, r: redis.Redis) -> None:
    """The once-a-minute values of a city-wide KPI over the window; an unknown KPI is a 400 that
    lists the known ones."""
    t0 = (time.time() // 60) * 60 - 3 * HOUR
    rows = [{"name": "min_pressure", "domain": "water", "title": "Lowest pressure", "unit": "bar",
             "value": 2.0, "status": "ok", "subject": None}]
    for k in range(6):
        store.kpis.write(r, "water", [dict(rows[0], value=2.0 + k / 10)], now=t0 + 60 * k)
    got = operator.client.get("/api/v1/kpis/history", query_string={
        "domain": "water", "kpi": "min_pressure", "since": _iso(t0), "until": _iso(t0 + 600)},
        headers=operator.headers())
    assert got.status_code == 200, got.data
    body = got.get_json()
    assert (body["kpi"], body["unit"], body["title"]) == ("min_pressure", "bar", "Lowest pressure")
    assert [p["at"] for p in body["points"]] == [t0 + 60 * k for k in range(6)]
    assert [p["value"] for p in body["points"]] == pytest.approx([2.0 + k / 10 for k in range(6)])
    stepped = operator.call("GET", f"/api/v1/kpis/history?domain=water&kpi=min_pressure"
                                   f"&since={t0:.0f}&until={t0 + 600:.0f}&step=180").get_json()
    assert [p["value"] for p in stepped["points"]] == pytest.approx([2.1, 2.4])
    unknown = operator.call("GET", "/api/v1/kpis/history?domain=water&kpi=nope")
    assert unknown.status_code == 400 and "'kpi'" in _error(unknown) and "min_pressure" in _error(unknown)
    assert "'domain'" in _error(operator.call("GET", "/api/v1/kpis/history?kpi=min_pressure"))


# -- values ingested from the shared samples ------------------------------------------------------------
@pytest.mark.skipif(not (SAMPLES / "senml").is_dir(), reason="shared samples not present")
@pytest.mark.parametrize("name", ["rfc8428-ex2.json", "rfc8428-ex7.json", "rfc8428-ex9.json"])
def test_readings_of_real_senml_captures(operator: Caller, r: redis.Redis, name: str) -> None:
    """A real SenML pack (times relative to its arrival) ingested by the water adapter: the API's
    entity shows each of its readings with the unit it was sent in, and each reading's history
    holds it at its time."""
    adapter = registry.build({"name": "senml-sample", "adapter": "senml_http",
                              "url": "http://127.0.0.1:9/senml"})
    raw = RawPayload((SAMPLES / "senml" / name).read_bytes(), name, fetched_at=time.time())
    sent = [o for o in adapter.parse(raw) if isinstance(o, Observation)]
    assert sent and ingest(r, adapter, raw).accepted > 0
    for entity_id in {o.entity_id for o in sent}:
        row = operator.call("GET", f"/api/v1/entities/water/{entity_id}").get_json()
        for o in (o for o in sent if o.entity_id == entity_id):
            assert row["readings"][o.metric]["value"] == pytest.approx(o.value), (name, o.metric)
            assert row["readings"][o.metric]["unit"] == o.unit
            trend = operator.client.get(f"/api/v1/entities/water/{entity_id}/history", query_string={
                "metric": o.metric, "since": f"{o.observed_at - 60:.3f}",
                "until": f"{o.observed_at + 60:.3f}"}, headers=operator.headers()).get_json()
            assert [p["value"] for p in trend["points"]] == pytest.approx([o.value]), (name, o.metric)
            # (the history keeps a reading's time to the second: app/store/series.py)
            assert trend["points"][0]["at"] == pytest.approx(o.observed_at, abs=1.0)
