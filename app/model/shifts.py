"""The shift vocabulary: who may be on duty, what a shift log entry is, and the text limits."""

from __future__ import annotations

from app.model import roles

# Who signs on and off duty in the operations room (emergency staff work from their tasks).
DUTY_ROLES: frozenset[str] = frozenset({roles.OPERATOR, roles.ADMIN})
# Who may read the shift log and the handover sheets besides those on duty.
READ_ROLES: frozenset[str] = frozenset({roles.OPERATOR, roles.ADMIN, roles.OFFICIAL})
# Kinds of shift log entries: what a person wrote, and what the log records by itself.
LOG_KINDS: tuple[str, ...] = ("note", "sign_on", "sign_off", "handover", "handover_ack")
MAX_NOTE = 2000
HANDOVER_ID_PREFIX = "ho-"
# A handover sheet lists the notable log entries since the previous sheet, at most this far back.
NOTABLE_LOOKBACK_S = 24 * 3600
