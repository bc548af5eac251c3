"""Average several cross-validation results (`*_cv.json` of `fgsbir cv` / cv_parallel.py, e.g. one
per seed) step by step and weight by weight, and print the best cell as `fgsbir cv` picks it.

    python scripts/cv_average.py cv/chairs_mtl_cv.json seed1/chairs_mtl_cv.json seed2/chairs_mtl_cv.json
"""
from __future__ import annotations

import argparse
import json
import sys

import numpy as np


def main(paths: list[str]) -> int:
    cells: dict = {}
    for path in paths:
        with open(path) as f:
            for row in json.load(f)["table"]:
                cells.setdefault((row["step"], row["fusion_weight"]), []).append((row["acc_at_1"], row["acc_at_10"]))
    means = {k: np.mean(v, axis=0) for k, v in cells.items() if len(v) == len(paths)}
    step, w = max(means, key=lambda k: (means[k][0], means[k][1], k[0], -k[1]))
    print(json.dumps({"files": len(paths), "step": step, "fusion_weight": w,
                      "acc_at_1": round(float(means[step, w][0]), 4), "acc_at_10": round(float(means[step, w][1]), 4)}))
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("cv_json", nargs="+", help="*_cv.json files of one category and mode")
    sys.exit(main(parser.parse_args().cv_json))
