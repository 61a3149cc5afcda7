"""The demo city's trickle of ordinary incidents (issue 19): its schedule, pure in (seed, start,
mean, time); the first within two minutes, every kind in turn, none while a scenario plays, and a
broken-down bus that stands still, then catches up without driving backwards."""

from __future__ import annotations

import numpy as np
import pytest

from data_adapters.simulator import CityModel, Fleet, TransitNetwork
from data_adapters.simulator.scenario import make_scenario
from data_adapters.simulator.trickle import (
    BREAKDOWN_TAIL_S,
    FIRST_S,
    KINDS,
    LONGEST_S,
    SCENARIO_SPAN_S,
    Trickle,
    TrickleEvent,
)

T0 = 1_767_225_600.0 + 9 * 3600.0  # 2026-01-01 17:00 in Yiyang


def _span(trickle: Trickle, hours: float) -> list[TrickleEvent]:
    return trickle.events(trickle.start, trickle.start + hours * 3600.0)


@pytest.mark.parametrize("seed", [1, 2, 7, 12345])
def test_the_first_event_comes_within_two_minutes_and_every_kind_follows(seed: int) -> None:
    events = _span(Trickle(seed, T0, 5.0), 2.0)
    assert FIRST_S[0] <= events[0].start - T0 <= FIRST_S[1] <= 120.0
    assert {e.kind for e in events[:4]} == set(KINDS)  # one of each in the first four
    assert [e.number for e in events] == list(range(len(events)))
    assert all(e.end > e.start for e in events)


def test_the_schedule_is_seeded_and_keeps_its_mean() -> None:
    """The same seed and start give the same events in any process; another seed others; the
    intervals average the configured mean."""
    one, again, other = Trickle(3, T0, 4.0), Trickle(3, T0, 4.0), Trickle(4, T0, 4.0)
    late = T0 + 20 * 3600.0
    # Asked in a different order (late first), the answer is the same.
    assert again.events(late, late + 600) == one.events(late, late + 600)
    assert _span(again, 6) == _span(one, 6)
    assert [e.start for e in _span(other, 6)] != [e.start for e in _span(one, 6)]
    starts = np.array([e.start for e in _span(one, 48)])
    gaps = np.diff(starts)
    assert gaps.min() >= 0.5 * 240 and gaps.max() <= 1.5 * 240
    assert abs(gaps.mean() - 240.0) < 12.0
    assert Trickle(3, T0, 10.0).events(T0, T0 + 3600)[0].start == one.events(T0, T0 + 600)[0].start


def test_none_plays_during_a_scenario() -> None:
    """With a scenario an hour after the trickle's start, events run before it and again after its
    end; none starts from LONGEST_S before it to its end, so none overlaps it."""
    city = CityModel.generate(1)
    storm = make_scenario("rainstorm", city, T0 + 3600.0)
    assert storm is not None
    calm, stormy = Trickle(1, T0, 5.0), Trickle(1, T0, 5.0, storm)
    window = (storm.start - LONGEST_S, storm.start + SCENARIO_SPAN_S)
    played = _span(stormy, 14)
    assert played and all(not window[0] <= e.start <= window[1] for e in played)
    assert all(e.end < storm.start or e.start > storm.start + SCENARIO_SPAN_S for e in played)
    assert stormy.events(storm.start, storm.start + SCENARIO_SPAN_S) == []
    assert any(e.start > window[1] for e in played) and any(e.end < storm.start for e in played)
    # The calm schedule would have played there: the scenario took those slots, nothing else moved.
    assert [e for e in _span(calm, 14) if not window[0] <= e.start <= window[1]] == played


def test_overlapping_events_of_a_kind_strike_different_subjects() -> None:
    trickle = Trickle(5, T0, 4.0)
    events = _span(trickle, 24)
    for kind in KINDS:
        mine = [e for e in events if e.kind == kind]
        for k, b in enumerate(mine):
            # A bus stays taken while it makes up its delay, the others while their event lasts.
            held = {trickle.subject(a, 40 if kind == "bus_breakdown" else 8) for a in mine[:k]
                    if a.end + (BREAKDOWN_TAIL_S if kind == "bus_breakdown" else 0.0) > b.start}
            assert trickle.subject(b, 40 if kind == "bus_breakdown" else 8) not in held, (kind, b)


