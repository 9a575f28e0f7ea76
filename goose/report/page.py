"""The report as one static HTML page: every piece of text is escaped, and the page forbids scripts.

Task text comes from web pages, so it is treated as hostile: each value goes through
:func:`html.escape` before it reaches the page, and a Content-Security-Policy meta tag blocks
scripts, plugins and forms should anything ever slip through.

>>> page = render_page({"run": {"rows_in": 0, "tasks": 0, "rejects": 0, "accounted": True},
...     "checks": {"ok": True, "problems": []}, "stages": [], "drop_reasons": [], "llm": None, "domains": {},
...     "option_length": None, "answer_letters": None, "probe": None}, title="<b>run</b>")
>>> "&lt;b&gt;run&lt;/b&gt;" in page and "<b>run</b>" not in page
True
"""

from __future__ import annotations

import html
from collections.abc import Collection, Mapping, Sequence

from goose.options import LETTERS
from goose.report.shortcuts import render_audit_section

TEXT_LIMIT = 4_000
"""Characters of a sample task's passage or prompt shown; longer texts are cut with a note."""
RECORD_LIMIT = 1_500
"""Characters of a sample reject's record shown."""
LENGTH_CUE_WARNING = 1.5
"""Warn when "pick the longest (or shortest) option" beats chance by this factor."""

_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; max-width: 1100px; margin: 2em auto;
       padding: 0 1em; color: #222; line-height: 1.45; }
