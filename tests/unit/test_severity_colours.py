"""One severity colour scheme: the stylesheet's --sev-* colours are the model's."""

from __future__ import annotations

import re
from pathlib import Path

from app.model.alerts import SEVERITIES, SEVERITY_COLOURS

ASSETS = Path(__file__).resolve().parents[2] / "assets"


def test_every_severity_has_one_colour_everywhere() -> None:
    """Each severity's CSS custom property equals SEVERITY_COLOURS, and no other stylesheet
    declares a severity colour of its own."""
    assert set(SEVERITY_COLOURS) == set(SEVERITIES)
    declared: dict[str, set[str]] = {}
    for sheet in ASSETS.rglob("*.css"):
        for name, value in re.findall(r"--sev-([a-z]+)\s*:\s*(#[0-9a-fA-F]{6})", sheet.read_text()):
            declared.setdefault(name, set()).add(value.upper())
    assert declared == {name: {colour} for name, colour in SEVERITY_COLOURS.items()}
