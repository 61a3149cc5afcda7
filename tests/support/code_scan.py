"""The scan for internal codes in what a person reads (issue 19): unit codes, state names, epoch
seconds, internal ids, update counters, doubled labels, raw feed fields.

`find_codes(text)` returns each hit as "<kind>: <the text around it>", so a failing test names what
leaked and where. Only visible text is scanned: `visible_text(html)` drops scripts, styles and tags.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

# kind -> the pattern that finds it in visible text.
PATTERNS: dict[str, re.Pattern[str]] = {
    # UCUM annotations: "({vehicle})", "{bed}", "12 {request}".
    "unit code": re.compile(r"\{[A-Za-z_][\w.]*\}"),
    # A state or field name as a word: "active_unack", "beds_occupied" (not file names, not URLs).
    "snake_case name": re.compile(r"(?<![\w./@:-])[a-z][a-z0-9]*(?:_[a-z0-9]+)+(?![\w./@-]|\.\w)"),
    # Epoch seconds: ten digits from 2001 on, bare or with thousands separators, maybe ".0".
    "epoch seconds": re.compile(r"(?<![\d.,])1\d{9}(?:\.\d+)?(?![\d,])"
                                r"|(?<![\d.,])1,\d{3},\d{3},\d{3}(?:\.\d+)?(?![\d,])"),
    # The system's own ids: alerts, incidents, tasks, proposals, receivers, handovers.
    "internal id": re.compile(r"(?<![\w-])(?:al|in|tk|pr|wh|ho)-[0-9a-f]{8,}(?![\w-])"),
    # A feed's entity id shown as a name: "demo:sensor:1", "fhir:hospital:h1".
    "entity id": re.compile(r"(?<![\w/])[a-z][a-z0-9_-]*:[a-z][a-z0-9_-]*:[\w.-]+"),
    # Internal counters.
    "counter": re.compile(r"\((?:update|version|rev) \d+\)|第 ?\d+ ?次更新", re.IGNORECASE),
    # The same label twice: "Illegal parking · Illegal parking".
    "doubled label": re.compile(r"(?<![^\s(\[>|])([^\s·|][^·|\n]{1,60}?) · \1(?=\s*(?:$|[·|\n),]))",
                                re.MULTILINE),
    # Raw SensorThings fields in the map's panel.
    "feed field": re.compile(r"\b(?:datastream|thing|observed property)[ _]id\b", re.IGNORECASE),
}


def find_codes(text: str) -> list[str]:
    """Every internal code in ``text``, as "<kind>: …context…"."""
    hits: list[str] = []
    for kind, pattern in PATTERNS.items():
        for match in pattern.finditer(text):
            start, end = max(0, match.start() - 40), min(len(text), match.end() + 40)
            context = text[start:end].replace("\n", " ⏎ ")
            hits.append(f"{kind}: {match.group(0)!r} in …{context}…")
    return hits


class _Text(HTMLParser):
    """The text a reader sees in an HTML document (no script, style or head metadata)."""

    SKIP = frozenset({"script", "style", "template", "noscript"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.SKIP:
            self.skipping += 1
        for name, value in attrs:
            if name in ("title", "alt", "aria-label") and value and not self.skipping:
                self.parts.append(value)

    def handle_endtag(self, tag: str) -> None:
        if tag in self.SKIP and self.skipping:
            self.skipping -= 1
        if tag in ("p", "div", "li", "tr", "td", "th", "h1", "h2", "h3", "h4", "dt", "dd", "br"):
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.parts.append(data)


def visible_text(document: str) -> str:
    """``document``'s visible text (and its titles and alternative texts), one block a line."""
    parser = _Text()
    parser.feed(document)
    parser.close()
    return re.sub(r"[ \t]+", " ", "".join(parser.parts))
