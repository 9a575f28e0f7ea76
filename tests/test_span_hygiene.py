"""Tests of span hygiene: junk detection (goose.text.hygiene), sentence and code/prose
segmentation (goose.text.segment) and HeuristicMaskSpan's junk and leak rules."""

from __future__ import annotations

import pytest

from goose import Pipeline
from goose.operators import HeuristicMaskSpan
from goose.text.hygiene import is_boilerplate_heading, is_heading, junk_reason
from goose.text.segment import Segmenter, line_roles, looks_like_code, tile_windows


@pytest.fixture(scope="module")
def segmenter() -> Segmenter:
    return Segmenter()


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("== External links ==", "heading"),
        ("3.2 Threat Model", "heading"),
        ("- https://example.org/a\n- https://example.org/b", "link_list"),
        ("* Buffer overflow\n* Heap spraying\n* Return-oriented programming", "link_list"),
        ("Smith, J.; Lee, K. (2019). Stack smashing revisited. Journal of Systems 12(3): 45-67.", "citation"),
        ("Retrieved 12 March 2020.", "citation"),
        ("Permission is hereby granted, free of charge, to any person obtaining a copy", "licence"),
        (">>> sorted([3, 1, 2])\n[1, 2, 3]", "doctest_output"),
        ("Next: Installation, Previous: Overview, Up: Top", "navigation"),
        ("Home » Library » ssl", "navigation"),
    ],
)
def test_junk_reason_names_furniture(text: str, reason: str) -> None:
    assert junk_reason(text) == reason


@pytest.mark.parametrize(
    "text",
    [
        "Since 5! = 120, the product ends in exactly one zero.",
        "Smith et al. (2019) showed that the canary is checked before the function returns.",
        "The attacker overwrites the saved return address, so the function jumps to the payload.",
        "If no file is given, the program reads standard input until end of file.",
    ],
)
def test_junk_reason_keeps_content(text: str) -> None:
    assert junk_reason(text) is None


def test_headings() -> None:
    assert all(is_heading(s) for s in ["# Usage", "Examples", "SEE ALSO", "Parameters", "----------"])
    assert not any(is_heading(s) for s in ["Sum it:", "x = f(2)", "The value is ten.", "- item"])
    assert all(is_boilerplate_heading(s) for s in ["References", "## See also", "Notes and references", "LICENSE"])
    assert not is_boilerplate_heading("Threat model")


def test_sentence_splits_are_repaired(segmenter: Segmenter) -> None:
    text = "There are 5! = 120 orders, i.e. all of them. See Fig. 3 and Eq. (2) for the count. It is 0.5 per cent."
    assert [u.text(text) for u in segmenter.units(text)] == [
        "There are 5! = 120 orders, i.e. all of them.",
        "See Fig. 3 and Eq. (2) for the count.",
        "It is 0.5 per cent.",
    ]


def test_indented_prose_stays_prose(segmenter: Segmenter) -> None:
    text = (
        "DESCRIPTION\n"
        "       List information about the files.  Sort entries alphabetically if no\n"
        "       other order is given.\n"
        "  If the file is a directory, its contents are listed instead.\n"
    )
    kinds = [(u.kind, u.junk) for u in segmenter.units(text)]
    assert kinds[0] == ("sentence", "heading")
    assert all(kind == "sentence" and junk is None for kind, junk in kinds[1:])
    assert len(kinds) == 4
    assert not looks_like_code("       other order is given.")
    assert looks_like_code("  total = price * count")


def test_docstrings_doctests_and_definitions(segmenter: Segmenter) -> None:
    text = (
        "def area(r):\n"
        '    """Area of a circle.\n'
        "\n"
        "    >>> area(1)\n"
        "    3.14159\n"
        '    """\n'
        "    squared = r * r\n"
        "    return 3.14159 * squared\n"
        "def perimeter(r):\n"
        "    return 2 * 3.14159 * r\n"
    )
    units = segmenter.units(text)
    junk = {u.text(text): u.junk for u in units}
    assert junk["def area(r):"] == "definition"
    assert junk['"""Area of a circle.'] == "docstring"
    assert junk[">>> area(1)"] == "docstring"
    assert junk["squared = r * r"] is None
    windows = [text[w.start : w.end] for w in tile_windows(units, min_units=2, max_units=4)]
    assert windows == ["squared = r * r\n    return 3.14159 * squared"]  # never across "def perimeter"
    assert line_roles([">>> f(2)", "4", "The result is four, as expected from the formula."]) == [
        "code", "doctest_output", "prose",
    ]


