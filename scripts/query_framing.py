"""How much does the app's re-framing of a sketch cost? Validation by default; nothing is learned.

The app and `fgsbir query` never see a benchmark sketch as the benchmark frames it: a drawing (or a
sketch picture) is cropped to its ink box and scaled so that its longer side fills the frame inside
`RasterSpec.margin` (`fgsbir_core/raster.py`). The models were trained on the benchmark's own
framing. This prints, for the fold models of a cross-validation folder, the pooled validation acc@1
(%) of the sketches as the benchmark frames them and re-framed at several margins, each ranked
among its fold's validation photos at the model's fusion weight; and the long-side margins of the
category's training sketches (the data statistic the default margin is read from).

    FGSBIR_DATA=... python scripts/query_framing.py --category chairs --cv-dir table1_out/cv
    FGSBIR_DATA=... python scripts/query_framing.py --category chairs --test   # the bundled models, test split
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fgsbir_core.checkpoint import build_model, load_checkpoint  # noqa: E402
from fgsbir_core.crossval import CV_FOLDS, fold_file  # noqa: E402
from fgsbir_core.data import cross_validation_folds, load_benchmark, resolve_data_root  # noqa: E402
from fgsbir_core.evaluate import true_ranks  # noqa: E402
from fgsbir_core.raster import RasterSpec, normalise_image  # noqa: E402
from fgsbir_core.retrieval import encode_images, fused_distances  # noqa: E402

FOLDS = CV_FOLDS  # the cross-validation the recipe was chosen by
MODELS = Path(__file__).resolve().parents[1] / "resources" / "models"


def long_side_margins(images: np.ndarray, ink_threshold: int) -> np.ndarray:
    """(256 - the ink box's longer side) / 2 for each image; the edge maps' 1-pixel frame skipped."""
    out = []
    for image in images:
        ys, xs = np.nonzero(image[1:-1, 1:-1] < ink_threshold)
        out.append((image.shape[0] - max(np.ptp(xs), np.ptp(ys)) - 1) / 2)
    return np.asarray(out)


def ranks_by_framing(state: dict, sketches: np.ndarray, photos: np.ndarray, margins: list[int]) -> dict[str, np.ndarray]:
    model = build_model(state)
    gallery = encode_images(model, photos)
    w = float(state.get("fusion_weight", 0.0))
    reliability = state.get("attribute_reliability")
    reliability = None if reliability is None else np.asarray(reliability, np.float32)
    spec = RasterSpec.from_dict(state["raster_spec"])
    versions = {"benchmark": sketches}
    for m in margins:
        versions[f"m={m}"] = np.stack([normalise_image(s, dataclasses.replace(spec, margin=m)) for s in sketches])
    return {name: true_ranks(fused_distances(encode_images(model, images), gallery, w, reliability))
            for name, images in versions.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--category", required=True)
    parser.add_argument("--cv-dir", help="a folder of fold models ({category}_{mode}_fold{k}.pt)")
    parser.add_argument("--test", action="store_true", help="the bundled models on the test split instead")
    parser.add_argument("--margins", default="8,12,15,20,24,28")
    args = parser.parse_args()
    if bool(args.cv_dir) == args.test:
        parser.error("give either --cv-dir or --test")
    torch.set_num_threads(2)
    margins = [int(m) for m in args.margins.split(",")]
    bench = load_benchmark(args.category, resolve_data_root(None))
    found = long_side_margins(bench.train.sketches, RasterSpec().ink_threshold)
    print(f"{args.category} training sketches, long-side margin px: median {np.median(found):.1f}, "
          f"10-90 % {np.percentile(found, 10):.1f}-{np.percentile(found, 90):.1f}")
    for mode in ("mtl", "triplet"):
        pooled: dict[str, list] = {}
        if args.test:
            state = load_checkpoint(MODELS / f"{args.category}_{mode}.pt")
            pooled = {k: list(v) for k, v in ranks_by_framing(state, bench.test.sketches, bench.test.photos, margins).items()}
        else:
            for k, (_, val) in enumerate(cross_validation_folds(len(bench.train), FOLDS)):
                state = load_checkpoint(fold_file(args.cv_dir, args.category, mode, k))
                # fold models carry no fusion weight: use the bundled model's (chosen by this cross-validation)
                state["fusion_weight"] = load_checkpoint(MODELS / f"{args.category}_{mode}.pt").get("fusion_weight", 0.0)
                for name, r in ranks_by_framing(state, bench.train.sketches[val], bench.train.photos[val], margins).items():
                    pooled.setdefault(name, []).extend(r.tolist())
        where = "test" if args.test else "validation"
        print(f"{args.category} {mode:7s} {where} acc@1 %: " + "  ".join(
            f"{name} {100 * np.mean(np.asarray(r) < 1):.1f}" for name, r in pooled.items()), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
