"""A shop catalogue whose photos face either way: does judging each photo's facing help?

The test edge maps of a category are rendered as synthetic colour product photos
(`scripts/edge_roundtrip.py`), every other one mirrored (facing right), and written to a
temporary folder (--all-left: none mirrored). The folder is indexed as the app indexes a folder catalogue, once with the
bundled facing classifier (photos facing the other way encoded mirrored, fgsbir_core.facing) and
once without, and every test sketch is queried the app's way (`Engine.encode_image`, then
`Engine.rank` with the automatic facing choice). Printed per condition: acc@1 and acc@10 of the
sketch's own photo, and how many sketches were kept as drawn (they all face left), and the
share of attributes read from the oriented sketch that agree with its photo's labels (p >= 0.5).

    FGSBIR_DATA=... python scripts/mixed_facing_catalogue.py --category shoes [--all-left]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from edge_roundtrip import synthetic_photo  # noqa: E402

from fgsbir_core.data import load_benchmark, resolve_data_root  # noqa: E402
from fgsbir_core.engine import Engine  # noqa: E402
from fgsbir_core.user_catalogue import build_folder_catalogue  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--category", required=True, choices=("shoes", "chairs"))
    parser.add_argument("--data-root")
    parser.add_argument("--all-left", action="store_true", help="mirror no photo: what judging costs a catalogue that faces one way")
    args = parser.parse_args(argv)
    test = load_benchmark(args.category, resolve_data_root(args.data_root)).test
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as work:
        folder = Path(work) / "shop"
        folder.mkdir()
        names = []
        for i, edge_map in enumerate(test.photos):
            turned = i % 2 == 1 and not args.all_left
            (folder / f"{i:03d}.jpg").write_bytes(synthetic_photo(np.ascontiguousarray(edge_map[:, ::-1]) if turned else edge_map, rng))
            names.append(f"{i:03d}.jpg")
        for condition in ("facing judged", "as they are"):
            os.environ["FGSBIR_CACHE"] = str(Path(work) / condition.replace(" ", "_"))
            engine = Engine(args.category)
            engine.load()
            if condition == "as they are":
                engine.facing, engine.facing_id = None, ""
            stats: dict = {}
            catalogue, skipped = build_folder_catalogue(engine, folder, stats=stats)
            ranks, kept, agree = [], 0, []
            for i, sketch in enumerate(test.sketches):
                code = engine.encode_image(sketch)
                oriented = engine.orient(code, catalogue)
                kept += int(np.array_equal(oriented.raster, code.raster))
                distances = engine.distances(oriented, catalogue)
                own = catalogue.ids.index(names[i])
                ranks.append(int((distances <= distances[own]).sum() - 1))  # ties count against the sketch
                if test.attributes is not None and len(engine.attribute_names):
                    agree.append(float(((oriented.attribute_probs >= 0.5) == (test.attributes[i] >= 0.5)).mean()))
            ranks = np.array(ranks)
            print(json.dumps({"category": args.category, "catalogue": condition, "photos": len(catalogue), "skipped": len(skipped),
                              "photos_mirrored": stats.get("mirrored", 0), "acc_at_1": round(100 * float((ranks == 0).mean()), 2),
                              "acc_at_10": round(100 * float((ranks < 10).mean()), 2), "sketches_kept_as_drawn": kept,
                              "sketches": len(ranks), "attributes_agreeing_percent": round(100 * float(np.mean(agree)), 2) if agree else None}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
