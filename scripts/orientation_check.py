"""How often `Engine.orient` keeps a sketch as drawn, and turns a mirrored one back.

The benchmark's objects all face left. For every other training sketch (never the test split)
of each category, the bundled multi-task model (or --weights) encodes it as drawn and mirrored,
and `orient` chooses against the whole benchmark catalogue ("all" photos, as the app searches).

    FGSBIR_DATA=... python scripts/orientation_check.py [--category shoes chairs]
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
    args = parser.parse_args(argv)
    root = resolve_data_root(args.data_root)
    for category in args.category:
        engine = Engine(category, args.weights)
        engine.load()
        catalogue = engine.load_catalogue(root, gallery="all")
        sketches = load_benchmark(category, root).train.sketches[::2]
        kept = turned = 0
        for sketch in sketches:
            as_drawn = engine.encode_image(sketch)
            kept += np.array_equal(engine.orient(as_drawn, catalogue).raster, as_drawn.raster)
            mirrored = engine.encode_image(np.ascontiguousarray(sketch[:, ::-1]))
            turned += np.array_equal(engine.orient(mirrored, catalogue).raster, mirrored.mirror.raster)
        n = len(sketches)
        print(f"{category}: {n} training sketches; kept as drawn {100 * kept / n:.0f} %, mirrored turned back {100 * turned / n:.0f} %")
    return 0


if __name__ == "__main__":
    sys.exit(main())
