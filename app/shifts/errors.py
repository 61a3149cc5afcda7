"""What can go wrong with a shift step, typed so that the API and pages answer each rightly."""

from __future__ import annotations


class ShiftError(Exception):
    """A step that cannot be done as asked (400, naming ``field`` when one is at fault)."""

    def __init__(self, message: str, field: str = "") -> None:
        super().__init__(message)
        self.field = field


class NotPermitted(ShiftError):
    """The person's role may not do this (403)."""


class NotOnDuty(ShiftError):
    """Only someone on duty may do this: sign on first (409)."""


class HandoverNotFound(ShiftError):
    """No handover sheet has that id (404)."""


class HandoverTaken(ShiftError):
    """The sheet was acknowledged already (409): who did it and when."""

    def __init__(self, by: str, at: float | None) -> None:
        super().__init__(f"already acknowledged by {by}")
        self.by = by
        self.at = at
