"""Who may do what to alerts: operators and admins act on every alert, emergency staff on their domains."""

from __future__ import annotations

from typing import Any, Mapping

from app.model import roles
from app.model.principal import Principal

# Who acts on every alert; emergency staff act on the domains set on their user.
ACT_ON_ALL = frozenset({roles.OPERATOR, roles.ADMIN})
ACTORS = ACT_ON_ALL | {roles.EMERGENCY}
RAISERS = ACT_ON_ALL


# -- who may act ------------------------------------------------------------------------------------
def may_act(principal: Principal | None, alert: Mapping[str, Any]) -> bool:
    """Operators and admins act on every alert; emergency staff on their user's domains only."""
    if principal is None:
        return False
    if principal.role in ACT_ON_ALL:
        return True
    return principal.role == roles.EMERGENCY and alert.get("domain") in principal.domains
