"""Feed configuration schemas: every adapter declares its [[feeds]] keys, errors are one clear line,
the samples, the demo feeds and the README tables agree with the schemas."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any, ClassVar, Iterator

import pytest
from pydantic_core import PydanticUndefined

from app.config import load_settings
from app.model.records import ParseItem, RawPayload
from data_adapters import config_docs, registry
from data_adapters.base import Adapter, FatalFeedError, FeedConfigError
from data_adapters.demo import demo_feeds
from data_adapters.feed_settings import FeedSettings, OpenFeedSettings, default_of, expected_of
from tests.support.paths import REPO

URL = "http://127.0.0.1:9/feed"
ADAPTER_NAMES = sorted(registry.ADAPTERS)
# The fewest keys each adapter needs besides name and adapter.
MINIMAL: dict[str, dict[str, Any]] = {
    "gtfs_static": {"url": URL},
    "gtfs_rt": {"url": URL},
    "senml_http": {"url": URL},
    "senml_mqtt": {"url": "mqtt://127.0.0.1:9", "topic": "city/water/+/senml"},
    "sensorthings": {"url": URL},
    "open311": {"base_url": URL},
    "cap": {"url": URL},
    "fhir": {"url": URL},
    "ambulance_avl": {"url": URL},
}
# What pydantic's own text looks like: none of it may reach an operator.
PYDANTIC_WORDS = ("pydantic", "errors.pydantic.dev", "Input should", "validation error",
                  "input_value")


def config_of(adapter: str, /, **extra: Any) -> dict[str, Any]:
    """A valid table for ``adapter`` (feed "f"), with ``extra`` keys on top."""
    return {"name": "f", "adapter": adapter, **MINIMAL[adapter], **extra}


def config_error(config: dict[str, Any]) -> FeedConfigError:
    """The FeedConfigError registry.build raises for ``config`` (fails if it builds)."""
    with pytest.raises(FeedConfigError) as caught:
        registry.build(config)
    message = str(caught.value)
    assert "\n" not in message and not any(word in message for word in PYDANTIC_WORDS), message
    return caught.value


# -- every adapter declares its schema -------------------------------------------------------------
def test_every_registered_adapter_has_a_minimal_config() -> None:
    """MINIMAL names exactly the registered adapters."""
    assert set(MINIMAL) == set(registry.ADAPTERS)


@pytest.mark.parametrize("name", ADAPTER_NAMES)
def test_every_adapter_declares_a_strict_schema(name: str) -> None:
    """Its own model: unknown keys forbidden, strict types, a description for every key."""
    model = registry.settings_model(name)
    assert issubclass(model, FeedSettings) and model is not OpenFeedSettings
    assert model.model_config.get("extra") == "forbid" and model.model_config.get("strict")
    assert {"name", "adapter", "interval_s", "freshness_budget_s", "max_lag_s",
            "id_prefix"} <= set(model.model_fields)
    undocumented = [key for key, field in model.model_fields.items() if not field.description]
    assert not undocumented, f"{name}: keys without a description: {undocumented}"
    registry.build(config_of(name))  # the minimal table is valid


@pytest.mark.parametrize("name", ADAPTER_NAMES)
def test_the_adapter_reads_validated_settings(name: str) -> None:
    """Derived defaults come from the settings: budget 3 x interval, prefix = feed name."""
    adapter = registry.build(config_of(name, interval_s=20))
    assert isinstance(adapter.settings, registry.settings_model(name))
    assert (adapter.feed, adapter.interval_s, adapter.freshness_budget_s) == ("f", 20.0, 60.0)
    assert adapter.id_prefix == "f"
    tuned = registry.build(config_of(name, freshness_budget_s=45, id_prefix="city", max_lag_s=30))
    assert (tuned.freshness_budget_s, tuned.id_prefix) == (45.0, "city")
    assert tuned.config["max_lag_s"] == 30  # the raw table stays readable (the runner reads it)


# -- the errors ------------------------------------------------------------------------------------
def test_a_misspelt_key_is_named_with_the_known_keys() -> None:
    error = config_error(config_of("gtfs_rt", intervall_s=10))
    assert str(error) == (
        "feed 'f': unknown key 'intervall_s' (did you mean 'interval_s'? known: adapter, "
        "freshness_budget_s, id_prefix, interval_s, kind, max_lag_s, name, timeout_s, url)")
    assert isinstance(error, FatalFeedError) and (error.feed, error.key) == ("f", "intervall_s")


def test_a_wrong_type_names_the_key_and_what_is_expected() -> None:
    error = config_error(config_of("gtfs_rt", interval_s="soon"))
    assert str(error) == "feed 'f': interval_s: expected a number from 0.1 to 604800, got 'soon'"
    assert error.key == "interval_s"
    # TOML is typed: text is not a number, 2.0 is not an integer, true is not 1.
    assert str(config_error(config_of("open311", closed_retention_days="30"))).startswith(
        "feed 'f': closed_retention_days: expected a number from 0 to 36500, got '30'")
    assert "got 2.0" in str(config_error(config_of("fhir", max_pages=2.0)))
    assert "got True" in str(config_error(config_of("senml_mqtt", qos=True)))


def test_an_out_of_range_value_names_the_range() -> None:
    assert str(config_error(config_of("sensorthings", top=20_000))) == (
        "feed 'f': top: expected an integer from 1 to 10000, got 20000")
    assert str(config_error(config_of("gtfs_rt", interval_s=0))) == (
        "feed 'f': interval_s: expected a number from 0.1 to 604800, got 0")
    assert "got nan" in str(config_error(config_of("cap", timeout_s=float("nan"))))


def test_an_unknown_or_missing_adapter() -> None:
    error = config_error({"name": "f", "adapter": "nope", "url": URL})
    assert str(error) == ("feed 'f': unknown adapter 'nope' (known: ambulance_avl, cap, fhir, "
                          "gtfs_rt, gtfs_static, open311, senml_http, senml_mqtt, sensorthings)")
    assert error.key == "adapter"
    assert str(config_error({"name": "f", "url": URL})).startswith(
        "feed 'f': missing key 'adapter' (known adapters: ambulance_avl, cap,")
    assert "unknown adapter 5" in str(config_error({"name": "f", "adapter": 5}))


@pytest.mark.parametrize("config, line", [
    (config_of("gtfs_rt", kind="trams"),
     "feed 'f': kind: expected one of 'vehicle_positions', 'trip_updates', 'alerts', 'mixed', "
     "got 'trams'"),
    ({"name": "f", "adapter": "gtfs_rt"},
     "feed 'f': missing key 'url': expected an http(s) URL such as 'https://host/path'"),
    (config_of("fhir", tz="Mars/Olympus"),
     "feed 'f': tz: expected an IANA time zone name such as 'Asia/Shanghai' or 'UTC', got "
     "'Mars/Olympus'"),
    (config_of("senml_mqtt", url="mqtt://h:99999"),
     "feed 'f': url: expected mqtt://host[:port] or mqtts://host[:port], got 'mqtt://h:99999' "
     "(invalid port)"),
    (config_of("senml_mqtt", password="x"),
     "feed 'f': password: a password needs a username (set username too)"),
    (config_of("senml_http", zones={"yy/": 3}),
     "feed 'f': zones: expected a table of sensor name prefix = supply zone (text = text), got "
     "{'yy/': 3}"),
    ({"name": "Bad Name", "adapter": "cap", "url": URL},
     "feed 'Bad Name': name: expected lowercase letters, digits, '-' and '_' (at most 64, starting "
     "with a letter or digit), got 'Bad Name'"),
    ({"name": "f", "adapter": "open311"},
     "feed 'f': missing key 'base_url': expected the GeoReport v2 endpoint root, such as "
     "'https://host/open311/v2' (or url, the requests endpoint)"),
])
def test_other_mistakes_read_as_one_line(config: dict[str, Any], line: str) -> None:
    assert str(config_error(config)) == line


def test_further_problems_are_counted_and_unknown_keys_come_first() -> None:
    """A misspelt url is both unknown and missing: the unknown key is the one to fix."""
    message = str(config_error({"name": "f", "adapter": "gtfs_rt", "urll": URL, "kind": 5}))
    assert message.startswith("feed 'f': unknown key 'urll' (did you mean 'url'?")
    assert message.endswith("; and 2 more problems")


def test_secrets_are_not_quoted() -> None:
    """A password or API key of the wrong type is named, its value is not shown."""
    message = str(config_error(config_of("senml_mqtt", username="u", password=12345678)))
    assert "12345678" not in message and message.startswith("feed 'f': password: expected text")
    assert "987654" not in str(config_error(config_of("open311", api_key=987654)))


def test_a_name_with_a_line_break_keeps_the_message_on_one_line() -> None:
    assert str(config_error({"name": "a\nb", "adapter": "cap", "url": URL})).startswith(
        "feed 'a\\nb': name: expected")


def _wrong_value(annotation: Any) -> Any:
    """A value of a type no field of ``annotation`` accepts."""
    return ["wrong"] if "dict" in str(annotation) else {"wrong": ["type"]}


@pytest.mark.parametrize("name", ADAPTER_NAMES)
def test_every_key_refuses_a_wrong_type_with_its_name(name: str) -> None:
    """For each key: FeedConfigError naming it, what it expects, and nothing of pydantic."""
    model = registry.settings_model(name)
    for key, field in model.model_fields.items():
        if key == "adapter":
            continue  # picks the adapter: tested above
        error = config_error(config_of(name, **{key: _wrong_value(field.annotation)}))
        assert re.match(rf"feed '[^']+': {key}: expected ", str(error)), str(error)
        assert error.key == key


def test_the_adapter_key_must_name_the_adapter_built() -> None:
    from data_adapters.transport.adapter import GtfsRealtimeAdapter
    with pytest.raises(FeedConfigError, match="^feed 'f': adapter: expected 'gtfs_rt'"):
        GtfsRealtimeAdapter({"name": "f", "adapter": "cap", "url": URL})


class _Double(Adapter):
    """A test double with no schema of its own: it keeps the keys it is given."""

    name: ClassVar[str] = "double"
    domain: ClassVar[str] = "city"

    def fetch(self) -> RawPayload:
        raise NotImplementedError

    def parse(self, raw: RawPayload) -> Iterator[ParseItem]:
        yield from ()


def test_an_adapter_without_a_schema_takes_other_keys_but_checks_the_common_ones() -> None:
    double = _Double({"name": "pts", "url": "http://x", "anything": 1, "interval_s": 0.2})
    assert (double.feed, double.interval_s, double.config["anything"]) == ("pts", 0.2, 1)
    with pytest.raises(FeedConfigError, match="interval_s: expected a number"):
        _Double({"interval_s": "soon"})


# -- samples, demo feeds ---------------------------------------------------------------------------
SAMPLES = sorted((REPO / "data_adapters").glob("*/sample.toml"))


def test_every_adapter_has_a_sample() -> None:
    """Each registered adapter is configured in some sample.toml."""
    used = {feed["adapter"] for path in SAMPLES
            for feed in tomllib.loads(path.read_text("utf-8"))["feeds"]}
    assert used == set(registry.ADAPTERS)


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.parent.name)
def test_sample_toml_validates(path: Path, tmp_path: Path) -> None:
    """Each sample loads as a configuration and every feed in it builds its adapter."""
    settings = load_settings({"CITYOPS_CONFIG": str(path), "CITYOPS_DATA_DIR": str(tmp_path)})
    assert settings.feeds
    for feed in settings.feeds:
        adapter = registry.build(feed)
        assert adapter.feed == feed["name"] and adapter.name == feed["adapter"]


def test_demo_feeds_validate() -> None:
    """The demo city's feeds fit their adapters' schemas."""
    feeds = demo_feeds("http://127.0.0.1:8051")
    adapters = [registry.build(feed) for feed in feeds]
    assert [a.feed for a in adapters] == [feed["name"] for feed in feeds]
    assert all(a.id_prefix == "demo" for a in adapters)


# -- the README tables -----------------------------------------------------------------------------
def _cells(line: str) -> list[str]:
    inner = line.strip()[1:-1]
    return [cell.strip().replace("\\|", "|") for cell in re.split(r"(?<!\\)\|", inner)]


def readme_table(name: str) -> list[dict[str, str]]:
    """The rows of adapter ``name``'s table in its README (key, type, default, meaning)."""
    text = config_docs.readme_of(name).read_text("utf-8")
    tables = [table for adapter, table in config_docs.blocks_in(text) if adapter == name]
    assert len(tables) == 1, f"{name}: {len(tables)} tables in {config_docs.readme_of(name)}"
    lines = [line for line in tables[0].splitlines() if line.startswith("|")]
    header = _cells(lines[0])
    assert header == list(config_docs.HEADER) and set(lines[1]) <= set("|-: ")
    return [dict(zip(header, _cells(line), strict=True)) for line in lines[2:]]


