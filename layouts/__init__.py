"""Dash pages (one module per page) and the components they share."""

from __future__ import annotations

import importlib

import dash

PAGE_MODULES: tuple[str, ...] = (
    "layouts.overview", "layouts.transport", "layouts.water", "layouts.medical", "layouts.city",
    "layouts.wall", "layouts.alerts", "layouts.official", "layouts.admin",
    "layouts.shifts",  # shifts and handover (issue 15)
    "layouts.incidents", "layouts.tasks",  # incidents and department tasks (issue 15)
)


def register_pages(app: dash.Dash) -> None:
    """Register every page module's page with Dash Pages and its callbacks with ``app``."""
    for name in PAGE_MODULES:
        importlib.import_module(name).register(app)
