"""`cityops bench ingest` runs on a private Redis and reports every figure (timings are not tested)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.paths import REPO


def test_bench_ingest_reports_its_figures(tmp_path: Path) -> None:
    """A small run prints one JSON object with rates, their ratio and memory per entity."""
    env = {"PATH": "/usr/bin:/bin", "CITYOPS_DATA_DIR": str(tmp_path / "data")}
    result = subprocess.run(
        [sys.executable, "-m", "app.ops.cli", "bench", "ingest", "--entities", "500", "--runs", "2",
         "--json"], cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout)
    assert figures["entities"] == 500
    for key in ("ingest_entities_per_s", "raw_write_entities_per_s", "ingest_ratio_to_raw_write",
                "packed_write_entities_per_s", "ingest_ratio_to_packed_write",
                "redis_bytes_per_entity"):
        assert figures[key] > 0, key
    # It used a private server: the installation's data directory was never created.
    assert not (tmp_path / "data").exists()


# The quick run starts several private cities and Chromium (the browser figures): minutes, not
# the suite's usual per-test bound.
@pytest.mark.timeout(900)
def test_bench_quick_reports_every_figure(tmp_path: Path) -> None:
    """`cityops bench --quick --json` produces every figure of the targets, and their growth."""
    from app.bench.suite import TARGETS

    env = {"PATH": "/usr/bin:/bin", "CITYOPS_DATA_DIR": str(tmp_path / "data"),
           "HOME": str(tmp_path)}
    result = subprocess.run([sys.executable, "-m", "app.ops.cli", "bench", "--quick", "--json"],
                            cwd=REPO, env=env, capture_output=True, text=True, timeout=840)
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout)
    missing = [name for name in TARGETS if name not in figures]
    assert not missing, f"figures not produced: {missing}\n{result.stderr}"
    for name in TARGETS:
        if name != "tick_unchanged_bytes":
            assert figures[name] > 0, name
    assert figures["clients_errors"] == 0 and figures["web_worker_rss_mb"] > 0
    assert {"ingest@500", "ingest@2000", "tick@500", "tick@2000"} <= set(figures["growth"])
    assert not (tmp_path / "data").exists()
