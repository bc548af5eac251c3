"""Would a hubness correction at query time rank better? Cross-validation fold models, validation only.

Some photos sit close to many sketches ("hubs") and crowd the top of every ranking. Cross-domain
similarity local scaling (CSLS) corrects for that: each photo's distance to the query is lowered
by half its mean distance to its k nearest *training* sketches, so photos that every sketch finds
near count for less:

    D'(s, p) = D(s, p) - 1/2 * mean of the k smallest D(t, p), t over the model's training sketches,

with D the shipped fused distance (embedding + w * attributes, the bundled model's w). For each
fold model of a cross-validation folder, the fold's validation sketches are ranked among its
validation photos, the hub term taken from the fold's own training sketches; prints the pooled
acc@1 (%) without and with the correction, for k = 5, 10, 20.

    FGSBIR_DATA=... python scripts/hubness_check.py --category chairs --cv-dir table1_out/cv
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fgsbir_core.checkpoint import build_model, load_checkpoint  # noqa: E402
from fgsbir_core.crossval import CV_FOLDS, fold_file  # noqa: E402
from fgsbir_core.data import cross_validation_folds, load_benchmark, resolve_data_root  # noqa: E402
from fgsbir_core.evaluate import true_ranks  # noqa: E402
from fgsbir_core.retrieval import encode_images, fused_distances  # noqa: E402

FOLDS = CV_FOLDS  # the cross-validation the recipe was chosen by
MODELS = Path(__file__).resolve().parents[1] / "resources" / "models"
KS = (5, 10, 20)


def hub_term(train_to_gallery: np.ndarray, k: int) -> np.ndarray:
    """(G,) half the mean of each gallery photo's k smallest distances to the training sketches."""
    k = min(k, len(train_to_gallery))
    return 0.5 * np.sort(train_to_gallery, axis=0)[:k].mean(axis=0)


def corrected(distances: np.ndarray, train_to_gallery: np.ndarray, k: int) -> np.ndarray:
    return distances - hub_term(train_to_gallery, k)[None, :]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--category", required=True)
    parser.add_argument("--cv-dir", required=True, help="a folder of fold models ({category}_{mode}_fold{k}.pt)")
    parser.add_argument("--modes", default="mtl,triplet")
    args = parser.parse_args()
    torch.set_num_threads(2)
    train = load_benchmark(args.category, resolve_data_root(None)).train
    for mode in args.modes.split(","):
        # fold models carry no fusion weight: use the bundled model's (chosen by this cross-validation)
        w = float(load_checkpoint(MODELS / f"{args.category}_{mode}.pt").get("fusion_weight", 0.0))
        ranks: dict[str, list] = {"plain": [], **{f"k={k}": [] for k in KS}}
        for k_fold, (fit, val) in enumerate(cross_validation_folds(len(train), FOLDS)):
            model = build_model(load_checkpoint(fold_file(args.cv_dir, args.category, mode, k_fold)))
            sketches, photos = encode_images(model, train.sketches[val]), encode_images(model, train.photos[val])
            seen = encode_images(model, train.sketches[fit])
            d = fused_distances(sketches, photos, w)
            d_seen = fused_distances(seen, photos, w)
            ranks["plain"].append(true_ranks(d))
            for k in KS:
                ranks[f"k={k}"].append(true_ranks(corrected(d, d_seen, k)))
        print(f"{args.category} {mode} (w = {w:g}): " + ", ".join(
            f"{name} {100 * np.mean(np.concatenate(r) < 1):.1f}" for name, r in ranks.items()), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
