"""Who may do what to alerts: operators and admins act on every alert, emergency staff on their domains.

Whom an alert may be assigned to follows the same rule (issue 19): an enabled user who could act
on it themselves (``assignee_refusal``), so the desk never hands work to someone who cannot do it.

The one place that says what a user's domains mean (docs/security.md, "Emergency staff and their
domains"): an emergency user acts on the domains stored on the account, and an account with no
domains stored acts on every domain, as the CLI (`--domains`: "default all"), the admin page
("all") and GET /api/v1/me (the whole list) show it. Code that needs the domains someone acts on
asks ``acting_domains``; nothing else reads ``Principal.domains`` to decide.
"""

from __future__ import annotations

from typing import Any, Mapping

from app.model import roles
from app.model.domains import DOMAINS
from app.model.principal import Principal

# Who acts on every alert; emergency staff act on the domains set on their user.
ACT_ON_ALL = frozenset({roles.OPERATOR, roles.ADMIN})
ACTORS = ACT_ON_ALL | {roles.EMERGENCY}
RAISERS = ACT_ON_ALL


# -- who may act ------------------------------------------------------------------------------------
def acting_domains(principal: Principal | None) -> tuple[str, ...]:
    """The domains whose alerts ``principal`` may act on (none for roles that only read).

    Emergency staff: the domains stored on their account, or every domain when none is stored.
    """
    if principal is None or principal.role not in ACTORS:
        return ()
    if principal.role in ACT_ON_ALL:
        return DOMAINS
    if not principal.domains:
        return DOMAINS
    # Stored names that are no longer domains give nothing (never every domain).
    return tuple(d for d in principal.domains if d in DOMAINS)


def may_act(principal: Principal | None, alert: Mapping[str, Any]) -> bool:
    """Operators and admins act on every alert; emergency staff on their domains (all when their
    account names none)."""
    return alert.get("domain") in acting_domains(principal)


# Why someone may not act on an alert (the card says it in the reader's language).
REFUSED_ROLE = "role"  # the role reads alerts only (officials, wall tokens)
REFUSED_DOMAIN = "domain"  # emergency staff, an alert outside the domains set on their account


def refusal(principal: Principal | None, alert: Mapping[str, Any]) -> str | None:
    """None when ``principal`` may act on ``alert``, else why not: REFUSED_ROLE or REFUSED_DOMAIN."""
    if may_act(principal, alert):
        return None
    if principal is None or principal.role not in ACTORS:
        return REFUSED_ROLE
    return REFUSED_DOMAIN


# Why a user may not be given an alert (the page says it in the reader's language; the API
# answers 400 naming `user`): no such user, a disabled account, a role that only reads, or an
# alert outside the domains set on the account.
ASSIGNEE_UNKNOWN = "unknown"
ASSIGNEE_DISABLED = "disabled"


def user_principal(user: Mapping[str, Any]) -> Principal:
    """The principal a stored user's public fields (app.accounts.admin.get_user) would act as."""
    domains = tuple(d for d in str(user.get("domains") or "").split(",") if d)
    return Principal(name=str(user.get("name") or ""), role=str(user.get("role") or ""),
                     domains=domains)


def assignee_refusal(user: Mapping[str, Any] | None, alert: Mapping[str, Any]) -> str | None:
    """None when ``user`` (public fields of a stored user, None for no such user) may be given
    ``alert``, else why not: ASSIGNEE_UNKNOWN, ASSIGNEE_DISABLED, REFUSED_ROLE or REFUSED_DOMAIN.

    The same rule as acting: an enabled user whose role acts on alerts and whose domains hold the
    alert's (no domains stored: every domain)."""
    if user is None:
        return ASSIGNEE_UNKNOWN
    if user.get("disabled") == "1":
        return ASSIGNEE_DISABLED
    return refusal(user_principal(user), alert)
