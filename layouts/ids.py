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
LANG_SWITCH = "lang-switch"
LANGUAGE = "ui-language"  # the reader's language as a BCP 47 tag, for the clientside clock
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

# Alerts: the /alerts page and the alert panel (layouts/alert_panel.py) shared with the wall.
ALERTS_FILTER_DOMAIN = "alerts-filter-domain"
ALERTS_FILTER_SEVERITY = "alerts-filter-severity"
ALERTS_FILTER_STATE = "alerts-filter-state"
ALERTS_SHOWN = "alerts-shown"  # the signature the list was drawn for
ALERTS_RULES_STATUS = "alerts-rules-status"
ALERT_PICK = "alert-pick"  # pattern-matching type: open an alert of the list
ALERT_ACK_START = "alert-ack-start"  # pattern-matching type: "Acknowledge" on a list card
ALERT_SELECTED = "alert-selected"
ALERT_DETAIL = "alert-detail"
ALERT_DETAIL_HEAD = "alert-detail-head"
ALERT_DETAIL_CLOSE = "alert-detail-close"
ALERT_MAP = "alert-map"
ALERT_TIMELINE = "alert-timeline"
ALERT_NOTE = "alert-note"
ALERT_ACK = "alert-ack"
ALERT_CLAIM = "alert-claim"
ALERT_ADD_NOTE = "alert-add-note"
ALERT_RESOLVE = "alert-resolve"
ALERT_ACTIONS = "alert-actions"
ALERT_RESULT = "alert-result"
ALERT_NEW_TITLE = "alert-new-title"
ALERT_NEW_DOMAIN = "alert-new-domain"
ALERT_NEW_SEVERITY = "alert-new-severity"
ALERT_NEW_LAT = "alert-new-lat"
ALERT_NEW_LON = "alert-new-lon"
ALERT_NEW_DESCRIPTION = "alert-new-description"
ALERT_NEW_RAISE = "alert-new-raise"
ALERT_NEW_RESULT = "alert-new-result"
ALERT_PANEL = "alert-panel"
ALERT_PANEL_COUNTS = "alert-panel-counts"
ALERT_PANEL_LIST = "alert-panel-list"
ALERT_PANEL_SHOWN = "alert-panel-shown"
ALERT_SOUND = "alert-sound"  # what the browser's sound player needs (JSON)
ALERT_SOUND_PLAYED = "alert-sound-played"
ALERT_SOUND_TOGGLE = "alert-sound-toggle"  # pattern-matching type: sound on/off per severity
ALERT_SOUND_CONTROLS = "alert-sound-controls"

# Officials' page (layouts/official.py); OFFICIAL_STATUS above holds the status per domain.
OFFICIAL_ISSUES = "official-issues"
OFFICIAL_EXPORTS = "official-exports"
OFFICIAL_WINDOW = "official-window"
OFFICIAL_TRENDS = "official-trends"
OFFICIAL_TRENDS_TICK = "official-trends-tick"

# The live map (layouts/livemap.py), one component used by several pages: each instance's parts
# are named after its graph's id, e.g. map_part(OVERVIEW_MAP, MAP_PANEL) == "overview-map-panel".
WALL_MAP = "wall-map"
MAP_STATE = "state"
MAP_LAYERS = "layers"
MAP_FILTER = "filter"
MAP_PANEL = "panel"


def map_part(map_id: str, part: str) -> str:
    """The id of one part (state store, layer checklist, filter, side panel) of a map instance."""
    return f"{map_id}-{part}"
ALERT_ASSIGN_USER = "alert-assign-user"
ALERT_ASSIGN = "alert-assign"
ALERT_ASSIGN_ROW = "alert-assign-row"
ALERT_SEEN_ASSIGNEE = "alert-seen-assignee"  # the assignee the sheet showed (for a reassignment)

# The wall (layouts/wall.py, layouts/wall_tiles.py, assets/wall.js).
WALL = "wall"
WALL_FEEDS = "wall-feeds"
WALL_VIEWS = "wall-views"
WALL_VIEW_LABEL = "wall-view-label"
WALL_ROTATION = "wall-rotation"  # {"seconds": n, "views": [...]}: what the kiosk cycles through
WALL_ROTATION_STATE = "wall-rotation-state"
WALL_BEAT_TICK = "wall-beat-tick"
WALL_BEAT = "wall-beat"  # the server's answer: its app version and time
WALL_LINK = "wall-link"  # what the browser knows of the link: version, last answer, lost since
WALL_LINK_NOTE = "wall-link-note"
WALL_DOMAIN_TILES: dict[str, str] = {d: f"wall-tiles-{d}" for d in ("transport", "water", "medical", "city")}
WALL_DOMAIN_MAP: dict[str, str] = {d: f"wall-map-{d}" for d in ("transport", "water", "medical", "city")}

# -- /admin: webhooks and e-mail (layouts/admin_webhooks.py) --------------------------------------
HOOK_TICK = "hook-tick"
HOOK_REFRESH = "hook-refresh"
HOOK_NAME = "hook-name"
HOOK_URL = "hook-url"
HOOK_EVENTS = "hook-events"
HOOK_DOMAINS = "hook-domains"
HOOK_SEVERITIES = "hook-severities"
HOOK_ADD = "hook-add"
HOOK_RESULT = "hook-result"
HOOK_LIST = "hook-list"
HOOK_SHOWN = "hook-shown"  # a digest of the listing on screen: an unchanged one is not redrawn
HOOK_ACTION = "hook-action"  # pattern-matching type: {"type", "action", "receiver"}
HOOK_REMOVE = "hook-remove"  # pattern-matching type of the confirmed remove: {"type", "receiver"}
