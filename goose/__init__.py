"""goose: turn reasoning text into verifiable multiple-choice tasks for RLVR.

>>> import goose
>>> result = goose.offline_pipeline().run(goose.sample_corpus_path())
>>> result.accounted
True
"""

from goose.pipeline import Operator, Pipeline, PipelineResult, RunContext
from goose.presets import offline_pipeline, sample_corpus_path
from goose.schema import REJECT_SCHEMA, TASK_SCHEMA, table_to_tasks, tasks_to_table
from goose.task import Lineage, Task, TaskProblem

__version__ = "0.1.0"

__all__ = [
    "REJECT_SCHEMA",
    "TASK_SCHEMA",
    "Lineage",
    "Operator",
    "Pipeline",
    "PipelineResult",
    "RunContext",
    "Task",
    "TaskProblem",
    "offline_pipeline",
    "sample_corpus_path",
    "table_to_tasks",
    "tasks_to_table",
]
