"""How often `Engine.orient` keeps a sketch as drawn, and turns a mirrored one back.

The benchmark's objects all face left. For every other training sketch (never the test split)
of each category, the bundled multi-task model (or --weights) encodes it as drawn and mirrored,
and `orient` chooses against the whole benchmark catalogue ("all" photos, as the app searches).

    FGSBIR_DATA=... python scripts/orientation_check.py [--category shoes chairs] [--split test]
    FGSBIR_DATA=... python scripts/orientation_check.py --cv-dir table1_out/cv --neighbours 1 3 10

Models refitted on all training pairs have seen every training sketch; `--split test` asks the
same of the test sketches against the test photos, and prints acc@1 with the choice (auto) and
with every sketch kept as drawn (what the choice costs where all sketches face the right way), and
with every sketch mirrored and matched as it is (what matching without the choice would give).
`--cv-dir` asks it of sketches no model has seen: each multi-task fold model of a cross-validation
folder with its own fold's validation sketches (against all photos). `--neighbours` compares the
choice made by the mean distance of k nearest photos, for each k given; `--classifier` adds the
facing classifier's choice (what the app uses when it has one, fgsbir_core.facing). The bundled
classifier was fitted on every training sketch, so its figure means little with --cv-dir
(`scripts/fit_facing.py` cross-validates it instead).
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fgsbir_core.crossval import fold_file  # noqa: E402
from fgsbir_core.data import cross_validation_folds, load_benchmark, resolve_data_root  # noqa: E402
from fgsbir_core.engine import ORIENT_NEIGHBOURS, Engine  # noqa: E402


def sketch_sets(category: str, args, bench):
    """(weights, sketches, their photo ids, gallery) to check: the bundled (or --weights) model,
    or each fold model of --cv-dir with its validation sketches."""
    if args.cv_dir:
        folds = cross_validation_folds(len(bench.train.sketches), 4)
        for k, (_, val) in enumerate(folds):
            weights = fold_file(args.cv_dir, category, "mtl", k)
            yield str(weights), bench.train.sketches[val], [bench.train.photo_ids[i] for i in val], "all"
    elif args.split == "train":
        yield args.weights, bench.train.sketches[::2], bench.train.photo_ids[::2], "all"
    else:
        yield args.weights, bench.test.sketches, bench.test.photo_ids, "test"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--category", nargs="+", default=["shoes", "chairs"])
    parser.add_argument("--weights")
    parser.add_argument("--data-root")
    parser.add_argument("--split", choices=("train", "test"), default="train",
                        help="train: every other training sketch against all photos; test: the test sketches and photos")
    parser.add_argument("--cv-dir", help="a cross-validation folder: its multi-task fold models and their validation sketches")
    parser.add_argument("--neighbours", type=int, nargs="+", default=[ORIENT_NEIGHBOURS],
                        help=f"decide by the mean distance of this many nearest photos (default {ORIENT_NEIGHBOURS}, as the app)")
    parser.add_argument("--classifier", action="store_true", help="also the facing classifier's choice")
    args = parser.parse_args(argv)
    root = resolve_data_root(args.data_root)
    variants = list(args.neighbours) + (["classifier"] if args.classifier else [])
    test = args.split == "test" and not args.cv_dir
    for category in args.category:
        bench = load_benchmark(category, root)
        kept, turned, first, n = {}, {}, {}, 0
        for weights, sketches, photo_ids, gallery in sketch_sets(category, args, bench):
            engine = Engine(category, weights)
            engine.load()
            catalogue = engine.load_catalogue(root, gallery=gallery)
            row_of = {photo_id: row for row, photo_id in enumerate(catalogue.ids)}
            n += len(sketches)
            for i, sketch in enumerate(sketches):
                codes = engine.encode_image(sketch), engine.encode_image(np.ascontiguousarray(sketch[:, ::-1]))
                for k in variants:
                    neighbours = ORIENT_NEIGHBOURS if k == "classifier" else k
                    # the nearest-photo choice is made where the code carries no classifier score
                    as_drawn, mirrored = codes if k == "classifier" else [dataclasses.replace(c, facing_score=None) for c in codes]
                    if k == "classifier" and as_drawn.facing_score is None:
                        raise SystemExit(f"{weights or 'the bundled model'} has no facing classifier")
                    kept[k] = kept.get(k, 0) + np.array_equal(engine.orient(as_drawn, catalogue, neighbours=neighbours).raster,
                                                              as_drawn.raster)
                    turned[k] = turned.get(k, 0) + np.array_equal(engine.orient(mirrored, catalogue, neighbours=neighbours).raster,
                                                                  mirrored.mirror.raster)
                    if test:  # with the choice, kept as drawn, and mirrored but kept as it is (what facing costs)
                        for code, facing in ((as_drawn, "auto"), (as_drawn, "as drawn"), (mirrored, "mirrored as drawn")):
                            top = engine.rank(engine.orient(code, catalogue, facing.removeprefix("mirrored "),
                                                            neighbours=neighbours), catalogue, top_k=1)[0].index
                            first[k, facing] = first.get((k, facing), 0) + (top == row_of[photo_ids[i]])
        what = "validation sketches of the fold models" if args.cv_dir else f"{args.split} sketches"
        for k in variants:
            line = (f"{category}: {n} {what}; {'the facing classifier' if k == 'classifier' else f'{k} nearest'}: kept as drawn {100 * kept[k] / n:.0f} %, "
                    f"mirrored turned back {100 * turned[k] / n:.0f} % (mean {50 * (kept[k] + turned[k]) / n:.1f})")
            if test:
                line += (f"; acc@1 {100 * first[k, 'auto'] / n:.1f} % (auto), {100 * first[k, 'as drawn'] / n:.1f} % (as drawn), "
                         f"{100 * first[k, 'mirrored as drawn'] / n:.1f} % (every sketch mirrored and matched as it is)")
            print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
