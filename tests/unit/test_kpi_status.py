"""The one rule set from a KPI to a status (app/kpis/status.py, issue 19): values, small samples,
which KPIs judge a domain, and when a KPI raises an alert."""

from __future__ import annotations

from typing import Any

import pytest

from app.kpis import status


def kpi(name: str, state: str, **extra: Any) -> dict[str, Any]:
    """A stored KPI row with only what the judge reads."""
    return {"name": name, "status": state, **extra}


@pytest.mark.parametrize(("value", "expected"), [
    (None, "unknown"), (2.5, "ok"), (2.0, "ok"), (1.99, "warn"), (1.5, "warn"), (1.49, "bad")])
def test_judge_at_least(value: float | None, expected: str) -> None:
    """At or above the target ok, down to the limit warn, under it bad, no value unknown."""
    assert status.judge_at_least(value, 2.0, 1.5) == expected


@pytest.mark.parametrize(("value", "expected"), [
    (None, "unknown"), (0.0, "ok"), (10.0, "ok"), (10.7, "warn"), (25.0, "warn"), (33.3, "bad")])
def test_judge_at_most(value: float | None, expected: str) -> None:
    """At or below the target ok, up to the limit warn, over it bad."""
    assert status.judge_at_most(value, 10.0, 25.0) == expected


def test_informational_is_ok_when_known() -> None:
    """A figure without a target is ok when known, unknown without data (never a made-up zero)."""
    assert (status.informational(0.0), status.informational(None)) == ("ok", "unknown")


@pytest.mark.parametrize(("sample", "minimum", "small"), [
    (None, 10, False), (9, 10, True), (10, 10, False), (0, 1, True), (500, 10, False)])
def test_small_sample(sample: int | None, minimum: int, small: bool) -> None:
    """Fewer observations than the minimum is small; a KPI counting none never is."""
    assert status.is_small_sample(sample, minimum) is small


def test_a_small_sample_counts_at_most_as_warn() -> None:
    """Bad on nine requests counts as warn; warn and ok stay; nonsense is unknown."""
    assert status.effective_status(kpi("sla_breach", "bad", small_sample=True)) == "warn"
    assert status.effective_status(kpi("sla_breach", "bad", small_sample=False)) == "bad"
    assert status.effective_status(kpi("sla_breach", "warn", small_sample=True)) == "warn"
    assert status.effective_status(kpi("sla_breach", "ok", small_sample=True)) == "ok"
    assert status.effective_status(kpi("x", "on fire")) == "unknown"
    assert status.effective_status({"name": "x"}) == "unknown"


def test_only_city_wide_kpis_judge_a_domain() -> None:
    """A bad request category (a third of nine noise complaints) does not decide its domain."""
    kpis = [kpi("sla_breach", "warn"),
            kpi("sla_breach:Noise", "bad", subject="Noise"),
            kpi("open_requests", "ok")]
    assert status.domain_level(kpis) == "warn"
    assert [k["name"] for k in status.deciding(kpis)] == ["sla_breach", "open_requests"]


def test_domain_level_is_the_worst_effective_status() -> None:
    """Worst of the city-wide KPIs; a small sample cannot make it bad; unknown ones are skipped."""
    assert status.domain_level([kpi("a", "ok"), kpi("b", "bad"), kpi("c", "warn")]) == "bad"
    assert status.domain_level([kpi("a", "ok"), kpi("b", "bad", small_sample=True)]) == "warn"
    assert status.domain_level([kpi("a", "ok"), kpi("b", "unknown")]) == "ok"
    assert status.domain_level([kpi("a", "unknown")]) == "unknown"
    assert status.domain_level([]) == "unknown"


def test_only_a_city_wide_bad_kpi_on_a_real_sample_raises_an_alert() -> None:
    """The alert rule's condition: city-wide, bad, not a small sample."""
    assert status.raises_alert(kpi("sla_breach", "bad"))
    assert not status.raises_alert(kpi("sla_breach", "bad", small_sample=True))
    assert not status.raises_alert(kpi("sla_breach:Noise", "bad", subject="Noise"))
    assert not status.raises_alert(kpi("sla_breach", "warn"))


def test_limits_come_from_the_settings_and_judge_like_the_kpi() -> None:
    """A KPI's limits are its [kpis] settings (a zone's KPI has its group's); the band a value
    falls in is the status the KPI's own judge gives it."""
    from app.config.kpis import KpiSettings

    found = status.limits({"name": "min_pressure:north"}, KpiSettings(pressure_bad_bar=1.2))
    assert found == status.Limits(">=", 2.0, 1.2)
    assert [status.judge_by(v, found) for v in (2.0, 1.5, 1.1)] == ["ok", "warn", "bad"]
    delay = status.limits({"name": "mean_delay"}, KpiSettings())
    assert delay == status.Limits("<=", status.DELAY_TARGET_S, status.DELAY_BAD_S)
    assert [status.judge_by(v, delay) for v in (120.0, 200.0, 301.0)] == ["ok", "warn", "bad"]
    assert status.limits({"name": "total_flow"}, KpiSettings()) is None  # informational

