"""Feed configuration: `[[feeds]]` tables are checked before anything starts."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from app.config import ConfigError, load_settings
from data_adapters import registry
from tests.support.paths import REPO


def _up(tmp_path: Path, toml: str) -> subprocess.CompletedProcess[str]:
    config = tmp_path / "cityops.toml"
    config.write_text(toml, encoding="utf-8")
    env = {"PATH": "/usr/bin:/bin", "CITYOPS_CONFIG": str(config),
           "CITYOPS_DATA_DIR": str(tmp_path / "data")}
    return subprocess.run([sys.executable, "-m", "app.ops.cli", "up", "--port", "1"], cwd=REPO,
                          env=env, capture_output=True, text=True, timeout=60)


FEED = '[[feeds]]\nname = "city-vehicles"\nadapter = "gtfs_rt"\nurl = "http://127.0.0.1/vp.pb"\n'
GTFS_RT_KEYS = ("adapter, freshness_budget_s, id_prefix, interval_s, kind, max_lag_s, name, "
                "timeout_s, url")


@pytest.mark.parametrize("toml, line", [
    # a misspelt key
    (FEED + "intervall_s = 10\n",
     "feed 'city-vehicles': unknown key 'intervall_s' (did you mean 'interval_s'? known: "
     f"{GTFS_RT_KEYS})"),
    # a wrong type
    (FEED + 'interval_s = "soon"\n',
     "feed 'city-vehicles': interval_s: expected a number from 0.1 to 604800, got 'soon'"),
    # a value out of range
    (FEED + "interval_s = 0\n",
     "feed 'city-vehicles': interval_s: expected a number from 0.1 to 604800, got 0"),
    # an unknown adapter
    ('[[feeds]]\nname = "x"\nadapter = "nope"\nurl = "http://127.0.0.1/"\n',
     "feed 'x': unknown adapter 'nope' (known: ambulance_avl, cap, fhir, gtfs_rt, gtfs_static, "
     "open311, senml_http, senml_mqtt, sensorthings)"),
    # a missing key, a value that is not one of the allowed ones
    ('[[feeds]]\nname = "x"\nadapter = "gtfs_rt"\n',
     "feed 'x': missing key 'url': expected an http(s) URL such as 'https://host/path'"),
    (FEED + 'kind = "trams"\n',
     "feed 'city-vehicles': kind: expected one of 'vehicle_positions', 'trip_updates', 'alerts', "
     "'mixed', got 'trams'"),
])
def test_bad_feed_stops_up_before_anything_starts(tmp_path: Path, toml: str, line: str) -> None:
    """`up` exits 2 with one line naming the feed, the key and what is expected, and starts
    nothing (no data directory is created)."""
    result = _up(tmp_path, toml)
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines() == [f"cityops: feed configuration: {line}"], result.stderr
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
    sample = REPO / "data_adapters" / "transport" / "sample.toml"
    settings = load_settings(environ={"CITYOPS_CONFIG": str(sample)})
    adapters = [registry.build(feed) for feed in settings.feeds]
    assert {a.name for a in adapters} == {"gtfs_static", "gtfs_rt"}
