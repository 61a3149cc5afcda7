"""Every component id of the app, in one place, so callbacks and tests agree on them."""

from __future__ import annotations

import json

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
ALERT_SOUND_BLOCKED = "alert-sound-blocked"  # "sound blocked: click once" (issue 18)

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


# The page tick as each server callback driven by it sees it (layouts/pulse.py): a gate's two
# stores are pattern-matched ids named after the gate and the timer that drives it, so one browser
# callback per timer fires every gate of the page (a callback per gate cost the wall ~4 ms each).
PULSE = "pulse"
BUSY = "busy"


def pulse_part(gate: str, part: str, tick: str = TICK) -> dict[str, str]:
    """The id of one store (the pulse it fires, or whether its callback is busy) of a tick gate."""
    return {"type": f"tick-{part}", "tick": tick, "gate": gate}


def prop_id(component_id: str | dict[str, str], prop: str) -> str:
    """A property as Dash names it in a request's ``changedPropIds`` (a dict id as sorted JSON)."""
    if isinstance(component_id, dict):
        component_id = json.dumps(component_id, sort_keys=True, separators=(",", ":"))
    return f"{component_id}.{prop}"


def map_part(map_id: str, part: str) -> str:
    """The id of one part (state store, layer checklist, filter, side panel) of a map instance."""
    return f"{map_id}-{part}"
ALERT_ASSIGN_USER = "alert-assign-user"
ALERT_ASSIGN = "alert-assign"
ALERT_ASSIGN_ROW = "alert-assign-row"
ALERT_SEEN_ASSIGNEE = "alert-seen-assignee"  # the assignee the sheet showed (for a reassignment)
# /alerts, the desk (issue 19): the list's order and the counts that filter it
# (layouts/alert_filters.py); the assign list holds only who may act (layouts/alert_assign.py).
ALERTS_ORDER = "alerts-order"
ALERT_COUNT_PICK = "alert-count-pick"  # pattern-matching type: a count of the panel's table
ALERTS_COUNT_PICKED = "alerts-count-picked"  # the count picked: {severity, column} or None
ALERTS_COUNT_NOTE = "alerts-count-note"  # what the picked count shows, and how to show all

# The wall (layouts/wall.py, layouts/wall_tiles.py, assets/wall.js).
WALL = "wall"
WALL_FEEDS = "wall-feeds"
WALL_VIEWS = "wall-views"
WALL_VIEW_LABEL = "wall-view-label"
WALL_ROTATION = "wall-rotation"  # {"seconds": n, "views": [...]}: what the kiosk cycles through
WALL_ROTATION_STATE = "wall-rotation-state"
WALL_ROTATE_TICK = "wall-rotate-tick"  # each second while the wall rotates (off when it does not)
WALL_LINK = "wall-link"  # the app's version and the lost link's words (assets/wall.js watches)
WALL_LINK_NOTE = "wall-link-note"
WALL_DOMAIN_TILES: dict[str, str] = {d: f"wall-tiles-{d}" for d in ("transport", "water", "medical", "city")}
# What the shell had seen when a wall's tiles were last drawn (one per tiles output).
WALL_TILES_DRAWN = "wall-tiles-drawn"
WALL_INCIDENT_DRAWN = "wall-incident-drawn"
WALL_DOMAIN_TILES_DRAWN: dict[str, str] = {d: f"wall-tiles-drawn-{d}" for d in WALL_DOMAIN_TILES}
WALL_DOMAIN_MAP: dict[str, str] = {d: f"wall-map-{d}" for d in ("transport", "water", "medical", "city")}

