"""Who may do what to incidents and tasks: declare, change, act on a task, judge a proposal."""

from __future__ import annotations

from typing import Any, Iterable, Mapping

from app.model import roles
from app.model.principal import Principal

# Operators and admins declare incidents, judge proposals and change every incident.
DECLARERS = frozenset({roles.OPERATOR, roles.ADMIN})
# Who may act at all: besides operators and admins, emergency staff, who may command an incident
# or belong to a department that owns tasks. Officials and wall displays only read.
ACTORS = DECLARERS | {roles.EMERGENCY}
# Who may be named commander of an incident.
COMMANDER_ROLES = ACTORS
READERS = roles.API_READERS


def may_declare(principal: Principal | None) -> bool:
    """Operators and admins declare incidents (and accept or dismiss proposals)."""
    return principal is not None and principal.role in DECLARERS


def may_change(principal: Principal | None, incident: Mapping[str, Any]) -> bool:
    """The incident's commander, operators and admins change an incident (status, level,
    commander, area, public flag, links, steps) and reassign its tasks."""
    if principal is None or principal.role not in ACTORS:
        return False
    return principal.role in DECLARERS or principal.name == incident.get("commander")


def may_act_on_task(principal: Principal | None, task: Mapping[str, Any],
                    incident: Mapping[str, Any], departments: Iterable[str]) -> bool:
    """A user of the task's department, the incident's commander, operators and admins take,
    finish, report and annotate a task."""
    if may_change(principal, incident):
        return True
    return (principal is not None and principal.role in ACTORS
            and task.get("department") in set(departments))
