"""Helpers for packaging/smoke_test.sh, run with the development venv's Python.

    smoke_helpers.py sketch OUT.png --data-root DIR [--category shoes] [--index 0]
        save test sketch INDEX of the benchmark as a PNG (made at test time, never committed)
    smoke_helpers.py checkpoint OUT.pt --data-root DIR [--category shoes]
        an untrained (seeded) SketchFind checkpoint, to test the bundle's torch path while
        resources/models has no trained weights yet
    smoke_helpers.py photos FOLDER
        a small user catalogue: synthetic product photos (JPEG, PNG with transparency, WebP,
        greyscale) plus one corrupt file, and FOLDER/../catalogue_sketch.png to search it with
    smoke_helpers.py compare EXPECTED.json ACTUAL.json
        the same photos in the same order with the same scores (to 1e-5) for every sketch
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path


def make_sketch(out: str, data_root: str, category: str, index: int) -> None:
    import scipy.io
    from PIL import Image

    mat = Path(data_root) / category / f"{category}_sketch_db_test.mat"
    data = scipy.io.loadmat(mat)["data"]
    Image.fromarray(data[index]).save(out)


def make_checkpoint(out: str, data_root: str, category: str) -> None:
    import torch

    from fgsbir_core.checkpoint import save_checkpoint
    from fgsbir_core.data import load_attributes
    from fgsbir_core.model import ModelConfig, SketchPhotoNet
    from fgsbir_core.raster import RasterSpec

    names, _, definitions = load_attributes(Path(data_root), category)
    torch.manual_seed(0)
    config = ModelConfig(num_attributes=len(names))
    model = SketchPhotoNet(config).eval()
    save_checkpoint(out, {
        "model_config": config.to_dict(),
        "model_state": model.state_dict(),
        "raster_spec": RasterSpec().to_dict(),
        "category": category,
        "mode": "mtl",
        "attribute_names": names,
        "attribute_definitions": definitions,
    })


def make_photos(folder: str, count: int = 72) -> None:
    import numpy as np
    from PIL import Image, ImageDraw

    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        rng = np.random.default_rng(i)
        image = Image.new("RGBA", (int(rng.integers(300, 640)), int(rng.integers(300, 640))), (255, 255, 255, 0 if i % 4 == 1 else 255))
        w, h = image.size
        draw = ImageDraw.Draw(image)
        colour = tuple(int(v) for v in rng.integers(20, 220, 3)) + (255,)
        box = [rng.uniform(0.05, 0.3) * w, rng.uniform(0.3, 0.5) * h, rng.uniform(0.7, 0.95) * w, rng.uniform(0.7, 0.9) * h]
        draw.rounded_rectangle(box, radius=int(min(w, h) * 0.08), fill=colour)
        draw.polygon([(box[0], box[1]), (box[0] + (box[2] - box[0]) * 0.35, box[1] - h * 0.2), (box[0] + (box[2] - box[0]) * 0.45, box[1])], fill=colour)
        draw.line([(box[0], box[3] - 12), (box[2], box[3] - 12)], fill=(30, 30, 30, 255), width=4)
        kind = i % 4
        if i in (4, 5, 6):  # kinds Pillow reads by plugins a trim could drop: BMP, GIF, TIFF
            image.convert("RGB").save(out / f"product_{i:02d}.{('bmp', 'gif', 'tif')[i - 4]}")
        elif i == 8:  # a pale product on white, stretched before its edges are drawn
            pale = 255 - (255 - np.asarray(image.convert("RGB"), np.float32)) * 0.2
            Image.fromarray(pale.astype(np.uint8)).save(out / f"product_{i:02d}_pale.jpg", quality=90)
        elif kind == 0:
            image.convert("RGB").save(out / f"product_{i:02d}.jpg", quality=90)
        elif kind == 1:
            image.save(out / f"product_{i:02d}.png")
        elif kind == 2:
            image.convert("RGB").save(out / f"product_{i:02d}.webp", quality=90)
        else:
            image.convert("L").save(out / f"product_{i:02d}.png")
    (out / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a JPEG")
    sketch = Image.new("L", (400, 300), 255)
    draw = ImageDraw.Draw(sketch)
    draw.rounded_rectangle([40, 120, 370, 250], radius=30, outline=0, width=3)
    draw.line([(40, 120), (150, 50), (190, 120)], fill=0, width=3)
    sketch.save(out.parent / "catalogue_sketch.png")


def _results(answer) -> list:
    """The ranked list of one sketch's answer, whatever the exact JSON shape."""
    if isinstance(answer, dict):
        for key in ("results", "matches", "top"):
            if isinstance(answer.get(key), list):
                return answer[key]
    return answer if isinstance(answer, list) else [answer]


def compare(expected_path: str, actual_path: str) -> list[str]:
    expected = json.loads(Path(expected_path).read_text())
    actual = json.loads(Path(actual_path).read_text())
    if not isinstance(expected, list) or not expected:
        return [f"{expected_path}: not a non-empty JSON list"]
    if not isinstance(actual, list) or len(actual) != len(expected):
        return [f"{len(expected)} answers expected, got {len(actual) if isinstance(actual, list) else type(actual).__name__}"]
    problems = []
    for n, (want, got) in enumerate(zip(expected, actual)):
        want_r, got_r = _results(want), _results(got)
        if len(want_r) != len(got_r) or not want_r:
            problems.append(f"sketch {n}: {len(want_r)} results expected, got {len(got_r)}")
            continue
        for rank, (w, g) in enumerate(zip(want_r, got_r), 1):
            w_id = w.get("id", w.get("photo")) if isinstance(w, dict) else w
            g_id = g.get("id", g.get("photo")) if isinstance(g, dict) else g
            if w_id != g_id:
                problems.append(f"sketch {n} rank {rank}: photo {w_id!r} expected, got {g_id!r}")
            elif isinstance(w, dict) and isinstance(w.get("score"), (int, float)):
                ws, gs = float(w["score"]), float(g.get("score", math.nan))
                if not math.isclose(ws, gs, rel_tol=1e-5, abs_tol=1e-6):
                    problems.append(f"sketch {n} rank {rank}: score {ws} expected, got {gs}")
                w_attr, g_attr = w.get("attributes") or {}, g.get("attributes") or {}
                if set(w_attr) != set(g_attr) or any(abs(float(w_attr[k]) - float(g_attr[k])) > 1e-4 for k in w_attr):
                    problems.append(f"sketch {n} rank {rank}: attributes differ")
    return problems


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("sketch")
    p.add_argument("out")
    p.add_argument("--data-root", required=True)
    p.add_argument("--category", default="shoes")
    p.add_argument("--index", type=int, default=0)
    p = sub.add_parser("checkpoint")
    p.add_argument("out")
    p.add_argument("--data-root", required=True)
    p.add_argument("--category", default="shoes")
    p = sub.add_parser("photos")
    p.add_argument("folder")
    p = sub.add_parser("compare")
    p.add_argument("expected")
    p.add_argument("actual")
    args = parser.parse_args(argv)
    if args.command == "sketch":
        make_sketch(args.out, args.data_root, args.category, args.index)
    elif args.command == "checkpoint":
        make_checkpoint(args.out, args.data_root, args.category)
    elif args.command == "photos":
        make_photos(args.folder)
    else:
        problems = compare(args.expected, args.actual)
        for line in problems[:20]:
            print(f"  MISMATCH {line}", file=sys.stderr)
        return 1 if problems else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
