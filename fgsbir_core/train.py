"""Training loop for the two modes, with validation-based model choice and resumable checkpoints.

- `triplet`: the baseline of Sketch Me That Shoe: triplets from the human annotations plus
  easy random negatives; no attribute tasks.
- `mtl`: the seed paper's multi-task model: attribute prediction for sketch and photo, a
  triplet loss on predicted attribute vectors, and triplets generated and hard-sampled from
  attribute similarity (no human triplets).
"""
from __future__ import annotations

import copy
import json
import math
import platform
import re
import sys
import time
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

import numpy as np

from .augment import augmented_pair_cells, pick_copies, pseudo_sketches
from .checkpoint import ModelError, half_precision, load_checkpoint, save_checkpoint
from .data import CATEGORIES, load_benchmark, resolve_data_root, train_validation_split
from .evaluate import retrieval_metrics, true_ranks
from .model import ModelConfig
from .raster import RasterSpec
from .retrieval import Codes, encode_images, fused_distances
from .sampling import AttributeNegativeSampler, AttributeTripletSampler, HumanTripletSampler

MODES = ("mtl", "triplet")
FUSION_GRID = (0.0, 0.25, 0.5, 1.0, 2.0, 4.0)  # fusion weights w tried on validation


class TrainingDiverged(RuntimeError):
    """The loss stopped being a number: no model worth writing."""


