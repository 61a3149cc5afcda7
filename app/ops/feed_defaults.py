"""City-wide settings handed to the [[feeds]] tables: what the runner and `cityops ingest` share.

Adapters know nothing of app.config (data_adapters imports only app.model). The ops layer reads
the installation's settings and passes the city-wide ones into each feed table as defaults
(data_adapters.registry.build): a feed whose adapter declares the key and leaves it unset gets
the city's value; a feed that sets its own keeps it; other adapters never see it.
"""

from __future__ import annotations

from typing import Any

from app.config import Settings


def city_feed_defaults(settings: Settings) -> dict[str, Any]:
    """The [[feeds]] keys every feed gets from the city's settings unless it sets them itself."""
    defaults: dict[str, Any] = {}
    if settings.city.bounds is not None:
        # A TOML array, as a feed table would hold it (the schemas are strict about types).
        defaults["bounds"] = list(settings.city.bounds)
    return defaults
