"""Code fragments as a span holds them: a few lines cut out of a function, parsed and tokenised.

A gold span of code is rarely a whole program: it may start inside a block (indented
deeper than the lines after it), begin with ``else:`` or end with ``if x:``.
:func:`parse_fragment` wraps such a fragment in just enough scaffolding (``if True:``
headers, a ``pass`` body) for :func:`ast.parse`, so that perturbations can be checked to
still parse and equivalence can compare syntax trees. :func:`code_tokens` is a small
language-agnostic tokenizer that keeps strings and comments whole, for edits that must
touch code tokens only (never a string or a comment) and for fragments that do not parse
(other languages, a span cut mid-expression).

>>> parse_fragment("        return 1\\n    return n * f(n - 1)") is not None
True
>>> [text for kind, text in code_tokens("x = 'a < b'  # c < d") if kind != "space"]
['x', '=', "'a < b'", '# c < d']
"""

from __future__ import annotations

import ast
import keyword
import re
from typing import Literal

TokenKind = Literal["comment", "string", "number", "name", "op", "space", "other"]

_STRING = (
    r"""(?P<string>(?:[rRbBuUfF]{1,2})?(?:\"\"\"[\s\S]*?\"\"\"|'''[\s\S]*?'''|"(?:\\.|[^"\\\n])*"|'(?:\\.|[^'\\\n])*'))"""
)
_REST = (
    r"|(?P<number>0[xXoObB][0-9a-fA-F_]+|(?:\d[\d_]*(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?[jJlLfFuU]?)"
    r"|(?P<name>[A-Za-z_]\w*)"
    r"|(?P<op>===|!==|\*\*=|//=|>>=|<<=|==|!=|<=|>=|->|=>|\*\*|//|<<|>>|&&|\|\||[-+*/%&|^@]=|:=|[-+*/%&|^<>=!~:.,;()\[\]{}@?])"
    r"|(?P<space>\s+)|(?P<other>.)"
)
_PYTHON_TOKEN = re.compile(r"(?P<comment>#[^\n]*)|" + _STRING + _REST)
_C_LIKE_TOKEN = re.compile(r"(?P<comment>//[^\n]*|/\*[\s\S]*?\*/|#[^\n]*)|" + _STRING + _REST)
_BLOCK_CONTINUATION = re.compile(r"^(?:else\s*:|elif\b|except\b|finally\s*:)")
_OPENS_BLOCK = re.compile(r":\s*(?:#.*)?$")
_BRACKETS = {"(": ")", "[": "]", "{": "}"}

PYTHON_KEYWORDS: frozenset[str] = frozenset(keyword.kwlist) | frozenset(keyword.softkwlist)
"""Python keywords (hard and soft): never renamed by a term swap."""


def code_tokens(text: str, python: bool = True) -> list[tuple[TokenKind, str]]:
    """``(kind, text)`` tokens of ``text``; their texts concatenate back to ``text``.

    ``python`` decides what ``//`` and ``#`` are: Python's floor division and comment, or a
    C-like line comment (``//``, ``/* */``) with ``#`` lines (preprocessor) as comments too.

    >>> [k for k, t in code_tokens("a // b", python=False) if k != "space"]
    ['name', 'comment']
    """
    pattern = _PYTHON_TOKEN if python else _C_LIKE_TOKEN
    return [(match.lastgroup, match.group()) for match in pattern.finditer(text)]  # type: ignore[misc]


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def scaffold(text: str) -> str:
    """``text`` dedented and wrapped so that a fragment of a block can parse on its own.

    >>> print(scaffold("        return 1\\n    x = 2\\nelse:"))
    if True:
        if True:
            return 1
        x = 2
    else:
        pass
    """
    lines = [line.expandtabs(4).rstrip() for line in text.strip("\n").split("\n")]
    body = [line for line in lines if line.strip()]
    if not body:
        return ""
    margin = min(_indent(line) for line in body)
    lines = [line[margin:] for line in lines]
    body = [line for line in lines if line.strip()]
    first = _indent(body[0])
    levels = sorted({_indent(line) for line in body if _indent(line) < first} | {0}) if first else []
    prefix = [" " * level + "if True:" for level in levels]
    head = body[0].lstrip()
    if _BLOCK_CONTINUATION.match(head):
        opener = "try:" if head.startswith(("except", "finally")) else "if True:"
        prefix += [" " * first + opener, " " * (first + 4) + "pass"]
    suffix = []
    if _OPENS_BLOCK.search(body[-1]) and not body[-1].lstrip().startswith("#"):
        suffix = [" " * (_indent(body[-1]) + 4) + "pass"]
    return "\n".join(prefix + lines + suffix)


def parse_fragment(text: str) -> ast.Module | None:
    """The syntax tree of a Python fragment (see :func:`scaffold`), or ``None`` when it does
    not parse (another language, a span cut mid-expression, prose).

    >>> parse_fragment("if n == 0:") is not None, parse_fragment("The end (of it.") is None
    (True, True)
    """
    source = scaffold(text)
    if not source:
        return None
    try:
        return parse_python(source)
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return None


_PARSE_TRIES = 3


def parse_python(source: str, mode: Literal["exec", "eval"] = "exec") -> ast.AST:
    """:func:`ast.parse`, retried when CPython 3.11 reports a false ``SystemError``.

    CPython 3.11 keeps the AST constructor's recursion counter per interpreter, not per
    thread, so ``ast.parse`` fails now and then with "AST constructor recursion depth
    mismatch" while another thread parses too (3.11's traceback formatting calls
    ``ast.parse``; python/cpython#106905). The source is fine, so a second try succeeds;
    other errors (``SyntaxError`` and so on) pass through unchanged.

    >>> type(parse_python("1 + 2", mode="eval")).__name__
    'Expression'
    """
    for _ in range(_PARSE_TRIES - 1):
        try:
            return ast.parse(source, mode=mode)
        except SystemError as error:
            if "recursion depth mismatch" not in str(error):
                raise
    return ast.parse(source, mode=mode)


def brackets_balance(text: str, python: bool = True) -> bool:
    """Whether the brackets of the code tokens (strings and comments aside) nest properly,
    allowing brackets left open at the end or closed that opened before the fragment.

    >>> brackets_balance("f(a[1)]"), brackets_balance("    x = (1,\\n")
    (False, True)
    """
    stack: list[str] = []
    for kind, token in code_tokens(text, python):
        if kind != "op":
            continue
        if token in _BRACKETS:
            stack.append(_BRACKETS[token])
        elif token in (")", "]", "}"):
            if stack and stack[-1] != token:
                return False
            if stack:
                stack.pop()
    return True


def bracket_signature(text: str, python: bool = True) -> str:
    """The code tokens' brackets and string/comment count, for comparing a fragment that does
    not parse with an edit of it: an edit of code tokens must leave this unchanged.

    >>> bracket_signature("f(x[0], 'a(')  # )")
    '([])s1c1'
    """
    brackets, strings, comments = [], 0, 0
    for kind, token in code_tokens(text, python):
        if kind == "op" and token in "()[]{}":
            brackets.append(token)
        strings += kind == "string"
        comments += kind == "comment"
    return f"{''.join(brackets)}s{strings}c{comments}"
