"""Cross-validate several training recipes at once: every fold of every recipe in its own process
(one thread each), then each recipe pooled exactly as `fgsbir cv` pools it (the fold files are
the same, so `fgsbir cv` with the same options reuses them).

    FGSBIR_DATA=... python scripts/cv_parallel.py --category chairs --mode mtl --jobs 16 --out-dir exp \
        --recipe share75:hard_share=0.75 --recipe pool10:hard_pool=10

A recipe is NAME:KEY=VALUE,KEY=VALUE,... with the keys of `fgsbir cv --set`; NAME: (nothing after
the colon) is the shipped recipe. Prints one line per recipe: chosen step, weight, acc@1, acc@10.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import re
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fgsbir_core.crossval import CV_FOLDS, cross_validate, train_fold
from fgsbir_core.data import resolve_data_root
from fgsbir_core.train import TrainConfig

FOLDS = CV_FOLDS  # the cross-validation the recipe was chosen by


def recipe_config(category: str, mode: str, text: str, seed: int = 0):
    sets = [s for s in re.split(r",(?=[\w.]+=)", text) if s]  # "extra_categories=shoes,handbags" stays one
    return TrainConfig(category=category, mode=mode, seed=seed, threads=1).with_overrides(sets)


def run_fold(category: str, mode: str, text: str, seed: int, out_dir: str, k: int) -> None:
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    train_fold(recipe_config(category, mode, text, seed), Path(out_dir), k, FOLDS, resolve_data_root(None), quiet=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--category", required=True)
    parser.add_argument("--mode", required=True)
    parser.add_argument("--recipe", action="append", required=True, metavar="NAME:KEY=VALUE,...")
    parser.add_argument("--seed", type=int, default=0, help="training seed of every recipe (as fgsbir cv --seed)")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--out-dir", required=True)
    args = parser.parse_args()
    recipes = dict(r.split(":", 1) for r in args.recipe)
    for text in recipes.values():
        recipe_config(args.category, args.mode, text, args.seed)  # a typo fails here, not after an hour
    with ProcessPoolExecutor(args.jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = {name: [pool.submit(run_fold, args.category, args.mode, text, args.seed, str(Path(args.out_dir) / name), k)
                          for k in range(FOLDS)] for name, text in recipes.items()}
        for name, text in recipes.items():
            for f in futures[name]:
                f.result()
            result = cross_validate(recipe_config(args.category, args.mode, text, args.seed), Path(args.out_dir) / name, folds=FOLDS, quiet=True)
            v = result["validation"]
            print(json.dumps({"recipe": name, "sets": text, "seed": args.seed, "step": result["chosen_step"], "fusion_weight": v["fusion_weight"],
                              "acc_at_1": round(v["acc_at_1"], 4), "acc_at_10": round(v["acc_at_10"], 4)}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
