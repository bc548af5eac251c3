"""How often `Engine.orient` keeps a sketch as drawn, and turns a mirrored one back.

The benchmark's objects all face left. For every other training sketch (never the test split)
of each category, the bundled multi-task model (or --weights) encodes it as drawn and mirrored,
and `orient` chooses against the whole benchmark catalogue ("all" photos, as the app searches).

    FGSBIR_DATA=... python scripts/orientation_check.py [--category shoes chairs] [--split test]

Models refitted on all training pairs have seen every training sketch; `--split test` asks the
same of the test sketches against the test photos, and prints acc@1 with the choice (auto) and
with every sketch kept as drawn (what the choice costs where all sketches face the right way).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fgsbir_core.data import load_benchmark, resolve_data_root  # noqa: E402
from fgsbir_core.engine import Engine  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--category", nargs="+", default=["shoes", "chairs"])
    parser.add_argument("--weights")
    parser.add_argument("--data-root")
    parser.add_argument("--split", choices=("train", "test"), default="train",
                        help="train: every other training sketch against all photos; test: the test sketches and photos")
    args = parser.parse_args(argv)
    root = resolve_data_root(args.data_root)
    for category in args.category:
        engine = Engine(category, args.weights)
        engine.load()
        bench = load_benchmark(category, root)
        catalogue = engine.load_catalogue(root, gallery="all" if args.split == "train" else "test")
        sketches = bench.train.sketches[::2] if args.split == "train" else bench.test.sketches
        row_of = {photo_id: row for row, photo_id in enumerate(catalogue.ids)}
        kept = turned = 0
        first = {"auto": 0, "as drawn": 0}
        for i, sketch in enumerate(sketches):
            as_drawn = engine.encode_image(sketch)
            kept += np.array_equal(engine.orient(as_drawn, catalogue).raster, as_drawn.raster)
            mirrored = engine.encode_image(np.ascontiguousarray(sketch[:, ::-1]))
            turned += np.array_equal(engine.orient(mirrored, catalogue).raster, mirrored.mirror.raster)
            if args.split == "test":
                for facing in first:
                    top = engine.rank(engine.orient(as_drawn, catalogue, facing), catalogue, top_k=1)[0].index
                    first[facing] += top == row_of[bench.test.photo_ids[i]]
        n = len(sketches)
        line = f"{category}: {n} {args.split} sketches; kept as drawn {100 * kept / n:.0f} %, mirrored turned back {100 * turned / n:.0f} %"
        if args.split == "test":
            line += f"; acc@1 {100 * first['auto'] / n:.1f} % (auto), {100 * first['as drawn'] / n:.1f} % (as drawn)"
        print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
