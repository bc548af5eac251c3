#!/usr/bin/env bash
# Train every model of Table 1 (shoes/chairs x triplet/mtl x seeds), JOBS at a time, with the
# staged recipe (docs/EXPERIMENTS.md, 2026-11-27): a first stage on this category's training
# pairs together with every training pair of the other two (handbags, chairs, shoes), 1200 steps,
# last weights kept; then the shipped recipe started from it.
#   1. `fgsbir cv` twice: 4-fold cross-validation of the first stage (its fold models), then of
#      the second stage, each fold started from its own first stage (`init_from=...fold{fold}.pt`,
#      so no fold's validation pairs are seen by its first stage). The second chooses the step and
#      fusion weight from the validation ranks of all training pairs pooled
#      (table1_out/cv/<category>_<mode>_cv.json);
#   2. per seed N: the first stage on all training pairs (`--refit-at 1200`), then
#      `fgsbir train --refit-from ..._cv.json --seed N --set init_from=<that first stage>`
#      (table1_out/cv/<category>_<mode>_seed<N>.pt);
# then `fgsbir table1 --retrain --cv` (which reuses the trained files) and copy seed 0 of each
# into resources/models/ with its model card. Usage:
#   FGSBIR_DATA=... scripts/train_all.sh [SEEDS=3] [JOBS=2]
# (TABLE1_OUT=table1_out, MODELS=resources/models and FGSBIR=.venv/bin/fgsbir may be changed.)
# CV_CHOICES="shoes_mtl=500:0.5:0.345 chairs_triplet=500:0:0.79 ..." skips step 1 for the models it
# names and uses that step, fusion weight and validation acc@1 (for the card) instead: a
# cross-validation already on record.
set -euo pipefail
cd "$(dirname "$0")/.."
SEEDS=${1:-3}
JOBS=${2:-2}
TABLE1_OUT=${TABLE1_OUT:-table1_out}
OUT=$TABLE1_OUT/cv
MODELS=${MODELS:-resources/models}
STAGE1_STEPS=1200
mkdir -p "$OUT/stage1" "$MODELS"
FGSBIR=${FGSBIR:-.venv/bin/fgsbir}
export SEEDS OUT STAGE1_STEPS FGSBIR CV_CHOICES="${CV_CHOICES:-}"

run_logged() {  # OUT_FILE COMMAND...: run it (one thread), keep its command line in OUT_FILE.cmd, its output in OUT_FILE.log
  local out=$1; shift
  echo "fgsbir ${*:2}" > "$out.cmd"  # the paths as given: the card's command runs from where this script ran
  OMP_NUM_THREADS=1 "$@" --out "$out" > "$out.log" 2>&1
}
export -f run_logged

train_one() {  # category mode: every seed of one model, logs beside the files
  local category=$1 mode=$2 others choice seed first model
  others=$(printf '%s\n' handbags chairs shoes | grep -vx "$category" | paste -sd, -)
  local stage1=(--category "$category" --mode "$mode" --threads 1 --set "extra_categories=$others"
                --set "steps=$STAGE1_STEPS" --set select=final)
  choice=$(printf '%s\n' $CV_CHOICES | sed -n "s/^${category}_${mode}=//p")
  if [ -z "$choice" ] && [ ! -f "$OUT/${category}_${mode}_cv.json" ]; then
    [ -f "$OUT/stage1/${category}_${mode}_cv.json" ] || OMP_NUM_THREADS=1 $FGSBIR cv "${stage1[@]}" \
      --out-dir "$OUT/stage1" > "$OUT/stage1/${category}_${mode}_cv.log" 2>&1
    OMP_NUM_THREADS=1 $FGSBIR cv --category "$category" --mode "$mode" --threads 1 \
      --set "init_from=$OUT/stage1/${category}_${mode}_fold{fold}.pt" --out-dir "$OUT" > "$OUT/${category}_${mode}_cv.log" 2>&1
  fi
  for seed in $(seq 0 $((SEEDS - 1))); do
    first=$OUT/stage1/${category}_${mode}_seed$seed.pt
    model=$OUT/${category}_${mode}_seed$seed.pt
    [ -f "$first" ] || run_logged "$first" $FGSBIR train "${stage1[@]}" --seed "$seed" --refit-at "$STAGE1_STEPS"
    if [ -f "$model" ]; then continue; fi
    if [ -n "$choice" ]; then
      run_logged "$model" $FGSBIR train --category "$category" --mode "$mode" --seed "$seed" --threads 1 \
        --set "init_from=$first" --refit-at "$(cut -d: -f1 <<< "$choice")" \
        $(w=$(cut -d: -f2 -s <<< "$choice"); [ -n "$w" ] && [ "$w" != 0 ] && echo --fusion-weight "$w")
    else
      run_logged "$model" $FGSBIR train --refit-from "$OUT/${category}_${mode}_cv.json" --seed "$seed" --threads 1 \
        --set "init_from=$first"
    fi
  done
  echo "trained $category $mode"
}
export -f train_one
printf '%s\n' "shoes mtl" "chairs mtl" "shoes triplet" "chairs triplet" | xargs -P "$JOBS" -L 1 bash -c 'train_one "$0" "$1"'
$FGSBIR table1 --retrain --cv --seeds "$SEEDS" --out-dir "$TABLE1_OUT" | tee "$TABLE1_OUT/table1_cv.txt"
for category in shoes chairs; do
  for mode in mtl triplet; do
    cp "$OUT/${category}_${mode}_seed0.pt" "$MODELS/${category}_${mode}.pt"
    recorded=$(printf '%s\n' $CV_CHOICES | sed -n "s/^${category}_${mode}=//p" | cut -d: -f3 -s)
    first=$OUT/stage1/${category}_${mode}_seed0.pt second=$OUT/${category}_${mode}_seed0.pt
    for made in "$first" "$second"; do  # (a file trained before the commands were kept: no card without them)
      [ -f "$made.cmd" ] || { echo "train_all.sh: $made.cmd is missing: the model card needs the command that made $made" >&2; exit 1; }
    done
    # the card's command runs as it stands (bash, from where this script ran); the note after '#' says where it came from
    $FGSBIR card "$MODELS/${category}_${mode}.pt" ${recorded:+--validation-acc1 "$recorded"} --command-line "$(cat "$first.cmd") --out $first && $(cat "$second.cmd") --out $MODELS/${category}_${mode}.pt  # scripts/train_all.sh${CV_CHOICES:+ with CV_CHOICES='$CV_CHOICES': steps and fusion weights of a cross-validation on record, docs/EXPERIMENTS.md}"
  done
done
