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
The gates of a page are fired by one browser callback per timer (pattern-matched stores); a gate
that follows what changed (``stores(..., follow=...)``) fires only when that moved.
"""

from __future__ import annotations

import hashlib
from typing import Any, Mapping, Sequence

import dash
from dash import ALL, Input, Output, State, dcc

from layouts import ids

STALE_MS = 10_000  # an answer not back by then is given up and asked for again
FOLLOW_EVERY_S = 30.0  # a following gate fires at least this often, whatever moved
# What a gate may follow: the parts of app/web/live_versions.py's answer.
FOLLOWABLE = ("status", "shown", "kpis", "alerts", "incidents")


def stores(name: str, watch: str | None = None, tick: str = ids.TICK,
           follow: Sequence[str] = (), every_s: float = FOLLOW_EVERY_S,
           follow_on: Mapping[str, Sequence[str]] | None = None) -> list[dcc.Store]:
    """The gate's two stores: the pulse it fires and whether its callback is waiting for an
    answer. With ``watch`` (an element's id), no pulse fires while that element is not on screen
    (a wall view that is not shown asks the server nothing). ``tick``: the timer driving it.

    ``follow``: names of app/web/live_versions.py's answer (status, alerts, incidents). The gate
    then fires only when one of them moved since its last pulse, or ``every_s`` passed (a part
    judged by the clock, and a safety net): a page's parts ask the server when there is
    something new, not every second. The answer used is the one the browser fetched (outside
    Dash) a quarter of a second before the tick, so a following part is that much later than one
    asking every tick; the maps, whose glass-to-glass time is a target, do not follow.

    ``follow_on``: page path -> what the gate follows while that page is shown instead (the
    shell's strip follows less on the wall, where nothing else reads what it answers)."""
    on = {path: list(names) for path, names in (follow_on or {}).items()}
    unknown = set(follow).union(*on.values()) - set(FOLLOWABLE)
    if unknown:
        raise ValueError(f"a gate cannot follow {sorted(unknown)}")
    every = int(every_s * 1000)
    return [dcc.Store(id=ids.pulse_part(name, ids.PULSE, tick),
                      data={"n": 0, "at": 0, "stale": STALE_MS, "watch": watch,
                            "follow": list(follow), "follow_on": on, "every": every,
                            "offset": _offset(name, every)}),
            dcc.Store(id=ids.pulse_part(name, ids.BUSY, tick), data=False)]


def _offset(name: str, every_ms: int) -> int:
    """Where in its period a gate's safety net falls (whole seconds, the same for a gate on
    every page and worker): spread by name, so followers do not all fire in one tick."""
    seconds = max(every_ms // 1000, 1)
    return int(hashlib.blake2b(name.encode(), digest_size=4).hexdigest(), 16) % seconds * 1000


def gate(app: dash.Dash, name: str,
         tick: str = ids.TICK) -> tuple[Input, list[tuple[Output, Any, Any]]]:
    """Register the gate ``name`` on the page tick (or on the dcc.Interval ``tick`` of a part that
    asks less often); returns the Input to drive the callback by and the ``running`` argument
    through which its callback tells the gate that it is waiting."""
    _fire_all(app, tick)
    return (Input(ids.pulse_part(name, ids.PULSE, tick), "data"),
            [(Output(ids.pulse_part(name, ids.BUSY, tick), "data"), True, False)])


def _fire_all(app: dash.Dash, tick: str) -> None:
    """One browser callback per timer fires the pulse of every gate on the page (matched by
    pattern), registered once per app and timer. Why one: Dash's renderer runs every connected
    component's selector on each of a callback's steps, so a dozen gates on the wall, one callback
    each, cost it ~50 ms of main thread a second doing nothing."""
    registered = app.__dict__.setdefault("_cityops_pulse_ticks", set())
    if tick in registered:
        return
    registered.add(tick)
    pulse_all = {"type": f"tick-{ids.PULSE}", "tick": tick, "gate": ALL}
    busy_all = {"type": f"tick-{ids.BUSY}", "tick": tick, "gate": ALL}
    # The page's own tick is a store its script moves (layouts/components.py); a part's slower
    # timer is a dcc.Interval.
    app.clientside_callback(
        dash.ClientsideFunction(namespace="cityops", function_name="pulses"),
        Output(pulse_all, "data"), Input(tick, "data" if tick == ids.TICK else "n_intervals"),
        State(busy_all, "data"),
        State(pulse_all, "data"), prevent_initial_call=True)
