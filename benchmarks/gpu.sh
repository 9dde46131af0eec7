#!/usr/bin/env bash
# The prepared GPU run (benchmarks/gpu.py): one command, no network, about 8 minutes on one GPU.
#
#   bash benchmarks/gpu.sh --json "$OUT/gpu.json"              # GPU: full-size SDXL-Turbo architecture, fp16
#   bash benchmarks/gpu.sh --device cpu --k 16 --images 1      # CPU dry run (tests/test_gpu_bench.py)
#
# Python: $PYTHON, else python3. Wheels of the packages the machine lacks (diffusers, hydra-core, omegaconf,
# antlr4-python3-runtime; benchmarks/README.md says how to fetch them) are taken from $IDG_WHEELS, else
# <repo>/.whl, when that folder holds any: installed with --no-index --no-deps into a temporary folder put
# first on PYTHONPATH, so the machine's own packages (torch, transformers, ...) are left as they are.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$here")"
py="${PYTHON:-python3}"
wheels="${IDG_WHEELS:-$repo/.whl}"
if compgen -G "$wheels/*.whl" > /dev/null; then
    site="$(mktemp -d)"
    trap 'rm -rf "$site"' EXIT
    "$py" -m pip install --quiet --no-index --no-deps --target "$site" "$wheels"/*.whl
    export PYTHONPATH="$site${PYTHONPATH:+:$PYTHONPATH}"
fi
export HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1
cd "$repo"
"$py" "$here/gpu.py" "$@"
