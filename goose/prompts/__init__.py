"""Versioned prompt files: one ``NAME.txt`` per prompt in this folder.

A prompt's version id is its name plus the first 10 hex digits of the SHA-256 of its text,
so any edit gives a new id, which goes into each task's lineage (``prompt_version``) and,
through the rendered messages, into the response-cache key. Templates use ``$field``
placeholders (:class:`string.Template`), so JSON braces in a prompt need no escaping.

>>> prompt = Prompt(name="demo", text="Passage:\\n$passage")
>>> prompt.render(passage="x = 1")
'Passage:\\nx = 1'
>>> prompt.version.startswith("demo@")
True
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cached_property
from importlib import resources
from string import Template


@dataclass(frozen=True)
class Prompt:
    """A named prompt template; :meth:`render` fills its ``$field`` placeholders."""

    name: str
    text: str

    @cached_property
    def version(self) -> str:
        """``name@sha256[:10]`` of the text: changes whenever the text changes."""
        return f"{self.name}@{hashlib.sha256(self.text.encode('utf-8')).hexdigest()[:10]}"

    def render(self, **fields: object) -> str:
        """The text with every placeholder filled; a missing field raises ``KeyError``."""
        return Template(self.text).substitute({key: str(value) for key, value in fields.items()})


def load_prompt(name: str) -> Prompt:
    """The packaged prompt ``goose/prompts/NAME.txt``.

    >>> load_prompt("no-such-prompt")
    Traceback (most recent call last):
    FileNotFoundError: no packaged prompt 'no-such-prompt'; the prompts are goose/prompts/*.txt
    """
    path = resources.files(__name__) / f"{name}.txt"
    if not path.is_file():
        raise FileNotFoundError(f"no packaged prompt {name!r}; the prompts are goose/prompts/*.txt")
    return Prompt(name=name, text=path.read_text(encoding="utf-8"))
