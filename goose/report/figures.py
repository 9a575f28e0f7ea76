"""The report's figures, drawn with matplotlib from the numbers of :mod:`goose.report.metrics`.

Each figure is a ``matplotlib.figure.Figure`` on its own ``FigureCanvasAgg``: pyplot's global
figure list, backend and rcParams are never touched, so drawing a report inside a notebook
leaves the notebook's plotting as it was. PNGs carry no version metadata, so the same run
gives byte-identical figures.

>>> png = stage_funnel([{"step": "read", "rows_out": 3, "dropped": 1}])
>>> png[:8] == b"\\x89PNG\\r\\n\\x1a\\n"
True
"""

from __future__ import annotations

import io
from itertools import pairwise
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.figure import Figure

KEPT_COLOR = "#4C72B0"
DROPPED_COLOR = "#C44E52"
EXPECTED_COLOR = "#333333"
TOP_REASONS = 12
"""Drop reasons drawn in the bar chart (the table lists them all)."""


def matplotlib_available() -> bool:
    """Whether matplotlib can be imported (the report leaves figures out without it).

    >>> isinstance(matplotlib_available(), bool)
    True
    """
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def render_figures(metrics: dict) -> dict[str, bytes]:
    """PNG bytes of every figure the numbers allow, by file name (``stages.png``, ...).

    Raises ``ImportError`` with the install command when matplotlib is missing.
    """
    if not matplotlib_available():
        raise ImportError("the run report draws its figures with matplotlib; install it: pip install matplotlib")
    figures = {}
    if metrics["stages"]:
        figures["stages.png"] = stage_funnel(metrics["stages"])
    if metrics["drop_reasons"]:
        figures["drop_reasons.png"] = top_drop_reasons(metrics["drop_reasons"])
    if metrics["option_length"]:
        figures["option_length.png"] = option_length_balance(metrics["option_length"])
    if metrics["answer_letters"]:
        figures["answer_letters.png"] = answer_letter_balance(metrics["answer_letters"])
    if metrics["probe"]:
        figures["probe_pass_rate.png"] = probe_pass_rates(metrics["probe"])
    return figures


def stage_funnel(stages: list[dict]) -> bytes:
    """Horizontal bars, one per step from top to bottom: rows passed on, then rows dropped."""
    figure = _figure(7.5, 0.42 * len(stages) + 1.3)
    axes = figure.add_subplot()
    names = [_plain(stage["step"]) for stage in stages]
    kept = [stage["rows_out"] for stage in stages]
    dropped = [stage["dropped"] for stage in stages]
    positions = range(len(stages))
    axes.barh(positions, kept, color=KEPT_COLOR, label="passed on")
    axes.barh(positions, dropped, left=kept, color=DROPPED_COLOR, label="dropped")
    for position, out, drop in zip(positions, kept, dropped):
        axes.text(out + drop, position, f" {out:,}" + (f" (-{drop:,})" if drop else ""), va="center", fontsize=8)
    axes.set_yticks(list(positions), names, fontsize=8)
    axes.invert_yaxis()
    axes.set_xlabel("rows")
    _whole_numbers(axes.xaxis)
    axes.set_xlim(0, max(k + d for k, d in zip(kept, dropped)) * 1.25 or 1)
    axes.set_title("Rows per stage", fontsize=10)
    axes.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return _png(figure)


def top_drop_reasons(reasons: list[dict]) -> bytes:
    """Horizontal bars of the most frequent (step, reason) pairs."""
    top = reasons[:TOP_REASONS]
    figure = _figure(7.5, 0.38 * len(top) + 1.3)
    axes = figure.add_subplot()
    positions = range(len(top))
    axes.barh(positions, [row["count"] for row in top], color=DROPPED_COLOR)
    axes.set_yticks(list(positions), [_plain(f"{row['step']}: {row['reason']}") for row in top], fontsize=8)
    axes.invert_yaxis()
    axes.set_xlabel("rows dropped")
    _whole_numbers(axes.xaxis)
    more = f" (top {TOP_REASONS} of {len(reasons)})" if len(reasons) > TOP_REASONS else ""
    axes.set_title("Drop reasons" + more, fontsize=10)
    return _png(figure)


