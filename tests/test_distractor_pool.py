"""The on-topic distractor pool (role rules, nearest passages, resume) and the adversarial choice."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from goose import Pipeline
from goose.audit.solvers import solver_by_name
from goose.distractors.pool import PassagePool, PoolPassage
from goose.distractors.selection import choose_from_scores, solved_by
from goose.operators import CorpusDistractors, SelectDistractors
from goose.pipeline.operator import RunContext

TOPICS = {
    "tls": "The client checks the server certificate chain. It rejects an expired certificate. "
    "The handshake then derives session keys from the shared secret. Each record is encrypted with those keys.",
    "sql": "The query string is built from user input. An attacker closes the quote and appends a clause. "
    "The database then runs the injected statement. Parameterised queries keep data apart from code.",
    "bread": "Mix the flour with water and yeast. Knead the dough for ten minutes. "
    "Let it rise until it doubles in size. Bake the loaf in a hot oven for forty minutes.",
}


def _row(source_id: str, text: str, gold: str, **extra: object) -> dict:
    start = text.index(gold)
    return {"source_id": source_id, "domain": "cyber", "text": text, "gold": gold, "span_start": start,
            "span_end": start + len(gold), **extra}


def test_question_text_never_enters_the_pool() -> None:
    text = "Question: Why is the sky blue? It is a riddle. Solution: Light scatters. Blue scatters most. So it is blue."
    passage = PoolPassage.build("q", "q", "stem", text, solution_start=text.index("Solution"))
    assert passage.units and all(u.start >= text.index("Solution") for u in passage.units)
    assert not any("riddle" in w for w in passage.windows(2, "sentence", 1, 1000))


def test_code_pool_has_no_docstrings_or_def_lines() -> None:
    code = ('def area(r):\n    """Return the area of a circle.\n    Uses pi.\n    """\n'
            "    import math\n    squared = r * r\n    return math.pi * squared\n")
    passage = PoolPassage.build("c", "c", "code", code)
    texts = [code[u.start : u.end] for u in passage.units]
    assert texts == ["import math", "squared = r * r", "return math.pi * squared"]
    assert all("def " not in w and "Return the area" not in w for w in passage.windows(2, "line", 1, 1000))


def test_nearest_passages_are_on_topic_and_the_pool_is_bounded() -> None:
    pool = PassagePool(capacity=2)
    for name, text in TOPICS.items():
        pool.add(PoolPassage.build(name, name, "cyber", text))
    assert len(pool) == 2 and {p.source_id for p in pool.passages} == {"sql", "bread"}
    pool = PassagePool(capacity=10)
    for name, text in TOPICS.items():
        pool.add(PoolPassage.build(name, name, "cyber", text))
    query = "An attacker injects a clause into the database query through user input."
    assert pool.passages[pool.nearest(query, 1)[0]].source_id == "sql"


def test_borrowed_spans_come_from_the_same_document_and_nearest_passages() -> None:
    rows = [
        _row("tls", TOPICS["tls"], "It rejects an expired certificate. The handshake then derives session keys from the shared secret.",
             document_id="doc-tls",
             outside_text=["The browser warns about a self-signed certificate. The user may still continue to the site."]),
        _row("sql", TOPICS["sql"], "An attacker closes the quote and appends a clause. The database then runs the injected statement."),
        _row("bread", TOPICS["bread"], "Knead the dough for ten minutes. Let it rise until it doubles in size."),
    ]
    result = Pipeline([CorpusDistractors(max_perturbations=0)]).run(rows)
    sources = dict(zip(result.tasks["source_id"].to_pylist(), result.tasks["distractor_sources"].to_pylist()))
    assert sources["tls"][0] == "same_doc:doc-tls"
    assert all(s.startswith(("same_doc:", "near:", "decoy:")) for s in sources["sql"])


def test_pool_survives_checkpoint_and_restore() -> None:
    first = CorpusDistractors(max_perturbations=0)
    first.start_run()
    batch = pa.Table.from_pylist([_row("sql", TOPICS["sql"], "An attacker closes the quote and appends a clause.")])
    first.process(batch, RunContext())
    saved = first.checkpoint()
    resumed = CorpusDistractors(max_perturbations=0)
    resumed.start_run()
    resumed.restore([saved])
    later = pa.Table.from_pylist([_row("tls", TOPICS["tls"], "It rejects an expired certificate.")])
    assert resumed.process(later, RunContext()).kept.to_pylist() == first.process(later, RunContext()).kept.to_pylist()


def test_choice_never_lets_a_solver_rank_the_gold_first_when_it_can_avoid_it() -> None:
    rng = np.random.default_rng(0)
    for trial in range(50):
        scores = rng.random((4, 16))
        choice = choose_from_scores(scores, ["tfidf_passage", "longest", "word_overlap", "centroid"], k=8, rng=rng)
        counts = (scores[:, 1:][:, choice.indices] > scores[:, :1]).sum(axis=1)
        feasible = (scores[:, 1:] > scores[:, :1]).any(axis=1)
        assert np.all(counts[feasible] >= 1), trial


def test_gold_rank_is_spread_over_a_run() -> None:
    rng = np.random.default_rng(1)
    ranks = []
    for _ in range(300):
        scores = rng.random((1, 30))
        if (scores[0, 1:] > scores[0, 0]).sum() < 2 or (scores[0, 1:] < scores[0, 0]).sum() < 2:
            continue  # the candidates cannot put the gold anywhere but first or last
        choice = choose_from_scores(scores, ["tfidf_window"], k=8, rng=rng)
        ranks.append(int((scores[0, 1:][choice.indices] > scores[0, 0]).sum()))
    counts = np.bincount(ranks, minlength=9)
    assert counts[0] == 0 and counts[8] < 15 and counts[1:8].min() >= 15


def test_select_distractors_beats_the_length_and_topic_solvers() -> None:
    text = TOPICS["sql"]
    gold = "An attacker closes the quote and appends a clause."
    row = _row("sql", text, gold, distractors=[
        "An attacker opens the quote and removes a clause.", "The attacker escapes the quote and adds a comment.",
        "Bake the loaf.", "The user closes the browser and opens a new tab.", "A clause is appended after the quote.",
        "Dough rises.", "The server closes the connection after the request.", "Yeast feeds on sugar in the flour.",
    ], distractor_sources=[f"s{i}" for i in range(8)])
    out = Pipeline([SelectDistractors(num_options=5)]).run([row]).tasks.to_pylist()[0]
    assert len(out["distractors"]) == 4 and all(" | " in s for s in out["distractor_sources"])  # why it was chosen
    masked = text.replace(gold, "[MASK]")
    solvers = [solver_by_name(n) for n in ("longest", "shortest", "tfidf_passage", "word_overlap")]
    assert solved_by(solvers, masked, gold, out["distractors"]) == []


def test_select_distractors_keeps_the_gold_off_the_centre_of_its_look_alikes() -> None:
    text = TOPICS["tls"]
    gold = "It rejects an expired certificate."
    look_alikes = ["It accepts an expired certificate.", "It rejects a revoked certificate.",
                   "It rejects an expired key.", "It logs an expired certificate."]
    others = ["The user closes the browser tab.", "Dough rises in a warm room.", "The cache keeps old pages.",
              "Packets cross the network slowly.", "The clock drifts by a second."]
    row = _row("tls", text, gold, distractors=look_alikes + others, distractor_sources=[f"s{i}" for i in range(9)])
    out = Pipeline([SelectDistractors(num_options=5, solvers=["centroid", "longest", "shortest"])]).run([row])
    chosen = out.tasks.to_pylist()[0]["distractors"]
    masked = text.replace(gold, "[MASK]")
    assert solved_by([solver_by_name("centroid")], masked, gold, chosen) == []


def test_corpus_distractors_read_the_mask_steps_units_and_do_not_pass_them_on() -> None:
    from goose.operators import HeuristicMaskSpan

    long_texts = [
        f"{topic.upper()} notes. " + text + " " + text.replace("The ", "Then the ", 1) for topic, text in TOPICS.items()
    ]
    rows = [{"source_id": f"p{k}", "domain": "cyber", "text": text, "document_id": "doc",
             "outside_text": [t for t in long_texts if t != text]} for k, text in enumerate(long_texts)]
    masked = Pipeline([HeuristicMaskSpan(min_score=0, spans_per_passage=2, min_span_chars=20)]).run(rows).tasks
    assert "units" in masked.column_names
    given = Pipeline([CorpusDistractors()]).run(masked).tasks
    segmented_here = Pipeline([CorpusDistractors()]).run(masked.drop_columns(["units"])).tasks
    assert "units" not in given.column_names
    assert given.num_rows > 0 and given.to_pylist() == segmented_here.to_pylist()
