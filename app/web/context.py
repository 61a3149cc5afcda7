"""Per-request access to the installation's Redis client, settings and the signed-in principal."""

from __future__ import annotations

import functools
from typing import Any, Callable, Iterable, TypeVar

import redis
from flask import current_app, g, request
from werkzeug.exceptions import Forbidden

from app import audit
from app.config import Settings
from app.model.principal import Principal

EXTENSION = "cityops"
F = TypeVar("F", bound=Callable[..., Any])


def redis_client() -> redis.Redis:
    """The web process's Redis client."""
    return current_app.extensions[EXTENSION]["redis"]


def settings() -> Settings:
    """The web process's settings."""
    return current_app.extensions[EXTENSION]["settings"]


def current_principal() -> Principal | None:
    """Who makes the current request, as established by the gate (None when anonymous)."""
    return g.get("principal")


def client_addr() -> str:
    """The address the current request came from, for throttling and the audit log."""
    return request.remote_addr or "unknown"


def _audit_refusal(principal: Principal | None, what: str) -> None:
    """Note a role refusal in the audit log (quietly: the 403 is the answer either way)."""
    role = principal.role if principal is not None else "none"
    audit.record_quietly(redis_client(), principal.name if principal else "anonymous", "refused",
                         target=f"{request.method} {request.path[:200]}", addr=client_addr(),
                         outcome="denied", detail=f"{what} refused to role {role}")


def require_roles(allowed: Iterable[str]) -> Callable[[F], F]:
    """Refuse (403) a callback or view unless the principal's role is in ``allowed``.

    Applied to every Dash callback, so a crafted POST to /_dash-update-component meets the same
    check as the button that normally sends it. Every refusal is audited (who, what, from where).
    """
    allowed_roles = frozenset(allowed)

    def decorate(func: F) -> F:
        what = f"{func.__module__}.{func.__qualname__}"

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            principal = current_principal()
            if principal is None or principal.role not in allowed_roles:
                _audit_refusal(principal, what)
                raise Forbidden("your role may not do this")
            return func(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate
