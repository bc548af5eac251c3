"""Does the engine give the same answers on a GPU as on the CPU, and how much faster is it?

For each bundled model (shoes and chairs, multi-task and triplet) the real Engine is loaded
twice, on the CPU and on --device (default cuda), and encodes the test split's sketches and
photos on both. Prints, per model: the largest difference in embeddings and attribute
probabilities, the test metrics from each device's codes (the checkpoint's own fusion weight),
how many test sketches get a different first photo, and the speed of the two things the app
runs on the network: one sketch (with its mirror, as a stroke end does; median of --repeats)
and indexing the whole benchmark gallery in batches of 64 (photos/s).

    FGSBIR_DATA=... python scripts/gpu_check.py [--device cuda] [--repeats 50] [--json OUT]

Exits 2 when the device is not available (the engine fell back to the CPU).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fgsbir_core.data import load_benchmark  # noqa: E402
from fgsbir_core.engine import Engine  # noqa: E402
from fgsbir_core.evaluate import retrieval_metrics  # noqa: E402
from fgsbir_core.retrieval import fused_distances  # noqa: E402

MODELS = [("shoes", "mtl"), ("shoes", "triplet"), ("chairs", "mtl"), ("chairs", "triplet")]


def synchronise(device: str) -> None:
    import torch

    if device == "cuda":
        torch.cuda.synchronize()


def sketch_latency_ms(engine: Engine, raster: np.ndarray, repeats: int) -> float:
    engine._code(raster)  # warm-up: first call allocates and picks kernels
    times = []
    for _ in range(repeats):
        synchronise(engine.device)
        start = time.perf_counter()
        engine._code(raster)  # the codes come back to the CPU, so this includes the copy
        times.append(time.perf_counter() - start)
    return 1000 * float(np.median(times))


def index_rate(engine: Engine, photos: np.ndarray) -> float:
    engine.encode_rasters(photos[:64])
    start = time.perf_counter()
    for first in range(0, len(photos), 64):
        engine.encode_rasters(photos[first: first + 64])
    return len(photos) / (time.perf_counter() - start)


def check_model(category: str, mode: str, device: str, data_root, repeats: int, limit: int | None) -> dict:
    bench = load_benchmark(category, data_root)
    test = bench.test if limit is None else bench.test.subset(np.arange(min(limit, len(bench.test))))
    gallery = np.concatenate([bench.train.photos, bench.test.photos])
    if limit is not None:
        gallery = gallery[: 4 * limit]
    row: dict = {"category": category, "mode": mode}
    codes, metrics = {}, {}
    for name, wanted in (("cpu", "cpu"), ("device", device)):
        engine = Engine(category, mode=mode, device=wanted)
        engine.load()
        if wanted != "cpu" and engine.device != wanted:
            raise SystemExit(2)
        s, p = engine.encode_rasters(test.sketches), engine.encode_rasters(test.photos)
        distances = fused_distances(s, p, engine.default_attribute_weight, engine.attribute_reliability)
        codes[name] = (s, p, distances)
        metrics[name] = retrieval_metrics(distances, test.triplets)
        row[f"{name}_sketch_ms"] = sketch_latency_ms(engine, test.sketches[0], repeats)
        row[f"{name}_index_photos_per_s"] = index_rate(engine, gallery)
    (s0, p0, d0), (s1, p1, d1) = codes["cpu"], codes["device"]
    row["max_embedding_diff"] = float(max(np.abs(s0.embeddings - s1.embeddings).max(), np.abs(p0.embeddings - p1.embeddings).max()))
    row["max_attribute_diff"] = float(max(np.abs(s0.attribute_probs - s1.attribute_probs).max(initial=0.0),
                                          np.abs(p0.attribute_probs - p1.attribute_probs).max(initial=0.0)))
    row["different_first_photo"] = int((d0.argmin(1) != d1.argmin(1)).sum())
    row["cpu_metrics"], row["device_metrics"] = metrics["cpu"], metrics["device"]
    return row


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cuda", help="cuda or mps (cpu compares the CPU with itself)")
    parser.add_argument("--data-root", help="benchmark root (default: FGSBIR_DATA)")
    parser.add_argument("--repeats", type=int, default=50, help="timed single-sketch queries per device")
    parser.add_argument("--limit", type=int, help="only the first N test pairs (and 4N gallery photos): a quick run")
    parser.add_argument("--json", help="also write the rows to this file")
    args = parser.parse_args(argv)

    import torch

    if args.device == "cuda" and torch.cuda.is_available():
        print(f"torch {torch.__version__}, {torch.cuda.get_device_name(0)}")
    rows = []
    for category, mode in MODELS:
        try:
            row = check_model(category, mode, args.device, args.data_root, args.repeats, args.limit)
        except SystemExit:
            print(f"{args.device} is not available here: the engine fell back to the CPU.")
            return 2
        rows.append(row)
        cm, dm = row["cpu_metrics"], row["device_metrics"]
        print(f"{category:6s} {mode:7s}  acc@1 cpu {100 * cm['acc_at_1']:.2f} / {args.device} {100 * dm['acc_at_1']:.2f}"
              f"  acc@10 {100 * cm['acc_at_10']:.2f} / {100 * dm['acc_at_10']:.2f}"
              f"  triplet {100 * cm['triplet_acc']:.2f} / {100 * dm['triplet_acc']:.2f}"
              f"  | max diff emb {row['max_embedding_diff']:.1e} attr {row['max_attribute_diff']:.1e}"
              f", first photo differs for {row['different_first_photo']}"
              f"  | sketch {row['cpu_sketch_ms']:.1f} / {row['device_sketch_ms']:.1f} ms"
              f"  | index {row['cpu_index_photos_per_s']:.0f} / {row['device_index_photos_per_s']:.0f} photos/s")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
