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
