"""Tests of goose.operators.quality_filter: every drop reason, normalisation and domain routing."""

from __future__ import annotations

import json
from importlib import resources

import pyarrow as pa
import pytest
from pydantic import ValidationError

from goose import Pipeline
from goose.operators.prepare_text import PrepareText
from goose.operators.quality_filter import QualityFilter, normalize_unicode
from goose.pipeline.operator import BatchResult, RunContext

ENGLISH = (
    "The attacker sends a crafted request that overflows the buffer, so the server writes past "
    "the end of the array and overwrites the saved return address. Stack canaries detect this "
    "because the canary value sits between the buffer and the return address, and the function "
    "checks it before returning. "
)
GERMAN = (
    "Der Angreifer schickt eine präparierte Anfrage, die den Puffer überlaufen lässt, sodass der "
    "Server über das Ende des Feldes hinaus schreibt und die gespeicherte Rücksprungadresse "
    "überschreibt. Deshalb prüft die Funktion den Kanarienwert, bevor sie zurückkehrt. "
)
FRENCH = (
    "On démontre la propriété par récurrence sur n. Pour n égal à un, la somme vaut un et la "
    "formule donne aussi un. Supposons la propriété vraie au rang n, alors la somme au rang "
    "suivant vaut la somme précédente plus le terme suivant, ce qui donne bien la formule. "
)
PURE_CODE = "\n".join(
    f"def step_{i}(values):\n    total = sum(v * {i} for v in values)\n    return total % 97" for i in range(12)
)


def _sample_rows() -> list[dict]:
    text = resources.files("goose").joinpath("data/sample_corpus.jsonl").read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def _run(operator: QualityFilter, texts: list, **columns: list) -> BatchResult:
    return operator.process(pa.table({"text": pa.array(texts, type=pa.string()), **columns}), RunContext())


def _reasons(result: BatchResult) -> dict[int, str]:
    return {drop.index: drop.reason for drop in result.drops}


@pytest.fixture(scope="module")
def default_filter() -> QualityFilter:
    """One default operator for the module, so the language model loads once."""
    return QualityFilter()


def test_sample_corpus_survives_defaults(default_filter: QualityFilter) -> None:
    rows = _sample_rows()
    assert len(rows) == 48
    result = default_filter.process(pa.Table.from_pylist(rows), RunContext())
    assert result.drops == []
    assert result.kept.column("id").to_pylist() == [row["id"] for row in rows]


def test_non_english_dropped_with_language(default_filter: QualityFilter) -> None:
    result = _run(default_filter, [GERMAN * 2, ENGLISH * 2, FRENCH * 2])
    assert _reasons(result) == {0: "language", 2: "language"}
    details = {drop.index: drop.detail for drop in result.drops}
    assert details[0].startswith("detected de") and "allowed: en" in details[0]
    assert details[2].startswith("detected fr")
    assert result.kept.num_rows == 1


def test_other_languages_can_be_kept() -> None:
    result = _run(QualityFilter(languages=["en", "de"]), [GERMAN * 2, FRENCH * 2])
    assert _reasons(result) == {1: "language"}


def test_language_check_can_be_turned_off() -> None:
    assert _run(QualityFilter(languages=None), [GERMAN * 2]).drops == []


def test_uncertain_detection_keeps_pure_code(default_filter: QualityFilter) -> None:
    result = _run(default_filter, [PURE_CODE])
    assert result.drops == [], result.drops


def test_word_bounds() -> None:
    operator = QualityFilter(min_words=10, max_words=60, languages=None)
    result = _run(operator, ["just five words right here", ENGLISH, ENGLISH * 2])
    assert _reasons(result) == {0: "too_short_words", 2: "too_long_words"}
    assert "5 words, min_words is 10" in result.drops[0].detail


def test_symbol_ratio_drops_punctuation_soup_but_not_math_or_code(default_filter: QualityFilter) -> None:
    soup = ENGLISH + "\n" + "|=-=-=|*#*#*|~~~~|<<>>|{}{}{}|" * 30
    latex = "Let $f(x)=\\frac{x^2+1}{x-1}$, so $f'(x)=\\frac{x^2-2x-1}{(x-1)^2}$ and $x=1\\pm\\sqrt{2}$. " * 3
    result = _run(default_filter, [soup, ENGLISH + latex, ENGLISH + PURE_CODE])
    assert _reasons(result) == {0: "symbol_ratio"}
    assert "max_symbol_ratio is 0.6" in result.drops[0].detail


