"""How far is `fgsbir_core.edges` from the benchmark's own photo edge maps?

There are no colour photos here to compare against, so the test goes round a loop:

  benchmark edge map E  --render-->  synthetic colour "photo" P  --photo_to_edges-->  E'

A synthetic photo is made from E the way a product shot looks: the object's silhouette and the
regions between its lines are filled with a random base colour (each region a little lighter or
darker), shaded top to bottom, the lines drawn as soft seams of partial contrast, blurred,
noised, placed at a random scale and position in a 512 x 512 frame (on white or a light
tint), and JPEG-compressed.  E' is then compared with E:

* chamfer distance (px, symmetric mean of distances between line pixels of E and E'),
* HOG cosine similarity (the model's fixed front end: blur + 9 orientations + 16 px cells),
* retrieval: does E' retrieve E among all test edge maps of its category by HOG cosine
  (acc@1, acc@10)?

Reference rows: E itself (the ceiling), a naive extractor (PIL FIND_EDGES on the whole frame,
no crop), and the benchmark's hand-drawn sketches against the same edge maps (the task the model
is actually trained for).  With --weights, the retrieval is repeated with the model's embedding.

    .venv/bin/python scripts/edge_roundtrip.py [--data-root DIR] [--limit N] [--weights W]
"""
from __future__ import annotations

import argparse
import io
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter
from scipy import ndimage

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fgsbir_core.data import load_benchmark, resolve_data_root
from fgsbir_core.edges import photo_to_edges


def synthetic_photo(edge_map: np.ndarray, rng: np.random.Generator, frame: int = 512) -> bytes:
    """A colour JPEG 'product photo' whose object has the lines of `edge_map`."""
    ink = edge_map < 200
    lines = ndimage.binary_dilation(ink)
    silhouette = ndimage.binary_fill_holes(ndimage.binary_closing(lines, iterations=4))
    silhouette |= lines
    regions, n = ndimage.label(silhouette & ~lines)
    hsv_base = np.array([rng.uniform(0, 255), rng.uniform(60, 220), rng.uniform(70, 200)])
    base = np.asarray(Image.fromarray(hsv_base.astype(np.uint8).reshape(1, 1, 3), "HSV").convert("RGB"), np.float32)[0, 0]
    shade = rng.uniform(0.75, 1.25, size=(n + 1, 1)).astype(np.float32)
    colour = np.clip(base[None] * shade, 0, 255)
    img = colour[regions]  # (256, 256, 3)
    # lines inside the object: seams of partial contrast, darker or lighter than the fabric
    seam = rng.uniform(0.45, 0.8)
    img[lines] = base * seam
    background = np.array([255, 255, 255], np.float32) if rng.random() < 0.7 else rng.uniform(215, 250, 3).astype(np.float32)
    ys = np.linspace(1.1, 0.85, img.shape[0], dtype=np.float32)[:, None, None]
    img = np.where(silhouette[..., None], np.clip(img * ys, 0, 255), background)
    img = ndimage.gaussian_filter(img, sigma=(1.0, 1.0, 0))
    # place at a random scale and offset in the frame
    ys_, xs_ = np.nonzero(silhouette)
    crop = img[ys_.min(): ys_.max() + 1, xs_.min(): xs_.max() + 1]
    h, w = crop.shape[:2]
    scale = rng.uniform(0.55, 0.9) * frame / max(h, w)
    nh, nw = max(1, int(h * scale)), max(1, int(w * scale))
    obj = np.asarray(Image.fromarray(crop.astype(np.uint8)).resize((nw, nh), Image.BICUBIC), np.float32)
    canvas = np.empty((frame, frame, 3), np.float32)
    canvas[:] = background
    top = int(rng.integers(0, frame - nh + 1))
    left = int(rng.integers(0, frame - nw + 1))
    canvas[top: top + nh, left: left + nw] = obj
    canvas += rng.normal(0, 2.5, canvas.shape)
    buffer = io.BytesIO()
    Image.fromarray(np.clip(canvas, 0, 255).astype(np.uint8)).save(buffer, "JPEG", quality=88)
    return buffer.getvalue()


def naive_edges(photo: bytes) -> np.ndarray:
    """Reference: PIL FIND_EDGES on the whole (uncropped) frame, thresholded."""
    grey = Image.open(io.BytesIO(photo)).convert("L").resize((256, 256), Image.BILINEAR)
    edges = np.asarray(grey.filter(ImageFilter.FIND_EDGES), np.float32)
    edges[:2] = edges[-2:] = 0
    edges[:, :2] = edges[:, -2:] = 0
    return np.where(edges > 24, 60, 255).astype(np.uint8)


