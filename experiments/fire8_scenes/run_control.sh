#!/usr/bin/env bash
# Control for the fire8 scenes study: is a gain of mixed over real_only more than extra optimisation? real_only
# at real fraction 0.1 (69 images) trained for 54 epochs: as many image-steps (69 x 54 = 3726) as mixed's
# 15 epochs over 69 real + 180 synthetic images (3735); same 3 seeds, evaluated on val and test.
#   bash experiments/fire8_scenes/run_control.sh <out dir of run_study.sh>
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${1:-/work/studies/fire8_scenes}
PY=${PY:-$HOME/.cache/idg/venv/bin/python}
export IDG_CACHE_DIR=${IDG_CACHE_DIR:-$OUT/cache} YOLO_OFFLINE=1
"$PY" -m idg.run experiment=usefulness real.data="$OUT/split/data.yaml" classes=from_real offline=true \
  logger.mode=offline detector.imgsz=160 detector.epochs=54 detector.finetune_epochs=54 detector.workers=0 \
  detector.batch=16 +detector.args.val=false 'study.arms=[real_only]' 'study.fractions=[0.1]' 'study.seeds=[0,1,2]' \
  stages=[train,evaluate] hydra.run.dir="$OUT/control_real_only_54ep"