def _documented_default(cell: str) -> Any:
    """A default cell's value: a TOML literal in backticks, or the words standing for it."""
    if cell.startswith("`") and cell.endswith("`") and cell.count("`") == 2:
        return tomllib.loads(f"value = {cell[1:-1]}")["value"]
    return {"required": PydanticUndefined, "none": None}.get(cell, cell)


@pytest.mark.parametrize("name", ADAPTER_NAMES)
def test_readme_table_matches_the_schema(name: str) -> None:
    """Every key of the schema is in the README with its default, type and meaning, and no other."""
    model = registry.settings_model(name)
    table = readme_table(name)
    keys = [row["key"].strip("`") for row in table]
    assert keys == list(model.model_fields), (
        f"{name}: undocumented {sorted(set(model.model_fields) - set(keys))}, "
        f"not in the schema {sorted(set(keys) - set(model.model_fields))}: run "
        "python -m data_adapters.config_docs --write")
    for row in table:
        key = row["key"].strip("`")
        field = model.model_fields[key]
        text = default_of(field)
        if text is not None:  # a default computed from other keys, documented in words
            assert row["default"] == text, (name, key)
        elif field.is_required():
            assert _documented_default(row["default"]) is PydanticUndefined, (name, key)
        else:
            assert (_documented_default(row["default"])
                    == field.get_default(call_default_factory=True)), (name, key, row["default"])
        assert row["type"] == expected_of(field), (name, key)
        assert row["meaning"] == field.description, (name, key)


def test_config_docs_check_passes_and_prints_every_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert config_docs.main(["--check"]) == 0
    assert config_docs.main([]) == 0
    out = capsys.readouterr().out
    assert all(f"### `{name}`" in out for name in ADAPTER_NAMES)
