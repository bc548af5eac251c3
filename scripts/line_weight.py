"""Does the rasteriser draw lines as heavy as the benchmark's sketches? Training data only.

Ink weight = how much ink a line carries across its width (coverage summed across the line, in
pixels). Estimated the same way on any picture: for each clearly inked pixel, the ink summed along
its row run and along its column run, the smaller of the two (a line's own width for an
axis-parallel line, up to 1.41x that for a diagonal one); the median over pixels.

    FGSBIR_DATA=... python scripts/line_weight.py                       # training sketches vs the rasteriser
    FGSBIR_DATA=... python scripts/line_weight.py --cv-dir table1_out/cv  # + validation acc@1 of heavier lines

The second form makes the validation sketches of the cross-validation's fold models heavier (ink
spread by a disc at 4x resolution, what a heavier pen does to the same drawing) and ranks them
among their fold's validation photos at the bundled model's fusion weight, pooled over the folds:
as stored, and as sketch pictures reach the model in the app (`normalise_image`: re-framed, and
without and with lightening to `RasterSpec.ink_weight`).
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from scipy.ndimage import gaussian_filter1d, grey_erosion

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fgsbir_core.checkpoint import build_model, load_checkpoint  # noqa: E402
from fgsbir_core.crossval import fold_file  # noqa: E402
from fgsbir_core.data import cross_validation_folds, load_benchmark, resolve_data_root  # noqa: E402
from fgsbir_core.evaluate import true_ranks  # noqa: E402
from fgsbir_core.raster import RasterSpec, ink_run_weights, normalise_image, rasterise_strokes  # noqa: E402
from fgsbir_core.retrieval import encode_images, fused_distances  # noqa: E402

MODELS = Path(__file__).resolve().parents[1] / "resources" / "models"


def ink_weights(image: np.ndarray) -> np.ndarray:
    """`ink_run_weights` of a picture, the edge maps' 1-pixel grey frame skipped."""
    coverage = (255.0 - image.astype(np.float32)) / 255.0
    coverage[:2], coverage[-2:], coverage[:, :2], coverage[:, -2:] = 0, 0, 0, 0
    return ink_run_weights(coverage)


def median_weight(images) -> float:
    return float(np.median(np.concatenate([ink_weights(i) for i in images])))


def smooth_drawings(n: int = 20, strokes: int = 6, seed: int = 0) -> list[list[np.ndarray]]:
    """Drawings of smooth random curves (a stand-in for pen strokes: the benchmark has none)."""
    rng = np.random.default_rng(seed)
    t = np.linspace(0, 1, 200)[:, None]
    drawings = []
    for _ in range(n):
        drawing = []
        for _ in range(strokes):
            points = rng.uniform(0, 400, (rng.integers(3, 7), 2))
            path = np.concatenate([a * (1 - t) + b * t for a, b in zip(points[:-1], points[1:])])
            drawing.append(gaussian_filter1d(path, 15, axis=0))
        drawings.append(drawing)
    return drawings


def heavier(image: np.ndarray, radius: int) -> np.ndarray:
    """The same drawing with its ink spread by a disc of `radius` px at 4x resolution."""
    if radius == 0:
        return image
    size = image.shape[0]
    big = np.asarray(Image.fromarray(image).resize((4 * size, 4 * size), Image.BILINEAR))
    y, x = np.mgrid[-radius: radius + 1, -radius: radius + 1]
    big = grey_erosion(big, footprint=(x * x + y * y) <= radius * radius + 0.5)
    return np.asarray(Image.fromarray(big).resize((size, size), Image.BOX))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cv-dir", help="a folder of fold models: also rank heavier validation sketches")
    parser.add_argument("--widths", default="0.4,0.5,0.6,0.8,1.0,1.2,1.6")
    args = parser.parse_args()
    torch.set_num_threads(2)
    root = resolve_data_root(None)
    benches = {c: load_benchmark(c, root) for c in ("shoes", "chairs")}
    for category, bench in benches.items():
        per_sketch = [np.median(ink_weights(s)) for s in bench.train.sketches]
        print(f"{category} training sketches: ink weight {median_weight(bench.train.sketches):.2f} px "
              f"(edge maps {median_weight(bench.train.photos):.2f}); per sketch: median {np.median(per_sketch):.2f}, "
              f"90th percentile {np.percentile(per_sketch, 90):.2f}")
    drawings = smooth_drawings()
    print("rasteriser, smooth curves: " + "  ".join(
        f"line_width {w:g}: {median_weight([rasterise_strokes(d, RasterSpec(line_width=w)) for d in drawings]):.2f}"
        for w in map(float, args.widths.split(","))) + f"  (default {RasterSpec().line_width:g})")
    if not args.cv_dir:
        return 0
    spec = RasterSpec()
    versions = {"stored": lambda image: image,
                "picture": lambda image: normalise_image(image, dataclasses.replace(spec, ink_weight=0.0)),
                f"picture lightened to {spec.ink_weight:g}": lambda image: normalise_image(image, spec)}
    for category, bench in benches.items():
        train = bench.train
        for radius in (0, 1, 2, 3, 4):
            print(f"{category} ink spread {radius}: weight {median_weight([heavier(s, radius) for s in train.sketches[:40]]):.2f} px")
            for name, version in versions.items():
                line = f"    {name:24s} acc@1 %"
                for mode in ("mtl", "triplet"):
                    bundled = load_checkpoint(MODELS / f"{category}_{mode}.pt")
                    w = float(bundled.get("fusion_weight", 0.0))
                    reliability = bundled.get("attribute_reliability")
                    reliability = None if reliability is None else np.asarray(reliability, np.float32)
                    ranks = []
                    for k, (_, val) in enumerate(cross_validation_folds(len(train), 4)):
                        model = build_model(load_checkpoint(fold_file(args.cv_dir, category, mode, k)))
                        gallery = encode_images(model, train.photos[val])
                        sketches = encode_images(model, np.stack([version(heavier(s, radius)) for s in train.sketches[val]]))
                        ranks.extend(true_ranks(fused_distances(sketches, gallery, w, reliability)).tolist())
                    line += f" {mode} {100 * np.mean(np.asarray(ranks) < 1):.1f}"
                print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
