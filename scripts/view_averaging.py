"""Does averaging embeddings over small views of each image help? Checked on validation only.

For each cross-validation fold model of `fgsbir cv` (CV_DIR/<category>_<mode>_fold<k>.pt), the
fold's validation sketches and edge maps are encoded plainly and as the mean of several views
(small shifts, scales, rotations; the embedding renormalised, attribute probabilities averaged),
ranked at the cross-validated fusion weight, and the validation ranks of all folds pooled, as
`fgsbir cv` pools them. "both": sketches and photos averaged; "sketch": sketches only.

    FGSBIR_DATA=... python scripts/view_averaging.py [--cv-dir table1_out/cv] [shoes_mtl chairs_triplet ...]
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fgsbir_core.augment import warp  # noqa: E402
from fgsbir_core.checkpoint import build_model, load_checkpoint  # noqa: E402
from fgsbir_core.data import cross_validation_folds, load_benchmark, resolve_data_root  # noqa: E402
from fgsbir_core.evaluate import true_ranks  # noqa: E402
from fgsbir_core.retrieval import Codes, encode_images, fused_distances  # noqa: E402
from fgsbir_core.train import attribute_reliability  # noqa: E402

SHIFT = 0.0625  # 8 px of 256, in warp units (the frame is 2 wide)
VIEW_SETS = {  # (log scale, log aspect, rotation, shift x, shift y) per extra view
    "shift": [(0, 0, 0, dx, dy) for dx, dy in ((SHIFT, 0), (-SHIFT, 0), (0, SHIFT), (0, -SHIFT))],
    "half-shift": [(0, 0, 0, dx / 2, dy / 2) for dx, dy in ((SHIFT, 0), (-SHIFT, 0), (0, SHIFT), (0, -SHIFT))],
    "scale": [(0.06, 0, 0, 0, 0), (-0.06, 0, 0, 0, 0)],
    "mixed": [(0.05, 0, 0, 0, 0), (-0.05, 0, 0, 0, 0), (0, 0, 0, SHIFT / 2, 0), (0, 0, 0, -SHIFT / 2, 0),
              (0, 0, np.deg2rad(3), 0, 0), (0, 0, -np.deg2rad(3), 0, 0)],
}


def encode_views(model, images: np.ndarray, views) -> Codes:
    codes = [encode_images(model, images)]
    pixels = torch.as_tensor(images, dtype=torch.float32)[:, None]
    for view in views:
        params = np.repeat(np.asarray(view, np.float32)[None], len(images), 0)
        with torch.no_grad():
            codes.append(encode_images(model, warp(pixels, params, images.shape[-1])[:, 0].numpy()))
    embedding = np.mean([c.embeddings for c in codes], 0)
    embedding /= np.linalg.norm(embedding, axis=1, keepdims=True)
    return Codes(embedding.astype(np.float32), np.mean([c.attribute_probs for c in codes], 0).astype(np.float32))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="*", default=["shoes_mtl", "shoes_triplet", "chairs_mtl", "chairs_triplet"])
    parser.add_argument("--cv-dir", default="table1_out/cv")
    parser.add_argument("--data-root")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    root = resolve_data_root(args.data_root)
    for run in args.runs:
        category, mode = run.split("_")
        bench = load_benchmark(category, root)
        weight = json.loads((Path(args.cv_dir) / f"{run}_cv.json").read_text())["validation"]["fusion_weight"]
        reliability = attribute_reliability(root, category, bench.attribute_names)
        ranks: dict = {}
        for k, (_, val_idx) in enumerate(cross_validation_folds(len(bench.train), 4)):
            model = build_model(load_checkpoint(Path(args.cv_dir) / f"{run}_fold{k}.pt"))
            val = bench.train.subset(val_idx)
            photos = encode_images(model, val.photos)
            ranks.setdefault(("plain", ""), []).extend(true_ranks(fused_distances(encode_images(model, val.sketches), photos, weight, reliability)))
            for name, views in VIEW_SETS.items():
                sketches = encode_views(model, val.sketches, views)
                both = fused_distances(sketches, encode_views(model, val.photos, views), weight, reliability)
                ranks.setdefault((name, "both"), []).extend(true_ranks(both))
                ranks.setdefault((name, "sketch"), []).extend(true_ranks(fused_distances(sketches, photos, weight, reliability)))
        for (name, side), r in ranks.items():
            r = np.asarray(r)
            print(f"{category:6s} {mode:7s} w={weight:<4} {name:10s} {side:6s} acc@1 {100 * np.mean(r < 1):5.1f}  "
                  f"acc@10 {100 * np.mean(r < 10):5.1f}  ({len(r)} sketches)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
