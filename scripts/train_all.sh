#!/usr/bin/env bash
# Train every model of Table 1 (shoes/chairs x triplet/mtl x seeds), JOBS at a time:
#   1. `fgsbir cv`: 4-fold cross-validation on the training pairs chooses the recipe's step and
#      fusion weight for each category and mode, from the validation ranks of all training
#      pairs pooled (table1_out/cv/<category>_<mode>_cv.json, fold models beside it);
#   2. `fgsbir train --refit-from ..._cv.json --seed N`: each seed trained on all training
#      pairs, stopped at that step, with that weight (table1_out/cv/<category>_<mode>_seed<N>.pt);
# then `fgsbir table1 --retrain --cv` (which reuses the trained files) and copy seed 0 of each
# into resources/models/ with its model card. Usage:
#   FGSBIR_DATA=... scripts/train_all.sh [SEEDS=3] [JOBS=2]
set -euo pipefail
cd "$(dirname "$0")/.."
SEEDS=${1:-3}
JOBS=${2:-2}
OUT=table1_out/cv
mkdir -p "$OUT" resources/models
FGSBIR=.venv/bin/fgsbir
printf '%s\n' "shoes mtl" "chairs mtl" "shoes triplet" "chairs triplet" | xargs -P "$JOBS" -L 1 sh -c '
  out='"$OUT"'
  [ -f "$out/$0_$1_cv.json" ] || OMP_NUM_THREADS=1 '"$FGSBIR"' cv --category $0 --mode $1 --threads 1 --out-dir "$out" > "$out/$0_$1_cv.log" 2>&1
  for seed in $(seq 0 $(('"$SEEDS"' - 1))); do
    model=$out/$0_$1_seed$seed.pt
    [ -f "$model" ] || OMP_NUM_THREADS=1 '"$FGSBIR"' train --refit-from "$out/$0_$1_cv.json" --seed $seed --threads 1 --out "$model" > "$model.log" 2>&1
  done
  echo "trained $0 $1"'
$FGSBIR table1 --retrain --cv --seeds "$SEEDS" --out-dir table1_out | tee table1_out/table1_cv.txt
for category in shoes chairs; do
  for mode in mtl triplet; do
    cp "$OUT/${category}_${mode}_seed0.pt" "resources/models/${category}_${mode}.pt"
    $FGSBIR card "resources/models/${category}_${mode}.pt" \
      --command-line "fgsbir cv --category $category --mode $mode --threads 1 --out-dir cv && fgsbir train --refit-from cv/${category}_${mode}_cv.json --seed 0 --threads 1 --out resources/models/${category}_${mode}.pt"
  done
done