def option_length_balance(balance: dict) -> bytes:
    """Left: histogram of gold length / mean distractor length. Right: the gold's length rank."""
    figure = _figure(9.5, 3.4)
    ratio_axes, rank_axes = figure.subplots(1, 2)
    edges = balance["ratio_histogram"]["edges"]
    ratio_axes.stairs(balance["ratio_histogram"]["counts"], edges, fill=True, color=KEPT_COLOR)
    ratio_axes.axvline(1.0, color=EXPECTED_COLOR, linestyle="--", linewidth=1, label="same length")
    ratio_axes.set_xlabel(f"gold length / mean distractor length (last bin: {edges[-2]:g} and above)")
    ratio_axes.set_ylabel("tasks")
    _whole_numbers(ratio_axes.yaxis)
    ratio_axes.legend(fontsize=8)
    ratio_axes.set_title("Gold vs distractor length", fontsize=10)
    ranks = sorted(balance["gold_rank_counts"].items())
    rank_axes.bar([rank for rank, _ in ranks], [count for _, count in ranks], color=KEPT_COLOR)
    uniform = balance["tasks_measured"] * balance["chance_share"]
    rank_axes.axhline(uniform, color=EXPECTED_COLOR, linestyle="--", linewidth=1, label="no length cue")
    rank_axes.set_xlabel("gold's length rank (1 = longest option)")
    rank_axes.set_ylabel("tasks")
    _whole_numbers(rank_axes.yaxis)
    last_rank = max(rank for rank, _ in ranks)
    rank_axes.set_xticks(range(1, last_rank + 1))
    rank_axes.set_xlim(0.4, last_rank + 0.6)
    rank_axes.legend(fontsize=8)
    rank_axes.set_title("Where the gold ranks by length", fontsize=10)
    return _png(figure)


def answer_letter_balance(letters: dict) -> bytes:
    """Bars of the answer-letter counts, with the count a uniform shuffle would give."""
    rows = letters["letters"]
    figure = _figure(max(4.0, 0.45 * len(rows) + 2.0), 3.2)
    axes = figure.add_subplot()
    positions = range(len(rows))
    axes.bar(positions, [row["count"] for row in rows], color=KEPT_COLOR, label="answers")
    axes.scatter(positions, [row["expected"] for row in rows], color=EXPECTED_COLOR, marker="_", s=300,
                 zorder=3, label="uniform")
    axes.set_xticks(list(positions), [row["letter"] for row in rows])
    axes.set_ylabel("tasks")
    _whole_numbers(axes.yaxis)
    axes.legend(fontsize=8)
    axes.set_title("Answer letters", fontsize=10)
    return _png(figure)


def probe_pass_rates(probe: dict) -> bytes:
    """Histogram of the probe's pass rates (share of rollouts that chose the gold)."""
    figure = _figure(6.0, 3.2)
    axes = figure.add_subplot()
    histogram = probe["histogram"]
    if "values" in histogram:
        values = histogram["values"]
        gaps = [b - a for a, b in pairwise(values)]
        width = 0.8 * min(gaps) if gaps else 0.05
        axes.bar(values, histogram["counts"], width=min(width, 0.05), color=KEPT_COLOR)
    else:
        axes.stairs(histogram["counts"], histogram["edges"], fill=True, color=KEPT_COLOR)
    axes.set_xlim(-0.05, 1.05)
    axes.set_xlabel("probe pass rate (share of rollouts right)")
    axes.set_ylabel("tasks kept")
    _whole_numbers(axes.yaxis)
    axes.set_title(f"Probe pass rates ({probe['probed_tasks']:,} tasks)", fontsize=10)
    return _png(figure)


def _figure(width: float, height: float) -> Figure:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()


def _whole_numbers(axis: object) -> None:
    """Ticks at whole numbers only: the axis counts rows or tasks."""
    from matplotlib.ticker import MaxNLocator

    axis.set_major_locator(MaxNLocator(integer=True))  # type: ignore[attr-defined]


def _plain(label: str) -> str:
    """A label matplotlib draws literally: ``$`` would otherwise start math text."""
    return label.replace("$", r"\$")
