"""Running `cityops` as a user does: its own process group, a clean environment, one-line errors."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.paths import REPO

CLI_TIMEOUT_S = 60.0


# -- helpers ---------------------------------------------------------------------------------------
def base_env(data_dir: Path, redis_url: str | None) -> dict[str, str]:
    """os.environ without any CITYOPS_* setting, plus the data directory and (optionally) a URL."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CITYOPS_")}
    env["CITYOPS_DATA_DIR"] = str(data_dir)
    if redis_url:
        env["CITYOPS_REDIS_URL"] = redis_url
    return env


def run_cli(env: dict[str, str], *args: str, stdin: str | None = None,
            timeout: float = CLI_TIMEOUT_S) -> subprocess.CompletedProcess[str]:
    """Run `python -m app.ops.cli ARGS` in its own process group; never hangs, never leaks children."""
    process = subprocess.Popen([sys.executable, "-m", "app.ops.cli", *args], cwd=REPO, env=env,
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = process.communicate(stdin if stdin is not None else "", timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        out, err = process.communicate()
        pytest.fail(f"cityops {' '.join(args)} did not finish in {timeout} s: {out!r} {err!r}")
    assert "Traceback" not in err, err
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    """Assert that a command failed with exit 1 and exactly one line on stderr; return it."""
    assert result.returncode == 1, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("cityops: "), result.stderr
    return lines[0]


def redis_pids_for(data_dir: Path) -> list[int]:
    """Pids of redis-server processes that belong to ``data_dir`` (by command line or cwd)."""
    needle = str(data_dir.resolve())
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            cwd = os.readlink(entry / "cwd")
        except OSError:  # gone meanwhile, or not ours to look at
            continue
        if "redis-server" in cmdline and (needle in cmdline or cwd.startswith(needle)):
            pids.append(int(entry.name))
    return pids
