"""What a user or token name, password, role, domain list or language must be; AccountError says why not."""

from __future__ import annotations

import re
import secrets

from app import i18n
from app.model import roles
from app.model.domains import DOMAINS

NAME_MAX_LENGTH = 64
NAME_RE = re.compile(rf"^[a-z0-9][a-z0-9._-]{{0,{NAME_MAX_LENGTH - 1}}}$")


MIN_PASSWORD_LENGTH = 10


MAX_PASSWORD_LENGTH = 1024


class AccountError(ValueError):
    """A request about accounts or tokens that cannot be carried out; the message says why."""


def validate_name(name: object) -> str:
    """Normalize and check a user or token name (anything but a fitting string is refused)."""
    name = name.strip().lower() if isinstance(name, str) else ""
    if not NAME_RE.match(name):
        raise AccountError("a name is 1 to 64 characters: lowercase letters, digits, '.', '_' or '-', "
                           "starting with a letter or digit")
    return name


def validate_password(password: str) -> str:
    """Check a new password's type and length."""
    if not isinstance(password, str):
        raise AccountError("a password must be text")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise AccountError(f"a password may have at most {MAX_PASSWORD_LENGTH} characters")
    return password


def validate_role(role: str, allowed: tuple[str, ...] = roles.USER_ROLES) -> str:
    """Check a role name against ``allowed``."""
    if not isinstance(role, str) or role not in allowed:
        shown = role[:40] if isinstance(role, str) else type(role).__name__
        raise AccountError(f"unknown role '{shown}': choose one of {', '.join(allowed)}")
    return role


def validate_domains(domains: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """Check a list of domain names (for emergency staff)."""
    unknown = [d for d in domains if not isinstance(d, str) or d not in DOMAINS]
    if unknown:
        raise AccountError(f"unknown domain '{str(unknown[0])[:40]}': choose from "
                           f"{', '.join(DOMAINS)}")
    return tuple(dict.fromkeys(domains))


# Department ids are the SOP catalogue's (app/incidents/sop.py checks they exist there).
DEPARTMENT_RE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
MAX_DEPARTMENTS = 20


def validate_departments(departments: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """Check a list of department ids (their form; whether the catalogue knows them is the
    incident service's to say)."""
    bad = [d for d in departments if not isinstance(d, str) or not DEPARTMENT_RE.match(d)]
    if bad:
        raise AccountError(f"department '{str(bad[0])[:40]}': 1 to 40 lowercase letters, digits "
                           "or '_', starting with a letter")
    if len(departments) > MAX_DEPARTMENTS:
        raise AccountError(f"at most {MAX_DEPARTMENTS} departments")
    return tuple(dict.fromkeys(departments))


def generate_password() -> str:
    """A random password that is easy to type from a printout."""
    return secrets.token_urlsafe(15)


def validate_language(language: object) -> str:
    """A supported language code ("en", "zh"); anything else is refused with the choices."""
    chosen = i18n.normalize(language)
    if chosen is None or not isinstance(language, str) or len(language) > 16:
        raise AccountError(f"unknown language {str(language)[:16]!r}: choose from "
                           f"{', '.join(i18n.LANGUAGES)}")
    return chosen
