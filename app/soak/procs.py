"""The process tree of a `cityops up` as /proc shows it, its pids by role, and signals to them."""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

ROLES = ("supervisor", "redis", "runner", "dispatcher", "web_master", "web_workers", "simulator")
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


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


def _live_stats() -> dict[int, tuple[int, list[str]]]:
    """Every live (not zombie) process: its parent and its stat fields."""
    parents: dict[int, tuple[int, list[str]]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat_fields(int(entry))
            if fields is not None and fields[0] != "Z":
                parents[int(entry)] = (int(fields[1]), fields)
    return parents


def scan_tree(root: int) -> dict[int, Proc]:
    """Every live process under ``root`` (itself included), from one pass over /proc."""
    parents = _live_stats()
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
        elif "app.ops.cli _dispatch" in proc.cmd:
            found["dispatcher"].append(proc.pid)
        elif "data_adapters.simulator" in proc.cmd:
            found["simulator"].append(proc.pid)
        elif "gunicorn" in proc.cmd:
            found["web_master"].append(proc.pid)
            found["web_workers"] += sorted(p.pid for p in procs.values() if p.ppid == proc.pid)
    return found


def send_signal(pid: int, signum: int) -> None:
    """Signal ``pid``, if it still lives."""
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        pass


def kill_group(pgid: int) -> None:
    """SIGKILL the process group ``pgid``, if anything is left in it."""
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
