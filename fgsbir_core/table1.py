"""Reproduce the paper's Table 1 (shoes, chairs: hand-made baseline, triplet, MTL) and plot ranks."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .evaluate import evaluate_checkpoint, hog_baseline_distances, true_ranks
from .files import atomic_write, atomic_write_bytes

METRICS = ("acc_at_1", "acc_at_10", "triplet_acc")
PAPER = {  # Song et al. BMVC 2016, Table 1 (%): acc@1, acc@10, triplet accuracy
    ("shoes", "triplet"): (39.13, 87.83, 69.49), ("shoes", "mtl"): (50.43, 91.30, 70.59),
    ("chairs", "triplet"): (69.07, 97.94, 72.30), ("chairs", "mtl"): (78.35, 98.97, 73.13),
}
ROWS = (("hog", "blurred-HOG (no learning)"), ("triplet", "triplet (human triplets)"), ("mtl", "multi-task (attributes)"))


def run_table1(data_root=None, retrain: bool = False, seeds: int = 3, out_dir: Path = Path("table1_out"), steps: int | None = None,
               refit: bool = False, cv: bool = False) -> dict:
    """Print and save the table. retrain: train (or reuse from out_dir) `seeds` models per mode;
    refit: each run then refitted on all training pairs (out_dir/refit/); cv: the models of the
    shipped, staged recipe that scripts/train_all.sh trains (out_dir/cv/), evaluated."""
    from .engine import bundled_weights

    if retrain and cv:  # before any work: the models come from scripts/train_all.sh
        missing = [path for category in ("shoes", "chairs") for mode in ("triplet", "mtl") for seed in range(seeds)
                   if not (path := _shipped_recipe_file(out_dir, category, mode, seed)).is_file()]
        if missing:
            raise ValueError(f"--cv evaluates the models of the shipped, staged recipe, which scripts/train_all.sh "
                             f"trains into {out_dir / 'cv'}; {len(missing)} of them are missing ({missing[0].name}, ...): "
                             f"run `{'' if out_dir == Path('table1_out') else f'TABLE1_OUT={out_dir} '}"
                             f"scripts/train_all.sh {seeds}` (it ends with this table)")
    try:  # before the table is computed, not after: the folder its files go to must take them
        out_dir.mkdir(parents=True, exist_ok=True)
        probe = out_dir / ".write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise OSError(f"--out-dir {out_dir} cannot be written: {exc.strerror or exc}") from None
    results: dict = {}
    ranks: dict = {}
    for category in ("shoes", "chairs"):
        metrics, distances = hog_baseline_distances(category, data_root)
        results[(category, "hog")] = [metrics]
        ranks[(category, "hog")] = true_ranks(distances)
        for mode in ("triplet", "mtl"):
            runs, all_ranks, all_distances = [], [], []
            for seed in range(seeds if retrain else 1):
                if retrain and cv:
                    weights = _shipped_recipe_file(out_dir, category, mode, seed)
                elif retrain:
                    from .train import TrainConfig, train

                    weights = out_dir / f"{category}_{mode}_seed{seed}.pt"
                    config = TrainConfig(category=category, mode=mode, seed=seed)
                    if steps is not None:
                        config.steps = steps
                    if not weights.is_file():
                        train(config, weights, data_root)
                    if refit:  # the run's choices, trained again on all training pairs
                        from .crossval import refit_plan

                        run, weights = weights, out_dir / "refit" / weights.name
                        if not weights.is_file():
                            weights.parent.mkdir(parents=True, exist_ok=True)
                            refit_config, run_card = refit_plan(run)
                            train(refit_config, weights, data_root, refit_from=run_card)
                else:
                    weights = bundled_weights(category, mode)
                m, d = evaluate_checkpoint(weights, category, data_root)
                runs.append(m)
                all_ranks.append(true_ranks(d))
                all_distances.append(d)
            results[(category, mode)] = runs
            if len(all_distances) > 1:  # the seeds' models as one: mean of their distances
                from .data import load_benchmark
                from .evaluate import retrieval_metrics

                triplets = load_benchmark(category, data_root).test.triplets
                results[(category, f"{mode}_ensemble")] = [retrieval_metrics(np.mean(all_distances, 0), triplets)]
            ranks[(category, mode)] = np.concatenate(all_ranks)

    how = ', cross-validated recipe, all training pairs' if cv else ', refitted on all training pairs' if refit else ''
    what = f'mean ± std over {seeds} seeds{how}' if retrain else 'bundled models'
    lines = [f"Table 1 (test split, %; {what}; paper = Song et al. 2016)",
             f"{'':8s} {'model':28s} {'acc@1':>14s} {'acc@10':>14s} {'triplet acc':>14s}   paper (acc@1 / acc@10 / triplet)"]
    table = {}
    for category in ("shoes", "chairs"):
        for key, label in ROWS + tuple((f"{m}_ensemble", f"{m}, {seeds}-seed ensemble") for m in ("triplet", "mtl")):
            if (category, key) not in results:
                continue
            runs = results[(category, key)]
            cells, row = [], {}
            for name in METRICS:
                values = 100 * np.array([r[name] for r in runs])
                row[name] = {"mean": float(values.mean()), "std": float(values.std()), "runs": values.tolist()}
                cells.append(f"{values.mean():6.2f} ± {values.std():4.2f}" if len(values) > 1 else f"{values.mean():14.2f}")
            paper = PAPER.get((category, key))
            paper_text = " / ".join(f"{v:.2f}" for v in paper) if paper else "-"
            lines.append(f"{category:8s} {label:28s} {cells[0]:>14s} {cells[1]:>14s} {cells[2]:>14s}   {paper_text}")
            table[f"{category}/{key}"] = row
    text = "\n".join(lines)
    print(text)
    suffix = "" if retrain else "_bundled"  # the bundled models' table never overwrites a (long) retrained one's
    figures, plot = out_dir / f"table1{suffix}.json", out_dir / f"rank_distributions{suffix}.png"
    atomic_write_bytes(figures, json.dumps(table, indent=2).encode())
    plot_rank_curves(ranks, plot)
    print(f"\nwrote {figures} and {plot}")
    return table


def _shipped_recipe_file(out_dir: Path, category: str, mode: str, seed: int) -> Path:
    return out_dir / "cv" / f"{category}_{mode}_seed{seed}.pt"


def plot_rank_curves(ranks: dict, path: Path) -> None:
    """Cumulative match curves (share of sketches whose photo is within the top K), drawn with PIL."""
    from PIL import Image, ImageDraw

    colours = {"hog": (120, 120, 120), "triplet": (30, 110, 200), "mtl": (220, 60, 40)}
    width, height, pad, k_max = 900, 380, 50, 30
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    panel_w = (width - 3 * pad) // 2
    for p, category in enumerate(("shoes", "chairs")):
        x0 = pad + p * (panel_w + pad)
        y0, y1 = pad, height - pad
        draw.rectangle([x0, y0, x0 + panel_w, y1], outline="black")
        draw.text((x0 + 5, y0 - 18), f"{category}: share of sketches with the true photo in the top K (K = 1..{k_max})", fill="black")
        for frac in (0.0, 0.25, 0.5, 0.75, 1.0):
            y = y1 - frac * (y1 - y0)
            draw.line([x0, y, x0 + panel_w, y], fill=(225, 225, 225) if 0 < frac < 1 else "black")
            draw.text((x0 - 36, y - 6), f"{int(frac * 100)}%", fill="black")
        for k in (1, 5, 10, 15, 20, 25, 30):
            x = x0 + (k - 1) / (k_max - 1) * panel_w
            draw.line([x, y1, x, y1 + 4], fill="black")
            draw.text((x - 4, y1 + 6), str(k), fill="black")
        for row, (key, label) in enumerate(ROWS):
            r = ranks.get((category, key))
            if r is None:
                continue
            points = [(x0 + (k - 1) / (k_max - 1) * panel_w, y1 - np.mean(r < k) * (y1 - y0)) for k in range(1, k_max + 1)]
            draw.line(points, fill=colours[key], width=2)
            draw.text((x0 + panel_w - 190, y1 - 60 + 15 * row), label, fill=colours[key])
        draw.text((x0 + panel_w // 2 - 10, y1 + 22), "K", fill="black")
    atomic_write(path, lambda handle: image.save(handle, "PNG"))  # never half a plot under the final name