# Incidents (issue 15): /incidents (layouts/incidents.py, incident_detail.py, incident_declare.py,
# linkage_panel.py), /tasks (layouts/tasks.py), their parts on /alerts, the alert panel and the wall.
INCIDENTS_FILTER = "incidents-filter"
INCIDENTS_LIST = "incidents-list"
INCIDENTS_SHOWN = "incidents-shown"  # the signature the list was drawn for
INCIDENT_PICK = "incident-pick"  # pattern-matching type: open an incident of the list
INCIDENT_SELECTED = "incident-selected"
INCIDENT_DETAIL = "incident-detail"
INCIDENT_DETAIL_CLOSE = "incident-detail-close"
INCIDENT_HEAD = "incident-head"
INCIDENT_SEEN = "incident-seen"  # what the detail showed: id, version, public flag
INCIDENT_MAP = "incident-map"
INCIDENT_LINKAGE = "incident-linkage"
INCIDENT_ACTIONS = "incident-actions"
INCIDENT_STATUS_BUTTONS = "incident-status-buttons"
INCIDENT_STATUS_TO = "incident-status-to"  # pattern-matching type: one button per next status
INCIDENT_LEVEL = "incident-level"
INCIDENT_LEVEL_SET = "incident-level-set"
INCIDENT_COMMANDER = "incident-commander"
INCIDENT_COMMANDER_SET = "incident-commander-set"
INCIDENT_PUBLIC_SET = "incident-public-set"
INCIDENT_PUBLIC_TEXT = "incident-public-text"
INCIDENT_AREA_LAT = "incident-area-lat"
INCIDENT_AREA_LON = "incident-area-lon"
INCIDENT_AREA_RADIUS = "incident-area-radius"
INCIDENT_AREA_SHAPE = "incident-area-shape"
INCIDENT_AREA_SET = "incident-area-set"
INCIDENT_NOTE = "incident-note"
INCIDENT_NOTE_ADD = "incident-note-add"
INCIDENT_STEP_TITLE = "incident-step-title"
INCIDENT_STEP_DEPARTMENT = "incident-step-department"
INCIDENT_STEP_DUE = "incident-step-due"
INCIDENT_STEP_REQUIRED = "incident-step-required"
INCIDENT_STEP_ADD = "incident-step-add"
INCIDENT_ALERTS = "incident-alerts"
INCIDENT_LINK_ALERT = "incident-link-alert"
INCIDENT_LINK = "incident-link"
INCIDENT_UNLINK = "incident-unlink"  # pattern-matching type: unlink one alert
INCIDENT_TASKS = "incident-tasks"
INCIDENT_TASK_ACT = "incident-task-act"  # pattern-matching type: {"task": id, "action": take...}
INCIDENT_TASK_REASON = "incident-task-reason"
INCIDENT_TIMELINE = "incident-timeline"
INCIDENT_RESULT = "incident-result"
DECLARE_FORM = "declare-form"
DECLARE_TITLE = "declare-title"
DECLARE_TYPE = "declare-type"
DECLARE_LEVEL = "declare-level"
DECLARE_COMMANDER = "declare-commander"
DECLARE_ALERTS = "declare-alerts"
DECLARE_LAT = "declare-lat"
DECLARE_LON = "declare-lon"
DECLARE_RADIUS = "declare-radius"
DECLARE_DESCRIPTION = "declare-description"
DECLARE_SUBMIT = "declare-submit"
DECLARE_RESULT = "declare-result"
DECLARE_PLACE_QUERY = "declare-place-query"  # the place's name, searched as typed
DECLARE_PLACE_RESULTS = "declare-place-results"  # the places found, one button each
DECLARE_PLACE_OPTION = "declare-place-option"  # {"type": ..., "index": n}: the n-th place found
DECLARE_PLACE_FOUND = "declare-place-found"  # store: the places found (what a button picks)
DECLARE_PLACE_NAME = "declare-place-name"  # store: the picked place's name, kind and position
DECLARE_PLACE_WORDS = "declare-place-words"  # the chosen place in words
DECLARE_PLACE_CLEAR = "declare-place-clear"
DECLARE_MAP = "declare-map"  # the form's map: a click there sets the place
DECLARE_MAP_CLICK = "declare-map-click"  # store: where the map was clicked (assets/place_pick.js)
DECLARE_COORDINATES = "declare-coordinates"  # the folded "Enter coordinates" for experts
PROPOSALS = "proposals"
PROPOSAL_ACCEPT = "proposal-accept"  # pattern-matching type: accept one proposal
PROPOSAL_DISMISS = "proposal-dismiss"  # pattern-matching type: dismiss one proposal
PROPOSAL_REASON = "proposal-reason"
PROPOSAL_RESULT = "proposal-result"
ALERT_DECLARE = "alert-declare"  # /alerts: "Declare an incident" from the alert's sheet
TASKS_LIST = "tasks-list"
TASKS_SHOWN = "tasks-shown"
TASKS_RESULT = "tasks-result"
TASK_ACT = "task-act"  # pattern-matching type: {"task": id, "action": take, finish, cannot}
TASK_REASON = "task-reason"  # pattern-matching type: {"task": id}, the "cannot do" reason
ALERT_PANEL_INCIDENTS = "alert-panel-incidents"
ALERT_PANEL_INCIDENTS_SHOWN = "alert-panel-incidents-shown"
WALL_INCIDENT_PIN = "wall-incident-pin"  # the incident the rotation pins: id, until (ms), label
WALL_INCIDENT_HEAD = "wall-incident-head"
WALL_INCIDENT_MAP = "wall-incident-map"
WALL_INCIDENT_LINKAGE = "wall-incident-linkage"