def test_a_broken_down_bus_stands_still_then_catches_up() -> None:
    """The bus of a breakdown keeps its place while stuck (its delay grows 1 s/s), then moves on
    and makes up time no faster than the delay model's bound; the other buses are untouched."""
    city = CityModel.generate(1)
    network = TransitNetwork.generate(city, seed=1, vehicles=40)
    calm_fleet = Fleet(network, seed=1)
    fleet = Fleet(TransitNetwork.generate(city, seed=1, vehicles=40), seed=1)
    trickle = Trickle(1, T0, 5.0, network=fleet.network)
    fleet.add_incidents(lambda t: trickle.breakdowns(t, len(fleet)), lambda now: trickle.notices(fleet, now))
    event = next(e for e in _span(trickle, 2) if e.kind == "bus_breakdown")
    bus = trickle.subject(event, len(fleet))
    stuck = [fleet.step(t) for t in np.arange(event.start + 5, event.start + event.hold_s, 30.0)]
    assert len({(round(float(s.lon[bus]), 7), round(float(s.lat[bus]), 7)) for s in stuck}) == 1
    delays = np.array([float(s.delay[bus]) for s in stuck])
    assert np.allclose(np.diff(delays), 30.0)
    after = event.start + event.hold_s + 600
    moving = [fleet.step(t) for t in np.arange(event.end + 30, event.end + 1200, 30.0)]
    assert len({(round(float(s.lon[bus]), 7), round(float(s.lat[bus]), 7)) for s in moving}) > 10
    times = np.arange(event.start + event.hold_s, after + 3 * 3600, 20.0)
    late = np.array([float(fleet.delays(t)[bus]) for t in times])
    assert np.diff(late).min() >= -0.25 * 20 - 1e-6  # never faster than 1.25x its cruise speed
    assert late[-1] == pytest.approx(float(calm_fleet.delays(times[-1])[bus]))  # time made up
    struck = {bus for bus, _start, _stuck in trickle.breakdowns(after, len(fleet))}
    others = ~np.isin(np.arange(len(fleet)), list(struck))
    assert others.sum() >= len(fleet) - 3
    assert np.array_equal(fleet.delays(after)[others], calm_fleet.delays(after)[others])
    listed = trickle.notices(fleet, event.start + 90)
    assert [n["id"] for n in listed if n["id"].startswith("breakdown")] == [f"breakdown-{event.number}"]
    assert f"breakdown-{event.number}" not in {n["id"] for n in trickle.notices(fleet, event.end + 1)}


def test_cityops_up_passes_the_setting_and_a_fixed_start() -> None:
    """`cityops up` hands demo.trickle_minutes to the simulator with a start fixed at the first
    start (a restarted simulator resumes the same schedule); 0 passes none (and with --no-demo no
    simulator is started at all). The simulator refuses a mean out of range."""
    from app.config import load_settings
    from app.ops.supervisor import Supervisor
    from data_adapters.simulator.server import main

    def command(environ: dict[str, str], scenario: str | None = None) -> tuple[Supervisor, list[list[str]]]:
        supervisor = Supervisor(load_settings(environ=environ), demo=True, scenario=scenario)
        spawned: list[list[str]] = []
        supervisor._spawn = lambda argv, **_: spawned.append(argv)  # type: ignore[method-assign,assignment,return-value]
        child = supervisor._simulator_child()
        child.start()
        return supervisor, spawned

    supervisor, spawned = command({})
    argv = spawned[0]
    assert argv[argv.index("--trickle-minutes") + 1] == "5"
    first_start = argv[argv.index("--trickle-start") + 1]
    restarted = supervisor._simulator_child()
    restarted.start()
    again = spawned[-1]
    assert again[again.index("--trickle-start") + 1] == first_start
    _, spawned = command({"CITYOPS_DEMO_TRICKLE_MINUTES": "0"})
    assert "--trickle-minutes" not in spawned[0]
    _, spawned = command({"CITYOPS_DEMO_TRICKLE_MINUTES": "12.5"}, scenario="rainstorm")
    assert spawned[0][spawned[0].index("--trickle-minutes") + 1] == "12.5"
    assert "--scenario" in spawned[0]  # the simulator itself keeps the trickle out of the storm
    for bad in ("-1", "2000"):
        with pytest.raises(SystemExit) as exit_info:
            main(["--trickle-minutes", bad])
        assert exit_info.value.code == 2
