"""The run report: ``report.html`` with rows per stage, drop reasons, LLM usage, option-length and
answer-letter balance, the probe's pass rates and sample tasks and rejects, for any run folder
that :func:`goose.runner.run_to_directory` wrote.

* :func:`write_report` writes the page (figures in ``report/``, drawn with matplotlib);
* :func:`report_metrics` returns its numbers as a dict, for tests and notebooks.

>>> import tempfile, goose
>>> from goose.runner import run_to_directory
>>> out = tempfile.mkdtemp()
>>> _ = run_to_directory(goose.offline_pipeline(), [{"id": "a", "text": ""}], out, progress=False)
>>> numbers = report_metrics(out)
>>> numbers["run"]["rows_in"], numbers["run"]["rejects"], numbers["checks"]["ok"]
(1, 1, True)
"""

from goose.report.metrics import compute_metrics
from goose.report.writer import FIGURES_DIR, REPORT_FILE, report_metrics, write_report

__all__ = ["FIGURES_DIR", "REPORT_FILE", "compute_metrics", "report_metrics", "write_report"]
