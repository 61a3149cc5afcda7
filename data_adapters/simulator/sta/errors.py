"""StaError: a SensorThings request the service answers with an error document (400 or 404)."""

from __future__ import annotations


class StaError(Exception):
    """A request the service answers with an error document."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message

    def document(self) -> dict[str, object]:
        """The error body: ``{"code", "type": "error", "message"}``."""
        return {"code": self.status, "type": "error", "message": self.message}
