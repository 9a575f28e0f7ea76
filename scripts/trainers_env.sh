#!/usr/bin/env bash
# Build the environment of the `trainers`-marked tests (tests/test_trainers.py), idempotently:
#   .venv-trainers/   a virtual environment with torch 2.13.0+cpu, TRL, verl (--no-deps) and the
#                     few packages verl's config and reward loading import, plus goose (-e .)
# Then: .venv-trainers/bin/python -m pytest -q tests/test_trainers.py -m trainers -p no:cacheprovider
#
# torch is installed first and pinned (a constraints file) in every later step, so nothing
# pulls a CUDA build. verl is installed without its dependencies: its full list (vLLM-free
# but with wandb, tensorboard, ray[default], peft, ...) is not needed to load its config and
# its reward functions, and the system Python is never touched.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV="${GOOSE_TRAINERS_VENV:-.venv-trainers}"
TORCH_VERSION="2.13.0"
TRL_VERSION="${GOOSE_TRL_VERSION:-1.16.0}"
VERL_VERSION="${GOOSE_VERL_VERSION:-0.9.1}"

total_start=$(date +%s)
# shellcheck source=scripts/cpu_torch_venv.sh
source scripts/cpu_torch_venv.sh
cpu_torch_venv "$VENV" "$TORCH_VERSION"
install_cpu_torch

# transformers within verl's bounds (its package metadata), which TRL accepts too.
step "trl==$TRL_VERSION (with transformers, accelerate, datasets)"
"${PIP[@]}" "trl==$TRL_VERSION" "transformers>=5.5.3,<5.11,!=5.6.0"
done_step

# What `import verl`, verl.trainer.ppo.reward, its reward managers and its Hydra config need;
# the bounds are verl's own (its package metadata).
step "verl==$VERL_VERSION (--no-deps) and what its config and reward loading import"
installed verl "$VERL_VERSION" || "${PIP[@]}" --no-deps "verl==$VERL_VERSION"
"$PY" -c "import hydra, tensordict, ray, codetiming, dill, pandas, pylatexenc, aiohttp" 2>/dev/null \
  || "${PIP[@]}" hydra-core "tensordict>=0.8.0,<=0.10.0,!=0.9.0" ray codetiming dill pandas pylatexenc aiohttp
done_step

step "this project (-e .) and pytest"
STAMP="$VENV/.goose-project-stamp"  # reinstalled when pyproject.toml changes
project_hash=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [ "$(cat "$STAMP" 2>/dev/null)" != "$project_hash" ] || ! "$PY" -c "import goose, pytest" 2>/dev/null; then
  "${PIP[@]}" -e . "pytest>=8"
  echo "$project_hash" > "$STAMP"
fi
done_step

step "check torch, trl and verl"
"$PY" - <<'PYEOF'
import torch, trl, verl
from verl.trainer.ppo.reward import get_custom_reward_fn  # noqa: F401
assert torch.__version__.startswith("2.13.0") and "cpu" in torch.__version__, torch.__version__
print(f"    torch {torch.__version__}, trl {trl.__version__}, verl {verl.__version__}")
PYEOF
done_step

echo "==> environment ready in $(( $(date +%s) - total_start )) s: $PY"
