"""Feed configuration: `[[feeds]]` tables are checked before anything starts."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from app.config import ConfigError, load_settings
from data_adapters import registry

ROOT = Path(__file__).resolve().parents[1]


def _up(tmp_path: Path, toml: str) -> subprocess.CompletedProcess[str]:
    config = tmp_path / "cityops.toml"
    config.write_text(toml, encoding="utf-8")
    env = {"PATH": "/usr/bin:/bin", "CITYOPS_CONFIG": str(config),
           "CITYOPS_DATA_DIR": str(tmp_path / "data")}
    return subprocess.run([sys.executable, "-m", "app.ops.cli", "up", "--port", "1"], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("toml, message", [
    ('[[feeds]]\nname = "x"\nadapter = "nope"\nurl = "http://127.0.0.1/"\n', "unknown adapter 'nope'"),
    ('[[feeds]]\nname = "x"\nadapter = "gtfs_rt"\n', "no url configured"),
    ('[[feeds]]\nname = "x"\nadapter = "gtfs_rt"\nurl = "http://127.0.0.1/"\nkind = "trams"\n',
     "kind must be one of"),
    ('[[feeds]]\nname = "x"\nadapter = "gtfs_rt"\nurl = "http://127.0.0.1/"\n'
     'interval_s = "soon"\n', "feed configuration"),
])
def test_bad_feed_stops_up_before_anything_starts(tmp_path: Path, toml: str, message: str) -> None:
    """`up` exits 2 with one clear line and starts nothing (no data directory is created)."""
    result = _up(tmp_path, toml)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "data").exists()


@pytest.mark.parametrize("feeds", [
    '[[feeds]]\nadapter = "gtfs_rt"\n',  # no name
    '[[feeds]]\nname = "Bad Name"\nadapter = "gtfs_rt"\n',
    '[[feeds]]\nname = "a"\nadapter = "gtfs_rt"\n[[feeds]]\nname = "a"\nadapter = "gtfs_rt"\n',
    'feeds = "all of them"\n',
])
def test_malformed_feed_tables_name_the_key(tmp_path: Path, feeds: str) -> None:
    """Names are required, well-formed and unique; the error names the `feeds` key."""
    config = tmp_path / "c.toml"
    config.write_text(feeds, encoding="utf-8")
    with pytest.raises(ConfigError, match="^feeds: expected"):
        load_settings(environ={"CITYOPS_CONFIG": str(config)})


def test_the_sample_configuration_loads() -> None:
    """data_adapters/transport/sample.toml is a valid configuration of registered adapters."""
    sample = ROOT / "data_adapters" / "transport" / "sample.toml"
    settings = load_settings(environ={"CITYOPS_CONFIG": str(sample)})
    adapters = [registry.build(feed) for feed in settings.feeds]
    assert {a.name for a in adapters} == {"gtfs_static", "gtfs_rt"}
