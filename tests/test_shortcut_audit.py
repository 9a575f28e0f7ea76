"""The shortcut audit: each cheap solver, the tie rule, Wilson intervals, per-domain numbers,
the ShortcutFilter operator and the report section."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from goose import Pipeline
from goose.audit import (
    EmbeddingSolver,
    audit_tasks,
    default_solvers,
    solver_by_name,
    tie_credits,
    wilson_interval,
)
from goose.audit.solvers import _HashingEncoder
from goose.audit.text_features import hashed_tokens, tokens
from goose.operators import OPERATORS, ShortcutFilter
from goose.pipeline.operator import RunContext
from goose.report.shortcuts import render_audit_section


def pick(name: str, masked: str, options: list[str]) -> int:
    scores = solver_by_name(name).score_batch([masked], [options])[0]
    assert scores.shape == (len(options),)
    return int(np.argmax(scores))


def tasks_table(rows: list[tuple[str, list[str], str]], domains: list[str] | None = None) -> pa.Table:
    data = {
        "masked_text": [row[0] for row in rows],
        "options": [row[1] for row in rows],
        "answer": [row[2] for row in rows],
    }
    if domains is not None:
        data["domain"] = domains
    return pa.table(data)


def test_hashed_tokens_match_the_regex_tokeniser() -> None:
    texts = ["Ünïcode café — x_1=3.5; ΑΒΓ δέλτα 日本語 😀emoji𝔘", "def f(n):\n    return n*2  # end", "", "\x00a"]
    doc, term = hashed_tokens(texts)
    for index, text in enumerate(texts):
        words = tokens(text)
        again = hashed_tokens([" ".join(words)])[1]
        assert sorted(term[doc == index].tolist()) == sorted(again.tolist()) and len(again) == len(words)
    assert len(set(hashed_tokens(["alpha beta gamma delta"])[1].tolist())) == 4


def test_length_solvers_pick_longest_and_shortest() -> None:
    options = ["short one", "a much longer option than the others", "mid length opt"]
    assert pick("longest", "Text [MASK] more.", options) == 1
    assert pick("shortest", "Text [MASK] more.", options) == 0


def test_word_overlap_ignores_the_mask_token_and_stop_words() -> None:
    masked = "Photosynthesis turns light into sugar. [MASK] Plants store the sugar."
    assert pick("word_overlap", masked, ["The market is open.", "Light becomes sugar.", "mask"]) == 1
    scores = solver_by_name("word_overlap").score_batch([masked], [["mask", "the of and", "sugar"]])[0]
    assert scores.tolist() == [0.0, 0.0, 1.0]  # "[MASK]" is no word of the passage; stop-words are left out


def test_tfidf_passage_and_window_disagree_when_the_topic_near_the_mask_differs() -> None:
    masked = "alpha beta gamma. " * 60 + "zeta theta iota. " * 20 + "[MASK]"
    options = ["alpha beta gamma", "zeta theta iota"]
    assert pick("tfidf_passage", masked, options) == 0
    assert pick("tfidf_window", masked, options) == 1


def test_bm25_prefers_on_topic_options_even_in_a_batch_of_one() -> None:
    masked = "The enzyme binds its substrate at the active site. [MASK] The product is released."
    options = ["Interest rates rose in March.", "The substrate changes shape at the active site.", "Football."]
    assert pick("bm25_passage", masked, options) == 1
    # and in a batch, each passage's own options are scored against that passage only
    scores = solver_by_name("bm25_passage").score_batch(
        [masked, "Rates rose. [MASK] Markets fell."], [options, ["enzyme substrate", "interest rates rose"]]
    )
    assert int(scores[0].argmax()) == 1 and int(scores[1].argmax()) == 1


def test_in_passage_picks_among_options_not_already_written() -> None:
    masked = "We know x = 4 and y = 2. [MASK] So the answer is 6."
    assert pick("in_passage", masked, ["x = 4", "y = 2", "x + y = 6"]) == 2
    # a span that would cross the mask does not count as written
    assert solver_by_name("in_passage").score_batch(["a b [MASK] c d"], [["b c", "q"]])[0].tolist() == [0.0, 0.0]


def test_numbers_after_mask_reads_the_stated_result() -> None:
    masked = "She buys 3 boxes of 12 eggs. [MASK] #### 36"
    assert pick("numbers_after_mask", masked, ["3 * 12 = 38 eggs.", "3 * 12 = 36 eggs.", "3 + 12 = 15 eggs."]) == 1


def test_centroid_picks_the_option_the_others_were_made_from() -> None:
    options = ["then x = 12 / 4 = 3", "then x = 12 / 3 = 4", "so y = 12 / 4 = 3", "birds fly south", "x = 12 / 4"]
    assert pick("centroid", "[MASK]", options) == 0


def test_embedding_solver_is_skipped_with_a_reason_when_no_model_loads() -> None:
    def missing() -> None:
        raise RuntimeError("no model here")

    report = audit_tasks(
        tasks_table([("Tides follow the moon. [MASK]", ["The moon pulls tides.", "Tax."], "A")]),
        [solver_by_name("longest"), EmbeddingSolver(loader=missing)],
    )
    assert report.solvers == ["longest"] and report.unavailable == {"embedding": "no model here"}
    working = EmbeddingSolver(loader=_HashingEncoder)
    assert pick_with(working, "Tides follow the moon. [MASK]", ["Tax law.", "The moon pulls tides."]) == 1


def pick_with(solver: EmbeddingSolver, masked: str, options: list[str]) -> int:
    return int(np.argmax(solver.score_batch([masked], [options])[0]))


def test_audit_credits_zero_when_the_gold_is_not_the_pick() -> None:
    masked = "Tides follow the moon. [MASK]"
    options = ["The moon pulls the tides.", "Tax rose."]
    report = audit_tasks(tasks_table([(masked, options, "B")]), [solver_by_name("tfidf_passage")])
    assert report.overall["tfidf_passage"].solve_rate == 0.0 and report.solved_by == [[]]


def test_ties_earn_one_over_t_and_blind_solvers_score_exactly_chance() -> None:
    credit, solved = tie_credits([np.array([2.0, 2.0, 2.0, 1.0]), np.array([1.0, 1.0, 1.0])], [0, 2])
    assert credit.tolist() == pytest.approx([1 / 3, 1 / 3]) and not solved.any()
    rows = [(f"Passage {i}. [MASK]", ["aaaa", "bbbb", "cccc", "dddd"][: 2 + i % 3], "AB"[i % 2]) for i in range(30)]
    report = audit_tasks(tasks_table(rows), [solver_by_name("longest"), solver_by_name("shortest")])
    expected_chance = float(np.mean([1 / (2 + i % 3) for i in range(30)]))
    assert report.chance == pytest.approx(expected_chance)
    for name in ("longest", "shortest"):
        assert report.overall[name].solve_rate == pytest.approx(expected_chance)
        assert not report.overall[name].below_chance
        assert not report.overall[name].above_chance
    assert report.solved_by == [[] for _ in rows]  # a tie never counts as solved
    assert report.best == "longest"  # equal rates: the first solver in order


def test_wilson_interval_matches_known_values() -> None:
    assert wilson_interval(5, 10) == pytest.approx((0.2366, 0.7634), abs=1e-4)
    assert wilson_interval(0, 10) == pytest.approx((0.0, 0.2775), abs=1e-4)
    assert wilson_interval(10, 10) == pytest.approx((0.7225, 1.0), abs=1e-4)
    assert wilson_interval(81, 263) == pytest.approx((0.2553, 0.3662), abs=1e-4)
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_per_domain_breakdown_and_best_solver() -> None:
    on_topic = ("Volcanoes erupt lava. [MASK] Ash falls.", ["Lava flows from volcanoes.", "Bonds pay interest."], "A")
    off_topic = ("Volcanoes erupt lava. [MASK] Ash falls.", ["Lava flows from volcanoes.", "Bonds pay interest."], "B")
    rows = [on_topic] * 20 + [off_topic] * 20
    report = audit_tasks(tasks_table(rows, ["geo"] * 20 + ["finance"] * 20), [solver_by_name("tfidf_passage"),
                                                                             solver_by_name("shortest")])
    assert report.by_domain["geo"]["tfidf_passage"].solve_rate == 1.0
    assert report.by_domain["finance"]["tfidf_passage"].solve_rate == 0.0
    assert report.by_domain["geo"]["tfidf_passage"].above_chance
    assert report.by_domain["geo"]["shortest"].below_chance and not report.by_domain["geo"]["shortest"].above_chance
    assert not report.overall["tfidf_passage"].above_chance and not report.overall["tfidf_passage"].below_chance
    assert report.best_by_domain == {"geo": "tfidf_passage", "finance": "shortest"}
    assert report.overall["tfidf_passage"].n == 40 and report.domain_chance == {"finance": 0.5, "geo": 0.5}
    data = report.as_dict()
    assert "solved_by" not in data and data["by_domain"]["geo"]["tfidf_passage"]["ci_low"] > 0.5


def test_no_solver_beats_chance_when_options_are_permutations_of_the_same_words() -> None:
    rng = np.random.default_rng(7)
    vocabulary = "river stone cloud maple quartz harbor lantern meadow copper violet falcon ember".split()
    rows = []
    for i in range(240):
        words = list(rng.choice(vocabulary, size=6, replace=False))
        context = " ".join(rng.choice(vocabulary, size=30))
        options = []
        while len(options) < 4:
            candidate = " ".join(rng.permutation(words))
            if candidate not in options:
                options.append(candidate)
        rows.append((f"{context}. [MASK] {context}.", options, "ABCD"[i % 4]))
    report = audit_tasks(tasks_table(rows))
    assert set(report.overall) == {solver.name for solver in default_solvers()}
    for name, stats in report.overall.items():
        assert not stats.above_chance, f"{name} beats chance on permuted options: {stats}"
        assert stats.ci_low <= report.chance <= stats.ci_high or stats.solve_rate <= report.chance


def test_filter_drops_with_the_first_configured_solver_and_names_all_in_the_detail() -> None:
    masked = "The moon pulls the tides. [MASK]"
    rows = [
        {"masked_text": masked, "options": ["Tides follow the moon.", "Tax."], "answer": "A"},
        {"masked_text": masked, "options": ["Tides follow the moon.", "Tax."], "answer": "B"},
        {"masked_text": masked, "options": ["Bonds pay", "Tides go."], "answer": "A"},
    ]
    result = Pipeline([ShortcutFilter(solvers=["longest", "tfidf_passage", "shortest"])]).run(rows)
    assert result.tasks["options"].to_pylist() == [["Bonds pay", "Tides go."]]  # equal lengths, off topic gold
    rejects = result.rejects.to_pylist()
    assert [r["reason"] for r in rejects] == ["shortcut:longest", "shortcut:shortest"]
    assert [r["detail"] for r in rejects] == ["solved by longest, tfidf_passage", "solved by shortest"]
    assert "shortcut_solved_by" not in result.tasks.column_names


def test_filter_audit_mode_keeps_every_row_and_works_on_a_batch_of_one_and_an_empty_batch() -> None:
    rows = [{"masked_text": "Moon and tides. [MASK]", "options": ["The moon moves tides.", "Tax."], "answer": "A"}]
    result = Pipeline([ShortcutFilter(mode="audit")]).run(rows)
    assert result.rejects.num_rows == 0
    solved_by = result.tasks["shortcut_solved_by"].to_pylist()
    assert solved_by == [["tfidf_window", "bm25_passage"]]
    assert result.tasks.schema.field("shortcut_solved_by").type == pa.list_(pa.string())
    empty = pa.table({"masked_text": pa.array([], pa.string()), "options": pa.array([], pa.list_(pa.string())),
                      "answer": pa.array([], pa.string())})
    out = ShortcutFilter(mode="audit").process(empty, RunContext())
    assert out.kept.num_rows == 0 and "shortcut_solved_by" in out.kept.column_names
    assert OPERATORS["ShortcutFilter"] is ShortcutFilter


def test_filter_rejects_unknown_solvers_with_the_choices() -> None:
    with pytest.raises(ValueError, match="choose from longest"):
        ShortcutFilter(solvers=["bert"])


def test_report_section_escapes_task_data_and_marks_the_best_solver() -> None:
    rows = [("Volcanoes erupt lava. [MASK] Ash.", ["Lava flows from volcanoes.", "Bonds."], "A")] * 12
    rows += [("Rates rose. [MASK] Bonds fell.", ["Rates rise.", "Volcanoes erupt."], "A")] * 12
    report = audit_tasks(tasks_table(rows, ["<script>x</script>"] * 12 + ["math"] * 12),
                         [solver_by_name("tfidf_passage"), solver_by_name("longest"),
                          EmbeddingSolver(loader=lambda: (_ for _ in ()).throw(RuntimeError("<b>gone</b>")))])
    page = render_audit_section(report.as_dict())
    assert "<script>" not in page and "&lt;script&gt;" in page and "&lt;b&gt;gone&lt;/b&gt;" in page
    assert "<b>tfidf_passage</b>" in page and "above chance" in page and "100.0%" in page
