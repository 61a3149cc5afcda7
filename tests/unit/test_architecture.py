"""The walls of the house (docs/architecture.md), read from the code's own imports: a crossing fails.

Layers import downward only: the model at the bottom, then the store, the services, the
situation read models, the web and the pages, and the processes and tools on top. Adapters know
only the model; the pipeline knows no service; pages and the web reach Redis through services.
Imports inside functions count like any other.
"""

from __future__ import annotations

import ast
import re
from functools import cache
from pathlib import Path

import pytest

from tests.support.paths import REPO

PACKAGES = ("app", "layouts", "data_adapters")
# Rank of each part: a module may import parts of its own rank or below, never above.
RANKS: tuple[tuple[str, int], ...] = (
    ("app.model", 0), ("app.config", 0),
    ("app.store", 1), ("app.i18n", 1), ("data_adapters", 1),
    ("app.audit", 2), ("app.live", 2), ("app.accounts", 2), ("app.pipeline", 2),
    ("app.alerts", 3), ("app.kpis", 3),
    ("app.situation", 4), ("app.incidents", 4), ("app.outbound", 4),
    ("app.shifts", 4), ("app.retention", 4),
    ("app.public", 4),  # the public status page and its CAP feed (docs/public.md)
    ("app.web", 5), ("layouts", 5),
    ("app.ops", 6), ("app.bench", 6), ("app.soak", 6),
)
MAX_LINES = 600
LONG_ON_PURPOSE = re.compile(r"^# Long on purpose: \S", re.M)


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@cache
def modules() -> dict[str, Path]:
    """Every first-party module of the product (tests are not part of the house)."""
    return {_module_name(p): p for package in PACKAGES for p in (REPO / package).rglob("*.py")}


def imports_in(source: str, name: str, is_package: bool, known: set[str]) -> frozenset[str]:
    """The first-party modules the module ``name`` with this ``source`` imports, anywhere."""
    package = name if is_package else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            # `from app import store` imports the module app.store, not the package app.
            submodules = {f"{base}.{alias.name}" for alias in node.names} & known
            found.update(submodules or {base})
    return frozenset(m for m in found if m.split(".")[0] in PACKAGES)


@cache
def imports_of(name: str) -> frozenset[str]:
    """The first-party modules the product's module ``name`` imports."""
    path = modules()[name]
    return imports_in(path.read_text(encoding="utf-8"), name, path.name == "__init__.py",
                      set(modules()))


def rank(name: str) -> int:
    """The rank of the part a module belongs to (the longest matching prefix); the package app
    itself holds only its version. A part that is in no rank is an error: place it first."""
    if name in PACKAGES:
        return 0
    found = [r for prefix, r in sorted(RANKS, key=lambda row: -len(row[0]))
             if name == prefix or name.startswith(prefix + ".")]
    assert found, f"{name} belongs to no part of the house: give it a rank in RANKS"
    return found[0]


def crossings(source: str, forbidden: tuple[str, ...], allowed: tuple[str, ...] = ()) -> list[str]:
    """``module -> import`` for every module under ``source`` importing under ``forbidden``."""
    return sorted(f"{m} -> {i}" for m in modules() if m == source or m.startswith(source + ".")
                  for i in imports_of(m)
                  if i.startswith(forbidden) and not i.startswith(allowed))


def test_the_house_is_read() -> None:
    """The walls below see the real tree (a rename must not make them pass by seeing nothing)."""
    assert {"app.model.records", "app.store.entities", "app.pipeline.runner", "app.web.gate",
            "layouts.wall", "data_adapters.registry"} <= set(modules())
    assert "app.model.records" in imports_of("data_adapters.base")


def test_layers_import_downward_only() -> None:
    """No module imports a part above its own."""
    upward = sorted(f"{m} (rank {rank(m)}) -> {i} (rank {rank(i)})" for m in modules()
                    for i in imports_of(m) if rank(i) > rank(m))
    assert upward == []


def test_adapters_know_only_the_model() -> None:
    """data_adapters/ imports from app only app.model: a feed plugin carries no server code."""
    assert crossings("data_adapters", ("app.",), ("app.model",)) == []


def test_model_and_store_know_no_screen_and_no_feed() -> None:
    """The model and the store import nothing from the pages, the adapters or the web."""
    banned = ("layouts", "data_adapters", "app.web")
    assert crossings("app.model", banned + ("app.",), ("app.model",)) == []
    assert crossings("app.store", banned) == []


def test_pages_and_the_web_reach_redis_only_through_services() -> None:
    """layouts/ never import app.store; the web only to connect (its composition root)."""
    assert crossings("layouts", ("app.store",)) == []
    assert crossings("app.web", ("app.store",), ("app.store.link", "app.store.embedded")) == []
    connecting = {m for m in modules() if m.startswith("app.web")
                  for i in imports_of(m) if i.startswith("app.store")}
    assert connecting <= {"app.web.server"}


def test_the_web_knows_the_pages_only_where_it_registers_them() -> None:
    """Only app.web.server (create_app) imports layouts/; the gate, sign-in and API do not."""
    importers = {m for m in modules() if m.startswith("app.web") for i in imports_of(m)
                 if i.startswith("layouts")}
    assert importers <= {"app.web.server"}


def test_the_pipeline_knows_no_service() -> None:
    """Derived work (map, KPIs, rules) is plugged into the runner, not imported by it."""
    assert crossings("app.pipeline", ("app.alerts", "app.kpis", "app.situation", "app.live",
                                      "app.accounts", "app.web", "app.ops", "layouts")) == []


def test_only_the_store_names_a_key() -> None:
    """Redis key names ("co:...") are spelt in app/store only."""
    spelt = sorted(name for name, path in modules().items()
                   if not name.startswith("app.store") and re.search(r"[\"']co:", path.read_text()))
    assert spelt == []


def test_no_module_is_long_without_a_reason() -> None:
    """A module over MAX_LINES lines says at its top why it is one module."""
    long = sorted(f"{name} ({n} lines)" for name, path in modules().items()
                  if (n := len(path.read_text().splitlines())) > MAX_LINES
                  and not LONG_ON_PURPOSE.search(path.read_text()[:3000]))
    assert long == []


def test_every_module_says_what_it_holds() -> None:
    """Each module starts with a docstring whose first line says what it holds."""
    bare = sorted(name for name, path in modules().items()
                  if path.stat().st_size and not ast.get_docstring(ast.parse(path.read_text())))
    assert bare == []


@pytest.mark.parametrize(("module", "source", "crossing"), [
    ("layouts.probe", "from app import store\n", "app.store"),
    ("layouts.probe", "def f():\n    from app.store import entities\n", "app.store.entities"),
    ("data_adapters.probe", "import app.web.gate\n", "app.web.gate"),
    ("app.store.probe", "from ..web import gate\n", "app.web.gate"),
])
def test_a_crossing_is_seen(module: str, source: str, crossing: str) -> None:
    """The reading finds imports of every form (a lazy one inside a function, a relative one),
    and such an import ranks above its module: the walls can fail."""
    found = imports_in(source, module, False, set(modules()))
    assert crossing in found
    assert rank(crossing) > rank(module) or crossing.startswith("app.store")
