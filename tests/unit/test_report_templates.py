"""The situation report's Jinja2 templates: autoescaping on, feed text written as escape_feed writes it."""

from __future__ import annotations

import re
import tomllib
from typing import Any

import jinja2
import pytest

from app.situation import report
from app.situation.report import render
from tests.support.paths import REPO

NOW = 1_700_000_000.0
TZ = "Asia/Shanghai"
SCRIPT = '<script>alert("report")</script>'
ESCAPED_SCRIPT = "&lt;script&gt;alert(&quot;report&quot;)&lt;/script&gt;"
HOSTILE = "<img src=x onerror=alert(1)>`${alert(2)}`\\'\"&"


def situation(title: str = SCRIPT, reason: str = "on target", **alert: Any) -> report.Situation:
    """A situation with one open alert (no place, so it is only in the table) and one reason."""
    statuses = tuple(report.DomainStatus(d, report.GREEN if d == "water" else report.GREY,
                                         (reason,), NOW)
                     for d in ("transport", "water", "medical", "city"))
    row = {"id": "a1", "state": "active_unack", "severity": "major", "domain": "water",
           "title": title, "count": 1, "first_seen": NOW, "last_seen": NOW, **alert}
    return report.Situation(NOW, TZ, statuses, (), (row,))


def test_feed_markup_in_an_alert_title_is_escaped() -> None:
    """A <script> in an alert title reaches the document as text, never as a tag."""
    document = report.render_report(situation(), report.MapLayers())
    assert f"<td>{ESCAPED_SCRIPT}</td>" in document
    assert "alert(\"report\")</script>" not in document and "<script>alert(" not in document


def test_without_autoescaping_the_feed_text_would_be_raw(monkeypatch: pytest.MonkeyPatch) -> None:
    """The escaping above is the templates' autoescaping: switched off, the markup gets through."""
    unsafe = jinja2.Environment(loader=jinja2.PackageLoader("app.situation.report", "templates"),
                                autoescape=False, undefined=jinja2.StrictUndefined,
                                finalize=render._finalize, trim_blocks=True, lstrip_blocks=True)
    monkeypatch.setattr(render, "environment", lambda: unsafe)
    document = report.render_report(situation(), report.MapLayers())
    assert f"<td>{SCRIPT}</td>" in document and ESCAPED_SCRIPT not in document


def test_templates_write_text_as_escape_feed_does() -> None:
    """Quotes, backticks, $ and backslashes become entities in every cell, as escape_feed has them."""
    doc = report.render_report(situation(title=HOSTILE, reason=HOSTILE, acked_by=HOSTILE,
                                         assignee=HOSTILE), report.MapLayers())
    escaped = report.escape_feed(HOSTILE)
    assert escaped.endswith("&#96;&#92;&#x27;&quot;&amp;")
    # The alert's title, acknowledged by and assignee, and each of the four domains' reason.
    assert doc.count(f"<td>{escaped}</td>") == 3 + 4
    assert "<img src=x" not in doc and "${alert(2)}" not in doc


def test_several_reasons_are_separated_by_line_breaks() -> None:
    """A domain's reasons are one cell, a <br> between them (the only markup among them)."""
    statuses = (report.DomainStatus("water", report.RED, ("feed <down>", "Min pressure"), None),)
    doc = report.render_report(report.Situation(NOW, TZ, statuses, (), ()), report.MapLayers())
    assert "<td>feed &lt;down&gt;<br>Min pressure</td>" in doc


def test_environment_escapes_html_and_refuses_undefined_names() -> None:
    """.html templates autoescape; a name the template uses but is not given is an error."""
    env = render.environment()
    assert env.autoescape("report.html") is True  # type: ignore[operator]
    assert env.autoescape("report.css") is False  # type: ignore[operator]
    with pytest.raises(jinja2.UndefinedError):
        env.get_template("report.html").render()
    assert env.from_string("{{ x }}").render(x=None) == ""


def test_the_document_keeps_its_sections_style_and_language() -> None:
    """One head, one body; status, map, KPIs, alerts in that order; the report's style last in
    the head; the empty tables say so."""
    document = report.render_report(report.Situation(NOW, TZ, (), (), ()), report.MapLayers())
    assert document.startswith("<!DOCTYPE html>\n<html lang='en'>\n<head>\n<meta charset='utf-8'>")
    for tag in ("<head>", "</head>", "<body>", "</body>", "<title>"):
        assert document.count(tag) == 1, tag
    order = [document.index(f"<section id='{name}'>") for name in ("status", "report-map", "kpis",
                                                                   "alerts")]
    assert order == sorted(order)
    head = document[:document.index("</head>")]
    assert head.rindex("<style>") > head.index("#map {")  # after folium's full-window style
    assert "table.popup th { text-align: left;" in head[head.rindex("<style>"):]
    assert re.search(r"<td colspan='6' class='note'>[^<]+</td>", document)
    assert re.search(r"<td colspan='10' class='note'>[^<]+</td>", document)
    assert "<div class=\"folium-map\"" in document[document.index("<section id='report-map'>"):
                                                   document.index("<section id='kpis'>")]


def test_the_templates_are_package_data() -> None:
    """`pip install .` ships every file of templates/ (pyproject's setuptools package-data)."""
    config = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = config["tool"]["setuptools"]["package-data"].get("app.situation.report", [])
    folder = REPO / "app" / "situation" / "report"
    files = [p.relative_to(folder) for p in (folder / "templates").rglob("*") if p.is_file()]
    assert files
    unmatched = [str(f) for f in files if not any(f.match(pattern) for pattern in patterns)]
    assert unmatched == [], "add them to [tool.setuptools.package-data] in pyproject.toml"
