"""Gold perturbations stay well-formed: code still parses, calculations stay consistent,
numbers never collide, term swaps come from the document, and a seed fixes the result."""

from __future__ import annotations

import re
from fractions import Fraction

import numpy as np
import pytest

from goose.options import NEAR_DUPLICATE_SIMILARITY, similarity_matrix
from goose.text.code_fragment import parse_fragment
from goose.text.perturb import document_terms, perturbations

CODE_GOLDS = [
    "    if n == 0:\n        return 1\n    for i in range(1, n):\n        total += values[i] * 2\n    return total",
    "        while low <= high and not found:\n            middle = (low + high) // 2\n"
    "            found = items[middle] == target",
    "    if node is None:\n        return max(depth, 0)\n    label = 'a < b'  # keep < here\n    return walk(node.left)",
    "    result = [x for x in data if x > limit]\n    return len(result) - 1 if result else None",
]
CALCULATION = "She buys 3 boxes of 4 pens, so 3 * 4 = 12 pens. Then 12 + 5 = 17 pens in all."
_STATEMENT = re.compile(r"(\d+) ([-+*/]) (\d+) = (\d+)")
_NUMBERS = re.compile(r"\d[\d,]*(?:\.\d+)?")


def _all_variants(gold: str, seeds: int = 12, **kwargs) -> list[tuple[str, str]]:
    return [v for seed in range(seeds) for v in perturbations(gold, np.random.default_rng(seed), **kwargs)]


@pytest.mark.parametrize("gold", CODE_GOLDS)
def test_code_perturbations_parse_and_touch_only_code_tokens(gold: str) -> None:
    assert parse_fragment(gold) is not None
    variants = _all_variants(gold, kind="line")
    assert variants, "every code gold here has operators, indices or numbers to flip"
    for text, edits in variants:
        assert text != gold and parse_fragment(text) is not None, (edits, text)
        assert re.fullmatch(r"[a-z+]+", edits)
        if "label = " in gold:
            assert "'a < b'  # keep < here" in text  # strings and comments untouched
        assert "All" not in text and "Nothing" not in text  # capitalised identifiers are never swapped


def test_code_that_does_not_parse_keeps_its_brackets() -> None:
    gold = "    for (int i = 0; i < n; i++) {\n        total += a[i];"  # C, a block left open
    variants = _all_variants(gold, kind="line")
    assert variants
    for text, _ in variants:
        assert [c for c in text if c in "()[]{}"] == [c for c in gold if c in "()[]{}"]


def test_numbers_propagate_through_a_calculation() -> None:
    variants = [(t, e) for t, e in _all_variants(CALCULATION) if "numbers" in e]
    assert len(variants) >= 3
    for text, _ in variants:
        statements = _STATEMENT.findall(text)
        assert len(statements) == 2, text
        for a, op, b, result in statements:
            assert eval(f"{a} {op} {b}") == int(result), text  # noqa: S307 - digits and one operator
        (a, _, b, first), (again, _, _, _) = statements
        assert first == again, "the first result is carried into the next step"
        boxes, pens = re.match(r"She buys (\d+) boxes of (\d+) pens", text).groups()
        assert (boxes, pens) == (a, b), "an input changed everywhere it occurs"
    assert any(_STATEMENT.findall(t)[0][3] != "12" for t, _ in variants)



def test_a_false_ast_system_error_from_another_thread_is_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    """CPython 3.11's AST constructor counts recursion per interpreter: a thread formatting a
    traceback meanwhile makes ``ast.parse`` raise SystemError once (python/cpython#106905)."""
    import ast
    import types

    import goose.text.code_fragment as code_fragment

    failures = iter([True, False] * 1000)
    modes: list[object] = []

    def flaky_parse(source: str, *args: object, **kwargs: object) -> ast.AST:
        modes.append(kwargs.get("mode"))
        if next(failures):
            raise SystemError("AST constructor recursion depth mismatch (before=150, after=75)")
        return ast.parse(source, *args, **kwargs)

    def broken_parse(source: str, *args: object, **kwargs: object) -> ast.AST:
        raise SystemError("another fault")

    expected = _all_variants(CALCULATION)
    # goose's own module reference only: pytest parses with ``ast`` to report a failure
    monkeypatch.setattr(code_fragment, "ast", types.SimpleNamespace(parse=flaky_parse))
    assert _all_variants(CALCULATION) == expected
    assert "eval" in modes, "the calculation's arithmetic is parsed through the retry"
    assert parse_fragment("if n == 0:") is not None
    monkeypatch.setattr(code_fragment, "ast", types.SimpleNamespace(parse=broken_parse))
    with pytest.raises(SystemError, match="another fault"):
        parse_fragment("if n == 0:")

