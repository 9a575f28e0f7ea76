r"""The verifier: read the one option letter a completion commits to, and score it.

A completion scores 1.0 when :func:`extract_answer` finds exactly one committed option
letter and it equals the gold letter; otherwise it scores 0.0. The exact rule:

1. Think blocks. If the completion contains ``</think>``, only the text after the last
   ``</think>`` is read; otherwise (no tag, or an unclosed ``<think>``) all of it is.
2. Boxes win. Each ``\boxed{...}`` / ``\fbox{...}`` (braces nested up to two levels, as
   in ``\boxed{\text{C}}``) is read as a fragment (step 5). Boxes naming no letter
   (``\boxed{42}``, ``\boxed{}``) are ignored. If one of the rest hedges or two of them
   name different letters, there is no answer; if they all name one letter, that is
   the answer. If no box names a letter, go on.
3. Statements. With markdown ``*`` and backticks dropped, a statement is ``answer`` or
   ``answers`` followed by ``:``, ``=``, ``is``, ``are`` or ``would/should/must/will
   be``; ``correct/right/best/final/chosen/selected/my option|choice`` followed by the
   same; or ``I [will|would|'ll|'d] choose|pick|select|go with|opt for`` (keywords in
   any case). Its fragment is the rest of the line, or, when that is blank, the next
   non-empty line if that is only a letter (``C``, ``(C)``, ``[C]``, ``**C**``, ``C.``).
   ``C is|are [the] correct|right|best|answer`` (also ``option C``, ``(C)``, or a list
   like ``A or C``; not right after if/whether/unless) is a statement whose fragment
   is the letter(s). The last statement whose fragment names a letter or hedges
   (step 5) decides. A lowercase letter counts only as the whole fragment after
   ``answer:`` / ``answer is`` (``answer: c``, ``answer is (c).``). If no statement
   decides, go on.
4. Letter line. The last non-empty line (markdown, ``$``, ``_`` and ``\text{}``-style
   wrappers dropped) counts if it is: optional ``option``/``choice``, then ``C``,
   ``(C)`` or ``[C]``, then optionally one of ``.`` ``)`` ``:`` ``]``, then nothing or
   white space and option text; a bare ``C`` may also be followed by `` - `` and text.
   So ``C``, ``C.``, ``**C**``, ``C)``, ``C:``, ``C. The reaction is exothermic`` and
   ``(C) x = 4`` count, but ``A good idea is to ...`` (a letter, a space, a word) does
   not. The line must not hedge (step 5).
5. Fragments. Markdown (``*``, ``_``, backticks), ``$``, LaTeX commands (``\text{..}``
   keeps its content; ``\lor``/``\vee`` read as ``or``), braces and brackets are
   removed; then leading ``:``, ``=``, ``.``, ``,``, dashes and the words the, option,
   choice, letter, is, be, so, thus, therefore, hence, clearly, definitely are skipped.
   A fragment starting with either/both/neither hedges. Otherwise its answer is its
   leading letter: an uppercase ``A``-``Z`` touching no other letter or digit and not
   opening a word like ``X-ray`` or ``I'm``; ``A`` or ``I`` followed by a space and a
   lowercase word is the English word, unless that word is is, as, because, since,
   given, due, and, or, which or per. The fragment hedges if the letter is followed by
   ``or``, ``and``, ``and/or``, ``vs``, ``/``, ``&``, ``+`` or ``|`` and another letter
   (``A or C``, ``A/B``, ``A or maybe C``), by a comma list of letters (``A, C``,
   ``A, B, C``), or when the fragment is only letters (``A B C D``). Other text after
   the letter (``C. A larger value``) is ignored.
6. Everything else (empty text, reasoning with no commitment, ``\boxed{42}``, hedges,
   non-strings) has no answer and scores 0.0. Reading never raises.

>>> extract_answer("Option A fails, B is too big, so the answer is C.")
'C'
>>> extract_answer(r"<think>Maybe A?</think> \boxed{\text{B}}")
'B'
>>> extract_answer("It is A or C.") is None
True
>>> score("Final answer: **C**", "c")
1.0
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["extract_answer", "score", "trl_reward"]

_HEDGE = "hedge"
"""Internal marker: the text names more than one letter, so it commits to none."""

_FRAGMENT_CHARS = 200
"""Only the first this many characters of a fragment (a box, a statement's line) are read."""

_A_I_CONNECTORS = r"(?:is|as|because|since|given|due|and|or|which|per)"
_LETTER = (
    r"(?<![A-Za-z0-9])"
    rf"(?![AI]\s+(?!{_A_I_CONNECTORS}\b)[a-z])"
    r"[A-Z]"
    r"(?![A-Za-z0-9]|['’-][A-Za-z])"
)
"""One standalone uppercase option letter (not the article "A" or the pronoun "I")."""

_BOX = re.compile(r"\\(?:boxed|fbox)\s*\{((?:[^{}]|\{(?:[^{}]|\{[^{}]*\})*\})*)\}")
_THINK_END = "</think>"

_MARKDOWN = re.compile(r"[*`]+")
_LATEX_OR = re.compile(r"\\(?:lor|vee)(?![A-Za-z])")
_LATEX_AND = re.compile(r"\\(?:land|wedge)(?![A-Za-z])")
_LATEX_COMMAND = re.compile(r"\\[A-Za-z]+\s*|\\[,;:! ]")
_INLINE_JUNK = re.compile(r"[{}$*_`]")
_BRACKETS = re.compile(r"[()\[\]]")
_LEADING_FILLER = re.compile(
    r"(?:[\s:=.,\-–—]+|(?i:the|option|choice|letter|is|be|so|thus|therefore|hence|clearly"
    r"|definitely)\b)*"
)
_HEDGE_START = re.compile(r"(?i:either|both|neither)\b")
_LEAD_LETTER = re.compile(_LETTER)
_FILLER_WORDS = r"(?:(?i:or|and|maybe|possibly|perhaps|also|even|option|choice)\s+)*"
_HEDGE_JOINED = re.compile(
    rf"(?:\s*[/&+|]\s*|\s+(?i:and/or|or|and|vs\.?|versus)\s+){_FILLER_WORDS}{_LETTER}"
)
_HEDGE_COMMA = re.compile(
    rf"\s*,\s*{_FILLER_WORDS}{_LETTER}\s*(?:$|[,.;:!?/&+|]|(?i:or|and)\b)"
)
_HEDGE_LIST = re.compile(rf"(?:\s+{_LETTER})+\s*[.!]?\s*$")
_LOWERCASE_WHOLE = re.compile(r"\s*([a-z])\s*\.?\s*$")
_LOWERCASE_AFTER = re.compile(r"(?i:answer)[ \t]*(?::|is\b)")

_SEPARATOR = r"[ \t]*(?:(?::|=|\bis\b|\bare\b|\b(?:would|should|must|will)\s+be\b)[ \t]*){1,2}"
_ANSWER_STATEMENT = re.compile(rf"\b(?i:answers?){_SEPARATOR}")
_OPTION_STATEMENT = re.compile(
    rf"\b(?i:(?:correct|right|best|final|chosen|selected|my)\s+(?:option|choice)){_SEPARATOR}"
)
_CHOOSE_STATEMENT = re.compile(
    r"\bI(?:\s+(?i:will|would)|['’](?i:ll|d))?\s+(?i:choose|pick|select|go\s+with|opt\s+for)\b"
)
_LIST_JOIN = r"(?:\s*[,/&]\s*|\s+(?i:or|and)\s+)"
_VERDICT_STATEMENT = re.compile(
    rf"(?:(?i:option|choice)\s+)?[(\[]?"
    rf"({_LETTER}[)\]]?(?:{_LIST_JOIN}[(\[]?{_LETTER}[)\]]?){{0,25}})"
    r"[ \t]+(?i:is|are)[ \t]+(?:(?i:the)[ \t]+)?(?i:correct|right|best|answer)\b"
)
_CONDITIONAL = re.compile(r"\b(?i:if|whether|unless)\s+(?:(?i:option|choice)\s+)?[(\[]?$")
_LETTER_LINE = re.compile(
    r"(?i:(?:option|choice)\s+)?"
    rf"(?:\(\s*(?P<paren>{_LETTER})\s*\)|\[\s*(?P<square>{_LETTER})\s*\]"
    r"|(?P<bare>[A-Z])(?![A-Za-z0-9]))"
    r"(?P<rest>.*)$"
)
_BARE_LETTER_LINE = re.compile(r"\s*(?:\(\s*[A-Z]\s*\)|\[\s*[A-Z]\s*\]|[A-Z])[.):\]]?\s*")
_BRACKETED_REST = re.compile(r"[.):\]]?(?:\s+\S.*)?\s*$")
_BARE_REST = re.compile(r"(?:[.):\]](?:\s+\S.*)?|\s+[-–—]\s+\S.*)?\s*$")


def extract_answer(completion: str) -> str | None:
    r"""The one option letter ``completion`` commits to, or None (the rule is in the module doc).

    >>> extract_answer("Let me think. B looks wrong.\nAnswer: (D)")
    'D'
    >>> extract_answer(r"\boxed{A} or maybe \boxed{C}") is None
    True
    """
    if not isinstance(completion, str):
        return None
    text = _after_think(completion)
    for reader in (_boxed_answer, _statement_answer, _last_line_answer):
        found = reader(text)
        if found is not None:
            return None if found == _HEDGE else found
    return None


def score(completion: str, answer: str) -> float:
    """1.0 when :func:`extract_answer` of ``completion`` is the gold letter ``answer``, else 0.0.

    ``answer`` is one letter ``A``-``Z`` (case and surrounding white space ignored); any
    other gold answer raises ValueError. A non-string completion scores 0.0.

    >>> score(r"So the answer is \\boxed{B}", "B"), score("Answer: B", " b "), score("B or C", "B")
    (1.0, 1.0, 0.0)
    """
    gold = _gold_letter(answer)
    return 1.0 if extract_answer(completion) == gold else 0.0


def trl_reward(completions: list, answer: list, **kwargs: Any) -> list[float | None]:
    """TRL ``GRPOTrainer`` reward function: one :func:`score` per completion.

    Each completion is a string or a conversation (a list of ``{"role", "content"}``
    messages), in which case the last assistant message (else the last message) is read.
    ``answer`` is the dataset's gold letter column; other columns TRL passes are ignored.

    A row whose ``answer`` is not one option letter ``A``-``Z`` (a row of another data set
    mixed into the training set, which happens to have an ``answer`` column, or a missing
    value) gets ``None`` instead of a score: TRL reads ``None`` as "this reward function does
    not apply to this row" and leaves the row to the other reward functions. Raises
    ValueError only when the two lists differ in length.

    >>> trl_reward(["Answer: A", [{"role": "assistant", "content": "Answer: B"}]], ["A", "A"])
    [1.0, 0.0]
    >>> trl_reward(["Answer: A", "42"], ["A", "42"])  # the second row is not a goose task
    [1.0, None]
    """
    completions, answer = list(completions), list(answer)
    if len(completions) != len(answer):
        raise ValueError(
            f"trl_reward got {len(completions)} completions but {len(answer)} answers; "
            "pass one gold letter per completion"
        )
    return [
        None if _gold_or_none(gold) is None else score(_completion_text(c), gold)
        for c, gold in zip(completions, answer)
    ]


def _gold_or_none(answer: object) -> str | None:
    """The gold answer as one uppercase letter, or None when it is not an option letter."""
    cleaned = answer.strip().upper() if isinstance(answer, str) else ""
    return cleaned if len(cleaned) == 1 and "A" <= cleaned <= "Z" else None


def _gold_letter(answer: object) -> str:
    """The gold answer as one uppercase letter, or ValueError."""
    gold = _gold_or_none(answer)
    if gold is None:
        raise ValueError(
            f"gold answer {answer!r} is not an option letter; use one letter from A to Z"
        )
    return gold


def _completion_text(completion: Any) -> Any:
    """The text to score in a plain or conversational TRL completion (non-text passes through)."""
    if isinstance(completion, dict):
        return _content_text(completion.get("content"))
    if isinstance(completion, (list, tuple)):
        messages = [m for m in completion if isinstance(m, dict)]
        replies = [m for m in messages if m.get("role") == "assistant"] or messages
        return _content_text(replies[-1].get("content")) if replies else None
    return completion


def _content_text(content: Any) -> Any:
    """A message's content as text; a list of content parts is joined by their ``text``."""
    if isinstance(content, list):
        parts = [p.get("text") for p in content if isinstance(p, dict)]
        return "".join(p for p in parts if isinstance(p, str))
    return content


def _after_think(text: str) -> str:
    """The text after the last ``</think>``, or all of it when there is none."""
    cut = text.rfind(_THINK_END)
    return text if cut < 0 else text[cut + len(_THINK_END) :]


def _boxed_answer(text: str) -> str | None:
    """Step 2: the letter all letter-naming boxes agree on, ``_HEDGE``, or None."""
    named = {_read_fragment(m.group(1)) for m in _BOX.finditer(text)} - {None}
    if not named:
        return None
    return named.pop() if len(named) == 1 else _HEDGE


def _statement_answer(text: str) -> str | None:
    """Step 3: the answer of the last deciding statement, ``_HEDGE``, or None."""
    text = _MARKDOWN.sub("", text)
    for _, fragment, lowercase_ok in sorted(_statements(text), key=lambda s: s[0], reverse=True):
        found = _read_fragment(fragment)
        if found is None and lowercase_ok:
            found = _lowercase_letter(fragment)
        if found is not None:
            return found
    return None


def _statements(text: str) -> list[tuple[int, str, bool]]:
    """Every statement as (position, fragment, lowercase letter allowed)."""
    found = [
        (m.start(), m.group(1), False)
        for m in _VERDICT_STATEMENT.finditer(text)
        if not _CONDITIONAL.search(text[max(0, m.start(1) - 30) : m.start(1)])
    ]
    for pattern in (_ANSWER_STATEMENT, _OPTION_STATEMENT, _CHOOSE_STATEMENT):
        for m in pattern.finditer(text):
            lowercase_ok = _LOWERCASE_AFTER.match(m.group(0)) is not None
            found.append((m.start(), _fragment_after(text, m.end()), lowercase_ok))
    return found


def _fragment_after(text: str, end: int) -> str:
    """The rest of the line from ``end``; if blank, the next non-empty line when only a letter."""
    line_end = text.find("\n", end)
    stop = end + _FRAGMENT_CHARS if line_end < 0 else min(line_end, end + _FRAGMENT_CHARS)
    rest = text[end:stop]
    if rest.strip() or line_end < 0:
        return rest
    following = text[line_end : line_end + _FRAGMENT_CHARS].strip().split("\n", 1)[0]
    return following if _BARE_LETTER_LINE.fullmatch(_MARKDOWN.sub("", following)) else ""


def _last_line_answer(text: str) -> str | None:
    """Step 4: the letter of the last non-empty line when it is a letter line, else None."""
    lines = text.strip().splitlines()
    return _letter_line(lines[-1]) if lines else None


def _letter_line(line: str) -> str | None:
    """The letter of a letter line (step 4), ``_HEDGE``, or None."""
    cleaned = _strip_latex(_MARKDOWN.sub("", line)).replace("$", "").replace("_", "").strip()
    m = _LETTER_LINE.match(cleaned)
    if m is None:
        return None
    bare = m.group("bare")
    rest_ok = (_BARE_REST if bare else _BRACKETED_REST).fullmatch(m.group("rest"))
    if rest_ok is None:
        return None
    letter = bare or m.group("paren") or m.group("square")
    return _HEDGE if _read_fragment(cleaned) == _HEDGE else letter


def _strip_latex(text: str) -> str:
    """``text`` with LaTeX commands and braces removed (``\\text{C}`` -> ``C``)."""
    text = _LATEX_AND.sub(" and ", _LATEX_OR.sub(" or ", text))
    return _LATEX_COMMAND.sub("", text).replace("{", "").replace("}", "")


def _clean_fragment(fragment: str) -> str:
    """Step 5 clean-up: markdown, LaTeX, brackets and leading filler removed."""
    cleaned = _BRACKETS.sub(" ", _INLINE_JUNK.sub("", _strip_latex(fragment[:_FRAGMENT_CHARS])))
    return cleaned[_LEADING_FILLER.match(cleaned).end() :]


def _read_fragment(fragment: str) -> str | None:
    """Step 5: the fragment's letter, ``_HEDGE``, or None when it names no letter."""
    cleaned = _clean_fragment(fragment)
    if _HEDGE_START.match(cleaned):
        return _HEDGE
    lead = _LEAD_LETTER.match(cleaned)
    if lead is None:
        return None
    rest = cleaned[lead.end() :]
    if any(p.match(rest) for p in (_HEDGE_JOINED, _HEDGE_COMMA, _HEDGE_LIST)):
        return _HEDGE
    return lead.group(0)


def _lowercase_letter(fragment: str) -> str | None:
    """A lone lowercase letter that is the whole fragment (after ``answer:``), uppercased."""
    m = _LOWERCASE_WHOLE.match(_clean_fragment(fragment))
    return m.group(1).upper() if m else None