# Shifts and handover (issue 15): /shifts (layouts/shifts.py).
SHIFTS_TICK = "shifts-tick"
SHIFTS_CHANGED = "shifts-changed"  # moved by every change made on the page: redraw at once
SHIFTS_SHOWN = "shifts-shown"  # the signature the page was drawn for
SHIFTS_ON_DUTY = "shifts-on-duty"
SHIFTS_DUTY_ACTIONS = "shifts-duty-actions"
SHIFTS_DUTY = "shifts-duty"  # pattern-matching type: {"index": "on" | "off"}
SHIFTS_DUTY_RESULT = "shifts-duty-result"
SHIFTS_LOG_WINDOW = "shifts-log-window"
SHIFTS_LOG_NOTABLE_ONLY = "shifts-log-notable-only"
SHIFTS_LOG = "shifts-log"
SHIFTS_NOTE_TEXT = "shifts-note-text"
SHIFTS_NOTE_NOTABLE = "shifts-note-notable"
SHIFTS_NOTE_WRITE = "shifts-note-write"
SHIFTS_NOTE_RESULT = "shifts-note-result"
SHIFTS_PREVIEW = "shifts-preview"
SHIFTS_SHEET = "shifts-sheet"
SHIFTS_HANDOVER_NOTE = "shifts-handover-note"
SHIFTS_HANDOVER_WRITE = "shifts-handover-write"
SHIFTS_HANDOVER_RESULT = "shifts-handover-result"
SHIFTS_PENDING = "shifts-pending"
SHIFTS_ACK = "shifts-ack"  # pattern-matching type: {"index": handover id}, take over that sheet
SHIFTS_ACK_NOTE = "shifts-ack-note"
SHIFTS_ACK_FORM = "shifts-ack-form"  # the note for taking over, shown while a sheet waits
SHIFTS_ACK_RESULT = "shifts-ack-result"
SHIFTS_RECENT = "shifts-recent"
# After-action (issue 15): the incidents of a period on /official (layouts/official.py).
OFFICIAL_INCIDENTS = "official-incidents"
OFFICIAL_INCIDENTS_WINDOW = "official-incidents-window"

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

# Admin page, managing one user (layouts/admin_users.py, issue 19).
ADMIN_USER_PICK = "admin-user-pick"
ADMIN_USER_CONFIRMS = "admin-user-confirms"  # store: the confirmations' texts, "{user}" to fill
ADMIN_USER_ROLE = "admin-user-role"
ADMIN_USER_DOMAINS = "admin-user-domains"
ADMIN_USER_SAVE = "admin-user-save"
ADMIN_USER_ENABLE = "admin-user-enable"
ADMIN_USER_DISABLE = "admin-user-disable"  # a confirmation dialog around its button
ADMIN_USER_RESET = "admin-user-reset"  # a confirmation dialog around its button
ADMIN_USER_DELETE = "admin-user-delete"  # a confirmation dialog around its button
ADMIN_USER_RESULT = "admin-user-result"

