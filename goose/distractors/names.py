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
    for index, (kind, value) in enumerate(tokens):
        previous = next((v for k, v in reversed(tokens[:index]) if k != "space"), "")
        if kind == "name" and _plain(tokens, index) and value not in _RESERVED and previous not in ("def", "class"):
            names.setdefault(value, None)
    return list(names)


def adopt_names(borrowed: str, passage: str, python: bool = True) -> str:
    """``borrowed`` with each name the passage does not use renamed to a passage name that
    ``borrowed`` does not use yet, in order of first use; unchanged when there is none.

    >>> adopt_names("x = y", "a = 1")
    'a = y'
    """
    own = code_names(passage, python)
    tokens = code_tokens(borrowed, python)
    used = set(code_names(borrowed, python))
    spare = [name for name in own if name not in used]
    mapping: dict[str, str] = {}
    for index, (kind, value) in enumerate(tokens):
        if kind != "name" or value in _RESERVED or value in own or value in mapping or not _plain(tokens, index):
            continue
        if spare:
            mapping[value] = spare.pop(0)
    if not mapping:
        return borrowed
    return "".join(
        mapping.get(value, value) if kind == "name" and _plain(tokens, index) else value
        for index, (kind, value) in enumerate(tokens)
    )


def _plain(tokens: list[tuple[str, str]], index: int) -> bool:
    """Whether the name at ``index`` is a plain name: not after a ``.`` (an attribute) and not
    a keyword argument (``name=`` inside a call, followed by ``=`` but not ``==``)."""
    before = next((v for k, v in reversed(tokens[:index]) if k != "space"), "")
    after = next((v for k, v in tokens[index + 1 :] if k != "space"), "")
    if before.endswith("."):
        return False
    return not (after == "=" and before in ("(", ","))
