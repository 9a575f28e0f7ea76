"""The shortcut audit: cheap solvers that never read the gold, and how often they solve tasks.

>>> from goose.audit import solver_by_name
>>> solver_by_name("longest").name
'longest'
"""

from goose.audit.audit import (
    AuditAccumulator,
    AuditReport,
    SolverStats,
    audit_parquet,
    audit_summary,
    audit_tasks,
    resolve_solvers,
    wilson_interval,
)
from goose.audit.solvers import (
    SOLVER_NAMES,
    EmbeddingSolver,
    FeatureSolver,
    ShortcutSolver,
    default_solvers,
    report_solvers,
    solver_by_name,
    tie_credits,
)

__all__ = [
    "AuditAccumulator",
    "AuditReport",
    "SolverStats",
    "audit_parquet",
    "audit_summary",
    "audit_tasks",
    "resolve_solvers",
    "wilson_interval",
    "SOLVER_NAMES",
    "EmbeddingSolver",
    "FeatureSolver",
    "ShortcutSolver",
    "default_solvers",
    "report_solvers",
    "solver_by_name",
    "tie_credits",
]