# /alerts, acting explicitly (issue 18): take over, confirmed resolve, acknowledging several at once.
ALERT_TAKEOVER = "alert-takeover"  # "Take over", inside its confirmation dialog
ALERT_TAKEOVER_CONFIRM = "alert-takeover-confirm"
ALERT_RESOLVE_CONFIRM = "alert-resolve-confirm"  # the confirmation dialog around "Resolve"
ALERT_SELECT = "alert-select"  # pattern-matching type: a card's checkbox
ALERTS_BULK = "alerts-bulk"
ALERTS_SELECT_ALL = "alerts-select-all"
ALERTS_ACK_SELECTED = "alerts-ack-selected"
ALERTS_BULK_RESULT = "alerts-bulk-result"
ALERTS_TICKED = "alerts-ticked"  # the ticked alert ids, kept in the browser across list redraws

# The phone (issue 18/20): /alerts' map made on demand, the shell's menu and the filters' toggle.
ALERT_MAP_HOLDER = "alert-map-holder"
NAV_MENU = "nav-menu"  # the <details> holding the navigation on phone widths
ALERTS_FILTERS_TOGGLE = "alerts-filters-toggle"  # the <details> holding the filters on a phone

# Admin page, tokens (layouts/admin_tokens.py, issue 19); the listing keeps ADMIN_TOKENS.
ADMIN_TOKEN_NAME = "admin-token-name"
ADMIN_TOKEN_ROLE = "admin-token-role"
ADMIN_TOKEN_DAYS = "admin-token-days"
ADMIN_TOKEN_CREATE = "admin-token-create"
ADMIN_TOKEN_RESULT = "admin-token-result"
ADMIN_TOKEN_REVOKE = "admin-token-revoke"  # pattern-matching type of a confirmed revoke: {"type", "token"}
ADMIN_PAIR_CODE = "admin-pair-code"  # pairing a wall display: the code it shows
ADMIN_PAIR_NAME = "admin-pair-name"
ADMIN_PAIR_DAYS = "admin-pair-days"
ADMIN_PAIR = "admin-pair"

# Admin page, the audit log (layouts/admin_audit.py, issue 19); the table keeps ADMIN_AUDIT.
ADMIN_AUDIT_ACTOR = "admin-audit-actor"
ADMIN_AUDIT_TARGET = "admin-audit-target"  # what was acted on: its id (never shown) or a name
ADMIN_AUDIT_ACTION = "admin-audit-action"
ADMIN_AUDIT_WINDOW = "admin-audit-window"
ADMIN_AUDIT_OLDER = "admin-audit-older"
ADMIN_AUDIT_NEWEST = "admin-audit-newest"
ADMIN_AUDIT_PAGE = "admin-audit-page"  # where the next older page starts, and its number
ADMIN_AUDIT_PAGE_NO = "admin-audit-page-no"

# Admin page, the feeds and the rules and SOP files (layouts/admin_feeds.py, admin_files.py, issue 19).
ADMIN_FEEDS = "admin-feeds"  # the feeds' table with their health and dead letters
ADMIN_FEED_RESULT = "admin-feed-result"
ADMIN_FEEDS_RELOAD = "admin-feeds-reload"  # reads the feeds' health again
ADMIN_FEED_PAUSE = "admin-feed-pause"  # pattern-matching type of a confirmed pause: {"type", "feed"}
ADMIN_FEED_RESUME = "admin-feed-resume"  # pattern-matching type of a resume button: {"type", "feed"}
ADMIN_FEEDS_TICK = "admin-feeds-tick"  # the table's own timer (slower than the page tick)
ADMIN_FEEDS_SHOWN = "admin-feeds-shown"  # a digest of the table on screen: unchanged, not redrawn
ADMIN_FEED_LETTERS = "admin-feed-letters"  # pattern-matching type of a rejected rows' summary
ADMIN_FILES = "admin-files"  # the rules file and the SOP catalogue, as checked

# issue 19 (one truth): the overview's line of domain statuses, judged as /official judges them
OVERVIEW_STATUS = "overview-status"
