"""Who makes a request or a change: a person's account, an API or display token, or a command line."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Principal:
    """Who is making a request: a person's account or an API/display token."""

    name: str
    role: str
    kind: str = "user"  # "user" or "token"
    domains: tuple[str, ...] = field(default_factory=tuple)
    epoch: int = 0
    token_id: str = ""
    language: str = ""  # the person's chosen language ("" = not chosen: cookie or browser decide)

    @property
    def is_authenticated(self) -> bool:  # flask-login protocol
        return True

    @property
    def is_active(self) -> bool:  # flask-login protocol
        return True

    @property
    def is_anonymous(self) -> bool:  # flask-login protocol
        return False

    def get_id(self) -> str:
        """The session's id: a token's id, or a user's name and session epoch (so that a password
        change or a disabled account ends the sessions opened before)."""
        if self.kind == "token":
            return f"token:{self.token_id}"
        return f"{self.name}:{self.epoch}"

    def as_json(self) -> dict[str, object]:
        """What GET /api/v1/me answers."""
        return {"name": self.name, "role": self.role, "kind": self.kind,
                "domains": list(self.domains)}
