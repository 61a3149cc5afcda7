"""The adapters' [[feeds]] keys as Markdown tables, rendered from their configuration schemas.

``python -m data_adapters.config_docs`` prints every adapter's table; ``--write`` puts them into
the adapters' README.md files, between the markers ``<!-- config-keys: <adapter> -->`` and
``<!-- /config-keys -->``; ``--check`` exits 1 when a README's table is not what the schema gives
(tests/unit/test_feed_schemas.py runs the same check).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any, Iterator

from pydantic_core import PydanticUndefined

from data_adapters.feed_settings import FeedSettings, default_of, expected_of
from data_adapters.registry import ADAPTERS, settings_model

HEADER = ("key", "type", "default", "meaning")
_START = "<!-- config-keys: {adapter} -->"
_END = "<!-- /config-keys -->"
_BLOCK = re.compile(r"<!-- config-keys: (?P<adapter>[a-z0-9_]+) -->\n(?P<table>.*?)<!-- /config-keys -->",
                    re.DOTALL)


def toml_literal(value: Any) -> str:
    """``value`` as it is written in a [[feeds]] table (the default column shows TOML)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))  # 60, as one writes it: TOML reads it back as the same number
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # a TOML basic string has JSON's escapes
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_literal(item) for item in value) + "]"
    if isinstance(value, dict):
        if not value:
            return "{}"
        pairs = ", ".join(f"{json.dumps(str(k))} = {toml_literal(v)}" for k, v in value.items())
        return "{ " + pairs + " }"
    raise TypeError(f"no TOML form for {type(value).__name__}")


def default_cell(model: type[FeedSettings], key: str) -> str:
    """The default column of ``key``: a TOML value in backticks, "required", "none", or prose."""
    field = model.model_fields[key]
    text = default_of(field)
    if text is not None:
        return text
    if field.is_required():
        return "required"
    default = field.get_default(call_default_factory=True)
    if default is None or default is PydanticUndefined:
        return "none"
    return f"`{toml_literal(default)}`"


def rows(model: type[FeedSettings]) -> list[tuple[str, str, str, str]]:
    """(key, type, default, meaning) of each field, in the model's order (common keys first)."""
    return [(f"`{key}`", expected_of(field), default_cell(model, key), field.description or "")
            for key, field in model.model_fields.items()]


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render(model: type[FeedSettings]) -> str:
    """The Markdown table of ``model``'s keys."""
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    lines += ["| " + " | ".join(_cell(cell) for cell in row) + " |" for row in rows(model)]
    return "\n".join(lines) + "\n"


def block(adapter: str) -> str:
    """The README block of ``adapter``: its table between the markers."""
    return f"{_START.format(adapter=adapter)}\n{render(settings_model(adapter))}{_END}"


def readme_of(adapter: str) -> Path:
    """The README.md of the folder that holds the adapter (data_adapters/<folder>/README.md)."""
    module = ADAPTERS[adapter].partition(":")[0]
    folder = module.split(".")[1]
    return Path(__file__).resolve().parent / folder / "README.md"


def blocks_in(text: str) -> Iterator[tuple[str, str]]:
    """(adapter, table text) of each marked block of a README."""
    for match in _BLOCK.finditer(text):
        yield match.group("adapter"), match.group("table")


def updated(text: str) -> str:
    """``text`` with every marked block re-rendered from its adapter's schema."""
    return _BLOCK.sub(lambda m: block(m.group("adapter")), text)


def stale() -> list[str]:
    """Problems of the READMEs: an adapter without a table, a table that is not the schema's."""
    problems = []
    for adapter in sorted(ADAPTERS):
        path = readme_of(adapter)
        text = path.read_text(encoding="utf-8")
        found = [table for name, table in blocks_in(text) if name == adapter]
        if len(found) != 1:
            problems.append(f"{path}: {len(found)} config-keys blocks for {adapter!r}, expected 1")
        elif found[0] != render(settings_model(adapter)):
            problems.append(f"{path}: the table of {adapter!r} is not the schema's")
    return problems


def main(argv: list[str] | None = None) -> int:
    """Print, write or check the tables; returns the exit code."""
    parser = argparse.ArgumentParser(prog="python -m data_adapters.config_docs",
                                     description="The adapters' [[feeds]] keys as Markdown tables.")
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--write", action="store_true", help="update the tables in the READMEs")
    action.add_argument("--check", action="store_true", help="exit 1 if a README table is stale")
    args = parser.parse_args(argv)
    if args.write:
        for path in sorted({readme_of(adapter) for adapter in ADAPTERS}):
            text = path.read_text(encoding="utf-8")
            new = updated(text)
            if new != text:
                path.write_text(new, encoding="utf-8")
                print(f"updated {path}")
        problems = stale()  # a README still without a block needs its markers placed by hand
    elif args.check:
        problems = stale()
    else:
        for adapter in sorted(ADAPTERS):
            print(f"### `{adapter}`\n\n{render(settings_model(adapter))}")
        return 0
    for problem in problems:
        print(problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
