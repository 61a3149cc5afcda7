"""Who may do what to alerts: operators and admins act on every alert, emergency staff on their domains.

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
