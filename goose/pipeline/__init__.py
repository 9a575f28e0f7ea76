"""Operators, pipelines and the readers that feed them."""

from goose.pipeline.operator import BatchResult, Drop, Operator, RowOutcomes, RunContext
from goose.pipeline.pipeline import BatchOutcome, Pipeline, PipelineError, PipelineResult
from goose.pipeline.sources import ReadDrop, SourceBatch, read_batches
from goose.pipeline.stats import OperatorStats

__all__ = [
    "BatchOutcome",
    "BatchResult",
    "Drop",
    "Operator",
    "OperatorStats",
    "Pipeline",
    "PipelineError",
    "PipelineResult",
    "ReadDrop",
    "RowOutcomes",
    "RunContext",
    "SourceBatch",
    "read_batches",
]
