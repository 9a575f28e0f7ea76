# Shared by scripts/vllm_cpu_env.sh and scripts/trainers_env.sh (source it; it runs nothing):
# a virtual environment with torch pinned to a CPU build in every pip step.
#   cpu_torch_venv VENV TORCH_VERSION   sets PY (the venv's python) and PIP (pip install with torch pinned)
#   step "what" / done_step             timed progress lines
#   installed DIST VERSION              0 when that exact version is installed in the venv
#   install_cpu_torch                   installs torch==$TORCH_VERSION, refusing a non-CPU build

step_start=0
step() { step_start=$(date +%s); echo "==> $*"; }
done_step() { echo "    done in $(( $(date +%s) - step_start )) s"; }

cpu_torch_venv() {
  VENV="$1"
  TORCH_VERSION="$2"
  PY="$VENV/bin/python"
  step "virtual environment $VENV"
  [ -x "$PY" ] || python3 -m venv "$VENV"
  done_step
  CONSTRAINTS="$VENV/torch-constraints.txt"
  echo "torch==$TORCH_VERSION" > "$CONSTRAINTS"
  PIP=("$PY" -m pip install --disable-pip-version-check -q -c "$CONSTRAINTS")
}

installed() {
  "$PY" - "$1" "$2" <<'PYEOF'
import sys
from importlib.metadata import PackageNotFoundError, version
try:
    sys.exit(0 if version(sys.argv[1]).split("+")[0] == sys.argv[2] else 1)
except PackageNotFoundError:
    sys.exit(1)
PYEOF
}

install_cpu_torch() {
  step "torch==$TORCH_VERSION (CPU wheel)"
  if ! installed torch "$TORCH_VERSION"; then
    # Refuse before downloading anything when pip would pick a CUDA build (several GB): the CPU
    # wheel must be reachable (here: a local find-links wheel, for CPython 3.11 only).
    local picked
    picked=$("$PY" -m pip install --dry-run --ignore-installed --no-deps --quiet --report - "torch==$TORCH_VERSION" \
      | "$PY" -c "import json, sys; r = json.load(sys.stdin)['install'][0]; print(r['metadata']['version'], r['download_info']['url'])")
    case "$picked" in
      *+cpu*) echo "    $picked" ;;
      *) echo "error: pip would install torch $picked, not a +cpu build; make the torch==$TORCH_VERSION+cpu" \
              "wheel available (e.g. with PIP_FIND_LINKS)" >&2; exit 1 ;;
    esac
    "${PIP[@]}" "torch==$TORCH_VERSION"
  fi
  done_step
}
