"""Back ends: the transport to one kind of model runtime, behind :class:`goose.engines.Engine`.

* :mod:`~goose.engines.backends.llama_cpp`: a GGUF model in-process on CPU (the default local engine);
* :mod:`~goose.engines.backends.openai_http`: any OpenAI-compatible server (vLLM, SGLang, llama.cpp, hosted APIs);
* :mod:`~goose.engines.backends.vllm_offline`: vLLM in-process, one ``LLM.chat`` call per batch.

Each imports its runtime lazily; build them through :class:`goose.engines.EngineConfig`.
"""