@dataclass
class TrainConfig:
    category: str = "shoes"
    mode: str = "mtl"
    seed: int = 0
    steps: int = 600
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 5e-4
    margin: float = 0.2  # on squared distances of unit embeddings (range 0..4)
    attribute_loss_weight: float = 1.0  # lambda1
    attribute_triplet_weight: float = 1.0  # lambda2
    attribute_margin: float = 0.05  # on mean squared attribute-probability distances
    hard_pool: int = 20  # attribute-nearest photos that count as hard negatives
    hard_share: float = 0.5
    hard_ties: str = "index"  # "appearance": attribute ties broken by the photos' HOG similarity
    mine_every: int = 0  # mtl, > 0: every this many steps, narrow each attribute pool to the model's hardest `mine_keep`
    mine_keep: int = 5
    train_fusion_weight: float = 0.0  # mtl, > 0: the embedding's ranking loss on the fused distance (emb + w * attributes)
    attribute_agreement_weight: float = 0.0  # mtl, > 0: each sketch also learns the model's own attribute probabilities for its photo
    attribute_graded_margin: float = 0.0  # mtl, > 0: in-batch margin grows by this x the photos' attribute disagreement
    pseudo_sketch_attributes: bool = False  # mtl: pseudo-sketches of this category's photos also learn their labels
    generated_triplet_weight: float = 0.0  # mtl: ranking triplets generated from attributes (AttributeTripletSampler)
    human_triplet_share: float = 1.0  # triplet, < 1: keep this share of each sketch's human triplets (data-scaling check)
    extra_categories: tuple = ()  # other categories' training pairs shared by the embedding task
    extra_batch: int = 16  # pairs per step from one extra category (round robin)
    pseudo_sketch_pairs: bool = True  # add (pseudo-sketch of photo i, photo i) pairs to the extra pools
    augment_strength: float = 1.0  # scales the warp shared by a sketch and its photo
    augment_jitter: float = 0.25  # scales the independent warp of each image on top
    augment_copies: int = 8  # augmented copies per image, front end computed once for each
    photo_dropout: float = 0.15  # share of 1/8-frame patches erased from edge maps
    eval_every: int = 100
    ema_decay: float = 0.0  # > 0: validate and ship an exponential moving average of the weights
    select: str = "best"  # "best": the validated checkpoint with the best acc@1; "final": the last
    threads: int = 2
    init_from: str = ""  # staged training: start the learned branches from this checkpoint ("{fold}": fold k's own)
    # ModelConfig overrides. Three narrow learned branches on one front end, each with its own
    # loss: an ensemble in one model (docs/RESULTS.md: what moved the numbers)
    model: dict = field(default_factory=lambda: {"members": 3, "width": 32, "embedding_dim": 128})

    def to_dict(self) -> dict:
        return asdict(self)

    def with_overrides(self, items) -> "TrainConfig":
        """This recipe with `KEY=VALUE` overrides of its fields (`model.KEY=VALUE` for the network's,
        ModelConfig), as `fgsbir train/cv --set` and scripts/cv_parallel.py --recipe give them.
        The fields a run is named by (category, mode, seed, threads) are set otherwise."""
        config = replace(self, model=dict(self.model))
        fixed = ("category", "mode", "seed", "threads", "model", "num_attributes")
        for item in items:
            key, _, text = item.partition("=")
            owner, name = (ModelConfig(), key[6:]) if key.startswith("model.") else (config, key)
            names = [f.name for f in fields(owner) if f.name not in fixed]
            if name not in names or not text:
                raise ValueError(f"--set {item}: expected {key.partition('.')[0] + '.' if owner is not config else ''}"
                                 f"KEY=VALUE with KEY one of {', '.join(names)}")
            try:
                value = _parse_like(getattr(owner, name), text)
            except ValueError as exc:
                raise ValueError(f"--set {item}: {name} takes a {type(getattr(owner, name)).__name__}") from exc
            if owner is config:
                setattr(config, name, value)
            else:
                config.model = {**config.model, name: value}
        return config

    def same_as(self, saved: dict | None) -> bool:
        """Whether a run saved with config `saved` was trained with this one (fields newer than
        that run count with their defaults, so adding an option does not void finished runs)."""
        return saved is not None and {**asdict(TrainConfig()), **saved} == self.to_dict()

    def check(self) -> None:
        """A clear ValueError naming the field for a setting that cannot train (before any time is spent)."""
        def need(ok: bool, field_name: str, rule: str) -> None:
            if not ok:
                raise ValueError(f"{field_name} = {getattr(self, field_name, self.model.get(field_name[6:]))!r}: "
                                 f"must be {rule}")

        def finite(value) -> bool:
            return isinstance(value, (int, float)) and math.isfinite(value)

        need(self.mode in MODES, "mode", f"one of {', '.join(MODES)}")
        need(self.select in ("best", "final"), "select", '"best" or "final"')
        need(self.hard_ties in ("index", "appearance"), "hard_ties", '"index" or "appearance"')
        for name in ("steps", "batch_size", "hard_pool", "mine_keep", "extra_batch", "augment_copies", "eval_every", "threads"):
            need(getattr(self, name) >= 1, name, "a whole number of at least 1")
        need(self.batch_size >= 2, "batch_size", "at least 2 (each sketch is ranked against the others' photos)")
        need(0 <= self.seed < 2**63, "seed", "a whole number from 0 to 2**63 - 1")  # (torch's seed is a 64-bit int)
        need(self.mine_every >= 0, "mine_every", "at least 0")
        need(finite(self.lr) and self.lr > 0, "lr", "a finite number above 0")
        for name in ("weight_decay", "margin", "attribute_loss_weight", "attribute_triplet_weight", "attribute_margin",
                     "train_fusion_weight", "attribute_agreement_weight", "attribute_graded_margin",
                     "generated_triplet_weight", "augment_strength", "augment_jitter"):
            need(finite(getattr(self, name)) and getattr(self, name) >= 0, name, "a finite number of at least 0")
        need(0.0 <= self.hard_share <= 1.0, "hard_share", "from 0 to 1")
        need(0.0 <= self.photo_dropout < 1.0, "photo_dropout", "from 0 to below 1")
        need(0.0 <= self.ema_decay < 1.0, "ema_decay", "from 0 (off) to below 1")
        need(0.0 < self.human_triplet_share <= 1.0, "human_triplet_share", "above 0 and at most 1")
        for name in self.extra_categories:
            need(name in CATEGORIES and name != self.category, "extra_categories",
                 f"other categories than {self.category} (of {', '.join(CATEGORIES)}): its own pairs are there already, "
                 "and would put the validation pairs into training")
        for name in ("members", "width", "embedding_dim"):
            if name in self.model:
                need(isinstance(self.model[name], int) and self.model[name] >= 1, f"model.{name}", "a whole number of at least 1")


def _check_writable(out: Path) -> None:
    """Before the training time is spent: `out` must be a file that can be written."""
    if out.is_dir():
        raise ValueError(f"--out {out} is a folder: give a file name (e.g. {out / 'model.pt'})")
    if out.exists() and not out.resolve().is_file():
        raise ValueError(f"--out {out} is not a regular file (a device or a pipe): give a file name")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        probe = out.with_name(f".{out.name}.write-test")
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise ValueError(f"--out {out} cannot be written: {exc.strerror or exc}") from exc


