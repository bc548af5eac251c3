"""How sure is a difference in acc@1 between two modes? Per-sketch paired counts and an exact test.

For each seed's pair of models (A, B) on the test split -- or, with --cv, each repetition of the
cross-validation on the training pairs -- counts the sketches whose true photo only A ranks
first, only B, both, neither, and the exact two-sided sign (McNemar) test on the discordant
sketches: the chance of a split at least this uneven if both modes were equally good. Nothing
is chosen here; it reads models already trained and figures already reported.

    FGSBIR_DATA=... python scripts/paired_comparison.py --category chairs \\
        --a table1_out/cv/chairs_mtl_seed{0,1,2}.pt --b table1_out/cv/chairs_triplet_seed{0,1,2}.pt
    FGSBIR_DATA=... python scripts/paired_comparison.py --category chairs --cv \\
        --a table1_out/cv/chairs_mtl_cv.json ... --b table1_out/cv/chairs_triplet_cv.json ...

With --cv, each file is a `fgsbir cv` result; its fold models beside it give the validation
ranks at its chosen step and fusion weight, pooled over the folds as `fgsbir cv` pools them.
"""
from __future__ import annotations

import argparse
import json
import sys
from math import comb
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fgsbir_core.checkpoint import load_checkpoint  # noqa: E402
from fgsbir_core.crossval import fold_file  # noqa: E402
from fgsbir_core.evaluate import evaluate_checkpoint, true_ranks  # noqa: E402


def sign_test(only_a: int, only_b: int) -> float:
    """Exact two-sided binomial test of only_a vs only_b at p = 1/2."""
    n, k = only_a + only_b, min(only_a, only_b)
    if n == 0:
        return 1.0
    return min(1.0, 2.0 * sum(comb(n, i) for i in range(k + 1)) / 2.0 ** n)


def test_split_ranks(weights: str, category: str) -> np.ndarray:
    return true_ranks(evaluate_checkpoint(weights, category)[1])


def cv_ranks(result_file: str) -> np.ndarray:
    """Pooled validation ranks of a cross-validation at its chosen step and weight (fold order)."""
    result = json.loads(Path(result_file).read_text())
    config = result["train_config"]
    step, w = str(result["chosen_step"]), result["validation"]["fusion_weight"]
    ranks = []
    for k in range(result["folds"]):
        card = load_checkpoint(fold_file(Path(result_file).parent, config["category"], config["mode"], k))["card"]
        by_weight = card["validation_ranks"][step]
        ranks.extend(by_weight[str(float(w))])  # keys written as str(float) by `train`
    return np.asarray(ranks)


def short(path: str) -> str:
    """The file name, with its folder where the name alone is ambiguous (cross-validation results)."""
    p = Path(path)
    return f"{p.parent.name}/{p.name}" if p.suffix == ".json" else p.name


def line(label: str, a: np.ndarray, b: np.ndarray) -> str:
    hit_a, hit_b = a < 1, b < 1
    only_a, only_b = int(np.sum(hit_a & ~hit_b)), int(np.sum(hit_b & ~hit_a))
    return (f"{label:44s} A {100 * hit_a.mean():5.1f} %  B {100 * hit_b.mean():5.1f} %  both {int(np.sum(hit_a & hit_b)):3d}  "
            f"only A {only_a:3d}  only B {only_b:3d}  neither {int(np.sum(~hit_a & ~hit_b)):3d}  p = {sign_test(only_a, only_b):.3f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--category", required=True)
    parser.add_argument("--a", nargs="+", required=True, help="model files (or cv results with --cv) of mode A, one per seed")
    parser.add_argument("--b", nargs="+", required=True, help="the same for mode B, paired in order")
    parser.add_argument("--cv", action="store_true", help="validation ranks of cross-validations instead of the test split")
    args = parser.parse_args()
    if len(args.a) != len(args.b):
        parser.error("--a and --b need the same number of files (paired by position)")
    ranks = cv_ranks if args.cv else (lambda f: test_split_ranks(f, args.category))
    all_a, all_b = [], []
    for fa, fb in zip(args.a, args.b):
        a, b = ranks(fa), ranks(fb)
        all_a.append(a)
        all_b.append(b)
        print(line(f"{short(fa)} vs {short(fb)}", a, b))
    if len(all_a) > 1:
        # every (sketch, seed) pair counted once: seeds are not independent samples of sketches,
        # so this p is only a rough guide; the per-seed lines are the honest ones
        print(line("all seeds pooled", np.concatenate(all_a), np.concatenate(all_b)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
