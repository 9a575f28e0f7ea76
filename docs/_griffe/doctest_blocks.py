"""Griffe extension for the docs build: show docstring examples (``>>>`` blocks) as code.

goose docstrings hold plain doctest blocks, as ``--doctest-modules`` wants them, without a
Google-style ``Examples:`` header. Markdown would read ``>>>`` as nested quotes (and
``x["a"][0]`` as a link), so every block, from its first ``>>>`` line to the next blank
line, is wrapped in a ``pycon`` code fence before mkdocstrings renders it. Sphinx roles
(``:class:`goose.Task```) become code spans, and a ``::`` before an indented literal block
becomes ``:`` (the block itself is already code in Markdown).
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_DOCTEST_FLAG = re.compile(r"\s*#\s*doctest:.*$")
_ROLE = re.compile(r":(?:class|func|meth|mod|data|attr|exc|obj):`~?([^`<>]+)`")


def plain_roles(text: str) -> str:
    """``text`` with Sphinx cross-reference roles turned into code spans.

    >>> plain_roles("See :class:`~goose.task.Task` and :func:`score`.")
    'See `Task` and `score`.'
    """
    return _ROLE.sub(lambda m: f"`{m.group(1).rsplit('.', 1)[-1] if m.group(0).count('~') else m.group(1)}`", text)


def literal_markers(text: str) -> str:
    r"""``text`` with reStructuredText's ``::`` (an indented literal block follows) shown as ``:``.

    >>> literal_markers("In YAML::\n\n    seed: 0").splitlines()[0]
    'In YAML:'
    """
    lines = text.split("\n")
    for i, line in enumerate(lines):
        if line.rstrip().endswith("::") and not line.strip() == "::":
            following = next((later for later in lines[i + 1 :] if later.strip()), "")
            if len(following) - len(following.lstrip()) > len(line) - len(line.lstrip()):
                lines[i] = line.rstrip()[:-1]
    return "\n".join(lines)


def fence_doctests(text: str) -> str:
    r"""``text`` with each doctest block fenced as ``pycon`` code (``# doctest:`` flags dropped).

    >>> fence_doctests("Intro.\n\n>>> 1 + 1  # doctest: +SKIP\n2\n\nMore.").splitlines()
    ['Intro.', '', '```pycon', '>>> 1 + 1', '2', '```', '', 'More.']
    """
    out: list[str] = []
    in_fence = in_block = False
    indent = ""
    for line in text.split("\n"):
        stripped = line.lstrip()
        if not in_block and stripped.startswith("```"):
            in_fence = not in_fence
        if in_block and not stripped:
            out.append(f"{indent}```")
            in_block = False
        elif not in_block and not in_fence and stripped.startswith(">>>"):
            indent = line[: len(line) - len(stripped)]
            out.append(f"{indent}```pycon")
            in_block = True
        out.append(_DOCTEST_FLAG.sub("", line) if in_block and stripped.startswith((">>>", "...")) else line)
    if in_block:
        out.append(f"{indent}```")
    return "\n".join(out)


class DoctestBlocks(griffe.Extension):
    """Fence the doctest blocks and plain the roles of every loaded object's docstring."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = literal_markers(plain_roles(fence_doctests(obj.docstring.value)))
