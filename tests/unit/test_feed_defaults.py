"""City-wide settings handed to the feed tables: city.bounds from app.config to every FHIR feed.

The ops layer (app/ops/feed_defaults.py) reads the installation's settings; registry.build gives
each value to the feeds whose adapter declares the key and leaves it unset. The runner process,
`cityops up`'s check of the tables and `cityops ingest` all build their adapters this way.
"""

from __future__ import annotations

import inspect

import pytest

from app.config import ConfigError, load_settings
from app.ops import supervisor
from app.ops.commands import data, processes
from app.ops.feed_defaults import city_feed_defaults
from data_adapters import registry
from data_adapters.base import FeedConfigError

BOX = "28.2,111.9,28.9,112.8"


def test_city_bounds_are_read_from_the_environment_and_checked() -> None:
    """CITYOPS_CITY_BOUNDS takes four numbers making a box on Earth; anything else names the key."""
    settings = load_settings(environ={"CITYOPS_CITY_BOUNDS": BOX})
    assert settings.city.bounds == (28.2, 111.9, 28.9, 112.8)
    assert city_feed_defaults(settings) == {"bounds": [28.2, 111.9, 28.9, 112.8]}
    assert load_settings(environ={}).city.bounds is None
    assert city_feed_defaults(load_settings(environ={})) == {}
    for bad in ("1,2,3", "30,0,20,1", "north,east,south,west", "0,0,100,1"):
        with pytest.raises(ConfigError, match="CITYOPS_CITY_BOUNDS: expected four numbers"):
            load_settings(environ={"CITYOPS_CITY_BOUNDS": bad})


def test_defaults_reach_only_the_feeds_that_declare_the_key() -> None:
    """A FHIR feed without bounds gets the city's; one with its own keeps them; an adapter with
    no bounds key never sees the value (its strict schema would refuse it)."""
    defaults = city_feed_defaults(load_settings(environ={"CITYOPS_CITY_BOUNDS": BOX}))
    fhir = registry.build({"name": "med", "adapter": "fhir", "url": "http://127.0.0.1:9/f"},
                          defaults)
    assert fhir.bounds == (28.2, 111.9, 28.9, 112.8)  # type: ignore[attr-defined]
    own = registry.build({"name": "med", "adapter": "fhir", "url": "http://127.0.0.1:9/f",
                          "bounds": [1.0, 2.0, 3.0, 4.0]}, defaults)
    assert own.bounds == (1.0, 2.0, 3.0, 4.0)  # type: ignore[attr-defined]
    senml = registry.build({"name": "w", "adapter": "senml_http", "url": "http://127.0.0.1:9/w"},
                           defaults)
    assert "bounds" not in senml.config
    with pytest.raises(FeedConfigError, match="unknown key 'bounds'"):
        registry.build({"name": "w", "adapter": "senml_http", "url": "http://127.0.0.1:9/w",
                        **defaults})


@pytest.mark.parametrize("module", [processes, supervisor, data], ids=lambda m: m.__name__)
def test_every_place_that_builds_feeds_passes_the_city_defaults(module: object) -> None:
    """The runner process, `cityops up`'s check of the tables and `cityops ingest`: each builds
    with city_feed_defaults, so no path reads a feed without the city's bounds."""
    source = inspect.getsource(module)  # type: ignore[arg-type]
    assert "registry.build(" in source and "city_feed_defaults" in source
