"""Cross-validation over the training pairs, which chooses a recipe's step and fusion weight, and
the refit of a chosen recipe on all training pairs."""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Final

import numpy as np

from .checkpoint import load_checkpoint
from .data import cross_validation_folds, load_benchmark, resolve_data_root
from .evaluate import accuracy_at
from .files import atomic_write_bytes
from .model import ModelConfig
from .train import TrainConfig, train

CV_FOLDS: Final = 4  # the cross-validation every recipe choice here was made by


def fold_file(out_dir: str | Path, category: str, mode: str, k: int) -> Path:
    """Fold k's model of a cross-validation in out_dir (`cross_validate`, scripts/cv_parallel.py)."""
    return Path(out_dir) / f"{category}_{mode}_fold{k}.pt"


def cross_validate(config: TrainConfig, out_dir: str | Path, data_root=None, folds: int = CV_FOLDS,
                   quiet: bool = False) -> dict:
    """Choose the recipe's step and fusion weight on every training pair: train `folds` models,
    each validated on its own part, pool the validation ranks of all pairs at each validated
    step and weight, and take the best acc@1 (then acc@10, then the later step, the smaller w).
    Returns a card for `train(config, out, refit_from=card)`, also written to
    out_dir/<category>_<mode>_cv.json with the pooled table. Fold models are kept (resumable)."""
    root = resolve_data_root(data_root)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    n = len(load_benchmark(config.category, root).train)
    if not 2 <= folds <= n // 2:
        raise ValueError(f"--folds {folds}: must be from 2 to {n // 2} (each fold needs at least 2 validation pairs "
                         f"of the {n})")
    config.check()
    pooled: dict = {}
    seconds = 0.0
    for k in range(folds):
        card = train_fold(config, out_dir, k, folds, root, quiet)
        seconds += card["training_seconds"]
        for step, by_weight in card["validation_ranks"].items():
            for w, ranks in by_weight.items():
                pooled.setdefault((int(step), float(w)), []).extend(ranks)
    table = []
    for (step, w), ranks in sorted(pooled.items()):
        ranks = np.asarray(ranks)
        table.append({"step": step, "fusion_weight": w, "acc_at_1": accuracy_at(ranks, 1),
                      "acc_at_10": accuracy_at(ranks, 10), "sketches": int(len(ranks))})
    best = max(table, key=lambda r: (r["acc_at_1"], r["acc_at_10"], r["step"], -r["fusion_weight"]))
    result = {
        "train_config": config.to_dict(),
        "chosen_step": best["step"],
        "validation": {"fusion_weight": best["fusion_weight"], "acc_at_1": best["acc_at_1"], "acc_at_10": best["acc_at_10"]},
        "chosen_by": f"and fusion weight chosen by {folds}-fold cross-validation on the training pairs "
                     f"(validation figures: pooled over all {n} of them, each ranked within its fold)",
        "training_seconds": round(seconds, 1),
        "folds": folds,
        "table": table,
    }
    atomic_write_bytes(out_dir / f"{config.category}_{config.mode}_cv.json", (json.dumps(result, indent=2) + "\n").encode())
    return result


def train_fold(config: TrainConfig, out_dir: Path, k: int, folds: int, root: Path, quiet: bool = False) -> dict:
    """Fold k of `cross_validate` (out_dir/<category>_<mode>_fold<k>.pt), reused when that file was
    trained with this config; returns its card with the validation ranks of every step and weight."""
    n = len(load_benchmark(config.category, root).train)
    if "{fold}" in config.init_from:  # staged training whose first stage saw only this fold's training part
        config = replace(config, init_from=config.init_from.format(fold=k))
    path = fold_file(out_dir, config.category, config.mode, k)
    card = load_checkpoint(path)["card"] if path.is_file() else None
    split = cross_validation_folds(n, folds)[k]
    # a fold file from before the split was recorded was one of 4 folds (the only count then used)
    same_split = card is not None and card.get("validation_pairs", None if folds != 4 else [int(i) for i in split[1]]) \
        == [int(i) for i in split[1]]
    if card is None or not config.same_as(card.get("train_config")) or "validation_ranks" not in card or not same_split:
        card = train(config, path, root, quiet=quiet, split=split, history={})
    return card


def refit_plan(run_weights: str | Path, threads: int | None = None, seed: int | None = None,
               init_from: str | None = None) -> tuple[TrainConfig, dict]:
    """(config, card) to refit the finished run `run_weights` (or a cross-validation's JSON) on all
    training pairs:
    `train(config, out, refit_from=card)`. Fields newer than the run take their defaults.
    init_from: a staged recipe's first stage for this refit (its run started from per-fold ones)."""
    if str(run_weights).endswith(".json"):  # a cross-validation result (cross_validate)
        try:
            card = json.loads(Path(run_weights).read_text())
        except (OSError, ValueError) as exc:
            raise ValueError(f"--refit-from {run_weights} cannot be read as a cross-validation result: "
                             f"{getattr(exc, 'strerror', None) or exc}") from None
    else:
        card = dict(load_checkpoint(run_weights)["card"])
    if not isinstance(card, dict) or not isinstance(card.get("train_config"), dict) or "chosen_step" not in card:
        raise ValueError(f"{run_weights} is not a finished run or a cross-validation of fgsbir (no recipe and chosen step in it)")
    unknown = sorted(set(card["train_config"]) - set(TrainConfig.__dataclass_fields__))
    if unknown:  # a newer version's recipe: dropping its settings would train another one
        raise ValueError(f"{run_weights} was trained with settings this version of fgsbir does not know "
                         f"({', '.join(unknown)}): refit it with the version that made it")
    unknown = sorted(set(card["train_config"].get("model") or {}) - set(ModelConfig.__dataclass_fields__))
    if unknown:
        raise ValueError(f"{run_weights} was trained with network settings this version of fgsbir does not know "
                         f"(model.{', model.'.join(unknown)}): refit it with the version that made it")
    try:  # a hand-edited file: wrong types or ranges are said, not a traceback
        config = TrainConfig(**card["train_config"])
        config.check()
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{run_weights}: its recipe cannot be trained ({exc})") from None
    chosen = card["chosen_step"]
    if isinstance(chosen, bool) or not isinstance(chosen, int) or not 1 <= chosen <= config.steps:
        raise ValueError(f"{run_weights}: its chosen step {chosen!r} is not a step of its recipe (1 to {config.steps})")
    if threads:
        config.threads = threads
    if seed is not None and "folds" in card:  # a cross-validated recipe serves every seed
        config.seed = seed
    elif seed is not None and seed != config.seed:  # one run's refit repeats that run, seed included
        raise ValueError(f"{run_weights} is one run (seed {config.seed}): its refit keeps that seed. --seed goes "
                         "with the JSON of `fgsbir cv`, whose recipe serves every seed")
    if init_from is not None:
        config.init_from = init_from
    if "{fold}" in config.init_from:
        raise ValueError(f"{run_weights} was cross-validated from per-fold first stages ({config.init_from}): give the "
                         "first stage trained on all training pairs (--set init_from=FILE)")
    card["train_config"] = config.to_dict()
    return config, card
