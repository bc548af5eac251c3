#!/usr/bin/env bash
# Train every model of Table 1 (shoes/chairs x triplet/mtl x seeds), JOBS at a time:
#   1. a run on the training split minus its validation carve, which chooses the step and the
#      fusion weight on the carve (table1_out/<category>_<mode>_seed<N>.pt);
#   2. the same recipe trained again on all training pairs, stopped at that step, keeping that
#      weight (table1_out/refit/...): the models that are evaluated and shipped;
# then `fgsbir table1 --retrain --refit` (which reuses the trained files) and copy seed 0 of each
# refit into resources/models/ with its model card. Usage:
#   FGSBIR_DATA=... scripts/train_all.sh [SEEDS=3] [JOBS=2]
set -euo pipefail
cd "$(dirname "$0")/.."
SEEDS=${1:-3}
JOBS=${2:-2}
OUT=table1_out
mkdir -p "$OUT/refit" resources/models
FGSBIR=.venv/bin/fgsbir
jobs_list=()
for seed in $(seq 0 $((SEEDS - 1))); do
  for category in shoes chairs; do
    for mode in mtl triplet; do
      jobs_list+=("$category $mode $seed")
    done
  done
done
printf '%s\n' "${jobs_list[@]}" | xargs -P "$JOBS" -L 1 sh -c '
  run='"$OUT"'/$0_$1_seed$2.pt
  refit='"$OUT"'/refit/$0_$1_seed$2.pt
  [ -f "$run" ] || OMP_NUM_THREADS=1 '"$FGSBIR"' train --category $0 --mode $1 --seed $2 --threads 1 --out "$run" > "$run.log" 2>&1
  [ -f "$refit" ] || OMP_NUM_THREADS=1 '"$FGSBIR"' train --refit-from "$run" --threads 1 --out "$refit" > "$refit.log" 2>&1
  echo "trained $run and $refit"'
$FGSBIR table1 --retrain --refit --seeds "$SEEDS" --out-dir "$OUT" | tee "$OUT/table1.txt"
for category in shoes chairs; do
  for mode in mtl triplet; do
    cp "$OUT/refit/${category}_${mode}_seed0.pt" "resources/models/${category}_${mode}.pt"
    $FGSBIR card "resources/models/${category}_${mode}.pt" \
      --command-line "fgsbir train --category $category --mode $mode --seed 0 --threads 1 --out run.pt && fgsbir train --refit-from run.pt --threads 1 --out resources/models/${category}_${mode}.pt"
  done
done
