"""The report's shortcut audit: the numbers (from the run's files) and the page section.

The numbers are :class:`goose.audit.AuditReport` as a dict: each cheap solver's solve rate
with a 95% Wilson interval, overall and per domain, against chance. ``summary.json`` of a
run already holds them (the runner audits ``tasks.parquet`` when it writes the file); the
report reuses them when they cover every task and audits the file again otherwise.

>>> section = render_audit_section(None)
>>> "Shortcut audit" in section
True
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any

from goose.report.run_files import RunFiles
from goose.runner import audit_output

SHORTCUT_WARNING_RATE = 0.25
"""Warn on the page when the best solver solves more than this share of the tasks."""


def audit_metrics(run: RunFiles) -> dict[str, Any] | None:
    """The audit numbers of ``run``: ``summary.json``'s ``audit`` when it covers every task,
    else an audit of its tasks (merged file or shards, local or remote) read in bounded
    batches; ``None`` without task columns.

    Tasks whose answer is no valid letter are left out of the audit, so ``n_tasks`` can be
    below the file's rows; the file is then audited again (same result, a little slower)."""
    stored = run.summary.get("audit")
    if isinstance(stored, dict) and stored.get("n_tasks") == run.task_rows and "overall" in stored:
        return stored
    return audit_output(run.output)


def _e(value: object) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _pct(share: float) -> str:
    return f"{100 * share:.1f}%"


def _rate_cell(stats: Mapping[str, Any], best: bool) -> str:
    text = f"{_pct(stats['solve_rate'])}"
    if stats.get("above_chance"):
        text = f'<span class="bad">{text}&#9650;</span>'
    shade = ' style="background:#fde2e1"' if best else ""
    return f'<td class="num"{shade}>{text}</td>'


def render_audit_section(audit: Mapping[str, Any] | None) -> str:
    """The "Shortcut audit" section of ``report.html`` (every value escaped).

    >>> audit = {"n_tasks": 2, "chance": 0.5, "solvers": ["longest"], "unavailable": {"embedding": "<none>"},
    ...     "overall": {"longest": {"n": 2, "solve_rate": 1.0, "ci_low": 0.34, "ci_high": 1.0, "chance": 0.5,
    ...     "above_chance": False}}, "best": "longest", "by_domain": {}, "domain_chance": {}, "best_by_domain": {}}
    >>> page = render_audit_section(audit)
    >>> "&lt;none&gt;" in page and "<none>" not in page, "100.0%" in page
    (True, True)
    """
    head = "<h2>Shortcut audit</h2>"
    if not audit or not audit.get("n_tasks"):
        return head + "\n<p>No tasks with options and an answer to audit.</p>"
    overall, best = audit["overall"], audit.get("best")
    parts = [
        head,
        ('<p class="note">Cheap solvers that never see the gold pick an option from the masked passage and the '
         "options alone (length, word overlap, TF-IDF / BM25 similarity, numbers after [MASK], similarity to the "
         "other options). Ties earn 1/t, so a blind solver scores chance. A solve rate whose 95% interval lies "
         "above chance (&#9650;) means the gold can be found without reasoning; one below chance means its pick can "
         "be ruled out (e.g. never the shortest option). Best solver shaded.</p>"),
    ]
    rows = []
    for name in audit["solvers"]:
        stats = overall[name]
        verdict = (
            '<span class="bad">above chance</span>' if stats["above_chance"]
            else '<span class="bad">below chance: its pick can be ruled out</span>' if stats.get("below_chance")
            else '<span class="ok">no</span>'
        )
        rows.append(
            f"<tr><td>{'<b>' + _e(name) + '</b>' if name == best else _e(name)}</td>"
            + _rate_cell(stats, name == best)
            + f'<td class="num">{_pct(stats["ci_low"])} &ndash; {_pct(stats["ci_high"])}</td>'
            + f'<td class="num">{_pct(stats["chance"])}</td><td>{verdict}</td></tr>'
        )
    parts.append(
        "<table><tr><th>solver</th><th class=\"num\">solve rate</th><th class=\"num\">95% interval</th>"
        "<th class=\"num\">chance</th><th>shortcut</th></tr>" + "".join(rows) + "</table>"
    )
    if best is not None and overall[best]["above_chance"] and overall[best]["solve_rate"] > SHORTCUT_WARNING_RATE:
        parts.append(
            f'<p class="warn">The <b>{_e(best)}</b> solver picks the gold in {_pct(overall[best]["solve_rate"])} of '
            f"{int(audit['n_tasks']):,} tasks without reading the gold (chance {_pct(audit['chance'])}). A policy "
            "can learn that shortcut instead of reasoning: draw distractors from the same document or topic, or "
            "drop the solved tasks with the ShortcutFilter operator.</p>"
        )
    by_domain = audit.get("by_domain") or {}
    if len(by_domain) > 1:
        domains = list(by_domain)
        header = "".join(f'<th class="num">{_e(domain)}</th>' for domain in domains)
        domain_rows = []
        for name in audit["solvers"]:
            cells = "".join(
                _rate_cell(by_domain[domain][name], audit["best_by_domain"].get(domain) == name) for domain in domains
            )
            domain_rows.append(f"<tr><td>{_e(name)}</td>{cells}</tr>")
        tasks = "".join(f'<td class="num">{int(by_domain[d][audit["solvers"][0]]["n"]):,}</td>' for d in domains)
        chance = "".join(f'<td class="num">{_pct(audit["domain_chance"][d])}</td>' for d in domains)
        parts.append("<p>Solve rate per domain (&#9650;: interval above that domain's chance; best shaded):</p>")
        parts.append(
            f"<table><tr><th>solver</th>{header}</tr>{''.join(domain_rows)}"
            f"<tr><td><i>chance</i></td>{chance}</tr><tr><td><i>tasks</i></td>{tasks}</tr></table>"
        )
    if audit.get("unavailable"):
        items = "".join(f"<li>{_e(name)}: {_e(reason)}</li>" for name, reason in audit["unavailable"].items())
        parts.append(f'<p class="note">Solvers not run:</p><ul class="note">{items}</ul>')
    return "\n".join(parts)
