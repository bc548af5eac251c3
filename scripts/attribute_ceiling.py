"""How much could the attribute fusion give, and is another attribute distance better? Validation only.

For each cross-validation fold model of `fgsbir cv` (CV_DIR/<category>_mtl_fold<k>.pt), the fold's
validation sketches are ranked among its validation photos by embedding distance + w * attribute
distance, with the attribute vectors taken from:
  predicted      the model's probabilities for sketch and photo (what ships)
  labels-sketch  the sketch's labels (its photo's), the photo's predicted probabilities
  labels-photo   the sketch's predicted probabilities, the photo's labels
  labels-both    the labels on both sides: the ceiling of better attribute prediction
and, with predicted probabilities, a second distance, "loglik": the reliability-weighted mean of
-log P(sketch and photo agree on attribute j), P = p_s p_p + (1 - p_s)(1 - p_p), which punishes
confident disagreements more than the squared difference does, and "knn+head": each image's
attributes as the mean of the head's probabilities and the labels of its 5 nearest photos of the
fold's training part (by the model's embedding distance), and "hoglr+head": the mean of the head's
probabilities and those of a logistic regression on the model's fixed HOG descriptor (standardised,
ridge penalty 1e-3, fitted on the fold's training sketches and photos; a reader that learns nothing
of the sketch/photo gap, for small data). Ranks of all folds are pooled,
as `fgsbir cv` pools them; one line per variant, acc@1 (%) at each w and the best.
`--per-attribute` adds, per attribute, the share of validation images whose predicted probability
is on the right side of 0.5 (sketch, photo) and how often sketch and photo agree with each other.

    FGSBIR_DATA=... python scripts/attribute_ceiling.py --category chairs --cv-dir table1_out/cv [--cv-dir ...]
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
from fgsbir_core.retrieval import attribute_distances, embedding_distances, encode_images  # noqa: E402

FOLDS = CV_FOLDS  # the cross-validation the recipe was chosen by
GRID = (0.0, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0)  # FUSION_GRID widened at both ends


def loglik_distances(queries: np.ndarray, gallery: np.ndarray, weights: np.ndarray) -> np.ndarray:
    agree = queries[:, None, :] * gallery[None] + (1 - queries[:, None, :]) * (1 - gallery[None])
    return (-np.log(np.clip(agree, 1e-6, 1.0)) * weights).sum(-1) / weights.sum()


@torch.no_grad()
def hog_features(model, images: np.ndarray) -> torch.Tensor:
    """The model's fixed (projected) HOG descriptor of each image."""
    parts = []
    for start in range(0, len(images), 64):
        chunk = torch.as_tensor(np.ascontiguousarray(images[start: start + 64]), dtype=torch.float32)[:, None]
        parts.append(model._parts(model.cells(chunk))[0])
    return torch.cat(parts)


def fit_logistic(x: torch.Tensor, y: torch.Tensor, penalty: float = 1e-3):
    """One ridge-penalised logistic regression per attribute on standardised features -> predict(x)."""
    mean, std = x.mean(0), x.std(0) + 1e-6
    w = torch.zeros(x.shape[1], y.shape[1], requires_grad=True)
    b = torch.zeros(y.shape[1], requires_grad=True)
    optimiser = torch.optim.LBFGS([w, b], max_iter=500, line_search_fn="strong_wolfe")

    def closure():
        optimiser.zero_grad()
        logits = (x - mean) / std @ w + b
        loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, y) + penalty * w.pow(2).sum() / 2
        loss.backward()
        return loss

    optimiser.step(closure)
    return lambda z: torch.sigmoid((z - mean) / std @ w + b).detach().numpy()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--category", required=True)
    parser.add_argument("--cv-dir", action="append", required=True, help="a folder of mtl fold models (repeatable)")
    parser.add_argument("--per-attribute", action="store_true", help="also print each attribute's accuracy")
    args = parser.parse_args()
    torch.set_num_threads(2)
    train = load_benchmark(args.category, resolve_data_root(None)).train
    labels = np.asarray(train.attributes, np.float32)
    for cv_dir in args.cv_dir:
        ranks: dict = {}
        pooled: list = []  # (sketch probs, photo probs, labels) of each fold's validation pairs
        for k, (fit, val) in enumerate(cross_validation_folds(len(train), FOLDS)):
            state = load_checkpoint(fold_file(cv_dir, args.category, "mtl", k))
            model = build_model(state)
            weights = np.asarray(state["attribute_reliability"], np.float32)
            sketches, photos = encode_images(model, train.sketches[val]), encode_images(model, train.photos[val])
            shape = embedding_distances(sketches.embeddings, photos.embeddings)
            s, p, truth = sketches.attribute_probs, photos.attribute_probs, labels[val]
            pooled.append((s, p, truth))
            known = encode_images(model, train.photos[fit]).embeddings

            def knn_labels(codes, k=5):
                nearest = np.argsort(embedding_distances(codes.embeddings, known), axis=1)[:, :k]
                return labels[fit][nearest].mean(1)

            hog_reader = fit_logistic(torch.cat([hog_features(model, train.sketches[fit]), hog_features(model, train.photos[fit])]),
                                      torch.as_tensor(np.concatenate([labels[fit], labels[fit]])))
            hs, hp = hog_reader(hog_features(model, train.sketches[val])), hog_reader(hog_features(model, train.photos[val]))
            variants = {"predicted": attribute_distances(s, p, weights), "loglik": loglik_distances(s, p, weights),
                        "knn+head": attribute_distances((s + knn_labels(sketches)) / 2, (p + knn_labels(photos)) / 2, weights),
                        "hoglr+head": attribute_distances((s + hs) / 2, (p + hp) / 2, weights),
                        "labels-sketch": attribute_distances(truth, p, weights), "labels-photo": attribute_distances(s, truth, weights),
                        "labels-both": attribute_distances(truth, truth, weights)}
            for name, attribute in variants.items():
                for w in GRID:
                    ranks.setdefault(name, {}).setdefault(w, []).extend(true_ranks(shape + w * attribute).tolist())
        print(cv_dir)
        for name, by_w in ranks.items():
            acc = {w: 100 * np.mean(np.asarray(r) < 1) for w, r in by_w.items()}
            best = max(acc, key=lambda w: (acc[w], -w))
            print(f"  {name:14s} " + " ".join(f"w={w:g}:{a:.1f}" for w, a in acc.items()) + f"   best {acc[best]:.1f} (w={best:g})")
        if args.per_attribute:
            s, p, truth = (np.concatenate(parts) for parts in zip(*pooled))
            s, p, truth = s > 0.5, p > 0.5, truth > 0.5
            print(f"  {'attribute':26s} positives  sketch right  photo right  sketch = photo")
            for j, name in enumerate(state["attribute_names"]):
                print(f"  {name:26s} {truth[:, j].mean():9.2f} {(s[:, j] == truth[:, j]).mean():13.2f}"
                      f" {(p[:, j] == truth[:, j]).mean():12.2f} {(s[:, j] == p[:, j]).mean():15.2f}")
            print(f"  {'all attributes right':26s} {'':9s} {(s == truth).all(1).mean():13.2f}"
                  f" {(p == truth).all(1).mean():12.2f} {(s == p).all(1).mean():15.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
