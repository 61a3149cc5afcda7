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


class NotAssignable(AlertError):
    """The user named may not be given this alert: ``user`` says who, ``why`` why not (one of
    app.alerts.policy's ASSIGNEE_* codes), ``role`` their role, ``domains`` the domains they act on
    and ``domain`` the alert's."""

    def __init__(self, user: str, why: str, *, role: str = "", domains: tuple[str, ...] = (),
                 domain: str = "") -> None:
        reasons = {
            "unknown": f"there is no user '{user}'",
            "disabled": f"'{user}' is disabled",
            "role": f"'{user}' may not be assigned alerts: the {role} role does not act on them",
            "domain": f"'{user}' may not be assigned this {domain} alert: they act on "
                      f"{', '.join(domains) or 'no'} alerts only",
        }
        super().__init__(reasons.get(why, f"'{user}' may not be assigned this alert"))
        self.user = user
        self.why = why
        self.role = role
        self.domains = domains
        self.domain = domain
