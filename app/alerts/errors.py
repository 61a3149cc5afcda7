"""What an alert operation can fail with: the typed errors callers catch."""

from __future__ import annotations


class AlertError(Exception):
    """An alert operation that cannot be carried out; the message says why."""


class AlertNotFound(AlertError):
    """No alert has that id."""


class Conflict(AlertError):
    """Someone else already did it: ``by`` and ``at`` say who and when."""

    def __init__(self, why: str, by: str, at: float | None) -> None:
        super().__init__(why)
        self.why = why
        self.by = by
        self.at = at


class NotPermitted(AlertError):
    """The principal may not act on alerts of this domain (``domain`` says which)."""

    def __init__(self, domain: str) -> None:
        super().__init__(f"your role may not act on alerts of the {domain} domain")
        self.domain = domain
