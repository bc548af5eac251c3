"""How soon does the right photo come up while a sketch is still being drawn? Nothing is learned.

The benchmark keeps no strokes, only finished sketches, so a sketch in progress is simulated from
each test sketch: its lines are thinned to one pixel and cut where they meet (the pieces of a
shoe's outline, its sole, each lace), and the longest pieces are kept first, as people draw the
big lines first and the details later. A partial sketch is the original ink within 2 px of the
kept pieces. It goes the app's way (`Engine.encode_image`: cropped to its ink box and framed as
any drawing; mirrored if that matches the catalogue better) and is ranked among the test photos
at the model's tuned fusion weight. Prints acc@1 / acc@10 (%) for the 1, 2, 3, 5 and 10 longest
pieces and the whole sketch (the app's figure for a finished sketch), with the share of the
line length kept.

    FGSBIR_DATA=... python scripts/partial_sketch.py --category shoes
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fgsbir_core.data import load_benchmark, resolve_data_root  # noqa: E402
from fgsbir_core.engine import Engine  # noqa: E402
from fgsbir_core.imageops import label  # noqa: E402
from fgsbir_core.raster import RasterSpec  # noqa: E402

INNER = (1, 3, 10)  # inner lines added to the outline, longest first
REACH = 2  # px: ink this close to a kept piece is kept with it
GAP = 4  # px: gaps in an outline up to twice this are closed when finding the paper around it


def neighbours(mask: np.ndarray) -> list[np.ndarray]:
    """The 8 neighbours of every pixel, clockwise from north (Zhang and Suen's P2 .. P9)."""
    h, w = mask.shape
    padded = np.pad(mask, 1)
    return [padded[1 + dy: 1 + dy + h, 1 + dx: 1 + dx + w]
            for dy, dx in ((-1, 0), (-1, 1), (0, 1), (1, 1), (1, 0), (1, -1), (0, -1), (-1, -1))]


def thin(mask: np.ndarray) -> np.ndarray:
    """Zhang-Suen thinning: the mask's lines, one pixel wide, same connectivity."""
    mask = mask.copy()
    while True:
        changed = False
        for step in (0, 1):
            p = neighbours(mask)
            count = sum(n.astype(np.int8) for n in p)
            transitions = sum(((~a) & b).astype(np.int8) for a, b in zip(p, p[1:] + p[:1]))
            p2, _, p4, _, p6, _, p8, _ = p
            if step == 0:
                keep_shape = ~(p2 & p4 & p6) & ~(p4 & p6 & p8)
            else:
                keep_shape = ~(p2 & p4 & p8) & ~(p2 & p6 & p8)
            remove = mask & (count >= 2) & (count <= 6) & (transitions == 1) & keep_shape
            if remove.any():
                mask &= ~remove
                changed = True
        if not changed:
            return mask


def grow(mask: np.ndarray, reach: int) -> np.ndarray:
    for _ in range(reach):
        mask = mask | np.logical_or.reduce(neighbours(mask))
    return mask


def partial_sketches(image: np.ndarray, ink_threshold: int) -> dict[str, tuple[np.ndarray, float]]:
    """name -> (the sketch drawn so far, share of the whole sketch's line length in it).

    First the outline alone (ink that touches the paper around the drawing), then the outline
    with its longest inner lines, then the whole sketch."""
    ink = image < ink_threshold
    skeleton = thin(ink)
    closed = grow(ink, GAP)  # small gaps in the outline closed, so the paper around does not leak inside
    paper, _ = label(~closed, eight=False)
    around = np.isin(paper, np.unique(np.concatenate([paper[0], paper[-1], paper[:, 0], paper[:, -1]])))
    outline = skeleton & grow(around & (paper > 0), GAP + REACH)
    inner = skeleton & ~outline
    junctions = inner & (sum(n.astype(np.int8) for n in neighbours(inner)) >= 3)
    pieces, n = label(inner & ~junctions)
    lengths = np.bincount(pieces.ravel(), minlength=n + 1)[1:]
    order = np.argsort(-lengths, kind="stable") + 1  # longest inner line first
    total = skeleton.sum()
    if total == 0 or not outline.any():
        return {}
    out = {}
    for name, keep in [("outline", 0)] + [(f"+ {k} inner", min(k, n)) for k in INNER]:  # all, if fewer
        kept = outline | np.isin(pieces, order[:keep])
        out[name] = (np.where(grow(kept, REACH) & ink, image, 255).astype(np.uint8), float(kept.sum() / total))
    out["whole sketch"] = (image, 1.0)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--category", required=True, choices=("shoes", "chairs"))
    parser.add_argument("--modes", default="mtl,triplet")
    args = parser.parse_args()
    torch.set_num_threads(2)
    root = resolve_data_root(None)
    test = load_benchmark(args.category, root).test
    for mode in args.modes.split(","):
        engine = Engine(args.category, mode=mode)
        engine.load()
        catalogue = engine.load_catalogue(root, gallery="test")
        row_of = {photo_id: row for row, photo_id in enumerate(catalogue.ids)}
        ranks: dict[str, list[int]] = {}
        kept: dict[str, list[float]] = {}
        for sketch, photo_id in zip(test.sketches, test.photo_ids):
            for name, (image, share) in partial_sketches(sketch, RasterSpec().ink_threshold).items():
                code = engine.orient(engine.encode_image(image), catalogue)
                order = [r.index for r in engine.rank(code, catalogue, top_k=len(catalogue))]
                ranks.setdefault(name, []).append(order.index(row_of[photo_id]))
                kept.setdefault(name, []).append(share)
        print(f"{args.category} {mode} (bundled model, {len(test.sketches)} test sketches among {len(catalogue)} test photos):")
        for name, r in ranks.items():
            r = np.asarray(r)
            print(f"  {name:13s} acc@1 {100 * np.mean(r < 1):5.1f}  acc@10 {100 * np.mean(r < 10):5.1f}   "
                  f"({len(r)} sketches; median {100 * np.median(kept[name]):.0f} % of the line length)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
