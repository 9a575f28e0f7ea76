"""Tests of goose.reward: the answer-letter rule, score, and the TRL reward function."""

from __future__ import annotations

import pytest

from goose.reward import extract_answer, score, trl_reward

LONG_TEXT = "The passage discusses heat flow and entropy in closed systems. " * 1600  # ~100k chars

CASES: list[tuple[str, str, float]] = [
    # --- right answers, every accepted format ---
    (r"\boxed{C}", "C", 1.0),
    (r"So the answer is $\boxed{C}$.", "C", 1.0),
    (r"\boxed{\text{C}}", "C", 1.0),
    (r"\boxed{\textbf{C}}", "C", 1.0),
    (r"\boxed{\textbf{\text{C}}}", "C", 1.0),
    (r"Final: \fbox{C}", "C", 1.0),
    (r"\boxed{\text{(C) } x = 4}", "C", 1.0),
    (r"\boxed{C. A larger value}", "C", 1.0),
    (r"We box it twice: \boxed{C} and again \boxed{C}.", "C", 1.0),
    (r"x = \boxed{4}, so the option is \boxed{C}", "C", 1.0),
    ("Answer: C", "C", 1.0),
    ("ANSWER: C", "C", 1.0),
    ("answer: c", "C", 1.0),
    ("So the answer is (c).", "C", 1.0),
    ("After checking each step, the answer is C because the sign flips.", "C", 1.0),
    ("The correct option is (C)", "C", 1.0),
    ("Final answer: **C**", "C", 1.0),
    ("**Answer:** C", "C", 1.0),
    ("The correct answer is option C.", "C", 1.0),
    ("I choose C.", "C", 1.0),
    ("I'll go with option C.", "C", 1.0),
    ("Option C is correct.", "C", 1.0),
    ("Therefore (C) is the correct answer.", "C", 1.0),
    ("Answer: A because the integral diverges.", "A", 1.0),
    ("Answer: C. A larger value of k", "C", 1.0),
    ("Answer: C, A is wrong because it drops a term.", "C", 1.0),
    ("The answer is C, not A.", "C", 1.0),
    ("Final Answer:\n\n**C**\n", "C", 1.0),
    ("C", "C", 1.0),
    ("C.", "C", 1.0),
    ("(C)", "C", 1.0),
    ("[C]", "C", 1.0),
    ("**C**", "C", 1.0),
    ("C)", "C", 1.0),
    ("C:", "C", 1.0),
    ("Option C", "C", 1.0),
    ("C. The reaction is exothermic", "C", 1.0),
    ("(C) x = 4", "C", 1.0),
    ("Step 1: expand.\nStep 2: B drops a sign, D repeats step 1.\n\nC", "C", 1.0),
    ("Let me check the options.\nA misses a factor.\nSo my pick:\n(C) x = 4\n", "C", 1.0),
    ("<think>A looks plausible but the units fail.</think>\nAnswer: C", "C", 1.0),
    ("<think>The answer is A. Wait, no.</think>The answer is C.", "C", 1.0),
    (r"<think>\boxed{A}? No.</think> \boxed{C}", "C", 1.0),
    ("<think>Unclosed reasoning, still going... the answer is C", "C", 1.0),
    ("Option A is wrong because the units fail, B is wrong because it drops the sign, "
     "so the answer is C.", "C", 1.0),
    ("A is tempting. B is also tempting.\nHowever, the correct answer is D.", "D", 1.0),
    ("The answer is I.", "I", 1.0),
    ("Option I is correct.", "I", 1.0),
    # --- wrong answers in the same formats ---
    (r"\boxed{B}", "C", 0.0),
    (r"\boxed{\text{B}}", "C", 0.0),
    ("Answer: B", "C", 0.0),
    ("The correct option is (B)", "C", 0.0),
    ("Final answer: **D**", "C", 0.0),
    ("B. The reaction is endothermic", "C", 0.0),
    ("Lots of reasoning here.\n\nA", "C", 0.0),
    ("<think>The answer is C.</think>\nAnswer: B", "C", 0.0),
    ("Option C is wrong, D is wrong, so the answer is B.", "C", 0.0),
    # --- hedges ---
    ("A or C", "A", 0.0),
    ("A or C", "C", 0.0),
    ("The answer is A or C.", "A", 0.0),
    (r"\boxed{A} ... on reflection \boxed{C}", "C", 0.0),
    (r"\boxed{A, C}", "A", 0.0),
    (r"\boxed{A \text{ or } C}", "C", 0.0),
    ("Answer: A and B", "A", 0.0),
    ("Answer: A/B", "A", 0.0),
    ("Answer: A, B, C", "A", 0.0),
    ("The answer is either A or C.", "A", 0.0),
    ("Answer: A B C D E F G H I", "A", 0.0),
    ("A B C D E F G H I", "A", 0.0),
    ("The answer is C (or possibly D).", "C", 0.0),
    ("Both A and C are correct.", "A", 0.0),
    ("Answer: B\n\nActually, the final answer is A or B.", "B", 0.0),
    ("(A) or (C)", "A", 0.0),
    # --- malformed / no commitment ---
    ("", "A", 0.0),
    ("   \n\t  ", "A", 0.0),
    (r"\boxed{}", "A", 0.0),
    (r"\boxed{42}", "A", 0.0),
    ("A good idea is to compute the derivative first.", "A", 0.0),
    ("I think this needs more work.", "I", 0.0),
    ("The answer is a bit tricky here.", "A", 0.0),
    ("Answer: X-ray diffraction", "X", 0.0),
    ("The answer is not A.", "A", 0.0),
    ("ünïcödé ✓✓ 漢字 🙂 \u200b\u2028 ＣＡ", "C", 0.0),
    (LONG_TEXT, "A", 0.0),
    (LONG_TEXT + "\nAnswer: A", "A", 1.0),
    ("Let me think about whether the sign flips. Yes it does.", "A", 0.0),
    ("If B is correct, then x must be positive. Let me check.", "B", 0.0),
    ("We should check whether option (A) is the correct answer.", "A", 0.0),
    ("Answer: A-B", "A", 0.0),
]


