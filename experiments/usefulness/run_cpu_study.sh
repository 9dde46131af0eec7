#!/usr/bin/env bash
# The CPU usefulness study recorded in experiments/usefulness/README.md: copy-paste and tiny-diffusion
# generators on fire8 (../shared/data/fire8), 2 real fractions x 3 seeds, 12 epochs at 160 px, offline.
# ~1 h for the copy-paste study and ~1 h for the diffusion one on a busy 2-core machine.
#   bash experiments/usefulness/run_cpu_study.sh [out dir, default runs/]
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${1:-runs}
PY=${PY:-$HOME/.cache/idg/venv/bin/python}
COMMON=(experiment=usefulness model=tiny model.resolution=160 offline=true logger.mode=offline
        generate.num_images=200 generate.progress=false detector.imgsz=160 detector.epochs=12
        detector.finetune_epochs=12 detector.workers=0 detector.batch=16 'study.fractions=[0.05,0.25]'
        'study.seeds=[0,1,2]')
"$PY" -m idg.run "${COMMON[@]}" generator=copy_paste hydra.run.dir="$OUT/usefulness_copy_paste"
# same real_only trainings (same keys) as the copy-paste study: copied, not retrained
"$PY" -m idg.run "${COMMON[@]}" generator=diffusion "study.reuse=[$OUT/usefulness_copy_paste]" \
  hydra.run.dir="$OUT/usefulness_diffusion"