def test_operator_flips_recompute_the_result() -> None:
    variants = [t for t, e in _all_variants("So 8 / 2 = 4 and then 4 + 6 = 10 cookies.") if "operators" in e]
    assert variants
    for text in variants:
        for a, op, b, result in _STATEMENT.findall(text):
            assert Fraction(eval(f"{a} {op} {b}")) == int(result), text  # noqa: S307


def test_no_two_numbers_become_equal_and_structural_ones_stay() -> None:
    gold = "A number divisible by 2 but not by 4 is even, and 1 of them, 8 / 2 = 4, is divisible by 1."
    gold_numbers = _NUMBERS.findall(gold)
    variants = _all_variants(gold, seeds=20)
    assert variants
    for text, _ in variants:
        numbers = _NUMBERS.findall(text)
        assert len(numbers) == len(gold_numbers)
        for i in range(len(numbers)):
            for j in range(len(numbers)):
                if gold_numbers[i] != gold_numbers[j]:
                    assert numbers[i] != numbers[j], (text, gold_numbers[i], gold_numbers[j])
        assert "by 1." in text and "1 of them" in text
        divisors = re.match(r"A number divisible by (\d+) but not by (\d+)", text).groups()
        assert divisors[0] != divisors[1]


def test_number_formatting_is_kept() -> None:
    gold = "The bill is $1,250.50 for 30 guests, so each pays $1,250.50 / 30 and gets 15% off on 1998 prices."
    variants = [t for t, e in _all_variants(gold) if "numbers" in e]
    assert variants
    for text in variants:
        assert re.search(r"\$\d{1,3}(?:,\d{3})*\.\d\d for", text) or re.search(r"\$\d{1,3}\.\d\d for", text)
        assert re.search(r"\d+% off", text) and "1998 prices" in text


def test_prose_word_swaps_keep_sense() -> None:
    gold = "None of the users can access the product page, so the customer support team reviews every request."
    for text, _ in _all_variants(gold):
        assert "sum" not in text and not text.startswith("All")


def test_arithmetic_words_swap_only_where_the_gold_calculates() -> None:
    words = _all_variants("We take the sum of the first two terms: 3 + 5 = 8, so the total is 8 units.")
    assert any("product" in t for t, _ in words)


def test_term_swaps_stay_within_the_vocabulary() -> None:
    gold = "The attacker sends a crafted packet to the server, and the firewall forwards the packet."
    vocabulary = ["attacker", "packet", "server", "firewall", "payload", "victim", "router", "gateway", "request"]
    variants = [t for t, e in _all_variants(gold, vocabulary=vocabulary) if e == "terms"]
    assert variants
    gold_words = set(re.findall(r"\w+", gold.lower()))
    allowed = gold_words | set(vocabulary)
    for text in variants:
        new_words = set(re.findall(r"\w+", text.lower())) - gold_words
        assert new_words and new_words <= allowed, text


def test_document_terms_are_content_words() -> None:
    terms = document_terms("The attacker sends a crafted packet to the Apache server. It is then parsed by parse_header.")
    assert {"attacker", "packet", "Apache", "server", "parse_header"} <= set(terms)
    assert not {"the", "then", "It", "is"} & set(terms)


def test_variants_are_reproducible_and_far_enough_from_the_gold() -> None:
    for gold, kind in [(CALCULATION, "sentence"), (CODE_GOLDS[0], "line")]:
        first = perturbations(gold, np.random.default_rng(7), kind=kind)
        assert first == perturbations(gold, np.random.default_rng(7), kind=kind)
        texts = [gold] + [t for t, _ in first]
        similarity = similarity_matrix(texts, texts)
        np.fill_diagonal(similarity, 0)
        assert similarity.max() < NEAR_DUPLICATE_SIMILARITY


def test_nothing_to_change_and_bad_kind() -> None:
    assert perturbations("Plain words here", np.random.default_rng(0)) == []
    with pytest.raises(ValueError, match="kind must be"):
        perturbations("x = 1", np.random.default_rng(0), kind="code")  # type: ignore[arg-type]


def test_document_terms_of_parts_equal_the_joined_text() -> None:
    from goose.text.perturb import DocumentTerms

    parts = ["The attacker sends a crafted packet to the", "Apache server.", "", "It calls parse_header on the Payload",
             "Header and the Kernel"]
    terms = DocumentTerms()
    assert terms(parts) == document_terms("\n".join(parts))
    assert terms(parts, limit=3) == document_terms("\n".join(parts), limit=3)
    assert terms(["Apache server.", "Kernel Header"]) == document_terms("Apache server.\nKernel Header")  # reused lines
