#!/usr/bin/env bash
# The fire8 scenes study recorded in experiments/fire8_scenes/README.md: real_only vs copy-paste on the real
# subset's empty frames (background=real_empty, sampler=real_prior) vs copy-paste on generated backgrounds
# (the tiny random model's prompt backgrounds, same real_prior layout), real fractions 0.1 and 0.25 x 3
# seeds, evaluated on fire8's val and on a test split carved from train by scene (make_split.py).
#   bash experiments/fire8_scenes/run_study.sh <out dir>     (resumable: rerun the same command)
# FIRE8=<fire8 data.yaml> when the checkout is not beside ../shared (e.g. a git archive snapshot).
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${1:-/work/studies/fire8_scenes}
PY=${PY:-$HOME/.cache/idg/venv/bin/python}
export IDG_CACHE_DIR=${IDG_CACHE_DIR:-$OUT/cache} YOLO_OFFLINE=1
mkdir -p "$OUT"
[ -f "$OUT/split/data.yaml" ] || "$PY" experiments/fire8_scenes/make_split.py \
  --data "${FIRE8:-../shared/data/fire8/data.yaml}" --out "$OUT/split" > "$OUT/split.log"
COMMON=(experiment=usefulness real.data="$OUT/split/data.yaml" classes=from_real sampler=real_prior
        generator=copy_paste model=tiny model.resolution=160 offline=true logger.mode=offline
        generate.num_images=200 generate.progress=false detector.imgsz=160 detector.epochs=15
        detector.finetune_epochs=15 detector.workers=0 detector.batch=16 +detector.args.val=false
        'study.arms=[syn_only,syn_then_real,real_only,mixed]' 'study.fractions=[0.1,0.25]' 'study.seeds=[0,1,2]')
# A: copy-paste onto the subset's own empty frames
"$PY" -m idg.run "${COMMON[@]}" background=real_empty hydra.run.dir="$OUT/real_empty"
# B: copy-paste onto generated (tiny model) backgrounds; real_only trainings copied from A (same keys)
"$PY" -m idg.run "${COMMON[@]}" background=cctv_scenes "study.reuse=[$OUT/real_empty]" hydra.run.dir="$OUT/generated"
