"""Fit the facing classifier of a category (fgsbir_core.facing) and report how often it is right.

The classifier sees the fixed HOG descriptor of an image and says whether it faces the
benchmark's way. It is fitted on the category's training sketches and edge maps, as they are
(the benchmark's way) and mirrored (the other way). Reported, as accuracy over images as they
are and mirrored:

* validation: 4-fold cross-validation over the training pairs (fit on three folds' sketches and
  edge maps, judge the fourth fold's edge maps), the edge maps as they are and taken round a
  synthetic colour photo and `edges.photo_to_edges` (`scripts/edge_roundtrip.py`), which is
  what a folder catalogue's photo goes through;
* test (nothing chosen by it): the test edge maps, the same round trip, and the test sketches.

With --out, the classifier fitted on every training pair is written with a card of these figures.

    FGSBIR_DATA=... python scripts/fit_facing.py --category shoes [--out resources/models/shoes_facing.npz]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from edge_roundtrip import synthetic_photo  # noqa: E402

from fgsbir_core.checkpoint import build_model, load_checkpoint  # noqa: E402
from fgsbir_core.crossval import CV_FOLDS  # noqa: E402
from fgsbir_core.data import cross_validation_folds, load_benchmark, resolve_data_root  # noqa: E402
from fgsbir_core.files import sha256_file  # noqa: E402
from fgsbir_core.edges import photo_to_edges  # noqa: E402
from fgsbir_core.engine import bundled_weights  # noqa: E402
from fgsbir_core.facing import FacingClassifier, descriptors, front_end_settings  # noqa: E402

RIDGE = 1.0  # fixed before any figure was read (docs/EXPERIMENTS.md)
FOLDS = CV_FOLDS  # the same folds as the recipes' cross-validation


def describe(model, images: np.ndarray) -> np.ndarray:
    out = []
    with torch.inference_mode():
        for start in range(0, len(images), 64):
            chunk = torch.as_tensor(np.ascontiguousarray(images[start: start + 64]), dtype=torch.float32)[:, None]
            out.append(descriptors(model, model.cells(chunk)).numpy())
    return np.concatenate(out)


def mirrored(images: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(images[..., ::-1])


def round_trip(edge_maps: np.ndarray, seed: int) -> np.ndarray:
    """Each edge map rendered as a synthetic product photo, then back to an edge map."""
    rng = np.random.default_rng(seed)
    return np.stack([photo_to_edges(synthetic_photo(e, rng)) for e in edge_maps])


def accuracy(classifier: FacingClassifier, model, images: np.ndarray) -> tuple[int, int]:
    """(right, judged) over the images as they are and mirrored."""
    right = int((classifier.scores(describe(model, images)) > 0).sum() + (classifier.scores(describe(model, mirrored(images))) < 0).sum())
    return right, 2 * len(images)


def fit(model, sketches: np.ndarray, photos: np.ndarray) -> FacingClassifier:
    images = np.concatenate([sketches, photos])
    return FacingClassifier.fit(describe(model, images), describe(model, mirrored(images)), front_end_settings(model), RIDGE)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--category", required=True, choices=("shoes", "chairs"))
    parser.add_argument("--data-root")
    parser.add_argument("--out", help="write the classifier fitted on all training pairs here (.npz)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    started = time.time()
    root = resolve_data_root(args.data_root)
    weights = bundled_weights(args.category)
    model = build_model(load_checkpoint(weights)).eval()  # only its fixed front end is used
    bench = load_benchmark(args.category, root)
    train, test = bench.train, bench.test

    totals = {"edge maps": [0, 0], "round trip": [0, 0], "sketches": [0, 0]}
    for k, (fit_idx, val_idx) in enumerate(cross_validation_folds(len(train), FOLDS)):
        classifier = fit(model, train.sketches[fit_idx], train.photos[fit_idx])
        for name, images in (("edge maps", train.photos[val_idx]), ("round trip", round_trip(train.photos[val_idx], k)),
                             ("sketches", train.sketches[val_idx])):
            right, judged = accuracy(classifier, model, images)
            totals[name][0] += right
            totals[name][1] += judged
    validation = {name: round(100.0 * r / n, 2) for name, (r, n) in totals.items()}

    classifier = fit(model, train.sketches, train.photos)
    test_figures = {}
    for name, images in (("edge maps", test.photos), ("round trip", round_trip(test.photos, 99)), ("sketches", test.sketches)):
        right, judged = accuracy(classifier, model, images)
        test_figures[name] = round(100.0 * right / judged, 2)
    card = {
        "what": "facing classifier: ridge regression on the fixed HOG descriptor, > 0 = faces the benchmark's way (fgsbir_core.facing)",
        "category": args.category,
        "command": f"FGSBIR_DATA=... python scripts/fit_facing.py --category {args.category} --out {args.out}",
        "ridge": RIDGE,
        "fitted_on": f"{len(train)} training sketches and {len(train)} training edge maps, as they are and mirrored",
        "data_sha256": {f"{args.category}/{p.name}": sha256_file(p) for p in sorted((root / args.category).glob(f"{args.category}_*_db_train.mat"))},
        "validation_accuracy_percent": validation,
        "test_accuracy_percent": test_figures,
        "seconds": round(time.time() - started, 1),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}, one thread",
    }
    print(json.dumps({k: card[k] for k in ("category", "validation_accuracy_percent", "test_accuracy_percent", "seconds")}))
    if args.out:
        classifier.save(args.out, card)
        Path(args.out).with_suffix(".json").write_text(json.dumps(card, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
