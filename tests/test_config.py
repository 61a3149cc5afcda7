"""Configuration: defaults, TOML, environment precedence, and errors that name the key."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest

from app.config import ConfigError, load_settings, resolve_secret_key


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
