"""goose: turn reasoning text into verifiable multiple-choice tasks for RLVR.

The names below are imported on first use, so ``import goose`` is fast and loads neither
spaCy nor the operators until a pipeline needs them.

>>> import goose
>>> result = goose.offline_pipeline().run(goose.sample_corpus_path())
>>> result.accounted
True
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from goose.pipeline import Operator, Pipeline, PipelineResult, RunContext
    from goose.presets import offline_pipeline, sample_corpus_path
    from goose.schema import REJECT_SCHEMA, TASK_SCHEMA, table_to_tasks, tasks_to_table
    from goose.task import Lineage, Task, TaskProblem

__version__ = "0.1.0"

_EXPORTS: dict[str, str] = {
    "Operator": "goose.pipeline",
    "Pipeline": "goose.pipeline",
    "PipelineResult": "goose.pipeline",
    "RunContext": "goose.pipeline",
    "offline_pipeline": "goose.presets",
    "sample_corpus_path": "goose.presets",
    "REJECT_SCHEMA": "goose.schema",
    "TASK_SCHEMA": "goose.schema",
    "table_to_tasks": "goose.schema",
    "tasks_to_table": "goose.schema",
    "Lineage": "goose.task",
    "Task": "goose.task",
    "TaskProblem": "goose.task",
}
"""Public name -> the module it lives in."""


def __getattr__(name: str) -> Any:
    """Import a public name from its module, or a subpackage (``goose.reward``), on first access."""
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
    elif not name.startswith("_") and importlib.util.find_spec(f"goose.{name}") is not None:
        value = importlib.import_module(f"goose.{name}")
    else:
        raise AttributeError(f"module 'goose' has no attribute {name!r}; see goose.__all__")
    globals()[name] = value  # later reads skip this function
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])


__all__ = sorted(_EXPORTS, key=str.casefold)
