#!/usr/bin/env bash
# Create .venv with ganbench and its dependencies (CPU build of torch) — idempotent, cheap when nothing changed.
# Usage: scripts/setup.sh [test]   ("test" also installs the system packages the test suite drives:
#        Debian's Fashion-MNIST mirror, Chromium, and SLURM/munge for the cluster test).
# A CUDA (or ROCm) build of torch already in .venv is kept: ganbench is then installed with
# requirements/constraints.txt alone, without the CPU pins of torch/torchvision in cpu-constraints.txt.
# GANBENCH_SETUP_DRY_RUN=1: print the pip commands instead of running them (and leave the stamp alone).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
stamp=.venv/.ganbench-installed
want="$(cat pyproject.toml requirements/*.txt | sha256sum | cut -c1-16)"

apt_install() {  # install Debian packages when we can (root + apt); otherwise say what is missing
  local missing=()
  for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "setup: installing Debian packages: ${missing[*]}"
    apt-get update -qq || true
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "setup: please install these Debian packages: ${missing[*]}" >&2
  fi
}

# Fashion-MNIST from Debian is the offline mirror of the default config (the official URLs come first).
if [ ! -d /usr/share/datasets/fashion-mnist ] && command -v apt-get >/dev/null; then
  apt_install dataset-fashion-mnist || true
fi
if [ "${1:-}" = test ]; then
  apt_install chromium slurmctld slurmd slurm-client munge || true
fi

if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  constraints=requirements/cpu-constraints.txt
  # torch.version.cuda / .hip are None for CPU builds; no torch yet (or a broken one) counts as none
  gpu_torch="$(.venv/bin/python -c 'import torch; v = torch.version; print(torch.__version__ if (v.cuda or getattr(v, "hip", None)) else "")' 2>/dev/null || true)"
  if [ -n "$gpu_torch" ]; then
    echo "setup: keeping the GPU build of torch in .venv ($gpu_torch); installing without the CPU pins"
    constraints=requirements/constraints.txt
  fi
  run=()
  [ "${GANBENCH_SETUP_DRY_RUN:-}" = 1 ] && run=(echo "setup: would run:")
  "${run[@]}" .venv/bin/python -m pip install -q --upgrade pip
  "${run[@]}" .venv/bin/python -m pip install -q -c "$constraints" -e ".[test]"
  if [ ${#run[@]} -eq 0 ]; then echo "$want" >"$stamp"; fi
fi
