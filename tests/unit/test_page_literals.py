"""Every word a page shows comes from the catalogue (issue 18: every string translated): no
English literal is handed to a Dash component as its text, placeholder, title, option label or
aria-label in layouts/. The scan reads the source, so a new literal fails here before a Chinese
reader meets it."""

from __future__ import annotations

import ast
import re

from tests.support.paths import REPO

WORD = re.compile(r"[A-Za-z]{3,}")
SHOWN_KEYWORDS = frozenset({"children", "placeholder", "title", "label", "message"})
SHOWN_KEYS = frozenset({"label", "aria-label", "title", "placeholder"})
# Not words for a reader to translate: the brand, and examples of what to type.
ALLOWED = {
    ("components.py", "CityOps"),
    ("admin_tokens.py", "ABCD-EFGH"),  # the shape of a pairing code
    ("admin_webhooks.py", "https://duty.example.org/hooks/cityops"),  # an address to type
}


def _texts(node: ast.AST) -> list[str]:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.JoinedStr):
        return [part.value for part in node.values
                if isinstance(part, ast.Constant) and isinstance(part.value, str)]
    return []


def literals(source: str) -> list[tuple[int, str]]:
    """(line, text) of each English literal given to a component to show."""
    found: set[tuple[int, str]] = set()
    for node in ast.walk(ast.parse(source)):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and isinstance(node.func.value, ast.Name) and node.func.value.id in ("html", "dcc")):
            continue
        shown: list[ast.AST] = [*node.args[:1],
                                *(k.value for k in node.keywords if k.arg in SHOWN_KEYWORDS)]
        # Option labels and splatted attributes ({"aria-label": ...}) anywhere in its arguments.
        for argument in [*node.args, *(k.value for k in node.keywords)]:
            shown += [value for inner in ast.walk(argument) if isinstance(inner, ast.Dict)
                      for key, value in zip(inner.keys, inner.values, strict=True)
                      if isinstance(key, ast.Constant) and key.value in SHOWN_KEYS]
        found |= {(value.lineno, text) for value in shown for text in _texts(value)
                  if WORD.search(text)}
    return sorted(found)


def test_the_scan_finds_a_literal() -> None:
    source = ('html.P("That item is gone.")\nhtml.H3(f"{n} vehicles here")\n'
              'dcc.Checklist(options=[{"label": "Only problems", "value": 1}])\n'
              'html.Div(**{"aria-label": "Alerts"})\nhtml.P(t("map.gone"))\n')
    assert [line for line, _ in literals(source)] == [1, 2, 3, 4]


def test_pages_show_no_english_literal() -> None:
    found = [f"{path.name}:{line}: {text!r}"
             for path in sorted((REPO / "layouts").glob("*.py"))
             for line, text in literals(path.read_text(encoding="utf-8"))
             if (path.name, text) not in ALLOWED]
    assert not found, "put these words in app/i18n/catalog.py:\n" + "\n".join(found)
