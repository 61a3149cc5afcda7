"""Map hover labels in the reader's language (issue 19): published without words, worded per reader.

The runner builds a marker's label once for every web worker, before anyone's language is known,
so it publishes the label's words as catalogue keys: :func:`word` marks one (with its arguments:
feed text already escaped by ``hover_text``, or numbers) and :func:`term` marks an argument that is
itself a key (a severity, a default name), :func:`either` one with a text per language (an alert's
title). A web worker words a label with :func:`localize` when it draws it; the snapshot keeps
what it worded per language (``PointSet.hover_of``), so only drawn labels are worded (at most
``MAX_MARKERS`` a view), each once per published label set and language, not on every tick.

The marks are ASCII separators (0x1C-0x1F), which ``hover_text`` never lets through from a feed:
Python counts them as white space, and it folds white space into single spaces.
"""

from __future__ import annotations

import functools

from app import i18n

WORD = "\x1f"  # around a word: WORD key [ARG name=value]... WORD
ARG = "\x1e"
TERM = "\x1d"  # an argument's value that is a catalogue key, worded first
EITHER = "\x1c"  # an argument's value in English and in Chinese: EITHER english EITHER chinese


def word(key: str, **args: object) -> str:
    """A word (``map.hover.<key>``) with its arguments, to be worded in the reader's language."""
    return WORD + f"map.hover.{key}" + "".join(f"{ARG}{name}={value}" for name, value in args.items()) \
        + WORD


def term(key: str) -> str:
    """An argument that is a catalogue key (``severity.major``), worded before it is placed."""
    return TERM + key


def either(english: str, chinese: str) -> str:
    """An argument with a text per language (both already escaped)."""
    return f"{EITHER}{english}{EITHER}{chinese}"


def _argument(value: str, lang: str) -> str:
    if value.startswith(TERM):
        return i18n.t(value[1:], lang=lang)
    if value.startswith(EITHER):
        english, _, chinese = value[1:].partition(EITHER)
        return chinese if lang == i18n.ZH else english
    return value


# Big enough for every label of a 20,000-vehicle city in both languages: a new label set that
# repeats most labels (a vehicle added) words only the new ones.
@functools.lru_cache(maxsize=1 << 17)
def localize(text: str, lang: str) -> str:
    """``text`` with its words in ``lang`` (labels without marks are returned as they are)."""
    if WORD not in text:
        return text
    pieces = text.split(WORD)
    for n in range(1, len(pieces), 2):
        key, *args = pieces[n].split(ARG)
        named = dict(arg.split("=", 1) for arg in args)
        pieces[n] = i18n.t(key, lang=lang, **{k: _argument(v, lang) for k, v in named.items()})
    return "".join(pieces)

