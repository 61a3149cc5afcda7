"""What an incident, task or proposal operation can fail with: the typed errors callers catch."""

from __future__ import annotations


class IncidentError(Exception):
    """An operation that cannot be carried out; the message says why. ``field`` names the input
    at fault (the API answers 400 naming it), or is empty when no single input is."""

    def __init__(self, message: str, field: str = "") -> None:
        super().__init__(f"'{field}': {message}" if field else message)
        self.field = field


class IncidentNotFound(IncidentError):
    """No incident, task or proposal has that id."""


class Conflict(IncidentError):
    """Someone else changed it first: ``reason`` says how (a code screens translate), ``why`` in
    words, ``by`` and ``at`` who and when."""

    def __init__(self, reason: str, why: str, by: str, at: float | None) -> None:
        super().__init__(why)
        self.reason = reason
        self.why = why
        self.by = by
        self.at = at


class NotPermitted(IncidentError):
    """The principal may not do this to this incident or task (the message says who may)."""
