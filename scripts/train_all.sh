#!/usr/bin/env bash
# Train every model of Table 1 (shoes/chairs x triplet/mtl x seeds), JOBS at a time, then
# evaluate them all with `fgsbir table1 --retrain` (which reuses the trained files) and copy
# seed 0 of each into resources/models/ with its model card. Usage:
#   FGSBIR_DATA=... scripts/train_all.sh [SEEDS=3] [JOBS=2]
set -euo pipefail
cd "$(dirname "$0")/.."
SEEDS=${1:-3}
JOBS=${2:-2}
OUT=table1_out
mkdir -p "$OUT" resources/models
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
  out='"$OUT"'/$0_$1_seed$2.pt
  [ -f "$out" ] || OMP_NUM_THREADS=1 '"$FGSBIR"' train --category $0 --mode $1 --seed $2 --threads 1 --out "$out" > "$out.log" 2>&1
  echo "trained $out"'
$FGSBIR table1 --retrain --seeds "$SEEDS" --out-dir "$OUT" | tee "$OUT/table1.txt"
for category in shoes chairs; do
  for mode in mtl triplet; do
    cp "$OUT/${category}_${mode}_seed0.pt" "resources/models/${category}_${mode}.pt"
    $FGSBIR card "resources/models/${category}_${mode}.pt" \
      --command-line "fgsbir train --category $category --mode $mode --seed 0 --threads 1 --out resources/models/${category}_${mode}.pt"
  done
done
