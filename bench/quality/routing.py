"""Recall and precision of the cyber preset's keyword router on the quality corpora.

Runs the preset's first steps as a user gets them (HtmlToText for HTML pages, then the
preset's own QualityFilter) on every corpus of bench/quality/data and reports, per corpus,
the share of rows (that pass the filter's other checks) routed to ``cyber``. The two
security corpora give recall; the six others give the share of non-security text kept out.

    python bench/quality/routing.py        # after bench/quality/corpora.py wrote the data
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa

from goose.operators import HtmlToText, QualityFilter
from goose.pipeline.operator import RunContext
from goose.presets import cyber_pipeline

DATA = Path(__file__).parent / "data"
SECURITY = ["cyber_cwe", "cyber_harden"]
OTHER = ["math_champ", "code_stdlib", "wiki_articles", "wiki_leads", "html_manuals", "sci_docstrings"]


def texts_of(name: str) -> list[str]:
    """The corpus's documents as the router sees them (HTML turned into text)."""
    rows = [json.loads(line) for line in (DATA / f"{name}.jsonl").read_text().splitlines() if line.strip()]
    texts = [
        f"{r['question']}\n{r['solution']}" if "question" in r
        else f"{r['problem']}\n{r['solution']}" if "problem" in r
        else r.get("text") or r.get("html") or ""
        for r in rows
    ]
    if any(t.lstrip().startswith("<") for t in texts):
        texts = HtmlToText().process(pa.table({"text": texts}), RunContext()).kept.column("text").to_pylist()
    return texts


def main() -> None:
    router = next(op for op in cyber_pipeline().operators if isinstance(op, QualityFilter))
    routed_total = {True: 0, False: 0}
    judged_total = {True: 0, False: 0}
    for name in SECURITY + OTHER:
        texts = texts_of(name)
        result = router.process(pa.table({"text": texts, "domain": ["general"] * len(texts)}), RunContext())
        judged = len(texts) - sum(drop.reason != "no_domain_match" for drop in result.drops)
        security = name in SECURITY
        routed_total[security] += result.kept.num_rows
        judged_total[security] += judged
        print(f"{name:15s} {'security' if security else 'other':8s} routed {result.kept.num_rows:4d}/{judged:4d}"
              f" = {result.kept.num_rows / max(judged, 1):.3f}")
    recall = routed_total[True] / max(judged_total[True], 1)
    kept_out = 1 - routed_total[False] / max(judged_total[False], 1)
    precision = routed_total[True] / max(routed_total[True] + routed_total[False], 1)
    print(f"recall {recall:.3f}  non-security kept out {kept_out:.3f}  precision {precision:.3f}")


if __name__ == "__main__":
    main()
