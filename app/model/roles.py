"""Roles and what each may open: the single table behind navigation, the gate and every callback."""

from __future__ import annotations

from dataclasses import dataclass

ADMIN = "admin"
OPERATOR = "operator"
EMERGENCY = "emergency"
OFFICIAL = "official"
WALL = "wall"

USER_ROLES: tuple[str, ...] = (ADMIN, OPERATOR, EMERGENCY, OFFICIAL)
"""Roles a person's account may have."""

TOKEN_ROLES: tuple[str, ...] = USER_ROLES + (WALL,)
"""Roles an API or display token may have; ``wall`` may only view the wall page."""

EVERYONE: frozenset[str] = frozenset(USER_ROLES)


@dataclass(frozen=True)
class Page:
    """A page of the app: where it lives, its name in the navigation, and who may open it."""

    path: str
    title: str
    roles: frozenset[str]


PAGES: tuple[Page, ...] = (
    Page("/", "Overview", frozenset({ADMIN, OPERATOR, EMERGENCY, OFFICIAL})),
    Page("/transport", "Transport", frozenset({ADMIN, OPERATOR, EMERGENCY, OFFICIAL})),
    Page("/water", "Water", frozenset({ADMIN, OPERATOR, EMERGENCY, OFFICIAL})),
    Page("/medical", "Medical", frozenset({ADMIN, OPERATOR, EMERGENCY, OFFICIAL})),
    Page("/city", "City management", frozenset({ADMIN, OPERATOR, EMERGENCY, OFFICIAL})),
    Page("/wall", "Wall", frozenset({ADMIN, OPERATOR, OFFICIAL, WALL})),
    Page("/alerts", "Alerts", frozenset({ADMIN, OPERATOR, EMERGENCY, OFFICIAL})),
    # Incidents (issue 15): operators and admins run them, officials read, emergency staff read
    # and command the ones they are commander of; department staff work their tasks on /tasks.
    Page("/incidents", "Incidents", frozenset({ADMIN, OPERATOR, EMERGENCY, OFFICIAL})),
    Page("/tasks", "Tasks", frozenset({ADMIN, OPERATOR, EMERGENCY})),
    Page("/official", "City status", frozenset({ADMIN, OPERATOR, OFFICIAL})),
    # Shifts and handover (issue 15): operators and admins sign on and hand over, officials read.
    Page("/shifts", "Shifts", frozenset({ADMIN, OPERATOR, OFFICIAL})),
    Page("/admin", "Admin", frozenset({ADMIN})),
)

PAGE_BY_PATH: dict[str, Page] = {page.path: page for page in PAGES}

# Who may use the JSON API's read endpoints (wall tokens only see the wall page).
API_READERS: frozenset[str] = EVERYONE
# Who may change users, tokens and configuration.
ADMINS: frozenset[str] = frozenset({ADMIN})


def pages_for(role: str) -> list[Page]:
    """The pages ``role`` may open, in navigation order."""
    return [page for page in PAGES if role in page.roles]


def may_open(role: str, path: str) -> bool:
    """True when ``role`` may open the page at ``path`` (unknown paths: every signed-in person)."""
    page = PAGE_BY_PATH.get(path.rstrip("/") or "/")
    if page is None:
        return role in EVERYONE
    return role in page.roles


# Where a role lands after signing in when no other page was asked for (issue 20): emergency
# staff work their alerts and tasks from a phone, so the overview would be a detour.
LANDING: dict[str, str] = {EMERGENCY: "/alerts"}


def landing(role: str, asked: str = "/") -> str:
    """The page to open after sign-in: ``asked`` unless it is the default "/" and ``role`` has
    a page of its own."""
    return LANDING.get(role, asked) if asked == "/" else asked