def _parse_like(current, text: str):
    """`text` as a value of the type of `current` (a bool from yes/no/true/false/1/0; a tuple from a comma list)."""
    if isinstance(current, bool):
        if text.lower() not in ("1", "0", "true", "false", "yes", "no"):
            raise ValueError
        return text.lower() in ("1", "true", "yes")
    return tuple(text.split(",")) if isinstance(current, tuple) else type(current)(text)


def attribute_reliability(root: Path, category: str, names: list[str]) -> np.ndarray:
    """Per-attribute weight from the annotators' Cohen's kappa (AGREEMENT.md): kappa clipped to
    [0.1, 1]; attributes without a figure get 1. Noisy labels count less in every loss and in
    the sampler, and their default weight at query time is the same."""
    weights = np.ones(len(names), np.float32)
    path = root / "attributes" / "AGREEMENT.md"
    if not path.is_file():
        return weights
    section = None
    for line in path.read_text().splitlines():
        head = re.match(r"##\s+(\w+):", line)
        if head:
            section = head.group(1)
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if section == category and len(cells) == 4 and cells[0] in names:
            try:
                weights[names.index(cells[0])] = float(np.clip(float(cells[3]), 0.1, 1.0))
            except ValueError:
                pass
    return weights


def current_distances(model, sketch_bank, photo_bank, batch_size: int = 128) -> np.ndarray:
    """(n, n) squared embedding distances between the unwarped copies (copy 0) of the cached
    training sketches and photos, under the model as it is now."""
    import torch

    from .losses import pair_distances

    was_training = model.training
    model.eval()
    with torch.no_grad():
        codes = [torch.cat([model.forward_cells(bank[i: i + batch_size, 0])[0] for i in range(0, len(bank), batch_size)])
                 for bank in (sketch_bank, photo_bank)]
    model.train(was_training)
    return pair_distances(*codes).numpy()


def load_matching_weights(model, path: str | Path) -> int:
    """Copy every learned tensor of the checkpoint at `path` whose name and shape match `model`'s
    (trunks, embedding heads, the HOG mixing weight; not another category's attribute heads,
    nor the HOG projection, which is fitted on this category's images). Returns how many."""
    try:
        state = load_checkpoint(path)
    except ModelError as exc:  # say which setting named the file (a refit's recipe may name a first stage)
        raise ModelError(f"init_from (the first stage this recipe starts from): {exc}") from None
    source = state["model_state"]
    target = model.state_dict()
    copied = 0
    for name, value in source.items():
        if name in target and target[name].shape == value.shape and name != "hog_projection":
            target[name] = value.to(target[name].dtype)
            copied += 1
    if copied == 0:
        raise ValueError(f"init_from: {path} shares no weights with this model (another architecture?)")
    model.load_state_dict(target)
    return copied


def one_cycle(optimiser, lr: float, steps: int):
    """The learning-rate schedule: one cycle with a 10 % warm-up. Where that warm-up would be
    exactly one step (10 steps), two: torch's OneCycleLR divides by the warm-up's length minus one."""
    import torch

    warm_up = 0.1 if round(0.1 * steps, 9) != 1 else 0.2
    return torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=lr, total_steps=steps, pct_start=warm_up)


PLAIN_PROGRESS_EVERY = 50  # steps between progress lines when stderr is not a terminal


def _progress(step: int, total: int, started: float, note: str, first: int = 0) -> None:
    """The progress bar; `first`: the step this process started from (a resumed run's pace counts
    only the steps it took)."""
    tty = sys.stderr.isatty()
    if not tty and step % PLAIN_PROGRESS_EVERY and step != total:
        return  # a log file gets a line now and then, not one endless line of carriage returns
    done = int(30 * step / total)
    rate = (step - first) / max(time.time() - started, 1e-6)
    eta = (total - step) / max(rate, 1e-6)
    line = f"[{'#' * done}{'.' * (30 - done)}] {step}/{total} {rate:.1f} it/s eta {eta:4.0f}s {note}"
    sys.stderr.write(f"\r{line}   " if tty else line + "\n")
    sys.stderr.flush()


