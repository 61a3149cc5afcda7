"""Every component id of the app, in one place, so callbacks and tests agree on them."""

from __future__ import annotations

# The shell around every page.
SHELL = "shell"
NAV = "nav"
LINK_BANNER = "link-banner"
DATA_AS_OF = "data-as-of"
DOMAIN_STATUS = "domain-status"
TICK = "live-tick"
SEEN = "live-seen"
CLOCK = "clock"
CITY_TIMEZONE = "city-timezone"
PAGE_LOCATION = "_pages_location"  # owned by dash.page_container

# Pages.
PAGE_TITLE = "page-title"
OVERVIEW_TILES = "overview-tiles"
OVERVIEW_MAP = "overview-map"
OVERVIEW_MAP_VERSION = "overview-map-version"
WALL_TILES = "wall-tiles"
ALERTS_LIST = "alerts-list"
OFFICIAL_STATUS = "official-status"

# Admin page.
ADMIN_USERS = "admin-users"
ADMIN_TOKENS = "admin-tokens"
ADMIN_AUDIT = "admin-audit"
ADMIN_NEW_NAME = "admin-new-name"
ADMIN_NEW_ROLE = "admin-new-role"
ADMIN_NEW_PASSWORD = "admin-new-password"
ADMIN_ADD_USER = "admin-add-user"
ADMIN_DISABLE_NAME = "admin-disable-name"
ADMIN_DISABLE_USER = "admin-disable-user"
ADMIN_RESULT = "admin-result"
ADMIN_REFRESH = "admin-refresh"

# Domain pages (layouts/domain_view.py): the body and the signature it was drawn for.
DOMAIN_BODY: dict[str, str] = {d: f"domain-body-{d}" for d in ("transport", "water", "medical", "city")}
DOMAIN_SHOWN: dict[str, str] = {d: f"domain-shown-{d}" for d in ("transport", "water", "medical", "city")}
