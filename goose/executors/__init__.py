"""Executors run a :class:`goose.Pipeline` over numbered input batches: in this process
(:class:`LocalExecutor`) or on a Ray Data cluster (:class:`RayExecutor`, needs the ``ray``
extra only when it runs). The same pipeline, input and seed give the same output on either.

>>> from goose.executors import LocalExecutor, RayExecutor
>>> [stage.name for stage in RayExecutor().plan(__import__("goose").offline_pipeline())][:1]  # doctest: +ELLIPSIS
[...]
"""

from goose.executors.base import Executor, LocalExecutor
from goose.executors.ray_data import RayExecutor, RayExecutorConfig, RayExecutorError, StageResources

__all__ = ["Executor", "LocalExecutor", "RayExecutor", "RayExecutorConfig", "RayExecutorError", "StageResources"]
