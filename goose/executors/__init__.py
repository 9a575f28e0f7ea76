"""Executors run a :class:`goose.Pipeline` over numbered input batches: in this process
(:class:`LocalExecutor`) or on a Ray Data cluster (:class:`RayExecutor`, needs the ``ray``
extra only when it runs). The same pipeline, input and seed give the same output on either.

>>> from goose.executors import LocalExecutor, RayExecutor
>>> import goose
>>> sorted({stage.kind for stage in RayExecutor().plan(goose.offline_pipeline())})
['cpu', 'stateful']
"""

from goose.executors.base import Executor, FileExecutor, LocalExecutor
from goose.executors.ray_config import RayExecutorConfig, RayExecutorError, StageResources
from goose.executors.ray_data import RayExecutor

__all__ = ["Executor", "FileExecutor", "LocalExecutor", "RayExecutor", "RayExecutorConfig", "RayExecutorError", "StageResources"]
