"""Every chart follows the page's language: each dcc.Graph takes its config from one helper.

Plotly's own words (month and day names, dates on the axes and in hovers) come from the graph's
``locale`` (layouts.components.graph_config); a Graph built with a config of its own would draw
English dates on a Chinese page. The Chinese locale itself is assets/plotly-locale.js.
"""

from __future__ import annotations

import ast
import re

from app import i18n
from layouts.components import graph_config
from tests.support.paths import REPO


def _graph_calls() -> list[tuple[str, ast.Call]]:
    found = []
    for path in sorted((REPO / "layouts").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr == "Graph"):
                found.append((f"{path.name}:{node.lineno}", node))
    return found


def test_every_graph_takes_its_config_from_graph_config() -> None:
    """No dcc.Graph in layouts/ without config=graph_config(...)."""
    calls = _graph_calls()
    assert len(calls) >= 5  # the trend charts and the maps
    for where, call in calls:
        config = next((k.value for k in call.keywords if k.arg == "config"), None)
        assert (isinstance(config, ast.Call) and isinstance(config.func, ast.Name)
                and config.func.id == "graph_config"), where


def test_graph_config_follows_the_reader_language() -> None:
    """English pages get plotly's English; Chinese pages the locale assets/plotly-locale.js names."""
    with i18n.use_language(i18n.EN):
        assert graph_config(scrollZoom=True) == {"displaylogo": False, "scrollZoom": True,
                                                 "locale": "en"}
    with i18n.use_language(i18n.ZH):
        locale = graph_config()["locale"]
    script = (REPO / "assets" / "plotly-locale.js").read_text(encoding="utf-8")
    assert re.search(rf'name:\s*"{re.escape(locale)}"', script)
    assert '"%-m月%-d日"' in script  # dates read the Chinese way
