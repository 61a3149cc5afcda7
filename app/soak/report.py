"""What a soak measured (samples, faults, clients, the `up` log), its verdicts, as a table or JSON."""

from __future__ import annotations

import dataclasses
import os
import platform
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.soak.procs import ROLES
from app.soak.text import clock, number, printable
from app.soak.verdicts import Point, Verdict, judge

SERIES = (*ROLES, "redis_used_memory", "redis_keys")


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
class FaultResult:
    """One injected fault: when, on which pid, whether and how fast the city recovered."""

    kind: str
    at_s: float
    pid: int | None
    recovered: bool
    recovery_s: float | None
    detail: str


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

    def series(self) -> dict[str, list[Point]]:
        """Every memory series: each role's RSS (MB), Redis used_memory (MB) and key count."""
        return {name: points for name, (points, _) in self._series().items()}

    def _series(self) -> dict[str, tuple[list[Point], list[float]]]:
        """Each series with, per point, when its process (its set of pids) started: 0 for the
        processes of the start, and for Redis's data, which a restart reloads from the AOF."""
        out: dict[str, tuple[list[Point], list[float]]] = {name: ([], []) for name in SERIES}
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
                 "", *_verdict_lines(self.verdicts()), "", *_fault_lines(self.faults),
                 *_client_lines(self.clients), *_up_log_lines(self.up_log),
                 *_top_growth_lines(self.redis_top_growth), "", f"verdict: {self._state()}"]
        return "\n".join(lines)

    def _state(self) -> str:
        """How the run ended, and its verdict."""
        state = ("interrupted" if self.interrupted else f"error: {printable(self.error)}" if self.error
                 else f"memory {'bounded' if self.bounded else 'NOT bounded'}, "
                      f"{'every fault recovered' if self.all_recovered else 'NOT every fault recovered'}")
        return f"{state} -> {'OK' if self.ok else 'FAILED'}"


def _verdict_lines(verdicts: list[Verdict]) -> list[str]:
    lines = [f"{'series':<18} {'start':>9} {'peak':>9} {'end':>9} {'slope/h':>9} "
             f"{'mid peak':>9} {'last peak':>9}  bounded"]
    for v in verdicts:
        unit = "" if v.unit == "MB" else f" ({v.unit})"
        lines.append(f"{(v.name + unit):<18} {v.start:>9.1f} {v.peak:>9.1f} {v.end:>9.1f} "
                     f"{number(v.slope_per_h, '+.1f'):>9} {number(v.middle_peak, '.1f'):>9} "
                     f"{number(v.last_peak, '.1f'):>9}  "
                     f"{'not judged' if v.bounded is None else 'yes' if v.bounded else 'NO: ' + v.why}")
    return lines


def _fault_lines(faults: list[FaultResult]) -> list[str]:
    lines = [f"{'at':>7}  {'fault':<11} {'pid':>8}  {'recovered':<9} {'in':>8}  detail"]
    for f in faults:
        lines.append(f"{clock(f.at_s):>7}  {f.kind:<11} {f.pid or '':>8}  "
                     f"{'yes' if f.recovered else 'NO':<9} {number(f.recovery_s, '.1f'):>6} s  "
                     f"{printable(f.detail)}")
    return lines


def _client_lines(c: dict[str, Any]) -> list[str]:
    if not c:
        return []
    p95 = ", ".join(f"{k} {v:g} ms" for k, v in sorted(c.get("p95_ms", {}).items()))
    failed = ", ".join(f"{k} {v}" for k, v in sorted(c.get("errors_by_kind", {}).items()))
    return ["", f"clients: {c.get('requests', 0)} requests, {c.get('errors', 0)} failed "
                f"({failed or 'none'}; a fault makes some fail); p95 {p95}"]


def _up_log_lines(up_log: dict[str, Any]) -> list[str]:
    if not up_log:
        return []
    return [f"cityops up log: {up_log.get('lines', 0)} lines, {up_log.get('restarts', 0)} restarts, "
            f"{up_log.get('tracebacks', 0)} tracebacks",
            *(f"  {n} x {text}" for text, n in up_log.get("exceptions", {}).items())]


def _top_growth_lines(top_growth: list[dict[str, Any]]) -> list[str]:
    if not top_growth:
        return []
    return ["redis keys that grew most (bytes, from the first third's end to the end): "
            + ", ".join(f"{printable(g['key'])} {g['growth_bytes']:+,}" for g in top_growth[:5])]
