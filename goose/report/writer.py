"""Write a run's report: ``report.html`` next to the run's files, its figures and numbers in ``report/``.

Figures are PNG files linked by relative path (not embedded) by default: they stay reusable
(a dataset card, a slide), the page stays small, and a run folder travels as a whole anyway.
``embed_figures=True`` puts them into the page as data URIs instead, for a single-file report.

>>> import tempfile, goose
>>> from goose.runner import run_to_directory
>>> out = tempfile.mkdtemp()
>>> _ = run_to_directory(goose.offline_pipeline(), goose.sample_corpus_path(), out, progress=False)
>>> write_report(out).name
'report.html'
>>> report_metrics(out)["checks"]["ok"]
True
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

from goose.report.figures import render_figures
from goose.report.metrics import compute_metrics
from goose.report.page import render_page
from goose.report.run_files import RunFiles
from goose.report.samples import sample_rejects, sample_tasks

REPORT_FILE = "report.html"
FIGURES_DIR = "report"
METRICS_FILE = "metrics.json"
FIGURE_NAMES = ("stages.png", "drop_reasons.png", "option_length.png", "answer_letters.png", "probe_pass_rate.png")


def report_metrics(out_dir: str | Path) -> dict:
    """The report's numbers for the run in ``out_dir`` (see :func:`goose.report.metrics.compute_metrics`).

    ``["checks"]["ok"]`` says whether they add up: rows in (+ rows added by expanding steps) =
    tasks + rejects, and per step rows in (+ added) = rows out + dropped, with the rejects file
    agreeing with the step counters.
    """
    return compute_metrics(RunFiles.open(out_dir))


def write_report(
    out_dir: str | Path,
    *,
    embed_figures: bool = False,
    sample_task_count: int = 3,
    sample_reasons: int = 5,
    rejects_per_reason: int = 2,
) -> Path:
    """Write ``out_dir/report.html`` for the run in ``out_dir`` and return its path.

    Without ``embed_figures`` the PNGs and ``metrics.json`` (the numbers of the page) go to
    ``out_dir/report/``. The page shows ``sample_task_count`` tasks and ``rejects_per_reason``
    rejects for each of the ``sample_reasons`` most frequent drop reasons. Without matplotlib
    the page is written without figures and says how to get them.
    """
    run = RunFiles.open(out_dir)
    metrics = compute_metrics(run)
    try:
        pngs, figures_note = render_figures(metrics), None
    except ImportError as error:
        pngs, figures_note = {}, f"No figures: {error}"
    figures_dir = run.out_dir / FIGURES_DIR
    if embed_figures:
        sources = {name: "data:image/png;base64," + base64.b64encode(png).decode("ascii") for name, png in pngs.items()}
    else:
        figures_dir.mkdir(exist_ok=True)
        for name in FIGURE_NAMES:  # a figure of an earlier report of this folder that no longer applies
            if name not in pngs:
                (figures_dir / name).unlink(missing_ok=True)
        for name, png in pngs.items():
            (figures_dir / name).write_bytes(png)
        (figures_dir / METRICS_FILE).write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
        sources = {name: f"{FIGURES_DIR}/{name}" for name in pngs}
    top_reasons = [(row["step"], row["reason"]) for row in metrics["drop_reasons"][:sample_reasons]]
    page = render_page(
        metrics,
        title=f"goose run report: {run.out_dir.resolve().name}",
        figures=sources,
        figures_note=figures_note,
        tasks=sample_tasks(run, sample_task_count),
        rejects=sample_rejects(run, top_reasons, rejects_per_reason),
    )
    path = run.out_dir / REPORT_FILE
    path.write_text(page, encoding="utf-8")
    return path
