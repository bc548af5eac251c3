"""Does the validation gallery's size change the comparison of the modes? Checked on training pairs only.

Cross-validation ranks each validation sketch among its fold's validation photos (50 chairs,
76 shoes), while the test gallery is larger (97 chairs, 115 shoes). For each fold model of
`fgsbir cv` (CV_DIR/<category>_<mode>_fold<k>.pt, the fold's best state), the validation
sketches are ranked once among the validation photos and once among those plus randomly
chosen photos of the fold's own training part, up to the test gallery's size; ranks of all
folds are pooled, as `fgsbir cv` pools them, at every fusion weight.

    FGSBIR_DATA=... python scripts/cv_gallery_size.py --category chairs [--cv-dir table1_out/cv]
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
from fgsbir_core.train import FUSION_GRID  # noqa: E402

FOLDS = CV_FOLDS  # the cross-validation the recipe was chosen by


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--category", required=True)
    parser.add_argument("--cv-dir", default="table1_out/cv")
    args = parser.parse_args()
    torch.set_num_threads(1)
    bench = load_benchmark(args.category, resolve_data_root(None))
    train, test_size = bench.train, len(bench.test)
    rng = np.random.default_rng(0)
    print(f"{args.category}: validation galleries of ~{len(train) // FOLDS} photos vs {test_size} (test gallery size)")
    for mode in ("mtl", "triplet"):
        ranks: dict = {}
        for k, (fit, val) in enumerate(cross_validation_folds(len(train), FOLDS)):
            state = load_checkpoint(fold_file(args.cv_dir, args.category, mode, k))
            model = build_model(state)
            reliability = np.asarray(state.get("attribute_reliability") or [], np.float32)
            sketches = encode_images(model, train.sketches[val])
            distractors = rng.choice(fit, max(0, test_size - len(val)), replace=False)
            galleries = {"validation": encode_images(model, train.photos[val]),
                         "test-sized": encode_images(model, train.photos[np.concatenate([val, distractors])])}
            for w in FUSION_GRID if len(reliability) else (0.0,):
                for name, photos in galleries.items():
                    distances = fused_distances(sketches, photos, w, reliability if len(reliability) else None)
                    ranks.setdefault((w, name), []).extend(true_ranks(distances).tolist())
        for (w, name), r in sorted(ranks.items()):
            r = np.asarray(r)
            print(f"{mode:8s} w={w:<5} {name:10s} acc@1 {100 * np.mean(r < 1):5.1f}  acc@10 {100 * np.mean(r < 10):5.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
