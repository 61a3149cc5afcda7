"""`cityops soak`: the demo city at scale for a long run, under load and faults, with memory watched.

A private `cityops up` (temporary data directory, free port, demo knobs at ``scale`` x their
defaults) serves a few logged-in clients that poll the wall and the API, while faults are injected
in turn (SIGKILL of the embedded Redis, of the adapter runner, of one web worker; SIGSTOP of the
simulator for longer than a feed's freshness budget). Each fault is timed until the city has
recovered. Every ``interval_s`` the resident memory of each process of the tree, grouped by role,
and Redis's ``used_memory`` and key count are sampled from /proc and INFO; at the end each series
is judged bounded or not. Only the standard library talks HTTP and reads /proc, as in bench_web.
"""

from __future__ import annotations

import argparse
import dataclasses
import http.client
import json
import os
import platform
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any, Callable, Mapping, Sequence

import redis

from app import accounts, store
from app.bench.web import STATUS_OUTPUTS, _tick_body
from app.config import ConfigError, Settings, load_settings
from app.live.feeds import read_health
from app.model import roles
from app.store.embedded import free_port
from app.store.link import connect

ROLES = ("supervisor", "redis", "runner", "web_master", "web_workers", "simulator")
FAULTS = ("redis", "runner", "web_worker", "simulator")
# Settings field -> the variable that sets it for `up`; the defaults come from Settings itself.
DEMO_KNOBS = {"demo_vehicles": "CITYOPS_DEMO_VEHICLES", "demo_sensors": "CITYOPS_DEMO_SENSORS",
              "demo_hospitals": "CITYOPS_DEMO_HOSPITALS", "demo_ambulances": "CITYOPS_DEMO_AMBULANCES",
              "demo_requests": "CITYOPS_DEMO_REQUESTS"}
START_TIMEOUT_S = 120.0
READY_TIMEOUT_S = 120.0
RECOVERY_TIMEOUT_S = 180.0
STOP_TIMEOUT_S = 60.0
REQUEST_TIMEOUT_S = 15.0
CHECK_EVERY_S = 0.25
# Bounded: the peak of the last third may exceed the middle third's by this ratio plus this slack,
# and the settled growth per hour may not exceed this share of the series' size (plus the slack):
# a slow leak passes the peaks of a short run but not its slope.
TOLERANCE_RATIO = 0.10
GROWTH_PER_H = 0.10
SLACK = {"MB": 5.0, "keys": 50.0}
# A restarted process warms up again (imports, caches, first datasets): its first minutes are not
# growth. The run's own start gets its first third.
RESTART_WARMUP_S = 300.0
# Growth per hour is judged only from this much settled time on: a minute's wobble, multiplied by
# sixty, is not a trend.
MIN_SLOPE_SPAN_S = 600.0
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
SOAK_USER = "soak-operator"


class SoakError(RuntimeError):
    """The soak could not run (the city did not start); the message is one line."""


# -- processes ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Proc:
    """One live process as /proc shows it."""

    pid: int
    ppid: int
    cmd: str
    rss_kb: int
    cpu_ticks: int