def hog(images: np.ndarray) -> np.ndarray:
    import torch

    from fgsbir_core.model import ModelConfig, OrientedGradients, hog_descriptor

    c = ModelConfig()
    front = OrientedGradients(c.work_size, c.blur_sigma, c.orientations)
    with torch.no_grad():
        x = torch.as_tensor(images, dtype=torch.float32)[:, None]
        return hog_descriptor(front(x), c.hog_cell).numpy()


def chamfer(a: np.ndarray, b: np.ndarray) -> float:
    ia, ib = a < 200, b < 200
    if not ia.any() or not ib.any():
        return float("nan")
    da = ndimage.distance_transform_edt(~ia)
    db = ndimage.distance_transform_edt(~ib)
    return float((db[ia].mean() + da[ib].mean()) / 2)


def retrieval(queries: np.ndarray, gallery: np.ndarray) -> tuple[float, float]:
    """acc@1 / acc@10 when query i should retrieve gallery i (cosine / L2 on unit vectors; ties
    count against the query, as in every figure of the project: `evaluate.true_ranks`)."""
    from fgsbir_core.evaluate import accuracy_at, true_ranks

    q = queries / np.linalg.norm(queries, axis=1, keepdims=True)
    g = gallery / np.linalg.norm(gallery, axis=1, keepdims=True)
    rank = true_ranks(-(q @ g.T))
    return accuracy_at(rank, 1), accuracy_at(rank, 10)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-root")
    parser.add_argument("--limit", type=int, help="edge maps per category (default: the whole test split)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--weights", help="also rank with this model's embedding (a checkpoint of the category)")
    parser.add_argument("--save", help="write a PNG strip: edge map, photo, extracted (first 6 of each category)")
    args = parser.parse_args(argv)
    root = resolve_data_root(args.data_root)
    rng = np.random.default_rng(args.seed)
    strips = []
    print(f"{'category':8} {'method':22} {'chamfer px':>10} {'HOG cos':>8} {'acc@1':>7} {'acc@10':>7}")
    for category in ("shoes", "chairs"):
        test = load_benchmark(category, root).test
        edges = test.photos[: args.limit] if args.limit else test.photos
        sketches = test.sketches[: len(edges)]
        photos = [synthetic_photo(e, rng) for e in edges]
        t0 = time.perf_counter()
        extracted = np.stack([photo_to_edges(p) for p in photos])
        per_photo = (time.perf_counter() - t0) / len(photos)
        naive = np.stack([naive_edges(p) for p in photos])
        gallery = hog(edges)
        rows = [("benchmark map itself", edges), ("edges.photo_to_edges", extracted), ("naive FIND_EDGES", naive),
                ("hand-drawn sketch", sketches)]
        for name, images in rows:
            feats = hog(images)
            cos = float(np.mean(np.sum(feats * gallery, 1)))
            ch = float(np.nanmean([chamfer(a, b) for a, b in zip(edges, images)]))
            a1, a10 = retrieval(feats, gallery)
            print(f"{category:8} {name:22} {ch:10.2f} {cos:8.3f} {100 * a1:6.1f}% {100 * a10:6.1f}%")
        print(f"{category:8} (n = {len(edges)}, extraction {1000 * per_photo:.1f} ms per 512 x 512 JPEG incl. decode)")
        if args.save:
            for e, p, x in list(zip(edges, photos, extracted))[:6]:
                photo = np.asarray(Image.open(io.BytesIO(p)).convert("RGB").resize((256, 256)))
                strips.append(np.concatenate([np.repeat(e[..., None], 3, 2), photo, np.repeat(x[..., None], 3, 2)], 1))
        if args.weights:
            from fgsbir_core.checkpoint import ModelError
            from fgsbir_core.engine import Engine

            engine = Engine(category, args.weights)
            try:
                engine.load()
            except ModelError as exc:
                print(f"{category:8} (model rows skipped: {exc})")
                continue
            g = engine.encode_rasters(edges).embeddings
            for name, images in rows[1:]:
                a1, a10 = retrieval(engine.encode_rasters(images).embeddings, g)
                print(f"{category:8} {name + ' (model)':22} {'':10} {'':8} {100 * a1:6.1f}% {100 * a10:6.1f}%")
            # the real use: hand-drawn sketches searching photos whose edge maps were extracted
            s = engine.encode_rasters(sketches).embeddings
            for name, gallery_maps in (("benchmark maps", edges), ("extracted maps", extracted)):
                a1, a10 = retrieval(s, engine.encode_rasters(gallery_maps).embeddings)
                print(f"{category:8} {'sketch -> ' + name:22} {'':10} {'':8} {100 * a1:6.1f}% {100 * a10:6.1f}%")
    if args.save and strips:
        Image.fromarray(np.concatenate(strips, 0)).save(args.save)
    return 0


if __name__ == "__main__":
    sys.exit(main())
