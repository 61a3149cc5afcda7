"""The medical page (/medical): its indicators, 24 h trends, feeds and what they report."""

from __future__ import annotations

import dash

from layouts import domain_view

DOMAIN = "medical"


def register(app: dash.Dash) -> None:
    """Register the page with Dash Pages and its refresh."""
    domain_view.register(app, __name__, DOMAIN)