def test_boilerplate_section_units_are_junk(segmenter: Segmenter) -> None:
    text = "Overflow\nThe copy writes past the buffer. So the canary changes.\n\nReferences\nOne Author. A Book. 1999."
    junk = [u.junk for u in segmenter.units(text)]
    assert junk[:4] == ["heading", None, None, "heading"]
    assert set(junk[4:]) == {"boilerplate_section"}


def _gold(text: str, **config) -> str | None:
    result = Pipeline([HeuristicMaskSpan(**config)]).run([{"source_id": "doc", "text": text}])
    return result.tasks["gold"][0].as_py() if result.tasks.num_rows else None


def _reasons(text: str, **config) -> list[str]:
    result = Pipeline([HeuristicMaskSpan(**config)]).run([{"source_id": "doc", "text": text}])
    return [r["reason"] for r in result.rejects.to_pylist()] if result.rejects is not None else []


def test_gold_is_never_a_heading_or_citation() -> None:
    text = (
        "Sorting\n"
        "We compare 3 pairs, so 3 swaps are needed. Then 2 more passes give 5 steps in total.\n\n"
        "References\n"
        "Knuth, D. (1998). The Art of Computer Programming, Vol. 3. Addison-Wesley, pp. 80-105.\n"
        "Sedgewick, R. (2011). Algorithms, 4th ed. Pearson, pp. 244-260. ISBN 978-0321573513.\n"
    )
    gold = _gold(text, min_units=1, max_units=2, min_span_chars=10, max_span_fraction=0.9, min_score=0.0)
    assert gold is not None
    assert "Knuth" not in gold and "Sorting" not in gold and "References" not in gold


def test_near_copy_of_the_gold_is_a_leak() -> None:
    example = "total = 0\nfor item in basket:\n    total = total + item.price * item.count\nreturn total"
    variant = example.replace("total = 0", "total = 0.0")  # a second copy with a small difference
    text = f"Compute the bill.\n{example}\nThe same loop again, renamed:\n{variant}\nThat is all."
    config = dict(min_units=4, max_units=4, min_span_chars=20, max_span_fraction=0.6, min_score=0.0, jitter=0.0)
    assert _gold(text, **config) is None
    assert _reasons(text, **config) == ["gold_leak_repeat"]
    assert _gold(text, **config, repeat_similarity=100.0) is not None  # exact check only: the variant differs


def test_answer_after_mask_is_avoided_then_dropped() -> None:
    solution = (
        "Natalia sold 48 clips in April. She sold 24 clips in May, half as many as in April. "
        "Altogether she sold 72 clips in April and May.\n#### 72"
    )
    config = dict(min_units=1, max_units=1, min_span_chars=10, max_span_fraction=0.9, min_score=0.0, jitter=0.0)
    gold = _gold(solution, **config)
    assert gold is not None and "72" not in gold  # the span before "#### 72" would give the answer away
    leaky = "Natalia sold 48 clips. Altogether she sold 48 + 24 = 72 clips.\n#### 72"
    assert _reasons(leaky, **config) == ["answer_after_mask"]
    assert _gold(leaky, **config, answer_window=0) is not None


# --- memory and reuse of the segmenter (issue 13: vocabularies that do not grow with the corpus)


def test_segmenter_vocabulary_stays_bounded_and_splits_the_same() -> None:
    bounded, fresh = Segmenter(max_lexemes=2000), Segmenter()
    texts = [f"Host{k} sends packet{k} to port {k}. The server{k} answers it, e.g. with code {k}." for k in range(400)]
    for text in texts:
        assert bounded.units(text) == fresh.units(text)
        assert bounded.lexemes <= 2000 + 40  # rebuilt before the passage that would pass the bound
    assert fresh.lexemes > 2000  # the unbounded one keeps every word


def test_segmenter_reuses_paragraphs_whatever_their_white_space() -> None:
    paragraph = "We know x = 2. So 2x = 4. See Fig. 3 for more."
    reused, plain = Segmenter(), Segmenter()
    first = reused.units("Intro line.\n\n" + paragraph + "\n\nEnd.")  # the paragraph ends with its newline here
    assert [u.text("Intro line.\n\n" + paragraph + "\n\nEnd.") for u in first][1:4] == [
        "We know x = 2.", "So 2x = 4.", "See Fig. 3 for more."]
    for text in ("  " + paragraph, paragraph, paragraph + "\n"):
        assert reused.units(text) == plain.units(text)


def test_import_goose_loads_no_spacy() -> None:
    import subprocess
    import sys

    code = "import sys, goose, goose.operators; goose.Pipeline; print('spacy' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "False"
