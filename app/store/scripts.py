"""The store's Lua scripts: files in app/store/lua/, read once and sent with EVAL.

A script that shares helpers with others names them as preludes: their text goes in front of its
own, so every script Redis runs is one self-contained chunk (EVAL by text, not EVALSHA: a Redis
that restarted or a cluster node that never saw the script needs no second round trip).
"""

from __future__ import annotations

import functools
from importlib import resources


@functools.cache
def script(name: str, *preludes: str) -> str:
    """The text of ``lua/<name>.lua`` with the helper files ``preludes`` in front of it."""
    folder = resources.files("app.store").joinpath("lua")
    return "\n".join(folder.joinpath(f"{part}.lua").read_text(encoding="utf-8")
                     for part in (*preludes, name))
