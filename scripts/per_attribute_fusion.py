"""Would one fusion weight per attribute beat the single w? Nested cross-validation, validation only.

For each cross-validation fold model of `fgsbir cv` (CV_DIR/<category>_mtl_fold<k>.pt) the fold's
validation sketches are ranked among its validation photos by
    d = embedding distance + sum_j v_j (p_sketch,j - p_photo,j)^2,   v_j >= 0.
For fold k, v is fitted on the other three folds' validation pairs only (a listwise softmax loss:
the true photo should have the smallest d; ridge on log v towards the shipped weights, the
labels' reliability x w), then fold k is ranked with it. The baseline is the shipped form, one w
times the reliability weights, with w chosen the same nested way (best pooled acc@1 of the other
three folds). Prints the pooled acc@1 (%) of each, per CV_DIR.

    FGSBIR_DATA=... python scripts/per_attribute_fusion.py --category chairs --cv-dir table1_out/cv [--cv-dir ...]
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
from fgsbir_core.retrieval import embedding_distances, encode_images  # noqa: E402

FOLDS = CV_FOLDS  # the cross-validation the recipe was chosen by
GRID = (0.0, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0)
RIDGES = (0.01, 0.1, 1.0)


def fold_terms(shape: np.ndarray, sketch_probs: np.ndarray, photo_probs: np.ndarray):
    """(embedding distances (Q, G), squared attribute differences (Q, G, A)); validation pair i is (i, i)."""
    return shape, (sketch_probs[:, None, :] - photo_probs[None]) ** 2


def pooled_ranks(folds, v: np.ndarray) -> np.ndarray:
    return np.concatenate([true_ranks(shape + diff @ v) for shape, diff in folds])


def fit_attribute_weights(folds, start: np.ndarray, ridge: float) -> np.ndarray:
    """Per-attribute weights v >= 0 that make each true photo the nearest (softmax over the gallery)."""
    shapes = [torch.as_tensor(s, dtype=torch.float32) for s, _ in folds]
    diffs = [torch.as_tensor(d, dtype=torch.float32) for _, d in folds]
    prior = torch.log(torch.as_tensor(start, dtype=torch.float32) + 1e-4)
    log_v = prior.clone().requires_grad_(True)
    # the softmax temperature is learned too (ranking ignores it); it starts at the distances' spread
    log_t = torch.tensor(-float(np.log(np.std(np.concatenate([s.ravel() for s, _ in folds])) + 1e-8)), requires_grad=True)
    optimiser = torch.optim.LBFGS([log_v, log_t], max_iter=300, line_search_fn="strong_wolfe")
    count = sum(len(s) for s in shapes)

    def closure():
        optimiser.zero_grad()
        loss = sum(torch.nn.functional.cross_entropy(-log_t.exp() * (s + d @ log_v.exp()), torch.arange(len(s)), reduction="sum")
                   for s, d in zip(shapes, diffs)) / count
        loss = loss + ridge * (log_v - prior).pow(2).mean()
        loss.backward()
        return loss

    optimiser.step(closure)
    return log_v.exp().detach().numpy()


def nested_comparison(folds, reliability: np.ndarray, ridges=RIDGES) -> dict:
    """Pooled validation ranks of the nested single-w baseline and of the per-attribute fit per ridge."""
    unit = reliability / reliability.sum()  # as attribute_distances normalises
    ranks: dict = {"single w": []}
    for k, held in enumerate(folds):
        others = [f for i, f in enumerate(folds) if i != k]
        acc = {w: np.mean(pooled_ranks(others, w * unit) < 1) for w in GRID}
        w = max(acc, key=lambda x: (acc[x], -x))
        ranks["single w"].append(pooled_ranks([held], w * unit))
        for ridge in ridges:
            v = fit_attribute_weights(others, max(w, 0.25) * unit, ridge)
            ranks.setdefault(f"per attribute, ridge {ridge:g}", []).append(pooled_ranks([held], v))
    return {name: np.concatenate(parts) for name, parts in ranks.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--category", required=True)
    parser.add_argument("--cv-dir", action="append", required=True, help="a folder of mtl fold models (repeatable)")
    args = parser.parse_args()
    torch.set_num_threads(2)
    train = load_benchmark(args.category, resolve_data_root(None)).train
    for cv_dir in args.cv_dir:
        folds = []
        for k, (_, val) in enumerate(cross_validation_folds(len(train), FOLDS)):
            state = load_checkpoint(fold_file(cv_dir, args.category, "mtl", k))
            model = build_model(state)
            reliability = np.asarray(state["attribute_reliability"], np.float32)
            sketches, photos = encode_images(model, train.sketches[val]), encode_images(model, train.photos[val])
            folds.append(fold_terms(embedding_distances(sketches.embeddings, photos.embeddings),
                                    sketches.attribute_probs, photos.attribute_probs))
        print(cv_dir)
        for name, ranks in nested_comparison(folds, reliability).items():
            print(f"  {name:26s} acc@1 {100 * np.mean(ranks < 1):.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
