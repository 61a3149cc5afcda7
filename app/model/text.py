"""Text hygiene: which characters a person's text may hold, and text made legal for XML.

One place for the rules that the API's input checks (app/web/api/schema.py) and every XML writer
(the CAP export, app/alerts/cap_export.py) share. Feed text is untrusted and people paste from
anywhere: control characters make XML ill-formed, lone surrogates cannot be stored as UTF-8,
bidirectional overrides make a title read differently from what it holds (the "Trojan Source"
trick), and a title of only invisible characters looks empty on every screen.
"""

from __future__ import annotations

import re
import unicodedata

# Characters XML 1.0 forbids (C0 controls but tab, newline and carriage return; lone surrogates;
# U+FFFE and U+FFFF), and the ones it allows but discourages (DEL and the C1 controls), which no
# reader expects in a headline either.
_XML_UNSAFE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
# Explicit embeddings, overrides and isolates (U+202A..U+202E, U+2066..U+2069): they reorder the
# text around them on screen.
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
_LINE_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_SURROGATE = re.compile("[\ud800-\udfff]")
_NONCHARACTER = re.compile("[\ufdd0-\ufdef\ufffe\uffff]")
# Letters that render as nothing (Hangul fillers, the braille blank, the Khmer inherent vowels).
_BLANK_LETTERS = frozenset("\u115f\u1160\u3164\uffa0\u2800\u17b4\u17b5")
# Categories that show nothing by themselves: controls, format characters, separators, marks
# (which only decorate a base character), private use and unassigned code points.
_INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Zs", "Zl", "Zp", "Mn", "Me", "Co", "Cn", "Cs"})


def xml_safe(text: object) -> str:
    """``text`` with every character XML 1.0 forbids or a reader would not expect (C0 and C1
    controls but tab, newline and carriage return; lone surrogates; U+FFFE, U+FFFF) dropped."""
    return _XML_UNSAFE.sub("", text if isinstance(text, str) else str(text))


def is_visible(char: str) -> bool:
    """True for a character that shows something on screen by itself."""
    return (unicodedata.category(char) not in _INVISIBLE_CATEGORIES
            and char not in _BLANK_LETTERS)


def has_visible_text(text: str) -> bool:
    """True when ``text`` shows at least one character (not only spaces, marks or format codes)."""
    return any(is_visible(char) for char in text)


def text_problem(text: str, multiline: bool = False) -> str | None:
    """Why ``text`` may not be stored as a person's text, or None when it may.

    Refused: control characters (tab, newline and carriage return are allowed in ``multiline``
    text), lone surrogates, noncharacters and bidirectional embeddings, overrides and isolates.
    """
    if _SURROGATE.search(text):
        return "holds a lone surrogate (not valid Unicode text)"
    found = (_LINE_CONTROL if multiline else _CONTROL).search(text)
    if found:
        return f"holds the control character U+{ord(found.group()):04X}"
    if _NONCHARACTER.search(text):
        return "holds a Unicode noncharacter"
    bidi = next((char for char in text if char in BIDI_CONTROLS), None)
    if bidi is not None:
        return f"holds the bidirectional control U+{ord(bidi):04X}, which reorders text on screen"
    return None
