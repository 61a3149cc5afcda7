"""The page tick as one server callback sees it: held back while that callback's last answer is
still on its way.

Why: when a callback's input changes while its request is in flight, Dash drops the answer that
is on its way and asks again. A callback that takes longer than one tick to answer (a busy
server, a slow link, a dozen callbacks sharing the browser's six connections) then never lands an
answer at all: a wall under load kept showing whatever came first. Gated, each callback is asked
again only once its answer is back, so it updates as often as the server can answer. A request
that never comes back (on a network error Dash leaves its running flag set) is asked again after
``STALE_MS``: the link watch on the wall says the link is down meanwhile.

Use: ``trigger, running = pulse.gate(app, name)``; drive the callback by ``trigger`` instead of the
tick, pass ``running=running``, and put ``pulse.stores(name)`` in the layout beside its outputs.
"""

from __future__ import annotations

from typing import Any

import dash
from dash import Input, Output, State, dcc

from layouts import ids

STALE_MS = 10_000  # an answer not back by then is given up and asked for again


def stores(name: str, watch: str | None = None) -> list[dcc.Store]:
    """The gate's two stores: the pulse it fires and whether its callback is waiting for an
    answer. With ``watch`` (an element's id), no pulse fires while that element is not on screen
    (a wall view that is not shown asks the server nothing)."""
    return [dcc.Store(id=ids.pulse_part(name, ids.PULSE),
                      data={"n": 0, "at": 0, "stale": STALE_MS, "watch": watch}),
            dcc.Store(id=ids.pulse_part(name, ids.BUSY), data=False)]


def gate(app: dash.Dash, name: str,
         tick: str = ids.TICK) -> tuple[Input, list[tuple[Output, Any, Any]]]:
    """Register the gate ``name`` on the page tick (or on the dcc.Interval ``tick`` of a part that
    asks less often); returns the Input to drive the callback by and the ``running`` argument
    through which its callback tells the gate that it is waiting."""
    pulse_id, busy_id = ids.pulse_part(name, ids.PULSE), ids.pulse_part(name, ids.BUSY)
    app.clientside_callback(
        dash.ClientsideFunction(namespace="cityops", function_name="pulse"),
        Output(pulse_id, "data"), Input(tick, "n_intervals"), State(busy_id, "data"),
        State(pulse_id, "data"), prevent_initial_call=True)
    return Input(pulse_id, "data"), [(Output(busy_id, "data"), True, False)]