def test_repeated_lines() -> None:
    boilerplate = "Home | About us | Contact\n" * 5 + "Accept all cookies to continue\n" * 4 + ENGLISH
    code = "if (a) {\n  x++;\n}\nelse {\n  x--;\n}\n" * 3 + ENGLISH  # short repeated lines do not count
    result = _run(QualityFilter(min_words=5, languages=None), [boilerplate, code])
    assert _reasons(result) == {0: "repeated_lines"}
    assert result.drops[0].detail.startswith("7 of 10 lines repeat")


def test_missing_and_empty_text_never_crash(default_filter: QualityFilter) -> None:
    result = _run(default_filter, [None, "", " \n\t ", ENGLISH * 2])
    assert _reasons(result) == {0: "missing_text", 1: "empty_text", 2: "empty_text"}
    assert result.kept.num_rows == 1


def test_odd_batches(default_filter: QualityFilter) -> None:
    empty = default_filter.process(pa.table({"text": pa.array([], type=pa.string())}), RunContext())
    assert empty.kept.num_rows == 0 and empty.drops == []
    nulls = default_filter.process(pa.table({"text": [None, None]}), RunContext())
    assert [drop.reason for drop in nulls.drops] == ["missing_text", "missing_text"]
    numbers = default_filter.process(pa.table({"text": [1, 2]}), RunContext())
    assert nulls.kept.num_rows == numbers.kept.num_rows == 0 and len(numbers.drops) == 2
    large = default_filter.process(pa.table({"text": pa.array([ENGLISH * 2], type=pa.large_string())}), RunContext())
    assert large.kept.num_rows == 1


def test_unicode_normalisation_is_nfkc_but_keeps_math_marks() -> None:
    text = "ﬁnd x² ＝ ½ of ５ apples\u00a0now"
    assert normalize_unicode(text) == "find x² = ½ of 5 apples now"
    assert normalize_unicode(text, keep_math_marks=False) == "find x2 = 1⁄2 of 5 apples now"
    assert normalize_unicode(text, "none") == text
    kept = _run(QualityFilter(min_words=1, languages=None), [text]).kept
    assert kept.column("text").to_pylist() == ["find x² = ½ of 5 apples now"]


def test_domain_routing_sets_domain_only_for_general_rows() -> None:
    operator = QualityFilter(
        languages=None,
        min_words=5,
        domain_keywords={"cyber": ["buffer overflow", "canary", "exploit"], "math": ["theorem", "c++"]},
    )
    texts = [
        "A stack canary stops a simple buffer overflow exploit before the return.",
        "The theorem follows from the lemma by induction on the length.",
        "A stack canary stops a simple buffer overflow exploit before the return.",
        "Nothing here matches any of the configured keyword lists at all.",
        "Writing c++ templates is the topic of this short paragraph here.",
    ]
    result = _run(operator, texts, domain=["general", "", "stem", None, "general"])
    assert result.kept.column("domain").to_pylist() == ["cyber", "math", "stem", "general", "math"]
    assert operator.produced_columns() == ("text", "domain")


def test_routing_adds_domain_column_when_missing() -> None:
    operator = QualityFilter(languages=None, min_words=1, domain_keywords={"code": ["python"]})
    result = _run(operator, ["We write python code.", "We write prose."])
    assert result.kept.column("domain").to_pylist() == ["code", "general"]


def test_require_domain_drops_unmatched_rows() -> None:
    operator = QualityFilter(
        languages=None,
        min_words=1,
        min_keyword_hits=2,
        domain_keywords={"cyber": ["phishing", "malware"]},
        require_domain=True,
    )
    texts = ["Phishing mails carry malware.", "Phishing only once.", "A recipe for bread.", "Own domain wins."]
    result = _run(operator, texts, domain=["general", "general", "general", "cooking"])
    assert _reasons(result) == {1: "no_domain_match", 2: "no_domain_match"}
    assert result.kept.column("domain").to_pylist() == ["cyber", "cooking"]


def test_invalid_parameters_fail_at_construction() -> None:
    with pytest.raises(ValidationError):
        QualityFilter(min_words=10, max_words=5)
    with pytest.raises(ValidationError):
        QualityFilter(require_domain=True)
    with pytest.raises(ValidationError):
        QualityFilter(languages=["English"])
    with pytest.raises(ValidationError):
        QualityFilter(max_symbol_ratio=0)


def test_in_a_pipeline_rejects_carry_reasons() -> None:
    rows = [{"text": ENGLISH * 2}, {"text": GERMAN * 2}, {"text": "too short"}]
    result = Pipeline([PrepareText(), QualityFilter()]).run(rows)
    assert result.tasks.num_rows == 1
    assert sorted(result.rejects.column("reason").to_pylist()) == ["language", "too_short_words"]
