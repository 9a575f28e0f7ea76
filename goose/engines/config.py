"""Engines described as data (YAML runs, the CLI, Ray workers): :class:`EngineConfig`.

An engine config names the back end (``local``: llama.cpp on CPU, ``openai``: any
OpenAI-compatible server, ``vllm``: vLLM in-process), the model, the response cache and
the retry policy. :meth:`EngineConfig.build` makes the :class:`~goose.engines.Engine`;
the back end's heavy imports happen only then.

In a ``goose run`` YAML file::

    engine:
      backend: openai
      base_url: http://127.0.0.1:8000/v1
      model: Qwen/Qwen2.5-7B-Instruct
      cache: cache/responses.sqlite
      retry: {max_in_flight: 64, timeout: 300}

>>> config = EngineConfig(backend="openai", base_url="http://127.0.0.1:8000/v1", model="m")
>>> engine = config.build()
>>> engine.name, engine.model
('openai-http', 'm')
>>> engine.close()
"""

from __future__ import annotations

import difflib
import inspect
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from goose.engines.backend import Backend
from goose.engines.engine import Engine, RetryPolicy


class EngineConfig(BaseModel):
    """Which back end and model an engine runs, with its cache and retry policy."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    backend: Literal["local", "openai", "vllm"] = Field(
        "local", description="local: llama.cpp on CPU; openai: an OpenAI-compatible server; vllm: vLLM in-process."
    )
    model: str | None = Field(
        None,
        description="local: a .gguf path (default: the packaged SmolLM2-135M); openai: the served model name; "
        "vllm: a Hugging Face id or model folder.",
    )
    base_url: str | None = Field(None, description="openai only: the server's base URL, e.g. http://127.0.0.1:8000/v1.")
    api_key_env: str = Field("OPENAI_API_KEY", description="openai only: environment variable holding the API key.")
    cache: str | None = Field(None, description="Path of the SQLite response cache (none: no cache).")
    retry: RetryPolicy = Field(default_factory=RetryPolicy)
    options: dict[str, Any] = Field(
        default_factory=dict,
        description="Back-end keyword arguments, e.g. {n_ctx: 4096} (local) or {max_model_len: 4096} (vllm).",
    )

    @model_validator(mode="after")
    def _complete(self) -> EngineConfig:
        if self.backend == "openai" and (not self.base_url or not self.model):
            raise ValueError("backend 'openai' needs 'base_url' (e.g. http://127.0.0.1:8000/v1) and 'model'")
        if self.backend == "vllm" and not self.model:
            raise ValueError("backend 'vllm' needs 'model' (a Hugging Face id or a model folder)")
        if self.backend != "openai" and self.base_url:
            raise ValueError(f"'base_url' is for backend 'openai', not {self.backend!r}")
        _check_options(self.backend, self.options)
        return self

    def build_backend(self) -> Backend:
        """The back end alone (no cache or retry policy)."""
        if self.backend == "local":
            from goose.engines.backends.llama_cpp import LlamaCppBackend

            return LlamaCppBackend(self.model, **self.options)
        if self.backend == "openai":
            import os

            from goose.engines.backends.openai_http import OpenAIHTTPBackend

            assert self.base_url is not None and self.model is not None
            return OpenAIHTTPBackend(self.base_url, self.model, api_key=os.environ.get(self.api_key_env), **self.options)
        from goose.engines.backends.vllm_offline import VLLMBackend

        assert self.model is not None
        return VLLMBackend(self.model, **self.options)

    def build(self, base: str | Path | None = None) -> Engine:
        """The engine; a relative ``cache`` path is resolved against ``base`` (e.g. the config's folder)."""
        cache = None
        if self.cache is not None:
            cache = Path(self.cache) if base is None or Path(self.cache).is_absolute() else Path(base) / self.cache
        return Engine(self.build_backend(), cache=cache, retry=self.retry)


_SET_BY_CONFIG: dict[str, dict[str, str]] = {
    "local": {"model_path": "set the engine's 'model:' key instead"},
    "openai": {
        "base_url": "set the engine's 'base_url:' key instead",
        "model": "set the engine's 'model:' key instead",
        "api_key": "put the key in the environment variable that 'api_key_env:' names (default OPENAI_API_KEY)",
    },
    "vllm": {"model": "set the engine's 'model:' key instead"},
}
"""Constructor arguments the config passes itself, by back end: argument -> what to do instead."""


def backend_class(backend: str) -> type[Backend]:
    """The back-end class of ``backend`` (its module imports no heavy library).

    >>> backend_class("openai").__name__
    'OpenAIHTTPBackend'
    """
    if backend == "local":
        from goose.engines.backends.llama_cpp import LlamaCppBackend

        return LlamaCppBackend
    if backend == "openai":
        from goose.engines.backends.openai_http import OpenAIHTTPBackend

        return OpenAIHTTPBackend
    from goose.engines.backends.vllm_offline import VLLMBackend

    return VLLMBackend


def backend_option_names(backend: str) -> frozenset[str] | None:
    """The keyword arguments ``options`` may set for ``backend``, read from its class's
    constructor (``None``: it takes any, ``**kwargs``).

    >>> sorted(backend_option_names("local"))
    ['logits_all', 'n_ctx', 'n_threads', 'verbose']
    """
    parameters = inspect.signature(backend_class(backend).__init__).parameters.values()
    if any(parameter.kind is inspect.Parameter.VAR_KEYWORD for parameter in parameters):
        return None
    named = {parameter.name for parameter in parameters
             if parameter.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)}
    return frozenset(named - {"self"} - set(_SET_BY_CONFIG[backend]))


def _check_options(backend: str, options: dict[str, Any]) -> None:
    """Refuse ``options`` keys the back end's constructor does not take, naming the fix.

    >>> _check_options("local", {"n_ctxx": 1})
    Traceback (most recent call last):
    ValueError: options: backend 'local' takes no option 'n_ctxx' (did you mean 'n_ctx'?); it takes logits_all, n_ctx, n_threads, verbose
    """
    for key in options:
        if key in _SET_BY_CONFIG[backend]:
            raise ValueError(f"options: {key!r} is not an option; {_SET_BY_CONFIG[backend][key]}")
    known = backend_option_names(backend)
    if known is None:
        return
    for key in options:
        if key not in known:
            close = difflib.get_close_matches(key, known, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ValueError(f"options: backend {backend!r} takes no option {key!r}{hint}; it takes "
                             f"{', '.join(sorted(known))}")