def choose_fusion_weight(sketches: Codes, photos: Codes, triplets=None, attribute_weights=None) -> tuple[float, dict]:
    """Fusion weight w with the best validation acc@1 (then acc@10), and its metrics."""
    best = None
    for w in FUSION_GRID:
        metrics = retrieval_metrics(fused_distances(sketches, photos, w, attribute_weights), triplets)
        key = (metrics["acc_at_1"], metrics["acc_at_10"], -w)
        if best is None or key > best[0]:
            best = (key, w, metrics)
    return best[1], best[2]


def train(config: TrainConfig, out: str | Path, data_root=None, resume: bool = True, quiet: bool = False,
          refit_from: dict | None = None, split: tuple | None = None, history: dict | None = None) -> dict:
    """Train one model; write the chosen (best on validation) checkpoint to `out`. Returns its card.

    refit_from: the card of a finished run with the same config. Its choices (the step, the fusion
    weight w), made on the validation carve, are kept, and the model is trained again the same
    way on *all* training pairs (the carve included: a quarter more data), stopping at that step.
    split: (fit, validation) indices into the training pairs instead of the standard carve.
    history: filled with {step: {w: validation ranks}} at every validation (cross-validation).
    """
    import torch

    config.check()
    _check_writable(Path(out))
    torch.set_num_threads(config.threads)
    root = resolve_data_root(data_root)
    bench = load_benchmark(config.category, root)
    if bench.train.attributes is None and config.mode == "mtl":  # the triplet baseline needs none
        raise ValueError(f"No attribute labels for {config.category} under {root}/attributes: the multi-task model "
                         "learns them (the triplet model trains without)")
    fit_idx, val_idx = split if split is not None else train_validation_split(len(bench.train), seed=0)
    fit, val = bench.train.subset(fit_idx), bench.train.subset(val_idx)
    if config.batch_size > len(fit):
        raise ValueError(f"batch_size = {config.batch_size}: must be at most the {len(fit)} training pairs")
    validation_pairs = [int(i) for i in val_idx]  # which split a partial or a fold file was trained on
    stop = config.steps
    if refit_from is not None:
        if not config.same_as(refit_from.get("train_config")):
            raise ValueError("refit_from: that run was trained with another configuration")
        fit = bench.train
        stop = int(refit_from["chosen_step"])
    names = bench.attribute_names
    reliability = attribute_reliability(root, config.category, names)
    use_attributes = config.mode == "mtl"
    # the triplet baseline has no attribute tasks, so its checkpoint predicts no attributes
    model_names = names if use_attributes else []
    model_config = ModelConfig(num_attributes=len(model_names), **config.model)

    from .losses import attribute_loss, in_batch_triplet_loss, triplet_ranking_loss
    from .model import SketchPhotoNet, fit_hog_projection, hog_descriptor

    rng = np.random.default_rng(config.seed)
    torch.manual_seed(config.seed)
    model = SketchPhotoNet(model_config)
    fit_hog_projection(model, torch.from_numpy(np.concatenate([fit.sketches, fit.photos])).float()[:, None])
    if config.init_from:
        load_matching_weights(model, config.init_from)
    # the averaged weights (Polyak): a one-model stand-in for an ensemble of the last few hundred
    # steps, less at the mercy of where training happened to stop
    # (a copy, not a new model: building one would draw from the random state, and the run with
    # the average would then train other weights than the run without)
    ema = copy.deepcopy(model) if config.ema_decay > 0 else None
    optimiser = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    schedule = one_cycle(optimiser, config.lr, config.steps)
    out = Path(out)
    partial = out.with_name(out.name + ".partial")
    step, best, spent = 0, None, 0.0
    resumed_rng = None
    if resume and partial.is_file():
        state = load_checkpoint(partial, unfinished=True)
        if config.same_as(state.get("train_config")) and state.get("validation_pairs", validation_pairs) == validation_pairs:
            model.load_state_dict(state["model_state"])
            optimiser.load_state_dict(state["optimiser_state"])
            schedule.load_state_dict(state["schedule_state"])
            step, best, spent = state["step"], state["best"], state["seconds"]
            if ema is not None:
                ema.load_state_dict(state["ema_state"])
            if history is not None:
                history.update(state.get("history") or {})
            resumed_rng = (state["rng_state"], state["torch_rng_state"])  # set once the data below is drawn
            if not quiet:
                print(f"resuming {partial} at step {step}", file=sys.stderr)
        elif not quiet:
            print(f"{partial} was left by a run with another recipe or split: starting afresh (it is replaced at "
                  "the first save)", file=sys.stderr)

    if not quiet:
        print("computing augmented front-end cells ...", file=sys.stderr)
    fit_sketches, fit_photos = augmented_pair_cells(model, fit.sketches, fit.photos, config.augment_copies, rng,
                                                    config.augment_strength, config.augment_jitter)
    labels = torch.from_numpy(fit.attributes) if use_attributes else None
    weights_t = torch.from_numpy(reliability)
    sampler_weights = np.where(reliability >= 0.5, reliability, 0.0)
    appearance = None
    if config.hard_ties == "appearance":  # the fixed HOG descriptor of each photo's edge map
        with torch.no_grad():
            photos_t = torch.from_numpy(fit.photos).float()[:, None]
            appearance = torch.cat([hog_descriptor(model.cells(photos_t[i: i + 128]), model.config.hog_cell // model.config.cell)
                                    for i in range(0, len(photos_t), 128)]).numpy()
    attr_sampler = (AttributeNegativeSampler(fit.attributes, config.hard_pool, sampler_weights, config.hard_share, appearance)
                    if use_attributes else None)
    human_triplets = fit.triplets
    if config.human_triplet_share < 1.0:  # own generator: the rest of training draws as before
        keep = np.random.default_rng(config.seed + 7919)
        human_triplets = [t[keep.random(len(t)) < config.human_triplet_share] for t in fit.triplets]
    human_sampler = HumanTripletSampler(human_triplets, len(fit))
    generated = use_attributes and config.generated_triplet_weight > 0
    generated_sampler = AttributeTripletSampler(fit.attributes, config.hard_pool, sampler_weights) if generated else None
    # Other categories' *training* pairs (never their test split): more sketches for the shared
    # trunk to learn sketch-vs-edge-map matching from; in-batch negatives stay within a category.
    extras = []
    for name in config.extra_categories:
        extra_train = load_benchmark(name, root).train
        if config.pseudo_sketch_pairs:
            extras.append(augmented_pair_cells(model, pseudo_sketches(extra_train.photos, rng), extra_train.photos,
                                               config.augment_copies, rng, config.augment_strength, config.augment_jitter))
        extras.append(augmented_pair_cells(model, extra_train.sketches, extra_train.photos, config.augment_copies, rng,
                                           config.augment_strength, config.augment_jitter))
    own_pseudo = -1  # index in `extras` of this category's own pseudo-sketch pairs
    if config.pseudo_sketch_pairs:
        extras.append(augmented_pair_cells(model, pseudo_sketches(fit.photos, rng), fit.photos, config.augment_copies, rng,
                                           config.augment_strength, config.augment_jitter))
        own_pseudo = len(extras) - 1
    if resumed_rng is not None:  # the augmented copies above are drawn as in the first run; training goes on where it stopped
        rng.bit_generator.state = resumed_rng[0]
        torch.set_rng_state(resumed_rng[1])
    started, first_step = time.time(), step

    shipped = ema if ema is not None else model

    def validate() -> dict:
        s = encode_images(shipped, val.sketches)
        p = encode_images(shipped, val.photos)
        if history is not None:
            history[step] = {w: true_ranks(fused_distances(s, p, w, reliability)).tolist()
                             for w in (FUSION_GRID if use_attributes else (0.0,))}
        if not use_attributes:
            return {"fusion_weight": 0.0, **retrieval_metrics(fused_distances(s, p, 0.0), val.triplets)}
        w, metrics = choose_fusion_weight(s, p, val.triplets, reliability)
        return {"fusion_weight": w, **metrics}

    while step < stop:
        if use_attributes and config.mine_every > 0 and step % config.mine_every == 0:
            attr_sampler.mine(current_distances(model, fit_sketches, fit_photos), config.mine_keep)
        model.train()
        anchors = rng.choice(len(fit), config.batch_size, replace=False)
        if use_attributes:
            negatives = attr_sampler.sample(anchors, rng)
            photo_idx = np.concatenate([anchors, negatives])
            if generated:
                photo_idx = np.concatenate([photo_idx, *generated_sampler.sample(anchors, rng)])
        else:
            closer, farther = human_sampler.sample(anchors, rng)
            photo_idx = np.concatenate([anchors, closer, farther])
        copies = rng.integers(0, config.augment_copies, len(photo_idx))
        sk = pick_copies(fit_sketches, anchors, copies[: len(anchors)], rng)  # positives share their sketch's warp
        ph = pick_copies(fit_photos, photo_idx, copies, rng, config.photo_dropout)
        b = len(anchors)
        positives = torch.arange(b)
        margin = config.margin
        if use_attributes and config.attribute_graded_margin > 0:
            # a negative that differs from the positive in more attributes must lie further away:
            # graded ranking from attributes, the multi-task stand-in for the human triplets' grading
            disagreement = (labels[anchors][:, None] - labels[photo_idx[: 2 * b]][None]).abs() @ weights_t / weights_t.sum()
            margin = config.margin + config.attribute_graded_margin * disagreement

        def member_loss(emb, logits):
            s_emb, p_emb = emb[:b], emb[b:]
            if use_attributes:
                s_log, p_log = logits[:b], logits[b:]
                scale = torch.sqrt(weights_t / weights_t.sum())
                s_att, p_att = torch.sigmoid(s_log) * scale, torch.sigmoid(p_log) * scale
            if use_attributes and config.train_fusion_weight > 0:
                # rank by the distance used at query time, so the embedding learns what the attributes miss
                f = config.train_fusion_weight ** 0.5
                loss = in_batch_triplet_loss(torch.cat([s_emb, f * s_att], 1), torch.cat([p_emb, f * p_att], 1)[: 2 * b],
                                             positives, config.margin)
            else:
                loss = in_batch_triplet_loss(s_emb, p_emb[: (2 * b if use_attributes else b)], positives, margin)
            if use_attributes:
                loss = loss + config.attribute_loss_weight * (
                    attribute_loss(s_log, labels[anchors], weights_t) + attribute_loss(p_log, labels[photo_idx], weights_t)
                )
                loss = loss + config.attribute_triplet_weight * in_batch_triplet_loss(s_att, p_att, positives, config.attribute_margin)
                if config.attribute_agreement_weight > 0:
                    # query-time fusion compares the two predictions, so they must agree with each other
                    # (labels on both sides would rank far better: scripts/attribute_ceiling.py)
                    loss = loss + config.attribute_agreement_weight * attribute_loss(s_log, torch.sigmoid(p_log[:b]).detach(), weights_t)
                if generated:
                    loss = loss + config.generated_triplet_weight * triplet_ranking_loss(
                        s_emb, p_emb[2 * b: 3 * b], p_emb[3 * b:], config.margin)
            else:
                loss = loss + triplet_ranking_loss(s_emb, p_emb[b: 2 * b], p_emb[2 * b:], config.margin)
            return loss

        # every member of an ensemble model learns from its own loss, on the same batch
        members = model.member_outputs(torch.cat([sk, ph]))
        loss = sum(member_loss(emb, logits) for emb, logits in members) / len(members)
        if extras:
            ex_sk, ex_ph = extras[step % len(extras)]
            pick = rng.choice(len(ex_sk), min(config.extra_batch, len(ex_sk)), replace=False)
            ex_copy = rng.integers(0, config.augment_copies, len(pick))
            n = len(pick)
            ex_members = model.member_outputs(torch.cat([pick_copies(ex_sk, pick, ex_copy, rng),
                                                         pick_copies(ex_ph, pick, ex_copy, rng, config.photo_dropout)]))
            loss = loss + sum(in_batch_triplet_loss(e[:n], e[n:], torch.arange(n), config.margin) for e, _ in ex_members) / len(ex_members)
            if use_attributes and config.pseudo_sketch_attributes and own_pseudo == step % len(extras):
                # more sketch-like inputs with known labels for the sketch side of the attribute task
                loss = loss + config.attribute_loss_weight * sum(
                    attribute_loss(logits[:n], labels[pick], weights_t) for _, logits in ex_members) / len(ex_members)
        if not torch.isfinite(loss):
            raise TrainingDiverged(f"The training loss became {loss.item()} at step {step + 1}: the learning rate "
                                   f"({config.lr:g}) or another setting is out of range. Nothing was written to {out}.")
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        schedule.step()
        step += 1
        if ema is not None:
            with torch.no_grad():
                decay = min(config.ema_decay, step / (step + 10.0))  # warm-up: early steps count fully
                for averaged, current in zip(ema.state_dict().values(), model.state_dict().values()):
                    if averaged.dtype.is_floating_point:
                        averaged.mul_(decay).add_(current, alpha=1.0 - decay)
                    else:
                        averaged.copy_(current)
        if not quiet:
            _progress(step, stop, started, f"loss {loss.item():.3f}", first_step)
        if step == stop and refit_from is not None:  # nothing left to validate on: the run's choices
            best = {"step": step, "metrics": dict(refit_from["validation"]),
                    "model_state": {k: v.clone() for k, v in shipped.state_dict().items()}}
        elif step % config.eval_every == 0 or step == config.steps:
            metrics = validate()
            better = best is None or (metrics["acc_at_1"], metrics["acc_at_10"]) >= (best["metrics"]["acc_at_1"], best["metrics"]["acc_at_10"])
            if better if config.select == "best" else step == config.steps:
                best = {"step": step, "metrics": metrics, "model_state": {k: v.clone() for k, v in shipped.state_dict().items()}}
            if not quiet:
                sys.stderr.write(("\n" if sys.stderr.isatty() else "") + f"step {step}: validation {json.dumps({k: round(v, 4) for k, v in metrics.items()})}\n")
            save_checkpoint(partial, {
                "model_config": model_config.to_dict(), "model_state": model.state_dict(), "raster_spec": RasterSpec().to_dict(),
                "category": config.category, "attribute_names": model_names, "train_config": config.to_dict(),
                "optimiser_state": optimiser.state_dict(), "schedule_state": schedule.state_dict(), "step": step, "best": best,
                "seconds": spent + time.time() - started, "rng_state": rng.bit_generator.state, "torch_rng_state": torch.get_rng_state(),
                "ema_state": ema.state_dict() if ema is not None else None, "history": history,
                "validation_pairs": validation_pairs,
            })
    seconds = spent + time.time() - started
    card = {
        "category": config.category,
        "mode": config.mode,
        "seed": config.seed,
        "chosen_step": best["step"],
        "validation": best["metrics"],
        "training_seconds": round(seconds, 1),
        "machine": " ".join(filter(None, (platform.machine(), platform.processor(),
                                           f"{torch.get_num_threads()} thread{'s' * (torch.get_num_threads() != 1)}, torch {torch.__version__}"))),
        "data_sha256": _data_digests(root, config.category),
        "train_config": config.to_dict(),
    }
    if config.init_from:  # a staged recipe: what its first stage cost counts too
        card["first_stage_seconds"] = load_checkpoint(config.init_from).get("card", {}).get("training_seconds")
    if history is not None:
        card["validation_ranks"] = {str(k): {str(w): r for w, r in v.items()} for k, v in history.items()}
        card["validation_pairs"] = validation_pairs
    if refit_from is not None:
        card["refit"] = f"trained on all {len(fit)} training pairs, stopped at the step " + refit_from.get(
            "chosen_by", f"chosen by a run on {len(fit_idx)} of them (validation figures: that run's, on the other {len(val_idx)})")
        if "training_seconds" in refit_from:  # what choosing the step cost (none for --refit-at)
            card["training_seconds_with_run"] = round(seconds + float(refit_from["training_seconds"]), 1)
    save_checkpoint(out, {
        "model_config": model_config.to_dict(),
        "model_state": half_precision(best["model_state"]),
        "raster_spec": RasterSpec().to_dict(),
        "category": config.category,
        "mode": config.mode,
        "attribute_names": model_names,
        "attribute_definitions": bench.attribute_definitions if use_attributes else {},
        "attribute_reliability": reliability.tolist() if use_attributes else [],
        "fusion_weight": best["metrics"]["fusion_weight"],
        "card": card,
    })
    partial.unlink(missing_ok=True)
    if not quiet and sys.stderr.isatty():
        sys.stderr.write("\n")  # (ends the bar's line)
    return card


def _data_digests(root: Path, category: str) -> dict[str, str]:
    from .data import known_digests
    from .files import sha256_file

    digests = {k: v for k, v in known_digests(root).items() if k.startswith(f"{category}/") or k.startswith("attributes/")}
    labels = f"attributes/{category}.csv"  # made for this project, so not in the release's SHA256SUMS
    if labels not in digests and (root / labels).is_file():
        digests[labels] = sha256_file(root / labels)
    return digests
