#!/usr/bin/env bash
# Which copy-paste mask works on fire8: syn_only (trained on the copy-paste set alone, so only the pasted
# objects' appearance differs) at real fraction 0.25 x 3 seeds, mask=grabcut and mask=contrast; mask=box is
# the syn_only rows of run_study.sh variant A (real_empty/results.csv).
#   bash experiments/fire8_scenes/run_masks.sh <out dir of run_study.sh>
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${1:-/work/studies/fire8_scenes}
PY=${PY:-$HOME/.cache/idg/venv/bin/python}
export IDG_CACHE_DIR=${IDG_CACHE_DIR:-$OUT/cache} YOLO_OFFLINE=1
COMMON=(experiment=usefulness real.data="$OUT/split/data.yaml" classes=from_real sampler=real_prior
        generator=copy_paste model=tiny model.resolution=160 offline=true logger.mode=offline
        generate.num_images=200 generate.progress=false detector.imgsz=160 detector.epochs=15
        detector.finetune_epochs=15 detector.workers=0 detector.batch=16 +detector.args.val=false
        background=real_empty 'study.arms=[syn_only]' 'study.fractions=[0.25]' 'study.seeds=[0,1,2]')
for MASK in grabcut contrast; do
  "$PY" -m idg.run "${COMMON[@]}" copy_paste.mask=$MASK hydra.run.dir="$OUT/mask_$MASK"
done
