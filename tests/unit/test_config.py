"""Configuration: defaults, TOML, environment precedence, and errors that name the key."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest

from app.config import ConfigError, load_settings, resolve_secret_key
from tests.support.paths import REPO


def test_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With nothing configured: ./var, embedded Redis, loopback on 8050."""
    monkeypatch.chdir(tmp_path)
    settings = load_settings(environ={})
    assert settings.data_dir == tmp_path / "var"
    assert settings.redis.embedded and settings.redis.url is None
    assert (settings.web.host, settings.web.port) == ("127.0.0.1", 8050)


def test_environment_wins_over_toml(tmp_path: Path) -> None:
    """CITYOPS_* variables override the TOML file, which overrides defaults."""
    toml = tmp_path / "cityops.toml"
    toml.write_text('data_dir = "/srv/cityops"\n[web]\nport = 9000\nworkers = 3\n'
                    '[redis]\nurl = "redis://db:6379/1"\n[city]\ntimezone = "Europe/Berlin"\n')
    settings = load_settings(environ={"CITYOPS_CONFIG": str(toml), "CITYOPS_PORT": "9100"})
    assert settings.web.port == 9100 and settings.web.workers == 3
    assert settings.redis.url == "redis://db:6379/1" and not settings.redis.embedded
    assert settings.data_dir == Path("/srv/cityops") and settings.city.timezone == "Europe/Berlin"


@pytest.mark.parametrize("key, value, fragment", [
    ("CITYOPS_PORT", "abc", "an integer from 1 to 65535"),
    ("CITYOPS_PORT", "70000", "an integer from 1 to 65535"),
    ("CITYOPS_REDIS_URL", "http://x", "redis://"),
    ("CITYOPS_WEB_WORKERS", "0", "from 1 to 64"),
    ("CITYOPS_SECURE_COOKIES", "maybe", "true or false"),
    ("CITYOPS_TIMEZONE", "Mars/Olympus", "IANA time zone"),
    ("CITYOPS_TRUSTED_PROXIES", "6", "from 0 to 5"),
    ("CITYOPS_REDIS_HUNG_SECONDS", "1", "from 2 to 3600"),
    ("CITYOPS_REDIS_HUNG_SECONDS", "soon", "from 2 to 3600"),
    ("CITYOPS_WEB_WORKER_MAX_MB", "-1", "MB (0: no limit)"),
])
def test_bad_values_name_the_key(key: str, value: str, fragment: str) -> None:
    """Each bad value is refused with the variable's name and what was expected."""
    with pytest.raises(ConfigError) as err:
        load_settings(environ={key: value})
    assert str(err.value).startswith(f"{key}: expected") and fragment in str(err.value)


def test_short_secret_is_refused_without_echoing_it() -> None:
    """A weak secret key is named but never printed."""
    with pytest.raises(ConfigError) as err:
        load_settings(environ={"CITYOPS_SECRET_KEY": "hunter2"})
    assert "CITYOPS_SECRET_KEY" in str(err.value) and "hunter2" not in str(err.value)


@pytest.mark.parametrize("content, fragment", [
    ("port = = 3", "not valid TOML"),
    ("[web]\nprot = 3\n", "unknown key 'web.prot'"),
    ("[web]\nport = \"many\"\n", "web.port: expected"),
])
def test_bad_toml_is_named(tmp_path: Path, content: str, fragment: str) -> None:
    """Malformed TOML, unknown keys and wrong types point at the file and key."""
    toml = tmp_path / "bad.toml"
    toml.write_text(content)
    with pytest.raises(ConfigError) as err:
        load_settings(environ={"CITYOPS_CONFIG": str(toml)})
    assert fragment in str(err.value)


def test_missing_config_file_is_named(tmp_path: Path) -> None:
    """A CITYOPS_CONFIG that does not exist is reported as such."""
    with pytest.raises(ConfigError, match="CITYOPS_CONFIG: cannot read"):
        load_settings(environ={"CITYOPS_CONFIG": str(tmp_path / "absent.toml")})


def test_secret_key_is_generated_once_and_kept(tmp_path: Path) -> None:
    """Without a configured key, one is generated into the data directory, owner-only, once."""
    settings = load_settings(environ={"CITYOPS_DATA_DIR": str(tmp_path / "data")})
    first = resolve_secret_key(settings)
    assert len(first) >= 32 and resolve_secret_key(settings) == first
    key_file = tmp_path / "data" / "secret_key"
    assert key_file.stat().st_mode & 0o077 == 0
    other = load_settings(environ={"CITYOPS_DATA_DIR": str(tmp_path / "other")})
    assert resolve_secret_key(other) != first
    key = secrets.token_urlsafe(32)
    configured = load_settings(environ={"CITYOPS_SECRET_KEY": key})
    assert resolve_secret_key(configured) == key
    with pytest.raises(ConfigError, match="CITYOPS_SECRET_KEY"):
        load_settings(environ={"CITYOPS_SECRET_KEY": "k" * 40})  # long, but guessable


def _cells(line: str) -> list[str]:
    return [cell.strip().strip("`") for cell in line.strip().strip("|").split("|")]


def test_the_documented_settings_are_the_declared_ones() -> None:
    """README's configuration table and docs/kpis.md's settings table name every declared setting
    with its variable, TOML key and default, and nothing that is not declared."""
    from app.config import declared

    root = REPO
    readme = [_cells(line) for line in (root / "README.md").read_text(encoding="utf-8").splitlines()
              if line.startswith("| `CITYOPS_") and not line.startswith("| `CITYOPS_CONFIG`")]
    documented = {row[0]: row[1] for row in readme if row[0] != "CITYOPS_KPI_*"}
    settings = {d.env: d for d in declared() if d.env}
    outside_kpis = {env: d.key for env, d in settings.items() if not d.key.startswith("kpis.")}
    assert documented == outside_kpis
    kpi_doc = (root / "docs" / "kpis.md").read_text(encoding="utf-8")
    table = kpi_doc[kpi_doc.index("## Settings"):kpi_doc.index("## Cost")]
    rows = [_cells(line) for line in table.splitlines() if line.startswith("| `")]
    keys = {key.strip().strip("`") for row in rows for key in row[0].split("/")}
    assert keys == {d.key.removeprefix("kpis.") for d in declared() if d.key.startswith("kpis.")}
    for row in rows:
        names = [key.strip().strip("`") for key in row[0].split("/")]
        shown = [value.strip().strip("`").strip('"') for value in row[1].split("/")]
        for name, value in zip(names, shown, strict=True):
            default = next(d.default for d in declared() if d.key == f"kpis.{name}")
            if isinstance(default, (int, float)):
                assert float(value) == float(default), (name, value, default)
