"""Pale products on white: what stretching a low-contrast photo's intensities does for a search.

The test edge maps of a category are rendered as synthetic colour product photos
(`scripts/edge_roundtrip.py`), then lightened towards white paper (I -> 255 - (255 - I) * k: at
k = 0.2 the darkest 1 % of a photo is about 215, a cream shoe on white). Each photo becomes an edge map
the way a folder catalogue's photos do (`fgsbir_core.edges.photo_to_edges`), once with the
shipped settings and once with the stretch turned off (`EdgeSpec.pale_above` = 255), and every
test sketch is ranked among them (`Engine.encode_image`, `Engine.orient`, `Engine.distances`).
Printed per k and setting: photos that became edge maps (the rest are skipped as blank), and
acc@1 / acc@10 of the sketch's own photo (a skipped photo counts as not found).

    FGSBIR_DATA=... python scripts/pale_catalogue.py --category shoes [--lighten 1 0.3 0.2 0.15]
"""
from __future__ import annotations

import argparse
import io
import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from edge_roundtrip import synthetic_photo  # noqa: E402

from fgsbir_core.data import load_benchmark, resolve_data_root  # noqa: E402
from fgsbir_core.edges import DEFAULT_SPEC, ImageError, photo_to_edges  # noqa: E402
from fgsbir_core.engine import Catalogue, Engine  # noqa: E402


def lighten(jpeg: bytes, k: float) -> bytes:
    pixels = np.asarray(Image.open(io.BytesIO(jpeg)).convert("RGB"), np.float32)
    buffer = io.BytesIO()
    Image.fromarray(np.clip(255 - (255 - pixels) * k, 0, 255).astype(np.uint8)).save(buffer, format="JPEG", quality=92)
    return buffer.getvalue()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--category", required=True, choices=("shoes", "chairs"))
    parser.add_argument("--data-root")
    parser.add_argument("--lighten", type=float, nargs="+", default=[1.0, 0.3, 0.2, 0.15], metavar="K")
    args = parser.parse_args(argv)
    test = load_benchmark(args.category, resolve_data_root(args.data_root)).test
    engine = Engine(args.category)
    engine.load()
    sketches = [engine.encode_image(s) for s in test.sketches]
    rng = np.random.default_rng(0)
    photos = [synthetic_photo(edge_map, rng) for edge_map in test.photos]
    for k in args.lighten:
        pale = [lighten(p, k) for p in photos]
        darkest = np.median([np.percentile(np.asarray(Image.open(io.BytesIO(p)).convert("L")), 1) for p in pale])
        for setting, spec in (("stretched", DEFAULT_SPEC), ("as they are", replace(DEFAULT_SPEC, pale_above=255.0))):
            rows, maps = [], []
            for i, photo in enumerate(pale):
                try:
                    maps.append(photo_to_edges(photo, spec))
                    rows.append(i)
                except ImageError:
                    pass  # skipped as blank, as a folder catalogue would
            catalogue = Catalogue([str(i) for i in rows], engine.encode_rasters(np.stack(maps), canonical_facing=True)) if maps else None
            ranks = []
            for i, sketch in enumerate(sketches):
                if i not in rows:
                    ranks.append(len(test.photos))
                    continue
                distances = engine.distances(engine.orient(sketch, catalogue), catalogue)
                own = rows.index(i)
                ranks.append(int((distances <= distances[own]).sum() - 1))  # ties count against the sketch
            ranks = np.array(ranks)
            print(json.dumps({"category": args.category, "lighten": k, "median_darkest_1pct": float(darkest),
                              "photos": setting, "edge_maps": len(rows), "of": len(pale),
                              "acc_at_1": round(100 * float((ranks == 0).mean()), 2),
                              "acc_at_10": round(100 * float((ranks < 10).mean()), 2)}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
