"""Executors run a :class:`goose.Pipeline` over numbered input batches: in this process
(:class:`LocalExecutor`) or on a Ray Data cluster (``goose.executors.ray_data``, the
``ray`` extra). The same pipeline, input and seed give the same output on either."""

from goose.executors.base import Executor, LocalExecutor

__all__ = ["Executor", "LocalExecutor"]
