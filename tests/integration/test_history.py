"""The history of readings and KPIs: kept as feeds send them, once each, for as long as configured."""

from __future__ import annotations

import time

import pytest
import redis

from app import kpis, store
from app.config import HistorySettings
from app.live import history
from app.model.records import Entity, Observation, RawPayload
from app.pipeline.ingest import ingest
from app.store import series
from app.store.keys import Keys
from data_adapters import registry
from data_adapters.base import ParseError
from tests.support.paths import SAMPLES

DAY = 86_400.0
# Yesterday, three hours into the UTC day: recent enough for its days of retention to run.
T0 = (time.time() // DAY - 1) * DAY + 3 * 3600.0


def _sensor(now: float) -> Entity:
    return Entity("water", "sensor", "w:s1", 28.55, 112.36, "ok", now, "w", {"name": "S1"})


def _readings(values: list[tuple[float, float]], metric: str = "pressure_bar") -> list[Observation]:
    return [Observation("w:s1", metric, value, "bar", at) for at, value in values]


def test_every_new_reading_is_kept_once(r: redis.Redis) -> None:
    """Each reading newer than the stored one is appended; a repeated batch adds nothing."""
    keep = HistorySettings()
    points = [(T0 + 30 * i, 2.0 + 0.01 * i) for i in range(10)]
    store.entities.write_batch(r, "water", "w", entities=[_sensor(T0)], observations=_readings(points[:6]),
                               history=keep)
    store.entities.write_batch(r, "water", "w", observations=_readings(points[:6]), history=keep)
    store.entities.write_batch(r, "water", "w", observations=_readings(points[4:]), history=keep)
    got = history.reading_history(r, "water", "w:s1", "pressure_bar", T0 - 60, T0 + 3600)
    assert got.times == [t for t, _ in points]
    assert got.values == [v for _, v in points]  # float32 stored, the written numbers read back


def test_a_window_across_midnight_and_steps(r: redis.Redis) -> None:
    """A window spanning two UTC days reads both; steps are each bucket's mean, gaps left out."""
    midnight = (T0 // DAY + 1) * DAY
    points = [(midnight - 120, 1.0), (midnight - 60, 3.0), (midnight + 60, 5.0), (midnight + 3700, 7.0)]
    store.entities.write_batch(r, "water", "w", entities=[_sensor(T0)], observations=_readings(points),
                               history=HistorySettings())
    raw = history.reading_history(r, "water", "w:s1", "pressure_bar", midnight - 300, midnight + 7200)
    assert raw.values == [1.0, 3.0, 5.0, 7.0]
    stepped = history.reading_history(r, "water", "w:s1", "pressure_bar", midnight - 300,
                                      midnight + 7200, step_s=3600)
    assert stepped.times == [midnight - 300, midnight + 3300]
    assert stepped.values == [3.0, 7.0]
    assert r.ttl(Keys.reading_series("water", "pressure_bar", "w:s1", series.day_of(midnight))) > 7 * DAY


def test_retention_per_metric(r: redis.Redis) -> None:
    """A metric kept 0 days leaves no series; another metric's days set its keys' expiry."""
    keep = HistorySettings(readings_days=2.0, metric_days={"delay_s": 0.0, "level_m": 30.0})
    obs = [Observation("w:s1", "pressure_bar", 2.0, "bar", T0), Observation("w:s1", "level_m", 4.0, "m", T0),
           Observation("w:s1", "delay_s", 9.0, "s", T0)]
    store.entities.write_batch(r, "water", "w", entities=[_sensor(T0)], observations=obs, history=keep)
    day = series.day_of(T0)
    end_of_day = (day + 1) * DAY
    assert r.exists(Keys.reading_series("water", "delay_s", "w:s1", day)) == 0
    for metric, days in (("pressure_bar", 2.0), ("level_m", 30.0)):
        expires_at = time.time() + r.ttl(Keys.reading_series("water", metric, "w:s1", day))
        assert expires_at == pytest.approx(end_of_day + days * DAY, abs=5)


def test_no_history_when_not_asked(r: redis.Redis) -> None:
    """A batch written without history settings (a benchmark, a plain write) keeps no series."""
    store.entities.write_batch(r, "water", "w", entities=[_sensor(T0)],
                               observations=_readings([(T0, 1.0)]))
    assert history.reading_history(r, "water", "w:s1", "pressure_bar", T0 - 1, T0 + 1).times == []


def test_bad_windows_are_refused(r: redis.Redis) -> None:
    """A window backwards, a tiny step or too many points: HistoryError saying why."""
    with pytest.raises(history.HistoryError, match="since"):
        history.reading_history(r, "water", "w:s1", "pressure_bar", T0, T0 - 1)
    with pytest.raises(history.HistoryError, match="step"):
        history.reading_history(r, "water", "w:s1", "pressure_bar", T0, T0 + 10, step_s=0.1)
    with pytest.raises(history.HistoryError, match="steps"):
        history.reading_history(r, "water", "w:s1", "pressure_bar", T0, T0 + 30 * DAY, step_s=1)


def test_kpis_once_a_minute_for_their_days(r: redis.Redis) -> None:
    """City-wide KPIs with a value go into their series once a minute; per-subject ones do not."""
    rows = [{"name": "min_pressure", "value": 2.5, "status": "ok", "subject": None},
            {"name": "min_pressure:north", "value": 1.0, "status": "bad", "subject": "north"},
            {"name": "unknown_one", "value": None, "status": "unknown", "subject": None}]
    store.kpis.write(r, "water", rows, history_days=90, now=T0)
    store.kpis.write(r, "water", [dict(rows[0], value=9.0)], history_days=90, now=T0 + 30)
    store.kpis.write(r, "water", [dict(rows[0], value=2.75)], history_days=90, now=T0 + 61)
    got = history.kpi_history(r, "water", "min_pressure", T0 - 1, T0 + 120)
    assert (got.times, got.values) == ([T0, T0 + 61], [2.5, 2.75])
    assert history.kpi_history(r, "water", "min_pressure:north", T0 - 1, T0 + 120).times == []
    assert [row[1:] for row in store.kpis.read_history(r, "water", T0 - 1, T0 + 120)] == [
        ("min_pressure", 2.5), ("min_pressure", 2.75)]


def test_kpi_refresh_keeps_the_configured_days(r: redis.Redis) -> None:
    """refresh() writes the KPI series with the installation's kpis_days."""
    from app.config import load_settings, updated

    settings = updated(load_settings(environ={}), {"history.kpis_days": 3.0})
    store.entities.write_batch(r, "water", "w", entities=[_sensor(T0)],
                               observations=_readings([(T0, 2.5)]))
    kpis.refresh(r, "water", T0, settings)
    key = Keys.kpi_series("water", "min_pressure", series.day_of(T0))
    assert r.exists(key)
    assert time.time() + r.ttl(key) == pytest.approx((series.day_of(T0) + 1 + 3) * DAY, abs=5)


@pytest.mark.skipif(not (SAMPLES / "senml").is_dir(), reason="shared samples not present")
def test_history_of_real_senml_captures(r: redis.Redis) -> None:
    """Real SenML packs ingested twice: each of their readings is in its series once."""
    adapter = registry.build({"name": "senml-sample", "adapter": "senml_http",
                              "url": "http://127.0.0.1:9/senml"})
    stored = 0
    for path in sorted((SAMPLES / "senml").glob("*.json")):
        raw = RawPayload(path.read_bytes(), str(path))
        try:
            stored += ingest(r, adapter, raw).accepted
        except ParseError:
            continue  # a capture the water adapter refuses tells nothing about history
        before = {key: r.strlen(key) for key in r.scan_iter("co:{water}:ts:*")}
        ingest(r, adapter, raw)
        assert {key: r.strlen(key) for key in before} == before, path.name  # nothing twice
    keys = list(r.scan_iter("co:{water}:ts:*"))
    if not stored or not keys:
        pytest.skip("no shared SenML capture carries readings recent enough to keep")
    assert all(r.strlen(key) % series.POINT.size == 0 for key in keys)
