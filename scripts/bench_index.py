"""Folder indexing throughput and index load time.

1. Writes N (default 500) synthetic 512 x 512 JPEG product photos to a temp folder, indexes
   them with the real Engine (the bundled shoes model; --weights to choose another) --repeats
   times (default 3; each from an empty cache) and prints photos/s for the whole path (decode
   and edge map in worker processes, network, writing the index) and the median, plus the
   split between edge extraction and the network on one core.
2. Writes a synthetic 100k-entry folder index (the engine's embedding size) and prints how long
   `load_folder_index` takes to open it (memory-mapped, as the app does) and to read it fully.

Without bundled weights (a fresh checkout before training) the network is an untrained model
of the shipped architecture: the same computation, so the same speed.

    .venv/bin/python scripts/bench_index.py [-n 500] [--repeats 3] [--entries 100000] [--weights W]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SHOE_ATTRIBUTES = 21


def synthetic_product(i: int, size: int = 512) -> Image.Image:
    """A random shoe-like product shot: body, sole, straps, seams, on a light background."""
    rng = np.random.default_rng(i)
    background = (255, 255, 255) if i % 3 else tuple(int(v) for v in rng.integers(225, 256, 3))
    image = Image.new("RGB", (size, size), background)
    draw = ImageDraw.Draw(image)
    colour = tuple(int(v) for v in rng.integers(20, 230, 3))
    x0, x1 = rng.uniform(0.05, 0.25) * size, rng.uniform(0.75, 0.95) * size
    y0, y1 = rng.uniform(0.15, 0.45) * size, rng.uniform(0.65, 0.85) * size
    toe = rng.uniform(0.3, 0.6)
    body = [(x0, y1), (x0 + (x1 - x0) * 0.1, y1 - (y1 - y0) * 0.4), (x0 + (x1 - x0) * toe, y0),
            (x1, y0 + (y1 - y0) * rng.uniform(0.0, 0.4)), (x1, y1)]
    draw.polygon(body, fill=colour)
    dark = tuple(int(c * 0.45) for c in colour)
    draw.rectangle([x0, y1 - (y1 - y0) * rng.uniform(0.08, 0.2), x1, y1], fill=dark)
    for k in range(int(rng.integers(1, 5))):
        xs = x0 + (x1 - x0) * rng.uniform(0.2, 0.8)
        draw.line([(xs, y0 + (y1 - y0) * 0.2), (xs + rng.uniform(-40, 40), y1 - (y1 - y0) * 0.25)],
                  fill=dark, width=int(rng.integers(2, 6)))
    return image


def stand_in_weights(folder: Path) -> Path:
    import torch

    from fgsbir_core.checkpoint import save_checkpoint
    from fgsbir_core.model import ModelConfig, SketchPhotoNet
    from fgsbir_core.raster import RasterSpec

    torch.manual_seed(0)
    config = ModelConfig(num_attributes=SHOE_ATTRIBUTES)
    model = SketchPhotoNet(config)
    path = folder / "stand_in_shoes.pt"
    save_checkpoint(path, {"model_config": config.to_dict(), "model_state": model.state_dict(),
                           "raster_spec": RasterSpec().to_dict(), "category": "shoes",
                           "attribute_names": [f"attribute_{i}" for i in range(SHOE_ATTRIBUTES)]})
    return path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=500, help="synthetic photos to index")
    parser.add_argument("--entries", type=int, default=100_000, help="size of the synthetic index for the load test")
    parser.add_argument("--repeats", type=int, default=3, help="index the folder this many times from scratch")
    parser.add_argument("--weights")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="sketchfind-bench-") as tmp:
        tmp = Path(tmp)
        os.environ["FGSBIR_CACHE"] = str(tmp / "cache")
        from fgsbir_core.edges import photo_to_edges
        from fgsbir_core.engine import Engine, bundled_weights
        from fgsbir_core.user_catalogue import (
            FolderIndex,
            build_folder_catalogue,
            load_folder_index,
            save_folder_index,
        )

        weights = args.weights or bundled_weights("shoes")
        note = ""
        if not Path(weights).is_file():
            weights = stand_in_weights(tmp)
            note = " (no bundled weights: untrained stand-in of the same architecture)"
        engine = Engine("shoes", weights)
        engine.load()
        print(f"model {weights}{note}; torch threads {__import__('torch').get_num_threads()}, cpus {os.cpu_count()}")

        folder = tmp / "photos"
        folder.mkdir()
        for i in range(args.n):
            synthetic_product(i).save(folder / f"p{i:05d}.jpg", quality=90)
        rates = []
        for run in range(args.repeats):  # each run from scratch: a fresh, empty index cache
            os.environ["FGSBIR_CACHE"] = str(tmp / f"cache{run}")
            started = time.perf_counter()
            catalogue, skipped = build_folder_catalogue(engine, folder)
            seconds = time.perf_counter() - started
            rates.append(len(catalogue) / seconds)
            print(f"indexed {len(catalogue)} photos ({len(skipped)} skipped) in {seconds:.2f} s: "
                  f"{rates[-1]:.0f} photos/s end to end")
        if len(rates) > 1:
            print(f"  median of {len(rates)} runs: {float(np.median(rates)):.0f} photos/s")

        paths = sorted(folder.iterdir())[:200]
        started, cpu = time.perf_counter(), time.process_time()
        maps = np.stack([photo_to_edges(p) for p in paths])
        per_edge = (time.perf_counter() - started) / len(paths)
        cpu_edge = (time.process_time() - cpu) / len(paths)
        started, cpu = time.perf_counter(), time.process_time()
        engine.encode_rasters(maps)
        per_net = (time.perf_counter() - started) / len(paths)
        cpu_net = (time.process_time() - cpu) / len(paths)
        started = time.perf_counter()
        engine.encode_rasters(maps, canonical_facing=True)  # as folder indexing runs it: each photo's facing judged
        per_facing = (time.perf_counter() - started) / len(paths)
        print(f"  decode + edge map {1000 * per_edge:.1f} ms/photo wall, {1000 * cpu_edge:.1f} ms CPU; "
              f"network {1000 * per_net:.1f} ms/photo wall, {1000 * cpu_net:.1f} ms CPU (all threads); "
              f"with the facing judged {1000 * per_facing:.1f} ms/photo wall")
        print(f"  => at most {os.cpu_count() / (cpu_edge + cpu_net):.0f} photos/s on {os.cpu_count()} idle cores "
              "(CPU time bound; the wall figures depend on what else runs)")
        started = time.perf_counter()
        build_folder_catalogue(engine, folder)
        print(f"  re-index with nothing changed: {time.perf_counter() - started:.2f} s")

        n = args.entries
        dim = catalogue.embeddings.shape[1]
        n_attr = catalogue.attribute_probs.shape[1]
        rng = np.random.default_rng(0)
        index = FolderIndex(
            ids=[f"catalogue/shoes/{i // 1000:03d}/product_{i:06d}.jpg" for i in range(n)],
            hashes=[f"{i:064x}" for i in range(n)],
            sizes=np.full(n, 123456, np.int64), mtimes=np.arange(n, dtype=np.int64),
            embeddings=rng.standard_normal((n, dim), dtype=np.float32),
            attribute_probs=rng.random((n, n_attr), dtype=np.float32),
            edge_thumbs=np.full((n, 64, 64), 255, np.uint8), skipped={}, mirrored=np.zeros(n, bool))
        manifest = tmp / "big" / "index.json"
        started = time.perf_counter()
        save_folder_index(manifest, index, "/synthetic", "bench")
        print(f"{n} entry index ({dim}-d embeddings) written in {time.perf_counter() - started:.2f} s, "
              f"{sum(p.stat().st_size for p in manifest.parent.iterdir()) / 1e6:.0f} MB")
        del index
        for mmap in (True, False):
            started = time.perf_counter()
            loaded = load_folder_index(manifest, mmap=mmap)
            seconds = time.perf_counter() - started
            assert loaded is not None and len(loaded) == n
            print(f"  load {'memory-mapped' if mmap else 'fully read  '}: {seconds:.3f} s")
            del loaded
    return 0


if __name__ == "__main__":
    sys.exit(main())
