"""How the soak's figures, times and foreign text (logs, feed details) reach a terminal."""

from __future__ import annotations


def number(value: float | None, spec: str) -> str:
    """``value`` formatted by ``spec``, or "-" when there is none."""
    return "-" if value is None else format(value, spec)


def clock(seconds: float) -> str:
    """Seconds as minutes:seconds."""
    return f"{int(seconds // 60)}:{int(seconds % 60):02d}"


def printable(text: str) -> str:
    """Text from logs or feeds as a terminal may show it (control characters escaped)."""
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)
