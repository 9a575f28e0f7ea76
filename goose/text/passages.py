"""Window long documents into passages: runs of whole paragraphs of a target size, boilerplate
left out, the windows richest in reasoning first.

The paper's extractor turns a web document into one educational passage of about 100-600
words. Offline, goose does the same by cutting, never rewriting: the document is split into
blocks (paragraphs at blank lines, heading lines on their own, an over-long paragraph into
pieces at sentence or line ends); blocks that :mod:`goose.text.hygiene` calls boilerplate
(link lists, citations, licence text, navigation, doctest output) and whole boilerplate
sections (from a "References" or "See also" heading to the next heading) are left out and
break windows apart, so a passage never holds them. Every run of consecutive kept blocks of
``min_words`` to ``max_words`` words (ending on a paragraph, not a heading) is a candidate
window, scored by its reasoning (:func:`goose.text.segment.reasoning_score` of its
sentences and code lines) per ``max(words, target_words)`` word: windows grow to about
``target_words`` and beyond it only denser ones win. Up to ``max_passages`` non-overlapping
windows are chosen, best first (a later one must score at least ``min_relative_score`` of
the best), and returned in document order with their character offsets.

A document of at most ``max_words`` words with no boilerplate block is one passage, whole
and unchanged. The work is a few regular expressions per paragraph: linear in the document,
about a millisecond for a typical web page.

>>> text = "Intro\\n\\n" + "Since x = 2, we get y = 4. " * 30 + "\\n\\nReferences\\n\\n[1] Smith, J. (2001). A book."
>>> split = split_document(text, min_words=20, target_words=100, max_words=200)
>>> [(p.start, p.words) for p in split.passages], split.excluded
([(0, 136), (412, 135)], {'boilerplate_section': 2})
>>> any("Smith" in text[p.start : p.end] for p in split.passages)
False
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

from goose.text.hygiene import is_boilerplate_heading, is_heading, junk_reason
from goose.text.segment import reasoning_score

BlockKind = Literal["paragraph", "heading"]

_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n\s*")
# A sentence ends at . ! ? (and closing quotes or brackets) before white space and an upper-case
# letter, digit, quote or bracket; "3! ways" and "e.g. Foo" are not ends.
_SENTENCE_END = re.compile(r"(?<!\d!)(?<=[.!?])[\"')\]]*(?=\s+[A-Z0-9\"'(\[])")
_ABBREVIATION = re.compile(r"(?:\b(?:e\.g|i\.e|etc|vs|cf|Fig|Eq|Dr|Mr|Mrs|Ms|No|St|al)|\b[A-Z])\.$")
_SECTION_PROSE_WORDS = 15
"""A heading ends a boilerplate section when a usable paragraph of at least this many words follows it."""
_CODE_LIKE = re.compile(
    r"^(?:\s{2,}|\t)\S|[;{}]\s*$|^\s*[\w.\[\]]+\s*[+\-*/]?=\s*[^=]|^\s*(?:def|class|return|import)\b"
)


@dataclass(frozen=True)
class Block:
    """One paragraph, heading line or piece of an over-long paragraph: ``[start, end)`` in the
    document, its word count, reasoning score, and ``excluded`` (why it may not be shown in a
    passage, e.g. ``"link_list"`` or ``"boilerplate_section"``; ``None`` for a usable block)."""

    start: int
    end: int
    kind: BlockKind
    words: int
    score: float
    excluded: str | None = None


@dataclass(frozen=True)
class Passage:
    """A chosen window: ``[start, end)`` in the document, its words and value (reasoning per word)."""

    start: int
    end: int
    words: int
    value: float


@dataclass(frozen=True)
class DocumentSplit:
    """The passages of one document in document order, its blocks, how many blocks were left out
    by reason, and ``why_none`` (a sentence for the reject's detail) when there is no passage."""

    passages: list[Passage]
    blocks: list[Block]
    excluded: dict[str, int] = field(default_factory=dict)
    why_none: str = ""

    def outside_paragraphs(
        self, text: str, passage: Passage, *, max_items: int = 12, max_chars: int = 8000
    ) -> list[str]:
        """Up to ``max_items`` usable paragraphs of the document outside ``passage``, nearest
        first, their total length at most ``max_chars`` (a paragraph that does not fit is
        skipped): material from the same document that the passage does not show.

        >>> text = "First paragraph here.\\n\\nSecond one.\\n\\nThird paragraph, far away."
        >>> split = split_document(text, min_words=1, target_words=2, max_words=3, max_passages=1)
        >>> split.outside_paragraphs(text, Passage(23, 34, 2, 1.0))
        ['First paragraph here.', 'Third paragraph, far away.']
        """
        outside = [
            block for block in self.blocks
            if block.kind == "paragraph" and block.excluded is None
            and (block.end <= passage.start or block.start >= passage.end)
        ]
        def distance(block: Block) -> tuple[int, int]:
            gap = passage.start - block.end if block.end <= passage.start else block.start - passage.end
            return gap, block.start

        outside.sort(key=distance)
        found: list[str] = []
        budget = max_chars
        for block in outside:
            if len(found) >= max_items:
                break
            if block.end - block.start <= budget:
                found.append(text[block.start : block.end])
                budget -= block.end - block.start
        return found


def document_blocks(text: str, *, max_piece_words: int = 300) -> list[Block]:
    """The blocks of ``text`` in order, with boilerplate marked ``excluded``.

    A paragraph's leading heading lines become heading blocks. A paragraph over
    ``max_piece_words`` words is cut at sentence and line ends into pieces of at most that
    many words (a single longer sentence stays whole). A boilerplate section runs from its
    heading to the next heading that is followed by a usable paragraph of prose (a "See
    also" list of short title-like lines stays in the section).

    >>> [(b.kind, b.excluded) for b in document_blocks("Overview\\nWe add 2 and 3.\\n\\nSee also\\n\\nOther page")]
    [('heading', None), ('paragraph', None), ('heading', 'boilerplate_section'), ('heading', 'boilerplate_section')]
    """
    blocks: list[Block] = []
    for start, end in _paragraphs(text):
        for kind, piece_start, piece_end in _split_paragraph(text, start, end, max_piece_words):
            piece = text[piece_start:piece_end]
            reason = None
            if kind == "paragraph":
                junk = junk_reason(piece)
                if junk == "heading":
                    kind = "heading"
                else:
                    reason = junk
            score = 0.0 if kind == "heading" else _reasoning(piece)
            blocks.append(Block(piece_start, piece_end, kind, len(piece.split()), score, reason))
    return _mark_boilerplate_sections(text, blocks)


def _mark_boilerplate_sections(text: str, blocks: list[Block]) -> list[Block]:
    marked = list(blocks)
    in_section = False
    for index, block in enumerate(blocks):
        if block.kind == "heading":
            title = text[block.start : block.end]
            if is_boilerplate_heading(title):
                in_section = True
            elif in_section and any(c.isalnum() for c in title):  # an underline keeps its title's section
                in_section = not _prose_follows(blocks, index)
        if in_section:
            marked[index] = replace(block, excluded="boilerplate_section")
    return marked


def _prose_follows(blocks: Sequence[Block], heading: int) -> bool:
    """Whether the first non-heading block after ``blocks[heading]`` is usable prose."""
    for block in blocks[heading + 1 :]:
        if block.kind == "paragraph":
            return block.excluded is None and block.words >= _SECTION_PROSE_WORDS
    return False


def split_document(
    text: str,
    *,
    min_words: int = 80,
    target_words: int = 350,
    max_words: int = 600,
    max_passages: int = 3,
    min_relative_score: float = 0.25,
) -> DocumentSplit:
    """Choose up to ``max_passages`` passages of ``text`` (see the module docstring).

    A document whose usable text is shorter than ``min_words`` gives its best run of usable
    blocks whatever its length; a longer one windows of at least ``min_words`` words, or, when
    boilerplate cuts it into shorter runs, its best window of at least ``min_words // 2``
    words alone.

    >>> split_document("Short note: x = 1, so y = 2.").passages
    [Passage(start=0, end=28, words=9, value=...)]
    """
    if not 0 < min_words <= target_words <= max_words:
        raise ValueError(
            f"need 0 < min_words <= target_words <= max_words, got {min_words}, {target_words}, {max_words}"
        )
    blocks = document_blocks(text, max_piece_words=max(min_words, target_words // 2))
    excluded = dict(Counter(block.excluded for block in blocks if block.excluded is not None))
    usable_words = sum(block.words for block in blocks if block.excluded is None)
    if not excluded and 0 < usable_words <= max_words and any(b.kind == "paragraph" for b in blocks):
        value = sum(block.score for block in blocks) / max(usable_words, target_words)
        return DocumentSplit([Passage(0, len(text), usable_words, value)], blocks, excluded)
    short = usable_words < min_words
    candidates = _best_window_per_start(blocks, 1 if short else min_words, target_words, max_words)
    if not candidates and not short:  # boilerplate cuts the text into short runs: the best of them, alone
        candidates = _best_window_per_start(blocks, max(1, min_words // 2), target_words, max_words)
        max_passages = 1
    if not candidates:
        return DocumentSplit([], blocks, excluded, _why_none(blocks, excluded, min_words, max_words))
    candidates.sort(key=lambda c: (-c.value, c.start))
    best = candidates[0].value
    chosen: list[Passage] = []
    for candidate in candidates:
        if len(chosen) >= max_passages or candidate.value < min_relative_score * best:
            break
        if all(candidate.end <= other.start or candidate.start >= other.end for other in chosen):
            chosen.append(candidate)
    chosen.sort(key=lambda p: p.start)
    return DocumentSplit([_with_heading(p, blocks, max_words) for p in chosen], blocks, excluded)


def _with_heading(passage: Passage, blocks: Sequence[Block], max_words: int) -> Passage:
    """``passage`` grown back over the usable heading lines right before it (the title of its
    section, context for a reader) while it stays within ``max_words``."""
    first = next(i for i, block in enumerate(blocks) if block.start == passage.start)
    start, words = passage.start, passage.words
    while first > 0 and blocks[first - 1].kind == "heading" and blocks[first - 1].excluded is None:
        first -= 1
        if words + blocks[first].words > max_words:
            break
        start, words = blocks[first].start, words + blocks[first].words
    return replace(passage, start=start, words=words)


def _best_window_per_start(blocks: Sequence[Block], min_words: int, target_words: int, max_words: int) -> list[Passage]:
    """For each usable block, the best window starting there (at most one per start, so the
    work stays linear in the blocks times the blocks per window)."""
    windows: list[Passage] = []
    for first, block in enumerate(blocks):
        if block.excluded is not None:
            continue
        words, score, best = 0, 0.0, None
        for last in range(first, len(blocks)):
            current = blocks[last]
            if current.excluded is not None or words + current.words > max_words:
                break
            words += current.words
            score += current.score
            if current.kind == "heading" or words < min_words:
                continue
            value = score / max(words, target_words)
            if best is None or value > best.value:
                best = Passage(block.start, current.end, words, value)
        if best is not None:
            windows.append(best)
    return windows


def _why_none(blocks: Sequence[Block], excluded: dict[str, int], min_words: int, max_words: int) -> str:
    if not blocks:
        return "the document has no text"
    if all(block.excluded is not None or block.kind == "heading" for block in blocks):
        reasons = ", ".join(f"{reason} {count}" for reason, count in sorted(excluded.items()))
        return f"all {len(blocks)} blocks are headings or boilerplate ({reasons or 'headings only'})"
    return (f"no run of whole paragraphs between boilerplate has {min_words}-{max_words} words "
            f"({len(blocks)} blocks, left out: {excluded or 'none'})")


def _paragraphs(text: str) -> list[tuple[int, int]]:
    """``[start, end)`` of each paragraph (text between blank lines), white space trimmed."""
    spans = []
    position = 0
    for brk in [*_PARAGRAPH_BREAK.finditer(text), None]:
        stop = brk.start() if brk is not None else len(text)
        chunk = text[position:stop]
        stripped = chunk.strip()
        if stripped:
            lead = len(chunk) - len(chunk.lstrip())
            spans.append((position + lead, position + lead + len(stripped)))
        if brk is not None:
            position = brk.end()
    return spans


def _split_paragraph(text: str, start: int, end: int, max_words: int) -> list[tuple[BlockKind, int, int]]:
    """Leading heading lines of a paragraph, then the rest (in pieces when over ``max_words``)."""
    parts: list[tuple[BlockKind, int, int]] = []
    while True:
        newline = text.find("\n", start, end)
        if newline < 0:
            break
        line = text[start:newline].rstrip()
        if not line or not is_heading(line):
            break
        parts.append(("heading", start, start + len(line)))
        start = newline + 1
        while start < end and text[start].isspace():
            start += 1
    if start >= end:
        return parts
    if "\n" not in text[start:end] and is_heading(text[start:end]):
        return [*parts, ("heading", start, end)]
    if len(text[start:end].split()) <= max_words:
        return [*parts, ("paragraph", start, end)]
    piece_start, piece_end, piece_words = start, start, 0
    for unit_start, unit_end in _units(text, start, end):
        words = len(text[unit_start:unit_end].split())
        if piece_words and piece_words + words > max_words:
            parts.append(("paragraph", piece_start, piece_end))
            piece_start, piece_words = unit_start, 0
        piece_words += words
        piece_end = unit_end
    parts.append(("paragraph", piece_start, piece_end))
    return parts


def _units(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """Sentences and lines of ``text[start:end]``, white space trimmed."""
    cuts = [start]
    for line_break in re.finditer(r"\n", text[start:end]):
        cuts.append(start + line_break.end())
    for match in _SENTENCE_END.finditer(text, start, end):
        if not _ABBREVIATION.search(text, max(start, match.start() - 6), match.start()):
            cuts.append(match.end())
    cuts = sorted(set(cuts)) + [end]
    units = []
    for a, b in zip(cuts, cuts[1:]):
        chunk = text[a:b]
        stripped = chunk.strip()
        if stripped:
            lead = len(chunk) - len(chunk.lstrip())
            units.append((a + lead, a + lead + len(stripped)))
    return units


def _reasoning(piece: str) -> float:
    """Sum of :func:`reasoning_score` over the piece's sentences and lines."""
    total = 0.0
    for line in piece.splitlines():
        if not line.strip():
            continue
        if _CODE_LIKE.search(line):
            total += reasoning_score(line.strip(), "line")
            continue
        for sentence in _SENTENCE_SPLIT.split(line):
            if sentence.strip():
                total += reasoning_score(sentence, "sentence")
    return max(total, 0.0)


_SENTENCE_SPLIT = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")
