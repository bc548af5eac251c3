"""Is the published split's verdict between two modes typical? Train both on random re-splits.

The published split is one draw of test sketches. This pools a category's training and test
pairs, draws random re-splits of the same sizes (re-split 0 is the published split itself, as
a check against Table 1), trains each mode on the new training part with the bundled model's
recipe (`resources/models/<category>_<mode>.json`: its training config, stopping step and
fusion weight, all chosen by cross-validation on the published training pairs; a staged recipe's
first stage is trained again on the re-split's training part, see `recipe`), and ranks the
held-out sketches among the held-out photos. Human triplets count only where both photos lie in
the training part. Nothing here is chosen or shipped: it measures how often, and by how much,
one mode beats the other when the test sketches are drawn again.

    FGSBIR_DATA=... python scripts/resplit_comparison.py --category chairs --resplits 0-15 --jobs 16 --out resplits.jsonl
    python scripts/resplit_comparison.py --summary resplits.jsonl

One JSON line per (re-split, mode, seed); the summary pairs the modes by re-split and seed.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scripts.paired_comparison import sign_test  # noqa: E402

MODELS = Path(__file__).resolve().parents[1] / "resources" / "models"


def pooled_split(category: str, root):
    """(all pairs as one Split, number of published training pairs); test triplets re-indexed."""
    from fgsbir_core.data import Split, load_benchmark

    bench = load_benchmark(category, root)
    train, test = bench.train, bench.test
    offset = len(train)
    pooled = Split(np.concatenate([train.sketches, test.sketches]), np.concatenate([train.photos, test.photos]),
                   train.photo_ids + test.photo_ids, list(train.triplets) + [t + offset for t in test.triplets],
                   np.concatenate([train.attributes, test.attributes]))
    return bench, pooled, offset


def resplit(n_train: int, n_total: int, r: int) -> tuple[np.ndarray, np.ndarray]:
    """(training indices, held-out indices) into the pooled pairs; r = 0 is the published split."""
    if r == 0:
        return np.arange(n_train), np.arange(n_train, n_total)
    order = np.random.default_rng(5000 + r).permutation(n_total)
    return np.sort(order[n_total - n_train:]), np.sort(order[:n_total - n_train])


STAGE1_STEPS = 1200  # a staged recipe's first stage, as scripts/train_all.sh trains it (STAGE1_STEPS)


def recipe(category: str, mode: str, seed: int):
    """(first stage or None, second stage): the TrainConfigs of the bundled model's recipe. A staged
    recipe's card names its first stage's file (`init_from`), trained on the published training
    pairs, which hold most of a random re-split's held-out pairs: so the first stage is trained
    again on each re-split's own training part (with every training pair of the other
    categories, 1200 steps, last weights kept, as scripts/train_all.sh does)."""
    from fgsbir_core.data import CATEGORIES
    from fgsbir_core.train import TrainConfig

    card = json.loads((MODELS / f"{category}_{mode}.json").read_text())
    second = TrainConfig(**card["train_config"])
    second.seed, second.threads = seed, 1
    if not second.init_from:
        return None, second
    others = tuple(c for c in CATEGORIES if c != category)
    first = TrainConfig(category=category, mode=mode, seed=seed, threads=1, extra_categories=others,
                        steps=STAGE1_STEPS, select="final")
    return first, second


def run_one(category: str, mode: str, r: int, seed: int) -> dict:
    import dataclasses

    from fgsbir_core import train as training
    from fgsbir_core.data import load_benchmark, resolve_data_root

    root = resolve_data_root(None)
    card = json.loads((MODELS / f"{category}_{mode}.json").read_text())
    first, config = recipe(category, mode, seed)
    step, w = int(card["chosen_step"]), float(card["fusion_weight"])
    bench, pooled, n_train = pooled_split(category, root)
    fit, held = resplit(n_train, len(pooled), r)
    # train() reads this category's training pairs through load_benchmark: hand it the pooled
    # ones (the other categories', for a first stage, stay as published)
    training.load_benchmark = lambda name, data_root=None: (dataclasses.replace(bench, train=pooled) if name == category
                                                            else load_benchmark(name, data_root))
    history: dict = {}
    started = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        if first is not None:
            config.init_from = str(Path(tmp) / "stage1.pt")
            training.train(first, config.init_from, root, resume=False, quiet=True, split=(fit, held))
        training.train(config, Path(tmp) / "model.pt", root, resume=False, quiet=True, split=(fit, held), history=history)
    ranks = np.asarray(history[step][w])
    return {"category": category, "mode": mode, "resplit": r, "seed": seed, "step": step, "fusion_weight": w,
            "staged": first is not None,
            "acc_at_1": float(np.mean(ranks < 1)), "acc_at_10": float(np.mean(ranks < 10)),
            "held_photo_ids": [pooled.photo_ids[i] for i in held], "ranks": ranks.tolist(),
            "seconds": round(time.time() - started, 1)}


def parse_range(text: str) -> list[int]:
    out = []
    for part in text.split(","):
        a, _, b = part.partition("-")
        out += list(range(int(a), int(b or a) + 1))
    return out


def summary(path: Path) -> None:
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    by_key = {(x["resplit"], x["seed"], x["mode"]): x for x in rows}
    modes = sorted({x["mode"] for x in rows})
    if modes != ["mtl", "triplet"]:
        print(f"need both modes, have {modes}")
        return
    diffs, only = [], [0, 0]
    print("re-split seed   mtl acc@1  triplet acc@1   only mtl / only triplet first")
    for (r, seed, mode), a in sorted(by_key.items()):
        b = by_key.get((r, seed, "triplet"))
        if mode != "mtl" or b is None:
            continue
        ra, rb = np.asarray(a["ranks"]) == 0, np.asarray(b["ranks"]) == 0
        oa, ob = int((ra & ~rb).sum()), int((rb & ~ra).sum())
        print(f"{r:8d} {seed:4d}   {100 * a['acc_at_1']:9.2f}  {100 * b['acc_at_1']:13.2f}   {oa:3d} / {ob:3d}"
              + ("   (published split)" if r == 0 else ""))
        if r != 0:
            diffs.append(100 * (a["acc_at_1"] - b["acc_at_1"]))
            only[0] += oa
            only[1] += ob
    if diffs:
        d = np.asarray(diffs)
        print(f"random re-splits: {len(d)}; mtl - triplet acc@1 = {d.mean():+.2f} points on average "
              f"(sd {d.std(ddof=1) if len(d) > 1 else 0:.2f}, median {np.median(d):+.2f}); mtl ahead in {(d > 0).sum()}, "
              f"level in {(d == 0).sum()}, behind in {(d < 0).sum()}; pooled only-mtl / only-triplet sketches "
              f"{only[0]} / {only[1]} (sign test p = {sign_test(*only):.3g}, rough: re-splits share sketches)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--category", default="chairs")
    parser.add_argument("--modes", default="mtl,triplet")
    parser.add_argument("--resplits", default="0-7", help="e.g. 0-15 or 0,3,5 (0 = the published split)")
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--out", help="JSON lines file (appended; finished runs are skipped)")
    parser.add_argument("--summary", help="only summarise this JSON lines file")
    args = parser.parse_args()
    if args.summary:
        summary(Path(args.summary))
        return 0
    if not args.out:
        parser.error("--out is required")
    out = Path(args.out)
    done = set()
    if out.is_file():
        done = {(x["mode"], x["resplit"], x["seed"]) for x in map(json.loads, out.read_text().splitlines()) if x}
    jobs = [(m, r, s) for r in parse_range(args.resplits) for s in parse_range(args.seeds)
            for m in args.modes.split(",") if (m, r, s) not in done]
    with ProcessPoolExecutor(args.jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = [pool.submit(run_one, args.category, m, r, s) for m, r, s in jobs]
        for f in as_completed(futures):
            row = f.result()
            with open(out, "a") as handle:
                handle.write(json.dumps(row) + "\n")
            print(f"{row['mode']:8s} re-split {row['resplit']:3d} seed {row['seed']}: acc@1 {100 * row['acc_at_1']:.2f} "
                  f"({row['seconds']} s)", flush=True)
    summary(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