h1 { margin-bottom: 0.1em; } h2 { border-bottom: 1px solid #ddd; padding-bottom: 0.2em; margin-top: 2em; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.92em; }
th, td { border: 1px solid #ddd; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
.ok { color: #1a7f37; font-weight: 600; } .bad { color: #b42318; font-weight: 600; }
.note { color: #555; } .warn { background: #fff4e5; border-left: 4px solid #f79009; padding: 0.4em 0.8em; }
pre { white-space: pre-wrap; word-wrap: break-word; background: #f6f8fa; padding: 0.6em; border-radius: 4px;
      font-size: 0.88em; }
img { max-width: 100%; display: block; margin: 0.6em 0; }
.task { border: 1px solid #ddd; border-radius: 6px; padding: 0.2em 1em 0.8em; margin: 1em 0; }
li.gold { background: #e7f6ec; }
"""

_CSP = "script-src 'none'; object-src 'none'; base-uri 'none'; form-action 'none'"


def render_page(
    metrics: Mapping,
    *,
    title: str,
    figures: Mapping[str, str] | None = None,
    figures_note: str | None = None,
    tasks: Sequence[Mapping] = (),
    rejects: Mapping[tuple[str, str], Sequence[Mapping]] | None = None,
) -> str:
    """The HTML page of a run report.

    ``metrics`` is :func:`goose.report.metrics.compute_metrics`'s dict; ``figures`` maps a figure's
    file name (``stages.png``) to the ``src`` it is shown from (a relative path or a data URI);
    ``figures_note`` explains missing figures; ``tasks`` and ``rejects`` are the samples of
    :mod:`goose.report.samples`.
    """
    figures = figures or {}
    sections = [
        _header(metrics, title),
        _stages(metrics, figures),
        _drops(metrics, figures),
        _llm(metrics),
        _option_length(metrics, figures),
        _answer_letters(metrics, figures),
        _probe(metrics, figures),
        render_audit_section(metrics.get("audit")),
        _sample_tasks(tasks, metrics["run"]["tasks"]),
        _sample_rejects(metrics, rejects or {}),
    ]
    note = f'<p class="warn">{_e(figures_note)}</p>' if figures_note else ""
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">\n'
        f"<title>{_e(title)}</title>\n<style>{_STYLE}</style>\n</head>\n<body>\n"
        + note + "\n".join(sections) + "\n</body>\n</html>\n"
    )


def _header(metrics: Mapping, title: str) -> str:
    run, checks = metrics["run"], metrics["checks"]
    verdict = _mark(run["accounted"], "accounted", "NOT accounted")
    lines = [
        f"<h1>{_e(title)}</h1>",
        ('<p class="note">A goose run report. Every number below is read from tasks.parquet, rejects.parquet '
         "and summary.json of the run.</p>"),
        (f"<p><b>Rows in {_int(run['rows_in'])}"
         + (f" + rows added {_int(run['rows_added'])}" if run.get("rows_added") else "")
         + f" = tasks {_int(run['tasks'])} + rejects {_int(run['rejects'])}</b> &nbsp; {verdict}</p>"),
    ]
    check_rows = [[_e(name.replace("_", " ")), _mark(passed, "yes", "NO")]
                  for name, passed in checks.items() if isinstance(passed, bool) and name != "ok"]
    if check_rows:
        lines.append(_table(["check", "passes"], check_rows, escape=False))
    if checks.get("problems"):
        items = "".join(f"<li>{_e(problem)}</li>" for problem in checks["problems"])
        lines.append(f'<div class="warn"><b>The numbers do not add up</b>; this is a goose bug, please report '
                     f"it with this page:<ul>{items}</ul></div>")
    facts = [["seed", _e(run.get("seed"))], ["batch size", _e(run.get("batch_size"))],
             ["operators", _e(", ".join(run.get("operators") or [])) or "-"]]
    if run.get("batches") is not None:
        resumed = run.get("resumed_batches") or 0
        facts.append(["batches", _e(f"{run['batches']:,}" + (f" ({resumed:,} finished by an earlier, interrupted "
                                                              "process and resumed)" if resumed else ""))])
    if metrics["domains"]:
        facts.append(["tasks per domain", _e(", ".join(f"{d} {n:,}" for d, n in metrics["domains"].items()))])
    lines.append(_table(["", ""], facts, escape=False, header=False))
    return "\n".join(lines)


def _stages(metrics: Mapping, figures: Mapping[str, str]) -> str:
    stages = metrics["stages"]
    if not stages:
        return "<h2>Rows per stage</h2>\n<p>summary.json lists no steps.</p>"
    rows = [[_e(s["step"]), _int(s["rows_in"]), _int(s["rows_out"]), _int(s["dropped"]), _pct(s["kept_share"]),
             _int(s.get("rejects_in_file", 0)), f"{s['seconds']:.2f}", _mark(s["accounted"], "yes", "NO")]
            for s in stages]
    header = ["step", "rows in", "rows out", "dropped", "kept of input", "in rejects file", "seconds",
              "in = out + dropped"]
    if any(s.get("rows_added") for s in stages):  # an expanding step (one row per passage of a document)
        for row, stage in zip(rows, stages):
            row.insert(4, _int(stage.get("rows_added", 0)))
        header[4:4] = ["rows added"]
        header[-1] = "in + added = out + dropped"
    table = _table(header, rows, escape=False, numeric=set(range(1, len(header) - 1)))
    return "<h2>Rows per stage</h2>\n" + table + _image(figures, "stages.png", "rows per stage")


def _drops(metrics: Mapping, figures: Mapping[str, str]) -> str:
    reasons = metrics["drop_reasons"]
    if not reasons:
        return "<h2>Drop reasons</h2>\n<p>No rows were dropped.</p>"
    rows = [[_e(r["step"]), _e(r["reason"]), _int(r["count"]), _pct(r["share_of_rows_in"])] for r in reasons]
    table = _table(["step", "reason", "rows", "share of rows in"], rows, escape=False, numeric={2, 3})
    return "<h2>Drop reasons</h2>\n" + table + _image(figures, "drop_reasons.png", "top drop reasons")


def _llm(metrics: Mapping) -> str:
    llm = metrics["llm"]
    if not llm:
        return "<h2>LLM usage</h2>\n<p>No LLM calls in this run.</p>"
    headers = ["step", "requests sent", "cache hits", "cache hit rate", "prompt tokens", "completion tokens",
               "retries", "failures"]

    def usage_row(name: str, usage: Mapping) -> list[str]:
        failures = ", ".join(f"{kind} {count:,}" for kind, count in usage["failures"].items()) or "-"
        return [_e(name), _int(usage["requests"]), _int(usage["cache_hits"]), _pct(usage["cache_hit_rate"]),
                _int(usage["prompt_tokens"]), _int(usage["completion_tokens"]), _int(usage["retries"]), _e(failures)]

    rows = [usage_row(step["step"], step) for step in llm["steps"]]
    if len(llm["steps"]) > 1:
        rows.append(usage_row("all steps", llm["total"]))
    parts = ["<h2>LLM usage</h2>"]
    if rows:
        parts.append(_table(headers, rows, escape=False, numeric={1, 2, 3, 4, 5, 6}))
    if llm["engines"]:
        engine_rows = [[_e(role), _e(engine["backend"]), _e(engine["model"]), *usage_row(role, engine)[1:]]
                       for role, engine in llm["engines"].items()]
        parts.append('<p>By engine role, as counted by the process that finished the run (after a resume the '
                     "steps above cover the whole run, this table only the last process):</p>")
        parts.append(_table(["role", "backend", "model", *headers[1:]], engine_rows, escape=False,
                            numeric={3, 4, 5, 6, 7, 8}))
    return "\n".join(parts)


def _option_length(metrics: Mapping, figures: Mapping[str, str]) -> str:
    balance = metrics["option_length"]
    head = "<h2>Option-length balance</h2>"
    if not balance:
        return head + "\n<p>No task rows with options and an answer letter to measure.</p>"
    chance = balance["chance_share"]
    longest, shortest = balance["longest_is_gold_share"], balance["shortest_is_gold_share"]
    lines = [
        head,
        (f"<p>Over {_int(balance['tasks_measured'])} tasks, always picking the <b>longest</b> option would be "
         f"right {_pct(longest)} of the time and always picking the <b>shortest</b> {_pct(shortest)} "
         f"(ties broken at random); guessing is right {_pct(chance)} of the time (1 / number of options).</p>"),
        (f"<p>Gold length / mean distractor length: median {_num(balance['ratio_median'])}, mean "
         f"{_num(balance['ratio_mean'])}, 10th-90th percentile {_num(balance['ratio_p10'])} to "
         f"{_num(balance['ratio_p90'])} (1 = same length).</p>"),
    ]
    cues = [name for name, share in (("longest", longest), ("shortest", shortest))
            if share > LENGTH_CUE_WARNING * chance]
    if cues:
        lines.append(f'<p class="warn">Length gives the answer away: picking the {" or ".join(cues)} option beats '
                     f"chance by more than {LENGTH_CUE_WARNING}x. A policy can learn that shortcut instead of "
                     f"reasoning; tighten the distractor length filter.</p>")
    position, position_share = balance["best_length_position"], balance["best_length_position_share"]
    if not cues and position_share > LENGTH_CUE_WARNING * chance:
        lines.append(f'<p class="warn">Length gives the answer away: always picking the option that is number '
                     f"{position} by length (1 = longest, ties at random) would be right {_pct(position_share)} of "
                     f"the time, against {_pct(chance)} by chance. A policy can learn that shortcut instead of "
                     f"reasoning; make distractors longer and shorter than the gold in varying proportion.</p>")
    ranks = [[_int(rank), _int(count)] for rank, count in balance["gold_rank_counts"].items()]
    lines.append(_table(["gold's length rank (1 = longest)", "tasks"], ranks, escape=False, numeric={0, 1}))
    return "\n".join(lines) + _image(figures, "option_length.png", "option-length balance")


def _answer_letters(metrics: Mapping, figures: Mapping[str, str]) -> str:
    letters = metrics["answer_letters"]
    head = "<h2>Answer-letter balance</h2>"
    if not letters:
        return head + "\n<p>No task rows with an answer letter.</p>"
    rows = [[_e(row["letter"]), _int(row["count"]), f"{row['expected']:,.1f}", _pct(row["share"])]
            for row in letters["letters"]]
    lines = [
        head,
        (f"<p>{_int(letters['tasks'])} answers; the uniform count assumes each task's gold is equally likely "
         f"at each of its options. Largest deviation from uniform: {_pct(letters['max_relative_deviation'])}; "
         f"chi-square {_num(letters['chi_square'])} with {letters['degrees_of_freedom']} degrees of freedom.</p>"),
        _table(["letter", "tasks", "uniform", "share"], rows, escape=False, numeric={1, 2, 3}),
    ]
    if letters["invalid_answers"]:
        lines.append(f'<p class="warn">{_int(letters["invalid_answers"])} tasks have an answer that is not the '
                     f"letter of one of their options.</p>")
    return "\n".join(lines) + _image(figures, "answer_letters.png", "answer letters")


def _probe(metrics: Mapping, figures: Mapping[str, str]) -> str:
    probe = metrics["probe"]
    head = "<h2>Probe pass rates</h2>"
    if not probe:
        return (head + "\n<p><b>No probe in this run</b>: no task carries lineage.probe_pass_rate. Add the "
                "ProbeDifficulty operator to measure how hard the tasks are and drop the ones a small model "
                "always solves.</p>")
    rollouts = ", ".join(f"{k} rollouts: {n:,} tasks" for k, n in probe["rollouts"].items()) or "unknown"
    models = ", ".join(probe["models"]) or "unknown"
    facts = [
        ["tasks probed", _int(probe["probed_tasks"])],
        ["tasks without a pass rate", _int(probe["unprobed_tasks"])],
        ["probe model", _e(models)],
        ["rollouts", _e(rollouts)],
        ["mean / median pass rate", f"{_num(probe['mean_pass_rate'])} / {_num(probe['median_pass_rate'])}"],
        ["never solved (0)", _pct(probe["never_solved_share"])],
        ["medium (between 0 and 1)", _pct(probe["medium_share"])],
        ["always solved (1)", _pct(probe["always_solved_share"])],
    ]
    note = ('<p class="note">These are the kept tasks; tasks the probe dropped (e.g. too_easy) are counted under '
            "Drop reasons.</p>")
    return head + "\n" + _table(["", ""], facts, escape=False, header=False) + note + _image(
        figures, "probe_pass_rate.png", "probe pass rates")


def _sample_tasks(tasks: Sequence[Mapping], kept_rows: int) -> str:
    head = "<h2>Sample tasks</h2>"
    if not tasks and kept_rows:
        return (head + f"\n<p>The run kept {_int(kept_rows)} rows, but they are no tasks (no options column): "
                "its pipeline stops before AssembleTasks.</p>")
    if not tasks:
        return head + "\n<p>No tasks in this run.</p>"
    parts = [head]
    for task in tasks:
        lineage = task.get("lineage") or {}
        options = task.get("options") or []
        sources = lineage.get("option_sources") or []
        answer = str(task.get("answer") or "")
        items = []
        for index, option in enumerate(options):
            letter = LETTERS[index] if index < len(LETTERS) else "?"
            is_gold = letter == answer.strip().upper()
            source = f' <span class="note">[{_e(sources[index])}]</span>' if index < len(sources) else ""
            mark = " <b>(answer)</b>" if is_gold else ""
            items.append(f'<li{" class=gold" if is_gold else ""}><b>{letter}.</b> {_e(option)}{mark}{source}</li>')
        pass_rate = lineage.get("probe_pass_rate")
        probe = f" &middot; probe pass rate {_num(pass_rate)}" if pass_rate is not None else ""
        parts.append(
            f'<div class="task"><h3>{_e(task.get("id"))}</h3>'
            f'<p class="note">domain {_e(task.get("domain"))} &middot; source {_e(task.get("source_id"))} '
            f"&middot; answer {_e(answer)}{probe}</p>"
            f"<pre>{_e(_cut(task.get('masked_text'), TEXT_LIMIT))}</pre>"
            f'<ol style="list-style: none; padding-left: 0">{"".join(items)}</ol>'
            f"<details><summary>The full prompt a policy sees</summary>"
            f"<pre>{_e(_cut(task.get('question'), TEXT_LIMIT))}</pre></details></div>"
        )
    return "\n".join(parts)


def _sample_rejects(metrics: Mapping, rejects: Mapping[tuple[str, str], Sequence[Mapping]]) -> str:
    head = "<h2>Sample rejects</h2>"
    if not metrics["drop_reasons"]:
        return head + "\n<p>No rejects in this run.</p>"
    counts = {(r["step"], r["reason"]): r["count"] for r in metrics["drop_reasons"]}
    parts = [head]
    for (step, reason), rows in rejects.items():
        parts.append(f"<h3>{_e(step)}: {_e(reason)} ({_int(counts.get((step, reason), len(rows)))} rows)</h3>")
        for row in rows:
            parts.append(
                f'<p class="note">source {_e(row.get("source_id"))} &middot; {_e(row.get("detail"))}</p>'
                f"<pre>{_e(_cut(row.get('record'), RECORD_LIMIT))}</pre>"
            )
        if not rows:
            parts.append("<p>No row of rejects.parquet carries this step and reason.</p>")
    return "\n".join(parts)


def _table(headers: Sequence[str], rows: Sequence[Sequence[object]], *, escape: bool = True, header: bool = True,
           numeric: Collection[int] = ()) -> str:
    """A table; headers are always escaped, cells too unless ``escape=False`` (already-built HTML)."""
    def cell(tag: str, index: int, text: str) -> str:
        return f'<{tag} class="num">{text}</{tag}>' if index in numeric else f"<{tag}>{text}</{tag}>"

    head = "<tr>" + "".join(cell("th", i, _e(h)) for i, h in enumerate(headers)) + "</tr>" if header else ""
    body = "".join(
        "<tr>" + "".join(cell("td", i, _e(v) if escape else str(v)) for i, v in enumerate(row)) + "</tr>"
        for row in rows
    )
    return f"<table>{head}{body}</table>"


def _image(figures: Mapping[str, str], name: str, alt: str) -> str:
    src = figures.get(name)
    return f'<img src="{html.escape(src, quote=True)}" alt="{_e(alt)}">' if src else ""


def _e(value: object) -> str:
    """``value`` as text safe inside HTML elements and quoted attributes."""
    return html.escape("" if value is None else str(value), quote=True)


def _mark(passed: bool, yes: str, no: str) -> str:
    return f'<span class="ok">&#10003; {_e(yes)}</span>' if passed else f'<span class="bad">&#10007; {_e(no)}</span>'


def _cut(text: object, limit: int) -> str:
    value = "" if text is None else str(text)
    return value if len(value) <= limit else value[:limit] + f"\n[... {len(value) - limit:,} more characters]"


def _int(value: int) -> str:
    return f"{int(value):,}"


def _pct(share: float) -> str:
    return f"{100 * share:.1f}%"


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.3g}"
