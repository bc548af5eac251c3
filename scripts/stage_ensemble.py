"""Would the first stage help as a second opinion? Cross-validation only; nothing is learned here.

The staged recipe trains a first stage (this category with the other two) and a second stage from
it, and ships only the second. This ranks each fold's validation sketches among its validation
photos with the first-stage fold model, the second-stage fold model, and both together (squared
embedding distances averaged, attribute logits averaged), and prints the pooled acc@1 / acc@10 (%)
of each at the fusion weight that is best on the pooled ranks (one w for all folds, as `fgsbir cv`).

    FGSBIR_DATA=... python scripts/stage_ensemble.py --category chairs --mode mtl --cv-dir table1_out/cv

It reads DIR/stage1/<category>_<mode>_fold<k>.pt and DIR/<category>_<mode>_fold<k>.pt (k = 0..3),
the fold models `scripts/train_all.sh` leaves when it cross-validates both stages.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fgsbir_core.checkpoint import build_model, load_checkpoint  # noqa: E402
from fgsbir_core.crossval import CV_FOLDS  # noqa: E402
from fgsbir_core.data import cross_validation_folds, load_benchmark, resolve_data_root  # noqa: E402
from fgsbir_core.evaluate import accuracy_at, true_ranks  # noqa: E402
from fgsbir_core.retrieval import attribute_distances, embedding_distances, encode_images  # noqa: E402
from fgsbir_core.train import FUSION_GRID  # noqa: E402

FOLDS = CV_FOLDS  # the cross-validation the recipe was chosen by


def logits(probs: np.ndarray) -> np.ndarray:
    p = np.clip(probs.astype(np.float64), 1e-7, 1 - 1e-7)
    return np.log(p / (1 - p))


def fold_distances(paths: list[Path], sketches: np.ndarray, photos: np.ndarray) -> dict[float, np.ndarray]:
    """Fused distances for each w of the grid: the models' embedding distances averaged, their
    attribute logits averaged before the sigmoid."""
    emb, s_logits, p_logits, reliability = [], [], [], None
    for path in paths:
        state = load_checkpoint(path)
        model = build_model(state)
        s, p = encode_images(model, sketches), encode_images(model, photos)
        emb.append(embedding_distances(s.embeddings, p.embeddings))
        if s.attribute_probs.shape[1]:
            s_logits.append(logits(s.attribute_probs))
            p_logits.append(logits(p.attribute_probs))
            reliability = state.get("attribute_reliability")
    d = np.mean(emb, axis=0)
    if not s_logits:
        return {0.0: d}
    sig = lambda x: (1 / (1 + np.exp(-np.mean(x, axis=0)))).astype(np.float32)  # noqa: E731
    attr = attribute_distances(sig(s_logits), sig(p_logits), None if reliability is None else np.asarray(reliability, np.float32))
    return {w: d + w * attr for w in FUSION_GRID}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--category", required=True, choices=("shoes", "chairs"))
    parser.add_argument("--mode", required=True, choices=("mtl", "triplet"))
    parser.add_argument("--cv-dir", required=True)
    parser.add_argument("--data-root")
    args = parser.parse_args(argv)
    bench = load_benchmark(args.category, resolve_data_root(args.data_root)).train
    cv = Path(args.cv_dir)
    name = f"{args.category}_{args.mode}_fold{{k}}.pt"
    variants = {"first stage": lambda k: [cv / "stage1" / name.format(k=k)],
                "second stage (shipped)": lambda k: [cv / name.format(k=k)],
                "both stages": lambda k: [cv / "stage1" / name.format(k=k), cv / name.format(k=k)]}
    ranks = {v: {} for v in variants}
    for k, (_, val) in enumerate(cross_validation_folds(len(bench.sketches), FOLDS)):
        for v, paths in variants.items():
            for w, d in fold_distances(paths(k), bench.sketches[val], bench.photos[val]).items():
                ranks[v].setdefault(w, []).append(true_ranks(d))
    for v, by_w in ranks.items():
        pooled = {w: np.concatenate(r) for w, r in by_w.items()}
        w = max(pooled, key=lambda w: (accuracy_at(pooled[w], 1), accuracy_at(pooled[w], 10), -w))
        print(f"{args.category} {args.mode} {v}: w = {w}, acc@1 {100 * accuracy_at(pooled[w], 1):.1f} %, "
              f"acc@10 {100 * accuracy_at(pooled[w], 10):.1f} % ({len(pooled[w])} validation sketches)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
