"""The /alerts sheet's action callback as tests press it: its inputs in the callback's order.

Resolve and Take over sit inside confirmation dialogs, so the callback hears their
``submit_n_clicks`` (a confirmed press); the other buttons' ``n_clicks``.
"""

from __future__ import annotations

# (component id, property) of each input of layouts.alerts.act, in order.
SHEET_INPUTS: tuple[tuple[str, str], ...] = (
    ("alert-ack", "n_clicks"), ("alert-claim", "n_clicks"), ("alert-add-note", "n_clicks"),
    ("alert-resolve-confirm", "submit_n_clicks"), ("alert-assign", "n_clicks"),
    ("alert-takeover-confirm", "submit_n_clicks"))
# What tests name a press by -> the input it is (a confirmed dialog for resolve and take over).
PRESSED: dict[str, str] = {"alert-resolve": "alert-resolve-confirm",
                           "alert-takeover": "alert-takeover-confirm"}


def sheet_inputs(button: str) -> tuple[list[tuple[str, str, int | None]], str]:
    """The inputs with ``button`` pressed once, and the changed property's id ("id.prop")."""
    pressed = PRESSED.get(button, button)
    inputs = [(cid, prop, 1 if cid == pressed else None) for cid, prop in SHEET_INPUTS]
    changed = next(f"{cid}.{prop}" for cid, prop in SHEET_INPUTS if cid == pressed)
    return inputs, changed
