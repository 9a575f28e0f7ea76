"""Fit a borrowed code span to the passage it is shown in: its names become the passage's.

Code lines borrowed from another function use names the passage never defines
(``mailbox``, ``getopt_table``), so "the option whose names the passage uses" finds the
gold without reading the code. :func:`adopt_names` renames each such name of the borrowed
lines to a name of the passage's code, consistently (one name, one replacement), so the
wrong option is about the passage's variables and must be ruled out by what it does.

Only plain names change: not keywords, builtins, attribute names (after a ``.``), keyword
arguments, strings or comments, and not names the passage already uses.

>>> passage = "def area(width, height):\\n    total = width * height\\n    return total"
>>> adopt_names("    result = length + breadth\\n    return result", passage)
'    width = height + total\\n    return width'
"""

from __future__ import annotations

import builtins
import keyword
import re
from collections.abc import Sequence

from goose.text.code_fragment import code_tokens

_RESERVED = (
    frozenset(keyword.kwlist) | frozenset(keyword.softkwlist) | frozenset(dir(builtins)) | {"self", "cls"}
    | frozenset(  # C, C++, Java and JavaScript keywords and common type names
        "int char void long short float double unsigned signed const static struct return if else for while do "
        "switch case break continue sizeof typedef enum union extern new delete public private protected class "
        "this null NULL true false boolean bool String byte final try catch throw throws import package extends "
        "implements interface var let function goto default register volatile size_t auto include define "
        "std string vector printf malloc free strlen strcpy memcpy undefined typeof instanceof".split()
    )
)
_NAME = re.compile(r"[A-Za-z_]\w*\Z")


def code_names(text: str, python: bool = True) -> list[str]:
    """Plain names used in ``text`` (no keywords, builtins, attributes, names being defined by
    ``def`` or ``class``), first use first.

    >>> code_names("total = len(items) + self.count")
    ['total', 'items']
    """
    names: dict[str, None] = {}
    tokens = code_tokens(text, python)
    before, after = _neighbours(tokens)
    for index, (kind, value) in enumerate(tokens):
        if (kind == "name" and _plain(before[index], after[index]) and value not in _RESERVED
                and before[index] not in ("def", "class")):
            names.setdefault(value, None)
    return list(names)


def adopt_names(borrowed: str, passage: str, python: bool = True, *, own: Sequence[str] | None = None) -> str:
    """``borrowed`` with each name the passage does not use renamed to a passage name that
    ``borrowed`` does not use yet, in order of first use; unchanged when there is none.
    ``own`` is ``code_names(passage, python)`` when the caller has it already (one passage,
    many borrowed spans).

    >>> adopt_names("x = y", "a = 1")
    'a = y'
    """
    if own is None:
        own = code_names(passage, python)
    tokens = code_tokens(borrowed, python)
    before, after = _neighbours(tokens)
    plain = [kind == "name" and _plain(b, a) for (kind, _), b, a in zip(tokens, before, after)]
    used = {value for (_, value), p, b in zip(tokens, plain, before) if p and value not in _RESERVED
            and b not in ("def", "class")}
    own_set = set(own)
    spare = [name for name in own if name not in used]
    mapping: dict[str, str] = {}
    for index, (kind, value) in enumerate(tokens):
        if not plain[index] or value in _RESERVED or value in own_set or value in mapping:
            continue
        if spare:
            mapping[value] = spare.pop(0)
    if not mapping:
        return borrowed
    return "".join(mapping.get(value, value) if plain[index] else value for index, (_, value) in enumerate(tokens))


def _neighbours(tokens: list[tuple[str, str]]) -> tuple[list[str], list[str]]:
    """For every token, the nearest token before and after it that is not white space ("" at the ends)."""
    before, last = [], ""
    for kind, value in tokens:
        before.append(last)
        if kind != "space":
            last = value
    after, last = [""] * len(tokens), ""
    for index in range(len(tokens) - 1, -1, -1):
        after[index] = last
        if tokens[index][0] != "space":
            last = tokens[index][1]
    return before, after


def _plain(before: str, after: str) -> bool:
    """Whether a name between the non-space tokens ``before`` and ``after`` is a plain name:
    not after a ``.`` (an attribute) and not a keyword argument (``name=`` inside a call,
    followed by ``=`` but not ``==``)."""
    if before.endswith("."):
        return False
    return not (after == "=" and before in ("(", ","))
