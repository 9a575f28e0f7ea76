"""LLM engines: one policy layer (:class:`Engine`) over interchangeable back ends.

>>> from goose.engines import Engine, ChatRequest
>>> from goose.engines.testing import ScriptedBackend
>>> Engine(ScriptedBackend(['{"x": 1}'])).generate([ChatRequest.user("hi")])[0].text
'{"x": 1}'
"""

from goose.engines.backend import Backend, BackendError, BatchBackend, EngineAuthError, RequestBackend
from goose.engines.cache import ResponseCache
from goose.engines.config import EngineConfig
from goose.engines.engine import Engine, RetryPolicy
from goose.engines.redact import redact, redact_options
from goose.engines.structured import generate_json, parse_json_answer
from goose.engines.types import ChatRequest, Failure, Generation, SamplingParams
from goose.engines.usage import EngineUsage

__all__ = [
    "Backend",
    "BackendError",
    "BatchBackend",
    "ChatRequest",
    "Engine",
    "EngineAuthError",
    "EngineConfig",
    "EngineUsage",
    "Failure",
    "Generation",
    "RequestBackend",
    "ResponseCache",
    "RetryPolicy",
    "SamplingParams",
    "generate_json",
    "parse_json_answer",
    "redact",
    "redact_options",
]
