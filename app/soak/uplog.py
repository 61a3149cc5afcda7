"""What `cityops up` wrote to its log: the last lines, restarts, tracebacks and their exceptions."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Sequence

from app.soak.text import printable

# "module.Name: message" (or a bare name) ends a traceback; other threads' lines may come between.
_EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*(: |$)")


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None


def tail(path: Path, lines: int) -> list[str]:
    """The last ``lines`` lines of the log at ``path``, printable ([] when it cannot be read)."""
    text = _read(path)
    if text is None:
        return []
    return [printable(line) for line in text.splitlines()[-lines:]]


def exception_counts(lines: Sequence[str]) -> dict[str, int]:
    """How often each exception ended a traceback in a log (its last, unindented line)."""
    found: dict[str, int] = {}
    inside = False
    for line in lines:
        if line.startswith("Traceback"):
            inside = True
        elif inside and _EXCEPTION_LINE.match(line):
            found[printable(line[:160])] = found.get(printable(line[:160]), 0) + 1
            inside = False
    return found


def summary(path: Path) -> dict[str, Any]:
    """Lines, tracebacks, exceptions, restarts and the tail of the log at ``path`` ({} when it
    cannot be read), without the admin password a first run prints."""
    text = _read(path)
    if text is None:
        return {}
    lines = text.splitlines()
    lines = [line for i, line in enumerate(lines) if not (i and lines[i - 1].startswith("First run:"))]
    return {"lines": len(lines), "tracebacks": text.count("Traceback"),
            "exceptions": exception_counts(lines),
            "restarts": sum("exited with code" in line for line in lines),
            "tail": [printable(line) for line in lines[-15:]]}
