"""How well the app's reading of attributes (the bold ones in the panel) matches the labels.

For the bundled multi-task models, on the test split: the test sketches and their photos' edge
maps are encoded, each is read as the app reads it (`Engine.present_attributes`: p >= 0.5, one
per exclusive group) and, for comparison, by the plain threshold alone; printed are micro
precision and recall against the photos' labels, how many sketches read contradicting
attributes (two heel heights, two shaft heights, two chair bases) or no heel height / base at
all, and per attribute how often it is read when the label says it is there. Nothing is chosen
by it.

    FGSBIR_DATA=... python scripts/attribute_reading.py [--category shoes chairs]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fgsbir_core.data import load_benchmark  # noqa: E402
from fgsbir_core.engine import Engine  # noqa: E402
from fgsbir_core.retrieval import EXCLUSIVE_GROUPS, PRESENT_AT, encode_images, present_attributes  # noqa: E402


def scores(read: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    hits = (read & labels).sum()
    return hits / max(read.sum(), 1), hits / max(labels.sum(), 1)


def contradictions(read: np.ndarray, names: list[str]) -> tuple[int, int]:
    """(rows reading two members of a group, rows reading none of an 'exactly one' group)."""
    two = np.zeros(len(read), bool)
    none = np.zeros(len(read), bool)
    for rule, group in EXCLUSIVE_GROUPS:
        if set(group) <= set(names):
            count = read[:, [names.index(n) for n in group]].sum(1)
            two |= count > 1
            if rule == "exactly one":
                none |= count == 0
    return int(two.sum()), int(none.sum())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--category", nargs="+", default=["shoes", "chairs"])
    parser.add_argument("--data-root")
    args = parser.parse_args()
    for category in args.category:
        engine = Engine(category)
        engine.load()
        test = load_benchmark(category, args.data_root).test
        names, labels = engine.attribute_names, test.attributes.astype(bool)
        print(f"{category} ({engine.weights.name}, {len(labels)} test pairs, {len(names)} attributes)")
        for side, images in (("sketches", test.sketches), ("photos", test.photos)):
            probs = encode_images(engine.model, images).attribute_probs
            for how, read in (("threshold only", probs >= PRESENT_AT), ("as the app reads", present_attributes(probs, names))):
                precision, recall = scores(read, labels)
                two, none = contradictions(read, names)
                print(f"  {side:8s} {how:17s} precision {precision:.2f}  recall {recall:.2f}  "
                      f"contradicting {two:3d}  no heel height / base {none:3d}")
            if side == "sketches":
                read = present_attributes(probs, names)
                rows = [f"{n} {int((read[:, j] & labels[:, j]).sum())}/{int(labels[:, j].sum())}"
                        for j, n in enumerate(names)]
                print("  read when present (sketches, as the app reads): " + ", ".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