@pytest.mark.parametrize(("completion", "answer", "expected"), CASES)
def test_score_table(completion: str, answer: str, expected: float) -> None:
    assert score(completion, answer) == expected


def test_table_is_large() -> None:
    assert len(CASES) >= 60


def test_extract_answer_hedge_and_commitment() -> None:
    assert extract_answer("Answer: C") == "C"
    assert extract_answer("Answer: A or C") is None
    assert extract_answer("Nothing committed here.") is None


def test_trl_reward_plain_strings() -> None:
    completions = [r"\boxed{A}", "Answer: B", "A or B", ""]
    assert trl_reward(completions, ["A", "C", "A", "A"]) == [1.0, 0.0, 0.0, 0.0]


def test_trl_reward_keyword_call_ignores_extra_columns() -> None:
    rewards = trl_reward(completions=["Answer: D"], answer=["D"], id=["t1"], domain=["math"])
    assert rewards == [1.0]


def test_trl_reward_conversational() -> None:
    completions = [
        [{"role": "assistant", "content": r"So \boxed{B}"}],
        [
            {"role": "user", "content": "Answer: A"},
            {"role": "assistant", "content": "Answer: C"},
            {"role": "tool", "content": "Answer: A"},
        ],
        [{"role": "assistant", "content": [{"type": "text", "text": "Final answer: E"}]}],
        [{"role": "user", "content": "Answer: A"}],
        [],
    ]
    assert trl_reward(completions, ["B", "C", "E", "A", "A"]) == [1.0, 1.0, 1.0, 1.0, 0.0]


def test_trl_reward_gives_none_to_rows_that_are_not_goose_tasks() -> None:
    # a goose data set mixed with another one that has an `answer` column: TRL reads None as
    # "this reward does not apply to this row"
    completions = ["Answer: B", "The result is 42", "Answer: A", "x", "Answer: C"]
    answers = ["B", "42", "a", None, "Paris"]
    assert trl_reward(completions, answers) == [1.0, None, 1.0, None, None]


def test_trl_reward_length_mismatch() -> None:
    with pytest.raises(ValueError, match="2 completions but 1 answers"):
        trl_reward(["A", "B"], ["A"])


@pytest.mark.parametrize("gold", ["", "AB", "1", "?", "Ä", None, 3])
def test_score_rejects_invalid_gold(gold: object) -> None:
    with pytest.raises(ValueError, match="not an option letter"):
        score("Answer: A", gold)  # type: ignore[arg-type]


def test_score_accepts_lowercase_gold() -> None:
    assert score("Answer: C", "c") == 1.0
    assert score("Answer: C", "  c\n") == 1.0
    assert score("Answer: C", "d") == 0.0


@pytest.mark.parametrize("completion", [None, 3, b"Answer: A", ["Answer: A"]])
def test_non_string_completion_scores_zero(completion: object) -> None:
    assert score(completion, "A") == 0.0  # type: ignore[arg-type]
    assert extract_answer(completion) is None  # type: ignore[arg-type]
