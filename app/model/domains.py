"""The city's domains: the four areas of the Yiyang programme that CityOps watches."""

from __future__ import annotations

DOMAINS: tuple[str, ...] = ("transport", "water", "medical", "city")
