"""The "also correct" guard: equivalent code, the same math value, the same prose words; and
FilterDistractors removing such distractors under the ``equivalent`` rule."""

from __future__ import annotations

import pytest

from goose import Pipeline
from goose.operators import FilterDistractors
from goose.text.equivalence import EquivalenceChecker, equivalent, guess_kind

SAME = [
    ("if n == 0:\n    return 1", "if not n:\n    return 1", "code"),
    ("    if n == 0:\n        return 1", "if not n:  # base case\n    return 1", "code"),
    ("if a != b:", "if not a == b:", "code"),
    ("x += 1", "x = x + 1", "code"),
    ("x += 1", "x = 1 + x", "code"),
    ("if a < b:", "if b > a:", "code"),
    ("y = (a + b) * 2", "y = 2 * (b + a)", "code"),
    ("s = 'abc'", 's = "abc"', "code"),
    ("if len(items) == 0:\n    return", "if not items:\n    return", "code"),
    ("if len(items) > 0:\n    return", "if items:\n    return", "code"),
    ("if node is not None:\n    visit(node)", "if node:\n    visit(node)", "code"),
    ("while i < n and ok:", "while ok and not i >= n:", "code"),
    ("int x = a + b; // sum", "int x = a + b;", "code"),
    ("x = 4", "so x equals 4", "math"),
    ("So 2x = 8, and x = 4.", "Therefore x = 4.", "math"),
    ("The probability is 1/2.", "The probability is 0.5.", "math"),
    ("The discount is 50%.", "The discount is 0.5.", "math"),
    ("The answer is $\\frac{3}{4}$.", "The answer is 0.75.", "math"),
    ("Therefore, the attacker gains root access.", "The attacker gains root access", "prose"),
]
DIFFERENT = [
    ("if n == 0:\n    return 1", "if n == 1:\n    return 1", "code"),
    ("if n == 0:\n    return 1", "if n:\n    return 1", "code"),
    ("if a < b:", "if a <= b:", "code"),
    ("x += 1", "x -= 1", "code"),
    ("y = a - b", "y = b - a", "code"),
    ("int x = a + b;", "int x = a - b;", "code"),
    ("x = 4", "x = 5", "math"),
    ("So 2x = 8, and x = 4.", "So 2x = 10, and x = 5.", "math"),
    ("So 2x = 8, and x = 4.", "So y = 4.", "math"),
    ("3 * 4 = 12 and 12 + 5 = 17", "The store opens at 9 and 12 + 5 = 17", "math"),
    ("The total is 17 apples.", "The total is 17 pears and 3 plums.", "math"),
    ("So the largest value must be at least 3.", "So the smallest value must not be at most 3.", "math"),
    ("Thus, r(x)=0 is the remainder.", "Thus, r(x)=0 is the degree.", "math"),
    ("Since a+b≥s, we have a/s≤1, so the sum is 2.", "Since a+b≤s, we have a/s≥1, so the sum is 2.", "math"),
    ("The server trusts the client.", "The client trusts the server.", "prose"),
    ("The attacker can read the file.", "The attacker cannot read the file.", "prose"),
    ("The attacker can read the file.", "The attacker can read the file and delete it.", "prose"),
]


@pytest.mark.parametrize(("gold", "candidate", "kind"), SAME)
def test_equivalent_fills_are_recognised(gold: str, candidate: str, kind: str) -> None:
    assert equivalent(gold, candidate, kind)  # type: ignore[arg-type]


@pytest.mark.parametrize(("gold", "candidate", "kind"), DIFFERENT)
def test_wrong_fills_are_not_equivalent(gold: str, candidate: str, kind: str) -> None:
    assert not equivalent(gold, candidate, kind)  # type: ignore[arg-type]


def test_checker_normalises_the_gold_once_and_rejects_bad_kinds() -> None:
    checker = EquivalenceChecker("if n == 0:\n    return 1", "code")
    assert [checker.matches(c) for c in ["if not n:\n    return 1", "if n > 0:\n    return 1"]] == [True, False]
    with pytest.raises(ValueError, match="kind must be"):
        EquivalenceChecker("x", "python")  # type: ignore[arg-type]


def test_guess_kind_uses_the_domain_and_the_text() -> None:
    assert guess_kind("if n == 0:\n    return 1") == "code"
    assert guess_kind("if n == 0:\n    return 1", domain="math") == "math"
    assert guess_kind("So 2x = 8, and x = 4.") == "math"
    assert guess_kind("Add the two halves together.", domain="code") == "prose"
    assert guess_kind("The attacker reads the file.", domain="cyber") == "prose"


def _code_row(**extra: object) -> dict:
    text = "def fact(n):\n    if n == 0:\n        return 1\n    return n * fact(n - 1)"
    gold = "    if n == 0:\n        return 1"
    start = text.index(gold)
    return {"text": text, "gold": gold, "span_start": start, "span_end": start + len(gold),
            "distractors": ["    if not n:\n        return 1", "    if n < 0:\n        return 1",
                            "    if n == 1:\n        return 0"],
            "distractor_sources": ["a", "b", "c"], **extra}


@pytest.mark.parametrize("extra", [{}, {"domain": "code"}])
def test_filter_distractors_removes_equivalent_fills(extra: dict) -> None:
    result = Pipeline([FilterDistractors(min_distractors=2)]).run([_code_row(**extra)])
    assert result.tasks["distractors"].to_pylist() == [["    if n < 0:\n        return 1", "    if n == 1:\n        return 0"]]
    assert result.tasks["distractor_sources"].to_pylist() == [["b", "c"]]


def test_filter_distractors_counts_the_equivalent_rule_in_the_drop_detail() -> None:
    result = Pipeline([FilterDistractors(min_distractors=3)]).run([_code_row(domain="code")])
    assert result.tasks.num_rows == 0
    (detail,) = result.rejects["detail"].to_pylist()
    assert "equivalent 1" in detail and result.rejects["reason"].to_pylist() == ["too_few_distractors"]


def test_filter_distractors_equivalence_can_be_switched_off() -> None:
    result = Pipeline([FilterDistractors(min_distractors=3, check_equivalence=False)]).run([_code_row()])
    assert len(result.tasks["distractors"].to_pylist()[0]) == 3
