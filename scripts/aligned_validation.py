"""Would better-aligned sketches change the verdict? Validation only.

The test sketches lie closer to their photos than the training ones (README). This ranks each
cross-validation fold's validation sketches among its validation photos twice: as drawn, and with
each sketch's ink box stretched onto its own photo's box (a test-like, idealised alignment made from
the pair itself; nothing is learned or chosen here). Ranks of all folds are pooled, as `fgsbir cv`
pools them; acc@1 (%) at each fusion weight (multi-task) for each folder of fold models.

    FGSBIR_DATA=... python scripts/aligned_validation.py --category chairs --mode mtl --cv-dir table1_out/cv [--cv-dir ...]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fgsbir_core.checkpoint import build_model, load_checkpoint  # noqa: E402
from fgsbir_core.crossval import CV_FOLDS, fold_file  # noqa: E402
from fgsbir_core.data import cross_validation_folds, load_benchmark, resolve_data_root  # noqa: E402
from fgsbir_core.evaluate import true_ranks  # noqa: E402
from fgsbir_core.retrieval import attribute_distances, embedding_distances, encode_images  # noqa: E402

FOLDS = CV_FOLDS  # the cross-validation the recipe was chosen by
INK = 200  # darker than this is ink (the edge maps' grey frame is skipped by the 2-pixel margin)


def ink_box(image: np.ndarray) -> tuple[int, int, int, int]:
    ys, xs = np.nonzero(image[2:-2, 2:-2] < INK)
    return xs.min() + 2, ys.min() + 2, xs.max() + 3, ys.max() + 3


def aligned(sketch: np.ndarray, photo: np.ndarray) -> np.ndarray:
    """The sketch's ink box resized onto the photo's ink box, on white paper."""
    sx0, sy0, sx1, sy1 = ink_box(sketch)
    px0, py0, px1, py1 = ink_box(photo)
    moved = Image.fromarray(sketch[sy0:sy1, sx0:sx1]).resize((px1 - px0, py1 - py0), Image.BILINEAR)
    out = np.full_like(sketch, 255)
    out[py0:py1, px0:px1] = np.asarray(moved)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--category", required=True)
    parser.add_argument("--mode", required=True, choices=("mtl", "triplet"))
    parser.add_argument("--cv-dir", action="append", required=True, help="a folder of fold models (repeatable)")
    args = parser.parse_args()
    torch.set_num_threads(2)
    weights_grid = (0.0, 0.25, 0.5, 1.0, 2.0, 4.0) if args.mode == "mtl" else (0.0,)
    train = load_benchmark(args.category, resolve_data_root(None)).train
    for cv_dir in args.cv_dir:
        ranks: dict = {}
        for k, (_, val) in enumerate(cross_validation_folds(len(train), FOLDS)):
            state = load_checkpoint(fold_file(cv_dir, args.category, args.mode, k))
            model = build_model(state)
            photos = encode_images(model, train.photos[val])
            versions = {"as drawn": train.sketches[val],
                        "aligned": np.stack([aligned(s, p) for s, p in zip(train.sketches[val], train.photos[val])])}
            for name, sketches in versions.items():
                codes = encode_images(model, sketches)
                shape = embedding_distances(codes.embeddings, photos.embeddings)
                if args.mode == "mtl":
                    reliability = np.asarray(state["attribute_reliability"], np.float32)
                    attribute = attribute_distances(codes.attribute_probs, photos.attribute_probs, reliability)
                else:
                    attribute = np.zeros_like(shape)
                for w in weights_grid:
                    ranks.setdefault(name, {}).setdefault(w, []).extend(true_ranks(shape + w * attribute).tolist())
        for name, by_w in ranks.items():
            acc = {w: 100 * np.mean(np.asarray(r) < 1) for w, r in by_w.items()}
            print(f"{cv_dir} {args.category} {args.mode} {name:9s} " + " ".join(f"w={w:g}:{a:.1f}" for w, a in acc.items()), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