def _stat_fields(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name in parentheses may hold spaces: fields start after the last ")".
    return text[text.rindex(")") + 2:].split()


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(
            "utf-8", "replace").strip()
    except OSError:
        return ""


def scan_tree(root: int) -> dict[int, Proc]:
    """Every live process under ``root`` (itself included), from one pass over /proc."""
    parents: dict[int, tuple[int, list[str]]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat_fields(int(entry))
            if fields is not None and fields[0] != "Z":
                parents[int(entry)] = (int(fields[1]), fields)
    kids: dict[int, list[int]] = {}
    for pid, (ppid, _) in parents.items():
        kids.setdefault(ppid, []).append(pid)
    out: dict[int, Proc] = {}
    todo = [root] if root in parents else []
    while todo:
        pid = todo.pop()
        ppid, fields = parents[pid]
        out[pid] = Proc(pid, ppid, _cmdline(pid), int(fields[21]) * PAGE_KB,
                        int(fields[11]) + int(fields[12]))
        todo.extend(kids.get(pid, ()))
    return out


def classify(root: int, procs: Mapping[int, Proc]) -> dict[str, list[int]]:
    """Pids per role of a `cityops up` tree rooted at ``root`` (forks of Redis are left out:
    an AOF rewrite shares the server's pages and lives only for seconds)."""
    found: dict[str, list[int]] = {role: [] for role in ROLES}
    if root not in procs:
        return found
    found["supervisor"].append(root)
    for proc in sorted(procs.values(), key=lambda p: p.pid):
        if proc.ppid != root:
            continue
        if "redis-server" in proc.cmd:
            found["redis"].append(proc.pid)
        elif "app.ops.cli _runner" in proc.cmd:
            found["runner"].append(proc.pid)
        elif "data_adapters.simulator" in proc.cmd:
            found["simulator"].append(proc.pid)
        elif "gunicorn" in proc.cmd:
            found["web_master"].append(proc.pid)
            found["web_workers"] += sorted(p.pid for p in procs.values() if p.ppid == proc.pid)
    return found


# -- HTTP --------------------------------------------------------------------------------------------
class HttpSession:
    """A cookie-keeping client of the local web server that echoes the CSRF cookie, as Dash does."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.cookies: dict[str, str] = {}
        self.conn: http.client.HTTPConnection | None = None

    def close(self) -> None:
        """Drop the connection (the next request opens a new one)."""
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def request(self, method: str, path: str, body: bytes | None = None,
                content_type: str = "application/json") -> tuple[int, bytes]:
        """One request; (status, body). A broken connection is closed and the error raised."""
        if self.conn is None:
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=REQUEST_TIMEOUT_S)
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}
        if body is not None:
            headers["Content-Type"] = content_type
            headers["X-CSRFToken"] = self.cookies.get("_csrf_token", "")
        try:
            self.conn.request(method, path, body=body, headers=headers)
            response = self.conn.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException):
            self.close()
            raise
        for name, value in response.getheaders():
            if name.lower() == "set-cookie":
                key, _, rest = value.partition("=")
                self.cookies[key.strip()] = rest.split(";", 1)[0]
        if response.will_close:
            self.close()
        return response.status, data

    def login(self, name: str, password: str) -> None:
        """Sign in through the login form; raises SoakError when refused."""
        self.request("GET", "/login")
        form = urllib.parse.urlencode({"username": name, "password": password, "next": "/",
                                       "csrf_token": self.cookies.get("_csrf_token", "")}).encode()
        status, _ = self.request("POST", "/login", form, "application/x-www-form-urlencoded")
        if status != 302:
            raise SoakError(f"the soak's operator could not log in (HTTP {status})")


@dataclass
class LoadStats:
    """What the clients did: requests and errors, and latencies (ms) of answered requests, per kind."""

    requests: int = 0
    errors: int = 0
    errors_by_kind: dict[str, int] = field(default_factory=dict)
    latencies: dict[str, list[float]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, kind: str, ms: float, ok: bool) -> None:
        """Count one request (a failed one adds no latency: it would only measure the fault)."""
        with self.lock:
            self.requests += 1
            if ok:
                self.latencies.setdefault(kind, []).append(ms)
            else:
                self.errors += 1
                self.errors_by_kind[kind] = self.errors_by_kind.get(kind, 0) + 1

    def counts(self) -> tuple[int, int]:
        """(requests, errors) so far."""
        with self.lock:
            return self.requests, self.errors

    def summary(self) -> dict[str, Any]:
        """Totals and the p95 latency of each request kind."""
        with self.lock:
            p95 = {kind: round(_percentile(values, 0.95), 1) for kind, values in self.latencies.items()}
            return {"requests": self.requests, "errors": self.errors,
                    "errors_by_kind": dict(self.errors_by_kind), "p95_ms": p95}


def _percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[int(q * (len(ordered) - 1))] if ordered else float("nan")


def _wall_map_state() -> dict[str, Any]:
    """The map state a wall opens with, before its first tick fills the rest."""
    from app.situation import mapdata
    from layouts.wall import WALL_ZOOM

    view = mapdata.view_around(*mapdata.DEFAULT_CENTER, WALL_ZOOM)
    return {"versions": {}, "view": [view.west, view.south, view.east, view.north, view.zoom],
            "layers": None, "problems": False, "prints": []}


def _map_tick_body(n: int, state: Any) -> dict[str, Any]:
    from layouts import ids

    state_id = ids.map_part(ids.WALL_MAP, ids.MAP_STATE)
    return {"output": f"..{ids.WALL_MAP}.figure...{state_id}.data..",
            "outputs": [{"id": ids.WALL_MAP, "property": "figure"}, {"id": state_id, "property": "data"}],
            "inputs": [{"id": ids.TICK, "property": "n_intervals", "value": n},
                       {"id": ids.WALL_MAP, "property": "relayoutData", "value": None}],
            "changedPropIds": [f"{ids.TICK}.n_intervals"],
            "state": [{"id": state_id, "property": "data", "value": state}]}


def wall_client(port: int, token: str, stats: LoadStats, stop: threading.Event) -> None:
    """A wall display: each second the status tick and the map tick, keeping what they return."""
    from layouts import ids

    state_id = ids.map_part(ids.WALL_MAP, ids.MAP_STATE)
    session = HttpSession(port)
    seen: Any = None
    state = _wall_map_state()
    opened = False
    n = 0
    while not stop.is_set():
        began = time.perf_counter()
        try:
            if not opened:  # again after a lost session: a wall reopens its token URL
                session.request("GET", f"/wall?token={urllib.parse.quote(token)}")
                opened = session.request("GET", "/wall")[0] == 200
            n += 1
            for kind, body in (("status_tick", _tick_body(seen)), ("map_tick", _map_tick_body(n, state))):
                started = time.perf_counter()
                status, data = session.request("POST", "/_dash-update-component", json.dumps(body).encode())
                stats.add(kind, (time.perf_counter() - started) * 1000, status in (200, 204))
                if status == 200:
                    answer = json.loads(data)["response"]
                    if kind == "status_tick":
                        seen = answer[STATUS_OUTPUTS[2][0]]["data"]
                    else:
                        state = answer[state_id]["data"]
                elif status in (401, 403):
                    opened = False
        except (OSError, http.client.HTTPException, ValueError, KeyError):
            stats.add("error", (time.perf_counter() - began) * 1000, False)
        stop.wait(max(0.0, 1.0 - (time.perf_counter() - began)))


API_PATHS = ("/api/v1/feeds", "/api/v1/kpis", "/api/v1/alerts", "/api/v1/entities/transport?kind=vehicle")


def api_client(port: int, password: str, stats: LoadStats, stop: threading.Event) -> None:
    """An operator's script: logged in, one API read every two seconds in turn."""
    session = HttpSession(port)
    logged_in = False
    n = 0
    while not stop.is_set():
        began = time.perf_counter()
        try:
            if not logged_in:
                session.login(SOAK_USER, password)
                logged_in = True
            status, _ = session.request("GET", API_PATHS[n % len(API_PATHS)])
            n += 1
            stats.add("api", (time.perf_counter() - began) * 1000, status == 200)
            logged_in = status != 401
        except (OSError, http.client.HTTPException, SoakError):
            stats.add("error", (time.perf_counter() - began) * 1000, False)
        stop.wait(max(0.0, 2.0 - (time.perf_counter() - began)))


# -- samples and verdicts ----------------------------------------------------------------------------
@dataclass
class Sample:
    """One look at the tree and at Redis, ``t`` seconds into the soak."""

    t: float
    rss_mb: dict[str, float]
    procs: dict[str, int]
    cpu_pct: dict[str, float] | None
    redis_used_mb: float | None
    redis_keys: int | None
    feeds_ok: int | None
    feeds_total: int | None
    load1: float
    requests: int
    errors: int
    pids: dict[str, list[int]] = field(default_factory=dict)  # a new pid: the role was restarted


@dataclass(frozen=True)
class Verdict:
    """A memory series judged: start, peak, end, growth per hour, and whether it stayed bounded."""

    name: str
    unit: str
    samples: int
    start: float
    peak: float
    end: float
    middle_peak: float | None
    last_peak: float | None
    slope_per_h: float | None
    bounded: bool | None  # None: too few samples in the middle or last third to judge
    why: str = ""  # what failed: the last third's peak, or the growth per hour


def slope_per_hour(points: Sequence[tuple[float, float]], groups: Sequence[object] | None = None,
                   max_points: int = 400) -> float | None:
    """Growth of ``points`` (seconds, value) in value per hour: the median of the slopes between
    two points (Theil-Sen), so one dip or one cache flush does not swing it as it would a
    least-squares line. With ``groups`` only points of one group pair up (one process's life:
    a restart's drop is not negative growth). Long series are thinned evenly to ``max_points``."""
    labels = list(groups) if groups is not None else [None] * len(points)
    pairs = list(zip(points, labels, strict=True))
    if len(pairs) > max_points:
        step = len(pairs) / max_points
        pairs = [pairs[int(i * step)] for i in range(max_points)]
    slopes = sorted((v2 - v1) / (t2 - t1) for i, ((t1, v1), g1) in enumerate(pairs)
                    for (t2, v2), g2 in pairs[i + 1:] if t2 > t1 and g1 == g2)
    if not slopes:
        return None
    middle = len(slopes) // 2
    median = slopes[middle] if len(slopes) % 2 else (slopes[middle - 1] + slopes[middle]) / 2
    return median * 3600


def judge(name: str, unit: str, points: Sequence[tuple[float, float]], duration_s: float,
          born: Sequence[float] | None = None, ratio: float = TOLERANCE_RATIO,
          growth: float = GROWTH_PER_H, slack: float | None = None) -> Verdict:
    """Bounded when the last third's peak stays within ``ratio`` (plus ``slack``) of the middle
    third's, and the settled growth per hour within ``growth`` of the middle peak (plus ``slack``).
    The first third is warm-up (imports, caches, the first full datasets); ``born`` (when each
    point's process started) leaves out a restarted process's own warm-up and keeps its restart
    out of the slope."""
    slack = SLACK.get(unit, 0.0) if slack is None else slack
    born = list(born) if born is not None else [0.0] * len(points)
    values = [v for _, v in points]
    middle = [v for t, v in points if duration_s / 3 <= t < 2 * duration_s / 3]
    last = [v for t, v in points if t >= 2 * duration_s / 3]
    warm = min(duration_s / 3, RESTART_WARMUP_S)
    settled = [((t, v), b) for (t, v), b in zip(points, born, strict=True)
               if t >= duration_s / 3 and (b <= 0 or t >= b + warm)]
    slope = slope_per_hour([p for p, _ in settled], [b for _, b in settled])
    bounded: bool | None = None
    why = ""
    if len(middle) >= 2 and len(last) >= 2:
        peak_ok = max(last) <= max(middle) * (1 + ratio) + slack
        span = settled[-1][0][0] - settled[0][0][0] if settled else 0.0
        slope_ok = slope is None or span < MIN_SLOPE_SPAN_S or slope <= max(middle) * growth + slack
        bounded = peak_ok and slope_ok
        why = "" if bounded else "last-third peak" if not peak_ok else "growth per hour"
    return Verdict(
        name, unit, len(points), values[0] if values else 0.0, max(values, default=0.0),
        values[-1] if values else 0.0, max(middle) if middle else None, max(last) if last else None,
        slope, bounded, why)


@dataclass(frozen=True)
class FaultResult:
    """One injected fault: when, on which pid, whether and how fast the city recovered."""

    kind: str
    at_s: float
    pid: int | None
    recovered: bool
    recovery_s: float | None
    detail: str


@dataclass
class SoakReport:
    """Everything a soak measured, with its verdicts."""

    minutes: float
    scale: float
    interval_s: float
    fault_interval_s: float
    workers: int
    knobs: dict[str, int]
    machine: dict[str, Any]
    fault_kinds: list[str] = field(default_factory=list)
    startup_s: float | None = None
    duration_s: float = 0.0
    samples: list[Sample] = field(default_factory=list)
    faults: list[FaultResult] = field(default_factory=list)
    clients: dict[str, Any] = field(default_factory=dict)
    redis_top_growth: list[dict[str, Any]] = field(default_factory=list)
    up_log: dict[str, Any] = field(default_factory=dict)
    interrupted: bool = False
    error: str = ""

    def series(self) -> dict[str, list[tuple[float, float]]]:
        """Every memory series: each role's RSS (MB), Redis used_memory (MB) and key count."""
        return {name: points for name, (points, _) in self._series().items()}

    def _series(self) -> dict[str, tuple[list[tuple[float, float]], list[float]]]:
        """Each series with, per point, when its process (its set of pids) started: 0 for the
        processes of the start, and for Redis's data, which a restart reloads from the AOF."""
        out: dict[str, tuple[list[tuple[float, float]], list[float]]] = {
            name: ([], []) for name in (*ROLES, "redis_used_memory", "redis_keys")}
        first_seen: dict[tuple[str, tuple[int, ...]], float] = {}
        for i, s in enumerate(self.samples):
            for role in ROLES:
                if s.procs.get(role):
                    pids = tuple(s.pids.get(role, ()))
                    born = first_seen.setdefault((role, pids), 0.0 if i == 0 else s.t)
                    out[role][0].append((s.t, s.rss_mb[role]))
                    out[role][1].append(born)
            if s.redis_used_mb is not None:
                out["redis_used_memory"][0].append((s.t, s.redis_used_mb))
                out["redis_used_memory"][1].append(0.0)
            if s.redis_keys is not None:
                out["redis_keys"][0].append((s.t, float(s.redis_keys)))
                out["redis_keys"][1].append(0.0)
        return out

    def verdicts(self) -> list[Verdict]:
        """Each series judged over the soak's duration."""
        return [judge(name, "keys" if name == "redis_keys" else "MB", points, self.duration_s, born)
                for name, (points, born) in self._series().items()]

    @property
    def bounded(self) -> bool:
        """Every series judged, and each stayed bounded."""
        verdicts = self.verdicts()
        return bool(verdicts) and all(v.bounded for v in verdicts)

    @property
    def all_recovered(self) -> bool:
        """Every injected fault recovered (and, when faults were asked for, one was injected)."""
        return all(f.recovered for f in self.faults) and (bool(self.faults) or not self.fault_kinds)

    @property
    def ok(self) -> bool:
        """The soak's verdict: bounded, every fault recovered, ran to its end."""
        return self.bounded and self.all_recovered and not self.interrupted and not self.error

    def as_json(self) -> dict[str, Any]:
        """One JSON object: settings, machine, samples, series, verdicts, faults, clients."""
        return {
            "minutes": self.minutes, "scale": self.scale, "interval_s": self.interval_s,
            "fault_interval_s": self.fault_interval_s, "fault_kinds": self.fault_kinds,
            "workers": self.workers, "knobs": self.knobs,
            "machine": self.machine, "startup_s": self.startup_s, "duration_s": round(self.duration_s, 1),
            "samples": [dataclasses.asdict(s) for s in self.samples],
            "series": {name: [[round(t, 1), round(v, 2)] for t, v in points]
                       for name, points in self.series().items()},
            "verdicts": [dataclasses.asdict(v) for v in self.verdicts()],
            "faults": [dataclasses.asdict(f) for f in self.faults],
            "clients": self.clients, "redis_top_growth": self.redis_top_growth, "up_log": self.up_log,
            "bounded": self.bounded, "all_recovered": self.all_recovered,
            "interrupted": self.interrupted, "error": self.error, "ok": self.ok,
        }

    def table(self) -> str:
        """The report for a terminal."""
        knobs = ", ".join(f"{v} {k.removeprefix('demo_')}" for k, v in self.knobs.items())
        lines = [f"soak: {self.duration_s / 60:.1f} of {self.minutes:g} min at scale {self.scale:g} "
                 f"({knobs}), {self.workers} web workers, a sample every {self.interval_s:g} s, "
                 f"{len(self.samples)} samples",
                 "", f"{'series':<18} {'start':>9} {'peak':>9} {'end':>9} {'slope/h':>9} "
                 f"{'mid peak':>9} {'last peak':>9}  bounded"]
        for v in self.verdicts():
            unit = "" if v.unit == "MB" else f" ({v.unit})"
            lines.append(f"{(v.name + unit):<18} {v.start:>9.1f} {v.peak:>9.1f} {v.end:>9.1f} "
                         f"{_num(v.slope_per_h, '+.1f'):>9} {_num(v.middle_peak, '.1f'):>9} "
                         f"{_num(v.last_peak, '.1f'):>9}  "
                         f"{'not judged' if v.bounded is None else 'yes' if v.bounded else 'NO: ' + v.why}")
        lines += ["", f"{'at':>7}  {'fault':<11} {'pid':>8}  {'recovered':<9} {'in':>8}  detail"]
        for f in self.faults:
            lines.append(f"{_clock(f.at_s):>7}  {f.kind:<11} {f.pid or '':>8}  "
                         f"{'yes' if f.recovered else 'NO':<9} {_num(f.recovery_s, '.1f'):>6} s  "
                         f"{_printable(f.detail)}")
        c = self.clients
        if c:
            p95 = ", ".join(f"{k} {v:g} ms" for k, v in sorted(c.get("p95_ms", {}).items()))
            failed = ", ".join(f"{k} {v}" for k, v in sorted(c.get("errors_by_kind", {}).items()))
            lines += ["", f"clients: {c.get('requests', 0)} requests, {c.get('errors', 0)} failed "
                          f"({failed or 'none'}; a fault makes some fail); p95 {p95}"]
        if self.up_log:
            lines.append(f"cityops up log: {self.up_log.get('lines', 0)} lines, "
                         f"{self.up_log.get('restarts', 0)} restarts, "
                         f"{self.up_log.get('tracebacks', 0)} tracebacks")
            lines += [f"  {n} x {text}" for text, n in self.up_log.get("exceptions", {}).items()]
        if self.redis_top_growth:
            lines.append("redis keys that grew most (bytes, from the first third's end to the end): "
                         + ", ".join(f"{_printable(g['key'])} {g['growth_bytes']:+,}"
                                     for g in self.redis_top_growth[:5]))
        state = ("interrupted" if self.interrupted else f"error: {_printable(self.error)}" if self.error
                 else f"memory {'bounded' if self.bounded else 'NOT bounded'}, "
                      f"{'every fault recovered' if self.all_recovered else 'NOT every fault recovered'}")
        lines += ["", f"verdict: {state} -> {'OK' if self.ok else 'FAILED'}"]
        return "\n".join(lines)


def _num(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def _clock(seconds: float) -> str:
    return f"{int(seconds // 60)}:{int(seconds % 60):02d}"


def _printable(text: str) -> str:
    """Text from logs or feeds as a terminal may show it (control characters escaped)."""
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)


# -- the run -----------------------------------------------------------------------------------------
def scaled_knobs(scale: float) -> dict[str, int]:
    """The demo knobs at ``scale`` x their defaults (at least 1 each)."""
    if not scale > 0:
        raise SoakError("--scale must be a positive number")
    defaults = {f.name: f.default for f in dataclasses.fields(Settings)}
    return {name: max(1, round(int(defaults[name]) * scale)) for name in DEMO_KNOBS}


def machine_facts() -> dict[str, Any]:
    """What the figures were measured on."""
    mem_mb = 0.0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_mb = int(line.split()[1]) / 1024
    except OSError:
        pass
    return {"cpus": os.cpu_count(), "mem_total_mb": round(mem_mb), "python": platform.python_version(),
            "kernel": platform.release(), "host": platform.node()}


class Soak:
    """One soak run: owns the `cityops up` it starts, its clients, sampler and faults."""

    def __init__(self, report: SoakReport, log: Callable[[str], None],
                 extra_env: Mapping[str, str] | None, clients: int) -> None:
        self.report = report
        self.log = log
        self.extra_env = dict(extra_env or {})
        self.clients = clients
        self.stats = LoadStats()
        self.stop_load = threading.Event()
        self.stop_sampling = threading.Event()
        self.threads: list[threading.Thread] = []
        self.sampler: threading.Thread | None = None
        self.process: subprocess.Popen[bytes] | None = None
        self.data_dir = Path()
        self.port = 0
        self.r: redis.Redis | None = None
        self.probe: HttpSession | None = None
        self.password = accounts.generate_password()
        self.t0 = time.monotonic()
        self.paused_pid: int | None = None
        self.probe_feed = ""
        self.cpu_seen: dict[int, int] = {}
        self.cpu_at = 0.0

    # -- start and stop ------------------------------------------------------------------------
    def start(self, data_dir: Path) -> None:
        """Start `cityops up` on ``data_dir`` and wait until it serves and the demo feeds flow."""
        self.data_dir, self.port = data_dir, free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("CITYOPS_")}
        env.update({"CITYOPS_DATA_DIR": str(data_dir), "CITYOPS_WEB_WORKERS": str(self.report.workers)})
        env.update({DEMO_KNOBS[k]: str(v) for k, v in self.report.knobs.items()})
        env.update(self.extra_env)
        try:
            load_settings(environ=env)  # a bad knob is a clear message here, not a dead `up`
        except ConfigError as exc:
            raise SoakError(f"configuration: {exc}") from None
        started = time.monotonic()
        log_file = open(data_dir / "up.log", "wb")  # noqa: SIM115 - the child writes it until stopped
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "app.ops.cli", "up", "--host", "127.0.0.1", "--port", str(self.port)],
                env=env, stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT,
                start_new_session=True)  # Ctrl-C reaches the soak only; it stops `up` in order
        finally:
            log_file.close()
        self.log(f"soak: cityops up (pid {self.process.pid}) on port {self.port}, data in {data_dir}")
        self._wait(lambda: self._status("/login") == 200, START_TIMEOUT_S, "serve /login")
        self.r = connect(self._redis_url())
        accounts.add_user(self.r, SOAK_USER, roles.OPERATOR, self.password)
        self.probe = HttpSession(self.port)
        self.probe.login(SOAK_USER, self.password)
        self._wait(self._demo_flowing, READY_TIMEOUT_S, "store the first demo data")
        self.report.startup_s = round(time.monotonic() - started, 1)
        self.log(f"soak: the city is ready after {self.report.startup_s} s "
                 f"(fault probe feed: {self.probe_feed})")

    def _redis_url(self) -> str:
        redis_dir = self.data_dir / "redis"
        state = json.loads((redis_dir / "server.json").read_text(encoding="utf-8"))
        password = (redis_dir / "password").read_text(encoding="utf-8").strip()
        return f"redis://:{password}@{state['host']}:{state['port']}/0"

    def _demo_flowing(self) -> bool:
        assert self.r is not None
        health = [h for h in read_health(self.r) if h.last_success]
        if not health:
            return False
        self.probe_feed = min(health, key=lambda h: h.freshness_budget_s).feed
        return True

    def _wait(self, check: Callable[[], object], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not _quietly(check):
            if self.process is not None and self.process.poll() is not None:
                raise SoakError(f"cityops up exited with {self.process.returncode} before it could "
                                f"{what}: {' | '.join(self._log_tail(5))}")
            if time.monotonic() > deadline:
                raise SoakError(f"cityops up did not {what} within {timeout:.0f} s")
            time.sleep(0.2)

    def _status(self, path: str) -> int:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
        try:
            conn.request("GET", path)
            return conn.getresponse().status
        finally:
            conn.close()

    def start_load(self) -> None:
        """The wall clients (a display token each) and one logged-in API client."""
        assert self.r is not None
        token = accounts.create_token(self.r, "soak-wall", roles.WALL)
        targets: list[tuple[Callable[..., None], tuple[Any, ...]]] = [
            (wall_client, (self.port, token, self.stats, self.stop_load)) for _ in range(self.clients)]
        targets.append((api_client, (self.port, self.password, self.stats, self.stop_load)))
        for target, args in targets:
            thread = threading.Thread(target=target, args=args, daemon=True, name="soak-client")
            thread.start()
            self.threads.append(thread)
        self.sampler = threading.Thread(target=self._sample_loop, daemon=True, name="soak-sampler")
        self.sampler.start()
        self.threads.append(self.sampler)

    def stop_sampler(self) -> None:
        """Stop the sampling thread and wait for its last sample."""
        self.stop_sampling.set()
        if self.sampler is not None:
            self.sampler.join(timeout=60)

    def stop(self) -> None:
        """Stop the clients and sampler, resume a paused simulator, SIGTERM `up` and wait for it."""
        self.stop_load.set()
        self.stop_sampling.set()
        for thread in self.threads:
            thread.join(timeout=REQUEST_TIMEOUT_S + 5)
        if self.paused_pid is not None:
            _signal(self.paused_pid, signal.SIGCONT)  # a stopped child would not hear SIGTERM
            self.paused_pid = None
        if self.r is not None:
            self.r.close()
        process = self.process
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.log("soak: cityops up did not stop in time; killing its process group")
                _killpg(process.pid)
                process.wait()
        _killpg(process.pid)  # whatever `up` left behind (it should be nothing)
        self.report.up_log = self._log_summary()

    def _log_tail(self, lines: int) -> list[str]:
        try:
            text = (self.data_dir / "up.log").read_text(encoding="utf-8", errors="replace")
        except OSError:
            return []
        return [_printable(line) for line in text.splitlines()[-lines:]]

    def _log_summary(self) -> dict[str, Any]:
        try:
            text = (self.data_dir / "up.log").read_text(encoding="utf-8", errors="replace")
        except OSError:
            return {}
        lines = text.splitlines()
        # The first run prints the admin password: keep it out of the report.
        lines = [line for i, line in enumerate(lines) if not (i and lines[i - 1].startswith("First run:"))]
        return {"lines": len(lines), "tracebacks": text.count("Traceback"),
                "exceptions": _exceptions(lines),
                "restarts": sum("exited with code" in line for line in lines),
                "tail": [_printable(line) for line in lines[-15:]]}

    # -- sampling ------------------------------------------------------------------------------
    def elapsed(self) -> float:
        """Seconds since the soak's clock started (the city ready)."""
        return time.monotonic() - self.t0

    def roles(self) -> tuple[dict[int, Proc], dict[str, list[int]]]:
        """The tree of `up` now, and its pids per role."""
        assert self.process is not None
        procs = scan_tree(self.process.pid)
        return procs, classify(self.process.pid, procs)

    def sample(self) -> Sample:
        """One sample of the tree and of Redis."""
        procs, found = self.roles()
        now = time.monotonic()
        cpu: dict[str, float] | None = None
        if self.cpu_at:
            window = (now - self.cpu_at) * CLOCK_TICKS
            cpu = {role: round(100 * sum(procs[p].cpu_ticks - self.cpu_seen.get(p, 0) for p in pids)
                               / window, 1) for role, pids in found.items()}
        self.cpu_seen = {pid: proc.cpu_ticks for pid, proc in procs.items()}
        self.cpu_at = now
        used = keys = ok = total = None
        if self.r is not None:
            try:
                used = round(int(self.r.info("memory")["used_memory"]) / 2**20, 2)
                keys = int(self.r.dbsize())
                health = read_health(self.r)
                ok, total = sum(h.state == "ok" for h in health), len(health)
            except (redis.RedisError, OSError, KeyError, ValueError):
                pass  # Redis is down for a fault: the gap in the series says so
        requests, errors = self.stats.counts()
        return Sample(round(self.elapsed(), 1),
                      {role: round(sum(procs[p].rss_kb for p in pids) / 1024, 1)
                       for role, pids in found.items()},
                      {role: len(pids) for role, pids in found.items()}, cpu, used, keys, ok, total,
                      os.getloadavg()[0], requests, errors, found)

    def _sample_loop(self) -> None:
        next_at = time.monotonic()
        last_log = 0.0
        while not self.stop_sampling.is_set():
            s = self.sample()
            self.report.samples.append(s)
            if s.t - last_log >= 60 or not last_log:
                last_log = s.t or 1e-9
                self.log(f"soak: {_clock(s.t)} rss MB " + " ".join(f"{k}={v:g}" for k, v in s.rss_mb.items())
                         + f" redis used={s.redis_used_mb} keys={s.redis_keys} feeds ok={s.feeds_ok}/"
                           f"{s.feeds_total} load={s.load1:.2f}")
            next_at += self.report.interval_s
            self.stop_sampling.wait(max(0.0, next_at - time.monotonic()))

    def redis_key_sizes(self) -> dict[str, int]:
        """Bytes per key (MEMORY USAGE) of every key: where Redis memory goes."""
        assert self.r is not None
        names = list(self.r.scan_iter(count=1000))
        with self.r.pipeline(transaction=False) as pipe:
            for name in names:
                pipe.memory_usage(name, samples=0)
            sizes = pipe.execute()
        return {name: int(size or 0) for name, size in zip(names, sizes, strict=True)}

    # -- faults --------------------------------------------------------------------------------
    def inject(self, kind: str) -> FaultResult:
        """Inject one fault and wait (at most RECOVERY_TIMEOUT_S) until the city has recovered."""
        inject = {"redis": self._kill_redis, "runner": self._kill_runner,
                  "web_worker": self._kill_web_worker, "simulator": self._pause_simulator}[kind]
        at = self.elapsed()
        self.log(f"soak: {_clock(at)} fault {kind}")
        pid, recovered, took, detail = inject()
        result = FaultResult(kind, round(at, 1), pid, recovered, None if took is None else round(took, 2),
                             detail)
        self.log(f"soak: fault {kind} (pid {pid}) {'recovered in ' if recovered else 'NOT recovered: '}"
                 f"{_num(took, '.1f') + ' s' if recovered else ''}{detail if not recovered else ''}")
        return result

    def _one(self, role: str) -> int | None:
        pids = self.roles()[1][role]
        return pids[0] if pids else None

    def _await(self, check: Callable[[], object]) -> float | None:
        """Seconds until ``check`` is truthy (errors count as not yet), None after the timeout."""
        started = time.monotonic()
        while time.monotonic() - started < RECOVERY_TIMEOUT_S:
            if _quietly(check):
                return time.monotonic() - started
            time.sleep(CHECK_EVERY_S)
        return None

    def _beat_since(self, wall: float, other_than: int | None = None) -> bool:
        assert self.r is not None
        beat = store.status.read_runner_heartbeat(self.r) or {}
        return float(beat.get("beat_at", 0)) > wall and int(beat.get("pid", 0)) != other_than

    def _api_ok(self, path: str) -> bool:
        assert self.probe is not None
        return self.probe.request("GET", path)[0] == 200

    def _kill_redis(self) -> tuple[int | None, bool, float | None, str]:
        pid = self._one("redis")
        if pid is None:
            return None, False, None, "no redis-server in the tree"
        wall = time.time()
        _signal(pid, signal.SIGKILL)
        took = self._await(lambda: (self._one("redis") not in (None, pid)) and self.r is not None
                           and self.r.ping() and self._beat_since(wall) and self._api_ok("/api/v1/feeds"))
        return pid, took is not None, took, ("a new redis-server answers, the runner beats again, "
                                             "the API reads" if took is not None else "timed out")

    def _kill_runner(self) -> tuple[int | None, bool, float | None, str]:
        pid = self._one("runner")
        if pid is None:
            return None, False, None, "no runner in the tree"
        wall = time.time()
        _signal(pid, signal.SIGKILL)

        def polling_again() -> bool:
            assert self.r is not None
            beat = store.status.read_runner_heartbeat(self.r) or {}
            if not self._beat_since(wall, other_than=pid):
                return False
            feed = [h for h in read_health(self.r) if h.feed == self.probe_feed]
            return bool(feed) and feed[0].owner == beat.get("owner") and (feed[0].last_success or 0) > wall

        took = self._await(polling_again)
        return pid, took is not None, took, (f"a new runner beats and polls {self.probe_feed}"
                                             if took is not None else "timed out")

    def _kill_web_worker(self) -> tuple[int | None, bool, float | None, str]:
        procs, found = self.roles()
        workers = found["web_workers"]
        if not workers:
            return None, False, None, "no web worker in the tree"
        pid = max(workers, key=lambda p: procs[p].rss_kb)  # as the kernel's OOM killer would pick
        _signal(pid, signal.SIGKILL)

        def serving() -> bool:
            now = self.roles()[1]["web_workers"]
            return len(now) == len(workers) and pid not in now and self._api_ok("/api/v1/me")

        took = self._await(serving)
        return pid, took is not None, took, (f"{len(workers)} workers again, the API answers"
                                             if took is not None else "timed out")

    def _pause_simulator(self) -> tuple[int | None, bool, float | None, str]:
        pid = self._one("simulator")
        assert self.r is not None
        feed = [h for h in read_health(self.r) if h.feed == self.probe_feed]
        if pid is None or not feed:
            return pid, False, None, "no simulator in the tree, or no probe feed"
        budget = feed[0].freshness_budget_s
        hold = budget + max(5.0, budget / 2)
        self.paused_pid = pid
        _signal(pid, signal.SIGSTOP)
        went_stale = False
        until = time.monotonic() + hold
        try:
            while time.monotonic() < until:
                went_stale = went_stale or _quietly(lambda: self._feed_state() in ("stale", "down"))
                time.sleep(CHECK_EVERY_S)
        finally:
            _signal(pid, signal.SIGCONT)
            self.paused_pid = None
        wall = time.time()
        took = self._await(lambda: self._feed_state() == "ok" and self._last_success() > wall)
        if not went_stale:
            return pid, False, took, (f"{self.probe_feed} never went stale during a {hold:.0f} s pause "
                                      f"(budget {budget:g} s)")
        return pid, took is not None, took, (
            f"paused {hold:.0f} s (budget {budget:g} s): {self.probe_feed} went stale, then fresh"
            if took is not None else f"{self.probe_feed} not fresh again")

    def _feed_state(self) -> str:
        assert self.r is not None
        return next((h.state for h in read_health(self.r) if h.feed == self.probe_feed), "")

    def _last_success(self) -> float:
        assert self.r is not None
        return next((h.last_success or 0.0 for h in read_health(self.r) if h.feed == self.probe_feed), 0.0)


def _quietly(check: Callable[[], object]) -> bool:
    """``check()`` as a bool; the errors of a city in the middle of a fault count as False."""
    try:
        return bool(check())
    except (OSError, redis.RedisError, http.client.HTTPException, ValueError, KeyError, TypeError,
            SoakError):
        return False


def _signal(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        pass


def _killpg(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


# "module.Name: message" (or a bare name) ends a traceback; other threads' lines may come between.
_EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*(: |$)")


def _exceptions(lines: Sequence[str]) -> dict[str, int]:
    """How often each exception ended a traceback in a log (its last, unindented line)."""
    found: dict[str, int] = {}
    inside = False
    for line in lines:
        if line.startswith("Traceback"):
            inside = True
        elif inside and _EXCEPTION_LINE.match(line):
            found[_printable(line[:160])] = found.get(_printable(line[:160]), 0) + 1
            inside = False
    return found


def _top_growth(before: Mapping[str, int], after: Mapping[str, int], n: int = 10) -> list[dict[str, Any]]:
    grown = sorted(((after[k] - before.get(k, 0), k) for k in after), reverse=True)[:n]
    return [{"key": k, "growth_bytes": g, "bytes": after[k]} for g, k in grown if g > 0]


def _raise_interrupt(_signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def run_soak(minutes: float, scale: float = 10, interval_s: float = 10.0, *,
             fault_interval_s: float = 180.0, faults: Sequence[str] = FAULTS, workers: int = 2,
             clients: int = 3, extra_env: Mapping[str, str] | None = None,
             log: Callable[[str], None] = lambda _line: None) -> SoakReport:
    """Run the demo city at ``scale`` for ``minutes`` under load, inject ``faults`` in turn every
    ``fault_interval_s``, sample memory every ``interval_s``; stop everything, even on Ctrl-C."""
    unknown = [f for f in faults if f not in FAULTS]
    if unknown or minutes <= 0 or interval_s <= 0 or fault_interval_s <= 0 or workers < 1:
        raise SoakError(f"bad soak settings (faults are {', '.join(FAULTS)}; times must be positive)")
    report = SoakReport(minutes, scale, interval_s, fault_interval_s, workers, scaled_knobs(scale),
                        machine_facts(), list(faults))
    soak = Soak(report, log, extra_env, clients)
    main_thread = threading.current_thread() is threading.main_thread()
    old_term = signal.signal(signal.SIGTERM, _raise_interrupt) if main_thread else None
    try:
        with tempfile.TemporaryDirectory(prefix="cityops-soak-") as directory:
            try:
                _drive(soak, Path(directory), minutes * 60, fault_interval_s, list(faults))
            except KeyboardInterrupt:
                report.interrupted = True
                log("soak: interrupted; stopping cityops up")
            except SoakError as exc:
                report.error = str(exc)
            finally:
                # A second Ctrl-C (or a SIGTERM) must not cut the stop short and orphan `up`.
                old_int = signal.signal(signal.SIGINT, signal.SIG_IGN) if main_thread else None
                if main_thread:
                    signal.signal(signal.SIGTERM, signal.SIG_IGN)
                try:
                    soak.stop()
                finally:
                    if old_int is not None:
                        signal.signal(signal.SIGINT, old_int)
    finally:
        if old_term is not None:
            signal.signal(signal.SIGTERM, old_term)
    report.clients = soak.stats.summary()
    if report.samples:
        report.duration_s = max(report.duration_s, report.samples[-1].t)
    return report


def _drive(soak: Soak, data_dir: Path, duration_s: float, fault_interval_s: float,
           faults: list[str]) -> None:
    """Start, load, inject faults on their schedule until ``duration_s``, then look at Redis's keys."""
    soak.start(data_dir)
    soak.t0 = time.monotonic()
    soak.start_load()
    report = soak.report
    next_fault, turn = fault_interval_s, 0
    sizes_before: dict[str, int] | None = None
    while soak.elapsed() < duration_s:
        if sizes_before is None and soak.elapsed() >= duration_s / 3:
            sizes_before = _quiet_sizes(soak)  # after warm-up: what grows from here is suspect
        if faults and soak.elapsed() >= next_fault:
            # A fault that outlasts the schedule delays the next one rather than overlapping it.
            report.faults.append(soak.inject(faults[turn % len(faults)]))
            turn += 1
            next_fault = max(next_fault + fault_interval_s, soak.elapsed() + 1)
            continue
        time.sleep(min(0.5, max(0.0, duration_s - soak.elapsed())))
    soak.stop_sampler()
    report.samples.append(soak.sample())  # the end point, exactly at the end
    report.duration_s = soak.elapsed()
    sizes_after = _quiet_sizes(soak)
    if sizes_before is not None and sizes_after is not None:
        report.redis_top_growth = _top_growth(sizes_before, sizes_after)


def _quiet_sizes(soak: Soak) -> dict[str, int] | None:
    try:
        return soak.redis_key_sizes()
    except (redis.RedisError, OSError):
        return None


# -- command line ------------------------------------------------------------------------------------
def add_parser(sub: Any) -> None:
    """The `cityops soak` subcommand (called from app.ops.cli.build_parser)."""
    soak = sub.add_parser("soak", help="run the demo city at scale under load and faults; report memory",
                          description="Run a private demo city (temporary data directory, free port) "
                                      "at SCALE x the demo knobs for MINUTES, with clients polling "
                                      "and faults injected in turn; exit 0 when memory stayed "
                                      "bounded and every fault recovered, 1 otherwise.")
    soak.add_argument("--minutes", type=float, required=True, help="how long to run after the city is up")
    soak.add_argument("--scale", type=float, default=10.0, help="x the demo knobs' defaults (default 10)")
    soak.add_argument("--interval", type=float, default=10.0, help="seconds between samples (default 10)")
    soak.add_argument("--fault-interval", type=float, default=180.0,
                      help="seconds between faults (default 180)")
    soak.add_argument("--faults", default=",".join(FAULTS),
                      help=f"which faults, in turn (default {','.join(FAULTS)}; 'none' for none)")
    soak.add_argument("--workers", type=int, default=2, help="web workers (default 2)")
    soak.add_argument("--clients", type=int, default=3,
                      help="wall clients besides one API client (default 3)")
    soak.add_argument("--json", action="store_true", help="one JSON object instead of the table")
    soak.set_defaults(handler=cmd_soak, needs_redis=False)


def cmd_soak(_settings: Settings, args: argparse.Namespace) -> int:
    """Run a soak and print its report; 0 when bounded and every fault recovered, else 1."""
    faults = [] if args.faults == "none" else [f.strip() for f in args.faults.split(",") if f.strip()]
    try:
        report = run_soak(args.minutes, args.scale, args.interval, fault_interval_s=args.fault_interval,
                          faults=faults, workers=args.workers, clients=max(0, args.clients),
                          log=lambda line: print(line, file=sys.stderr, flush=True))
    except SoakError as exc:
        print(f"cityops: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(report.as_json()) if args.json else report.table(), flush=True)
    return 0 if report.ok else 1
