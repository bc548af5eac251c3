"""Samplers, losses, a one-step training smoke test, checkpoints and their errors."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from fgsbir_core.checkpoint import ModelError, build_model, load_checkpoint, save_checkpoint
from fgsbir_core.losses import attribute_loss, in_batch_triplet_loss, triplet_ranking_loss
from fgsbir_core.model import ModelConfig, SketchPhotoNet
from fgsbir_core.sampling import AttributeNegativeSampler, AttributeTripletSampler, HumanTripletSampler, attribute_similarity
from fgsbir_core.train import FUSION_GRID, TrainConfig, attribute_reliability, load_matching_weights, train


def test_attribute_negative_is_never_the_positive_and_is_similar():
    rng = np.random.default_rng(0)
    labels = (rng.random((60, 12)) < 0.3).astype(np.float32)
    labels[1] = labels[0]  # an identical twin is the hardest negative, but not the positive
    sampler = AttributeNegativeSampler(labels, hard_pool=5, hard_share=1.0)
    for _ in range(50):
        anchors = rng.integers(0, 60, 32)
        negatives = sampler.sample(anchors, rng)
        assert (negatives != anchors).all()
    sim = attribute_similarity(labels)
    np.fill_diagonal(sim, -1)
    picks = sampler.sample(np.zeros(200, int), rng)
    assert 1 in picks and sim[0, picks].mean() > sim[0, 1:].mean()


def test_appearance_breaks_attribute_ties_only():
    """Eight photos share photo 0's attributes; the pool of 3 takes the three that look most like
    it, and never a photo with fewer attributes in common, however alike it looks."""
    labels = np.zeros((12, 4), np.float32)
    labels[9:] = 1.0  # photos 9-11 differ from 0 in every attribute
    rng = np.random.default_rng(3)
    looks = rng.standard_normal((12, 16))
    looks[[4, 6, 7, 9, 10]] = looks[0] + 0.01 * rng.standard_normal((5, 16))  # alike: 4, 6, 7 and 9, 10
    looks /= np.linalg.norm(looks, axis=1, keepdims=True)
    by_index = AttributeNegativeSampler(labels, hard_pool=3, hard_share=1.0)
    by_looks = AttributeNegativeSampler(labels, hard_pool=3, hard_share=1.0, appearance=looks)
    assert sorted(by_index.pools[0]) == [1, 2, 3]
    assert sorted(by_looks.pools[0]) == [4, 6, 7]


def test_easy_negatives_also_avoid_the_positive():
    rng = np.random.default_rng(1)
    sampler = AttributeNegativeSampler(np.zeros((3, 4), np.float32), hard_pool=2, hard_share=0.0)
    anchors = np.repeat(np.arange(3), 100)
    assert (sampler.sample(anchors, rng) != anchors).all()

def test_mining_narrows_the_attribute_pool_to_the_models_nearest():
    """After `mine`, hard negatives come only from the attribute pool, and within it only from
    the photos the model puts nearest the sketch; never the positive."""
    rng = np.random.default_rng(5)
    labels = (rng.random((30, 6)) < 0.4).astype(np.float32)
    sampler = AttributeNegativeSampler(labels, hard_pool=8, hard_share=1.0)
    distances = rng.random((30, 30))
    np.fill_diagonal(distances, 0.0)  # the positive is nearest, yet never drawn (not in its pool)
    sampler.mine(distances, keep=3)
    for i in range(30):
        nearest = sampler.pools[i][np.argsort(distances[i, sampler.pools[i]])[:3]]
        picks = set(sampler.sample(np.full(100, i), rng).tolist())
        assert picks == set(nearest.tolist()) and i not in picks


def test_generated_triplets_rank_by_attributes_and_avoid_the_anchor():
    rng = np.random.default_rng(4)
    labels = (rng.random((40, 8)) < 0.5).astype(np.float32)
    labels[1] = labels[0]  # a twin may be "closer", never "farther" than a less similar photo
    labels[2] = 1.0 - labels[0]  # the least similar to 0: never "closer"
    sampler = AttributeTripletSampler(labels, pool=6)
    sim = attribute_similarity(labels)
    anchors = rng.integers(0, 40, 4000)
    closer, farther = sampler.sample(anchors, rng)
    assert (closer != anchors).all() and (farther != anchors).all()
    assert (sim[anchors, closer] > sim[anchors, farther]).all()
    mine = anchors == 0
    assert 1 in closer[mine] and 2 not in closer[mine] and 1 not in farther[mine]
    # all photos alike: no photo is less similar, so the true photo is "closer" and any other "farther"
    closer, farther = AttributeTripletSampler(np.zeros((5, 3), np.float32), pool=2).sample(np.arange(5), rng)
    assert (closer == np.arange(5)).all() and (farther != closer).all()


def test_human_sampler_returns_annotated_pairs():
    rng = np.random.default_rng(2)
    triplets = [np.array([[3, 4]]) for _ in range(5)]
    closer, farther = HumanTripletSampler(triplets, 5).sample(np.arange(5).repeat(20), rng)
    assert (closer != farther).all()
    human = (closer == 3) & (farther == 4)
    assert 0.2 < human.mean() < 0.8


def test_triplet_losses():
    a = torch.tensor([[1.0, 0.0]])
    assert triplet_ranking_loss(a, a, -a, margin=0.2).item() == 0.0
    assert triplet_ranking_loss(a, -a, a, margin=0.2).item() == pytest.approx(4.2)
    s = torch.eye(3)
    assert in_batch_triplet_loss(s, s, torch.arange(3), 0.5).item() == 0.0
    assert in_batch_triplet_loss(s, s.flip(0), torch.arange(3), 0.5).item() > 0
    # per-pair margins: a constant tensor is the plain margin; a larger margin on one pair only adds that pair's violation
    assert in_batch_triplet_loss(s, s, torch.arange(3), torch.full((3, 3), 0.5)).item() == 0.0
    graded = torch.zeros(3, 3)
    graded[0, 1] = 2.5  # distance 2 between unit axes: only this pair now violates, by 0.5
    assert in_batch_triplet_loss(s, s, torch.arange(3), graded).item() == pytest.approx(0.5)


def test_attribute_loss_weights_down_noisy_labels():
    logits = torch.tensor([[5.0, 5.0]])
    labels = torch.tensor([[1.0, 0.0]])
    full = attribute_loss(logits, labels)
    muted = attribute_loss(logits, labels, torch.tensor([1.0, 0.0]))
    assert muted < full


def test_reliability_reads_kappa(data_root):
    names = ["zip", "shaft_knee", "unknown"]
    w = attribute_reliability(data_root, "shoes", names)
    assert w[0] == pytest.approx(0.1) and w[1] == pytest.approx(0.97) and w[2] == 1.0


def test_model_shapes():
    model = SketchPhotoNet(ModelConfig(num_attributes=5))
    images = torch.full((2, 1, 256, 256), 255.0)
    images[:, :, 100:103, 40:200] = 0.0  # a line
    emb, logits = model(images)
    assert emb.shape[0] == 2 and logits.shape == (2, 5)
    assert torch.allclose(emb.norm(dim=1), torch.ones(2), atol=1e-4)


def test_ensemble_model_distance_is_the_members_mean():
    torch.manual_seed(0)
    model = SketchPhotoNet(ModelConfig(num_attributes=5, members=3, width=8, embedding_dim=16)).eval()
    images = torch.rand(4, 1, 256, 256) * 255
    with torch.no_grad():
        cells = model.cells(images)
        emb, logits = model.forward_cells(cells)
        members = model.member_outputs(cells)
    assert len(members) == 3 and torch.allclose(emb.norm(dim=1), torch.ones(4), atol=1e-5)
    joint = torch.cdist(emb[:2], emb[2:]) ** 2
    mean = sum(torch.cdist(e[:2], e[2:]) ** 2 for e, _ in members) / 3
    assert torch.allclose(joint, mean, atol=1e-5)
    assert torch.allclose(logits, torch.stack([l for _, l in members]).mean(0))
    assert not torch.allclose(members[0][0], members[1][0])  # members start apart


# the last cases: the knobs tried and documented in the README (off in the shipped recipe)
@pytest.mark.parametrize("mode,members,knobs", [("mtl", 1, {}), ("triplet", 1, {}), ("mtl", 2, {}),
                                                ("mtl", 1, {"generated_triplet_weight": 1.0, "mine_every": 1, "train_fusion_weight": 2.0,
                                                          "attribute_agreement_weight": 1.0}),
                                                ("mtl", 1, {"attribute_graded_margin": 0.5, "pseudo_sketch_attributes": True}),
                                                ("triplet", 1, {"human_triplet_share": 0.5})])
def test_training_smoke_and_checkpoint(data_root, tmp_path, mode, members, knobs):
    config = TrainConfig(category="chairs", mode=mode, steps=2, batch_size=4, eval_every=1, augment_copies=2,
                         model={"width": 8, "embedding_dim": 16, "members": members}, **knobs)
    out = tmp_path / f"{mode}.pt"
    card = train(config, out, data_root, quiet=True)
    assert card["mode"] == mode and card["chosen_step"] in (1, 2)
    state = load_checkpoint(out)
    n_attributes = 16 if mode == "mtl" else 0  # the triplet baseline has no attribute tasks
    assert state["category"] == "chairs" and len(state["attribute_names"]) == n_attributes
    model = build_model(state)
    emb, logits = model(torch.full((1, 1, 256, 256), 255.0))
    assert (logits.shape == (1, 16)) if mode == "mtl" else logits is None
    assert not (tmp_path / f"{mode}.pt.partial").exists()


def test_the_triplet_baseline_trains_without_attribute_labels(data_root, tmp_path):
    """The published release has no attributes/ folder: the triplet model, which never sees a
    label, trains from it; the multi-task model says what it misses."""
    from fgsbir_core.data import resolve_data_root

    root = tmp_path / "release"
    root.mkdir()
    for entry in resolve_data_root(data_root).iterdir():
        if entry.name not in ("attributes", "SHA256SUMS"):
            (root / entry.name).symlink_to(entry)
    small = dict(steps=2, batch_size=4, eval_every=2, model={"width": 8, "embedding_dim": 16}, augment_copies=1, threads=1)
    card = train(TrainConfig(category="chairs", mode="triplet", **small), tmp_path / "t.pt", root, quiet=True)
    assert card["mode"] == "triplet" and load_checkpoint(tmp_path / "t.pt")["attribute_names"] == []
    with pytest.raises(ValueError, match="No attribute labels for chairs"):
        train(TrainConfig(category="chairs", mode="mtl", **small), tmp_path / "m.pt", root, quiet=True)


def test_training_resumes_from_partial(data_root, tmp_path, monkeypatch, capsys):
    config = TrainConfig(category="chairs", mode="mtl", steps=4, batch_size=4, eval_every=2, model={"width": 8, "embedding_dim": 16}, augment_copies=2)
    out = tmp_path / "m.pt"
    import fgsbir_core.train as train_module

    real_save = train_module.save_checkpoint
    calls = {"n": 0}

    def crash_after_first_partial(path, state):
        real_save(path, state)
        calls["n"] += 1
        if str(path).endswith(".partial"):
            raise KeyboardInterrupt

    monkeypatch.setattr(train_module, "save_checkpoint", crash_after_first_partial)
    with pytest.raises(KeyboardInterrupt):
        train(config, out, data_root, quiet=True)
    assert load_checkpoint(tmp_path / "m.pt.partial", unfinished=True)["step"] == 2
    # found by a QA pass: `card` rewrote the partial in half precision (the resume then went on
    # from rounded weights) and `eval` scored it as a model of the wrong mode
    from fgsbir_core.cli import main

    before = (tmp_path / "m.pt.partial").read_bytes()
    for command in (["card", str(tmp_path / "m.pt.partial")], ["eval", "--category", "chairs", "--weights", str(tmp_path / "m.pt.partial")]):
        assert main(command) == 2
        assert "unfinished training run (step 2 of 4)" in capsys.readouterr().err
    assert (tmp_path / "m.pt.partial").read_bytes() == before and not (tmp_path / "m.pt.json").exists()
    monkeypatch.setattr(train_module, "save_checkpoint", real_save)
    card = train(config, out, data_root, quiet=True)
    assert out.is_file() and card["chosen_step"] in (2, 4)
    # the resumed run is the uninterrupted one: same augmented data, same draws after the stop
    whole = train(config, tmp_path / "whole.pt", data_root, quiet=True)
    assert whole["chosen_step"] == card["chosen_step"] and whole["validation"] == card["validation"]
    resumed, uninterrupted = load_checkpoint(out)["model_state"], load_checkpoint(tmp_path / "whole.pt")["model_state"]
    assert all(torch.equal(resumed[k], uninterrupted[k]) for k in uninterrupted)


def test_ten_steps_train_and_a_device_is_never_written_over(tmp_path):
    """Found by a QA pass: `--steps 10` ended in torch's ZeroDivisionError, and `--out /dev/full`
    (as root) turned the device into a regular file."""
    import os

    from fgsbir_core.files import atomic_write_bytes
    from fgsbir_core.cli import main
    from fgsbir_core.train import one_cycle

    for steps in (1, 9, 10, 11, 20, 600):
        optimiser = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
        schedule = one_cycle(optimiser, 0.1, steps)
        for _ in range(steps):
            optimiser.step()
            schedule.step() if _ < steps - 1 else None
    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)
    with pytest.raises(OSError, match="not a regular file"):
        atomic_write_bytes(pipe, b"x")
    assert main(["train", "--category", "chairs", "--steps", "2", "--out", str(pipe)]) == 2
    assert pipe.is_fifo()


def test_refit_keeps_the_runs_choices_and_uses_all_training_pairs(data_root, tmp_path):
    config = TrainConfig(category="chairs", mode="mtl", steps=3, batch_size=4, eval_every=1,
                         model={"width": 8, "embedding_dim": 16}, augment_copies=2)
    run = train(config, tmp_path / "run.pt", data_root, quiet=True)
    card = train(config, tmp_path / "refit.pt", data_root, quiet=True, refit_from=run)
    assert card["chosen_step"] == run["chosen_step"] and card["validation"] == run["validation"]
    assert "all 200 training pairs" in card["refit"]
    state = load_checkpoint(tmp_path / "refit.pt")
    assert state["fusion_weight"] == run["validation"]["fusion_weight"]
    other = TrainConfig(**{**config.to_dict(), "seed": 1})
    with pytest.raises(ValueError, match="another configuration"):
        train(other, tmp_path / "x.pt", data_root, quiet=True, refit_from=run)


def test_cross_validation_pools_every_training_pair_and_feeds_the_final_training(data_root, tmp_path):
    from fgsbir_core.crossval import cross_validate, refit_plan
    from fgsbir_core.data import cross_validation_folds

    folds = cross_validation_folds(200, 4)
    validation = np.concatenate([v for _, v in folds])
    assert sorted(validation.tolist()) == list(range(200))  # each pair validated exactly once
    assert all(len(np.intersect1d(f, v)) == 0 and len(f) + len(v) == 200 for f, v in folds)

    config = TrainConfig(category="chairs", mode="mtl", steps=2, batch_size=4, eval_every=1,
                         model={"width": 8, "embedding_dim": 16}, augment_copies=2)
    result = cross_validate(config, tmp_path, data_root, folds=2, quiet=True)
    assert {row["sketches"] for row in result["table"]} == {200}
    assert {(row["step"], row["fusion_weight"]) for row in result["table"]} == {(s, w) for s in (1, 2) for w in FUSION_GRID}
    best = max(row["acc_at_1"] for row in result["table"])
    assert result["validation"]["acc_at_1"] == best and result["chosen_step"] in (1, 2)
    again = cross_validate(config, tmp_path, data_root, folds=2, quiet=True)  # fold models reused
    assert again["table"] == result["table"]
    final_config, card = refit_plan(tmp_path / "chairs_mtl_cv.json", seed=3)
    final = train(final_config, tmp_path / "final.pt", data_root, quiet=True, refit_from=card)
    assert final["seed"] == 3 and final["chosen_step"] == result["chosen_step"] and "2-fold cross-validation" in final["refit"]
    assert load_checkpoint(tmp_path / "final.pt")["fusion_weight"] == result["validation"]["fusion_weight"]


def test_ema_weights_are_what_is_validated_and_shipped(data_root, tmp_path):
    config = TrainConfig(category="chairs", mode="triplet", steps=3, batch_size=4, eval_every=1, ema_decay=0.9, select="final",
                         model={"width": 8, "embedding_dim": 16}, augment_copies=2)
    card = train(config, tmp_path / "ema.pt", data_root, quiet=True)
    assert card["chosen_step"] == 3  # select="final"
    config.ema_decay = 0.0  # the same run without the average: the same trajectory, other weights shipped
    train(config, tmp_path / "plain.pt", data_root, quiet=True)
    averaged, plain = (build_model(load_checkpoint(tmp_path / name)).state_dict() for name in ("ema.pt", "plain.pt"))
    learned = [name for name in plain if "trunk" in name and name.endswith(".0.weight")]  # the convolutions
    assert learned and all(not torch.equal(averaged[name], plain[name]) for name in learned)


def test_staged_start_copies_shared_weights_only(tmp_path):
    """init_from: trunks and embedding heads come from another category's model; its attribute
    heads (other attributes) and its HOG projection (other images) do not."""
    torch.manual_seed(0)
    source = SketchPhotoNet(ModelConfig(num_attributes=5, members=2, width=8, embedding_dim=16))
    with torch.no_grad():
        source.hog_projection.mul_(2.0)
    path = tmp_path / "other_category.pt"
    save_checkpoint(path, {"model_config": source.config.to_dict(), "model_state": source.state_dict(), "raster_spec": {},
                           "category": "shoes", "attribute_names": list("abcde")})
    target = SketchPhotoNet(ModelConfig(num_attributes=3, members=2, width=8, embedding_dim=16))
    before = {k: v.clone() for k, v in target.state_dict().items()}
    assert load_matching_weights(target, path) > 0
    after, theirs = target.state_dict(), source.state_dict()
    assert torch.equal(after["trunks.1.0.0.weight"], theirs["trunks.1.0.0.weight"])
    assert torch.equal(after["embeds.0.1.weight"], theirs["embeds.0.1.weight"])
    assert torch.equal(after["attribute_heads.0.1.weight"], before["attribute_heads.0.1.weight"])
    assert torch.equal(after["hog_projection"], before["hog_projection"])
    narrow = SketchPhotoNet(ModelConfig(members=1, width=4, embedding_dim=8, hog_residual=False))
    with pytest.raises(ValueError, match="shares no weights"):
        load_matching_weights(narrow, path)


def test_training_can_start_from_another_categorys_model(data_root, tmp_path):
    small = dict(steps=1, batch_size=4, eval_every=1, augment_copies=1, pseudo_sketch_pairs=False,
                 model={"width": 8, "embedding_dim": 16, "members": 1})
    first = tmp_path / "shoes.pt"
    train(TrainConfig(category="shoes", mode="mtl", **small), first, data_root, quiet=True)
    card = train(TrainConfig(category="chairs", mode="triplet", init_from=str(first), **small), tmp_path / "chairs.pt", data_root, quiet=True)
    assert card["train_config"]["init_from"] == str(first)
    assert card["first_stage_seconds"] == load_checkpoint(first)["card"]["training_seconds"]


def test_a_fold_starts_from_its_own_first_stage(data_root, tmp_path, monkeypatch):
    """init_from with "{fold}": each cross-validation fold starts from a first stage that saw only
    its own training part (staged training whose first stage includes this category)."""
    from fgsbir_core import crossval

    seen = []
    monkeypatch.setattr(crossval, "train", lambda config, out, root, **kw: seen.append(config.init_from) or {})
    config = TrainConfig(category="chairs", mode="mtl", init_from=str(tmp_path / "s1" / "chairs_mtl_fold{fold}.pt"))
    for k in range(2):
        crossval.train_fold(config, tmp_path, k, 4, data_root, quiet=True)
    assert seen == [str(tmp_path / "s1" / "chairs_mtl_fold0.pt"), str(tmp_path / "s1" / "chairs_mtl_fold1.pt")]


def test_runs_saved_before_a_new_option_still_count_as_the_same_recipe():
    config = TrainConfig(category="chairs")
    saved = config.to_dict()
    del saved["init_from"]  # a run from before that option existed
    assert config.same_as(saved) and not config.same_as(None)
    assert not TrainConfig(category="chairs", init_from="other.pt").same_as(saved)
    assert not TrainConfig(category="chairs", steps=400).same_as(saved)


def test_bad_checkpoints_are_clear_errors(tmp_path):
    with pytest.raises(ModelError, match="not found"):
        load_checkpoint(tmp_path / "absent.pt")
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a model at all")
    with pytest.raises(ModelError, match="truncated or not a SketchFind checkpoint"):
        load_checkpoint(junk)
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(2)}, foreign)
    with pytest.raises(ModelError, match="not a SketchFind checkpoint"):
        load_checkpoint(foreign)
    model = SketchPhotoNet(ModelConfig(num_attributes=3, width=8))
    mismatched = tmp_path / "mismatch.pt"
    save_checkpoint(mismatched, {"model_config": ModelConfig(num_attributes=3, width=16).to_dict(), "model_state": model.state_dict(),
                                 "raster_spec": {}, "category": "shoes", "attribute_names": ["a", "b", "c"]})
    with pytest.raises(ModelError, match="do not fit"):
        build_model(load_checkpoint(mismatched))
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(mismatched.read_bytes()[:1000])
    with pytest.raises(ModelError):
        load_checkpoint(truncated)


def test_settings_that_cannot_train_are_refused_before_any_training(tmp_path, capsys):
    """Found by a QA pass: zeros, NaNs and out-of-range values used to train (to NaN, or the full
    recipe for --steps 0) or end in a traceback; now one line naming the setting, and no file."""
    from fgsbir_core.cli import main

    out = str(tmp_path / "never.pt")
    for bad, message in ((["--set", "steps=0"], "steps = 0"), (["--steps", "0"], "steps = 0"),
                         (["--set", "batch_size=1"], "batch_size = 1"), (["--set", "lr=nan"], "lr = nan"),
                         (["--set", "margin=nan"], "margin = nan"), (["--set", "eval_every=0"], "eval_every = 0"),
                         (["--set", "augment_copies=0"], "augment_copies = 0"), (["--set", "model.members=0"], "model.members = 0"),
                         (["--set", "hard_share=2"], "hard_share = 2"), (["--set", "ema_decay=1.5"], "ema_decay = 1.5"),
                         (["--set", "hard_pool=0"], "hard_pool = 0"), (["--seed", "-1"], "seed = -1"), (["--seed", "9" * 20], "seed = 99999999999999999999"),
                         (["--steps", "30", "--set", "steps=20"], "not both"),
                         (["--set", "extra_categories=chairs"], "other categories than chairs"),
                         (["--refit-at", "0"], "from 1 to the recipe's"), (["--out", str(tmp_path)], "is a folder")):
        assert main(["train", "--category", "chairs", *bad, "--out", out][: None if "--out" not in bad else -2]) == 2, bad
        assert message in capsys.readouterr().err, bad
    with pytest.raises(SystemExit):
        main(["train", "--category", "chairs", "--refit-at", "2", "--fusion-weight", "-1", "--out", out])
    for folds in ("0", "1", "101"):
        assert main(["cv", "--category", "chairs", "--folds", folds, "--out-dir", str(tmp_path / "cv")]) == 2
        assert "--folds" in capsys.readouterr().err
    (tmp_path / "run.json").write_text("{}")
    assert main(["train", "--refit-from", str(tmp_path / "run.json"), "--out", out]) == 2
    assert "not a finished run" in capsys.readouterr().err
    assert main(["train", "--refit-from", str(tmp_path / "run.json"), "--category", "shoes", "--out", out]) == 2
    assert "drop --category" in capsys.readouterr().err
    assert main(["train", "--refit-from", str(tmp_path / "run.json"), "--out", str(tmp_path / "run.json")]) == 2
    assert "is the run being refitted" in capsys.readouterr().err
    assert main(["table1", "--seeds", "0", "--retrain"]) == 2 and main(["table1", "--cv"]) == 2
    capsys.readouterr()
    assert main(["table1", "--retrain", "--cv", "--seeds", "1", "--out-dir", str(tmp_path / "t1")]) == 2
    said = capsys.readouterr().err  # with the --out-dir the script must be told about
    assert f"run `TABLE1_OUT={tmp_path / 't1'} scripts/train_all.sh 1`" in said and not (tmp_path / "t1").exists()
    assert not (tmp_path / "never.pt").exists()


def test_a_diverging_run_stops_with_a_message_and_writes_nothing(data_root, tmp_path):
    from fgsbir_core.train import TrainingDiverged

    config = TrainConfig(category="chairs", mode="mtl", steps=4, batch_size=4, eval_every=2, lr=1e6,
                         model={"width": 8, "embedding_dim": 16}, augment_copies=1, threads=1)
    with pytest.raises(TrainingDiverged, match="became"):
        train(config, tmp_path / "m.pt", data_root, quiet=True)
    assert not (tmp_path / "m.pt").exists()


def test_cross_validation_never_reuses_folds_of_another_split(data_root, tmp_path):
    """Fold files of a 2-fold run are not taken for folds of a 4-fold one (their validation
    ranks were pooled as if they were: 300 ranks for 200 sketches)."""
    from fgsbir_core.crossval import cross_validate, train_fold
    from fgsbir_core.data import resolve_data_root

    config = TrainConfig(category="chairs", mode="triplet", steps=2, batch_size=4, eval_every=2,
                         model={"width": 8, "embedding_dim": 16}, augment_copies=1, threads=1, pseudo_sketch_pairs=False)
    cross_validate(config, tmp_path, data_root, folds=2, quiet=True)
    card = train_fold(config, tmp_path, 0, 4, resolve_data_root(data_root), quiet=True)
    assert len(card["validation_pairs"]) == 50 and all(len(r) == 50 for by_w in card["validation_ranks"].values()
                                                          for r in by_w.values())


def test_cli_recipe_overrides(capsys):
    from fgsbir_core.cli import _recipe, build_parser, main

    args = build_parser().parse_args(["cv", "--category", "chairs", "--out-dir", "x", "--set", "hard_ties=appearance",
                                      "--set", "hard_share=0.75", "--set", "extra_categories=handbags,shoes",
                                      "--set", "pseudo_sketch_pairs=false", "--set", "model.members=3",
                                      "--set", "model.width=16"])
    config = _recipe(args)
    assert (config.category, config.hard_ties, config.hard_share) == ("chairs", "appearance", 0.75)
    assert config.extra_categories == ("handbags", "shoes") and config.pseudo_sketch_pairs is False
    assert config.model == {"members": 3, "width": 16, "embedding_dim": 128}  # on top of the recipe's
    for bad in ("bogus=1", "steps=many", "seed=3", "hard_share", "model.bogus=2", "model.num_attributes=3",
                "pseudo_sketch_pairs=maybe"):
        assert main(["cv", "--out-dir", "x", "--set", bad]) == 2
        assert f"--set {bad}" in capsys.readouterr().err


def test_refit_at_a_given_step_trains_on_every_pair(data_root, tmp_path, capsys):
    """`fgsbir train --refit-at STEP [--fusion-weight W]`: all training pairs, stopped at a step
    chosen beforehand (a staged recipe's first stage, or a cross-validation on record)."""
    from fgsbir_core.cli import main

    small = ["--category", "chairs", "--data-root", str(data_root), "--threads", "1", "--set", "steps=3", "--set", "batch_size=4", "--set", "eval_every=1",
             "--set", "augment_copies=1", "--set", "model.width=8", "--set", "model.embedding_dim=16"]
    out = tmp_path / "first.pt"
    assert main(["train", *small, "--mode", "mtl", "--refit-at", "2", "--fusion-weight", "0.5", "--out", str(out)]) == 0
    state = load_checkpoint(out)
    assert state["card"]["chosen_step"] == 2 and state["fusion_weight"] == 0.5
    assert "all 200 training pairs" in state["card"]["refit"] and "--refit-at 2" in state["card"]["refit"]
    # its card takes the validation figure of the cross-validation that chose the step
    assert main(["card", str(out), "--data-root", str(data_root), "--validation-acc1", "0.815"]) == 0
    card = json.loads(out.with_suffix(".json").read_text())
    assert card["validation"] == {"fusion_weight": 0.5, "acc_at_1": 0.815} and set(card["test"]) == {"acc_at_1", "acc_at_10", "triplet_acc"}
    assert main(["card", str(out), "--data-root", str(data_root), "--validation-acc1", "81.5"]) == 2
    capsys.readouterr()
    for bad, message in ((["--refit-at", "4"], "from 1 to the recipe's 3"),
                         (["--mode", "triplet", "--refit-at", "2", "--fusion-weight", "1"], "only the multi-task"),
                         (["--fusion-weight", "1"], "goes with --refit-at"),
                         (["--refit-at", "2", "--refit-from", str(out)], "not both")):
        assert main(["train", *small, *bad, "--out", str(tmp_path / "bad.pt")]) == 2
        assert message in capsys.readouterr().err
    assert not (tmp_path / "bad.pt").exists()


def test_a_single_runs_refit_refuses_another_seed(tmp_path, capsys):
    """QA pass: `train --refit-from RUN.pt --seed 3` trained seed 0 again without a word (three
    "seeds" that were one model)."""
    from fgsbir_core.cli import main
    from fgsbir_core.crossval import refit_plan

    run = tmp_path / "run.json"  # a single run's card (as `fgsbir card` writes): no folds
    run.write_text(json.dumps({"train_config": TrainConfig(category="chairs", mode="mtl").to_dict(), "chosen_step": 400,
                               "validation": {"fusion_weight": 2.0}}))
    with pytest.raises(ValueError, match=r"one run \(seed 0\): its refit keeps that seed"):
        refit_plan(run, seed=3)
    assert refit_plan(run, seed=0)[0].seed == refit_plan(run)[0].seed == 0
    assert main(["train", "--refit-from", str(run), "--seed", "3", "--out", str(tmp_path / "x.pt")]) == 2
    assert "--seed goes with the JSON of `fgsbir cv`" in capsys.readouterr().err


def test_a_staged_cross_validation_refits_from_the_first_stage_given(tmp_path, capsys):
    """The cross-validation's folds started from per-fold first stages ("{fold}"): its refit must
    be told which first stage (trained on all pairs) to start from, and nothing else may change."""
    from fgsbir_core.cli import main
    from fgsbir_core.crossval import refit_plan

    config = TrainConfig(category="chairs", mode="mtl", init_from=str(tmp_path / "s1" / "chairs_mtl_fold{fold}.pt"))
    recipe = tmp_path / "chairs_mtl_cv.json"
    recipe.write_text(json.dumps({"train_config": config.to_dict(), "folds": 4, "chosen_step": 400,
                                  "validation": {"fusion_weight": 2.0}}))
    with pytest.raises(ValueError, match="per-fold first stages"):
        refit_plan(recipe, seed=1)
    planned, card = refit_plan(recipe, seed=1, init_from="s1_seed1.pt")
    assert planned.init_from == "s1_seed1.pt" and planned.seed == 1 and planned.same_as(card["train_config"])
    assert main(["train", "--refit-from", str(recipe), "--set", "steps=300", "--out", str(tmp_path / "x.pt")]) == 2
    assert "may only give init_from" in capsys.readouterr().err
    newer = tmp_path / "newer_cv.json"  # a recipe from a later version, with a setting this one lacks
    newer.write_text(json.dumps({"train_config": {**config.to_dict(), "warp_tea": 1.0}, "folds": 4, "chosen_step": 400}))
    assert main(["train", "--refit-from", str(newer), "--out", str(tmp_path / "y.pt")]) == 2
    assert "settings this version of fgsbir does not know (warp_tea)" in capsys.readouterr().err
    for change, said in (({"model": {"members": 3, "fancy": 1}}, "network settings this version of fgsbir does not know (model.fancy)"),
                         ({"steps": "abc"}, "its recipe cannot be trained"),
                         ({}, "its chosen step -5 is not a step of its recipe")):
        edited = tmp_path / "edited_cv.json"
        chosen = -5 if not change else 400
        edited.write_text(json.dumps({"train_config": {**config.to_dict(), **change}, "folds": 4, "chosen_step": chosen}))
        assert main(["train", "--refit-from", str(edited), "--set", "init_from=s1.pt", "--out", str(tmp_path / "z.pt")]) == 2
        assert said in capsys.readouterr().err, change


def test_cli_fixes_of_the_researcher_qa_pass(data_root, tmp_path, capsys, monkeypatch):
    """Found by a QA pass: `card` wiped the command and CV figure an earlier card recorded; `eval`
    noted a mode never asked for; bad --refit-from JSON and a missing init_from named no setting;
    `table1 --out-dir` failed only after the whole table; Ctrl+C promised a resume to any command."""
    import json

    from fgsbir_core import cli

    out = tmp_path / "t.pt"
    small = ["--set", "batch_size=4", "--set", "augment_copies=2", "--set", "model.width=8", "--set", "model.embedding_dim=16"]
    assert cli.main(["train", "--category", "chairs", "--mode", "triplet", "--steps", "2", "--refit-at", "2",
                     *small, "--out", str(out)]) == 0
    out.with_suffix(".json").write_text(json.dumps({"command": "fgsbir train (as recorded)", "validation": {"acc_at_1": 0.79}}))
    capsys.readouterr()
    assert cli.main(["card", str(out)]) == 0
    card = json.loads(out.with_suffix(".json").read_text())
    assert "attributes/chairs.csv" in card["data_sha256"]  # the labels, made here, are not in SHA256SUMS
    assert card["command"] == "fgsbir train (as recorded)" and card["validation"]["acc_at_1"] == 0.79 and "test" in card
    capsys.readouterr()
    assert cli.main(["eval", "--category", "chairs", "--weights", str(out)]) == 0
    said = capsys.readouterr()
    assert "note:" not in said.err and said.out.startswith("chairs triplet")
    assert cli.main(["eval", "--category", "chairs", "--mode", "mtl", "--weights", str(out)]) == 0
    assert "is a triplet model" in capsys.readouterr().err
    (tmp_path / "bad.json").write_text("not json")
    assert cli.main(["train", "--refit-from", str(tmp_path / "bad.json"), "--out", str(tmp_path / "r.pt")]) == 2
    assert f"--refit-from {tmp_path / 'bad.json'} cannot be read" in capsys.readouterr().err
    assert cli.main(["train", "--category", "chairs", "--steps", "2", "--set", f"init_from={tmp_path / 'none.pt'}",
                     "--out", str(tmp_path / "i.pt")]) == 2
    assert "init_from (the first stage this recipe starts from): Model file not found" in capsys.readouterr().err
    (tmp_path / "a file").write_text("")
    assert cli.main(["table1", "--out-dir", str(tmp_path / "a file")]) == 2
    assert "--out-dir" in capsys.readouterr().err

    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "_cmd_eval", interrupted)
    assert cli.main(["eval"]) == 130 and "run the same command again" not in capsys.readouterr().err
    monkeypatch.setattr(cli, "_cmd_train", interrupted)
    assert cli.main(["train", "--out", "x.pt"]) == 130 and "run the same command again" in capsys.readouterr().err


def test_progress_in_a_log_file_is_lines_now_and_then_not_carriage_returns(capsys):
    """Found by a code review: with stderr redirected to a file, the bar wrote a carriage return
    at every step, one line of thousands of bars in the log."""
    import time

    from fgsbir_core.train import PLAIN_PROGRESS_EVERY, _progress

    total = 2 * PLAIN_PROGRESS_EVERY + 7
    for step in range(1, total + 1):
        _progress(step, total, time.time(), "loss 0.100")
    err = capsys.readouterr().err  # (pytest's capture is no terminal)
    assert "\r" not in err
    assert [line.split()[1] for line in err.splitlines()] == [f"{PLAIN_PROGRESS_EVERY}/{total}",
                                                             f"{2 * PLAIN_PROGRESS_EVERY}/{total}", f"{total}/{total}"]


def test_rank_curve_plot_replaces_an_old_one_whole(tmp_path, monkeypatch):
    """The plot is written beside its final name and renamed: a save that fails keeps the old plot."""
    from PIL import Image

    from fgsbir_core.table1 import plot_rank_curves

    path = tmp_path / "rank_distributions.png"
    plot_rank_curves({("shoes", "mtl"): np.arange(30)}, path)
    before = path.read_bytes()
    assert Image.open(path).size[0] > 0

    def broken_save(self, fp, format=None, **params):
        fp.write(b"\x89PNG half")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Image.Image, "save", broken_save)
    with pytest.raises(OSError):
        plot_rank_curves({("shoes", "mtl"): np.arange(10)}, path)
    assert path.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == [path.name]


def test_easy_negatives_are_always_other_photos_in_range():
    """Uniform easy negatives stay within the n photos and are never the anchor (found by a mutation pass)."""
    from fgsbir_core.sampling import random_others

    rng = np.random.default_rng(7)
    anchors = np.repeat(np.arange(3), 700)
    others = random_others(anchors, 3, rng)
    assert ((0 <= others) & (others < 3)).all() and (others != anchors).all()
    assert {(int(a), int(o)) for a, o in zip(anchors, others)} == {(a, o) for a in range(3) for o in range(3) if a != o}


def test_a_hard_pool_larger_than_the_photos_never_holds_the_anchor():
    """With fewer photos than hard_pool, the pool is the n - 1 others, never the anchor (found by a mutation pass)."""
    rng = np.random.default_rng(8)
    labels = (rng.random((4, 5)) < 0.5).astype(np.float32)
    sampler = AttributeNegativeSampler(labels, hard_pool=20, hard_share=1.0)
    assert sampler.pools.shape == (4, 3)
    anchors = np.repeat(np.arange(4), 200)
    negatives = sampler.sample(anchors, rng)
    assert (negatives != anchors).all() and ((0 <= negatives) & (negatives < 4)).all()


def test_look_alikes_one_attribute_off_never_displace_same_attribute_photos():
    """A look-alike one attribute off ranks below every photo with the same attributes (found by a mutation pass)."""
    labels = np.zeros((12, 4), np.float32)
    labels[8:, 0] = 1.0  # photos 8-11: one attribute of four differs from photo 0
    rng = np.random.default_rng(9)
    looks = rng.standard_normal((12, 16))
    looks[8:] = looks[0] + 0.01 * rng.standard_normal((4, 16))  # ... but they look just like it
    looks[1:8] = -looks[0]  # photos 1-7: the same attributes, and look nothing like it
    looks /= np.linalg.norm(looks, axis=1, keepdims=True)
    sampler = AttributeNegativeSampler(labels, hard_pool=7, hard_share=1.0, appearance=looks)
    assert sorted(sampler.pools[0]) == [1, 2, 3, 4, 5, 6, 7]


def test_triplet_loss_is_a_mean_over_rows():
    """The triplet loss of a batch of identical rows is that of one row (found by a mutation pass)."""
    a, p, n = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 1.0]]), torch.tensor([[0.5, 0.0]])
    one = triplet_ranking_loss(a, p, n, margin=0.2)
    two = triplet_ranking_loss(a.repeat(2, 1), p.repeat(2, 1), n.repeat(2, 1), margin=0.2)
    assert one.item() > 0 and two.item() == pytest.approx(one.item())


def test_attribute_loss_weights_are_normalised():
    """Unit weights give the unweighted loss, and scaling every weight changes nothing (found by a mutation pass)."""
    logits = torch.tensor([[2.0, -1.0, 0.5], [0.0, 3.0, -2.0]])
    labels = torch.tensor([[1.0, 0.0, 0.0], [1.0, 1.0, 0.0]])
    plain = attribute_loss(logits, labels).item()
    assert attribute_loss(logits, labels, torch.ones(3)).item() == pytest.approx(plain)
    weights = torch.tensor([1.0, 0.5, 0.25])
    once = attribute_loss(logits, labels, weights).item()
    assert attribute_loss(logits, labels, 2 * weights).item() == pytest.approx(once)


def _fusion_codes(scores: np.ndarray, attribute_scores: np.ndarray):
    """(sketches, photos) Codes whose fused distances rank photo j for sketch i by
    scores[i, j] + w / N * attribute_scores[i, j], highest first (photos: one-hot codes)."""
    from fgsbir_core.retrieval import Codes

    n = len(scores)
    photos = Codes(np.eye(n, dtype=np.float32), np.eye(n, dtype=np.float32))
    return Codes(scores.astype(np.float32), attribute_scores.astype(np.float32)), photos


def test_fusion_weight_is_chosen_where_attributes_find_the_photo():
    """Embeddings never find the photo, attributes do: the chosen fusion weight is > 0 (found by a mutation pass)."""
    from fgsbir_core.train import choose_fusion_weight

    n = 12
    scores = np.full((n, n), 0.01)
    np.fill_diagonal(scores, 0.0)  # every other photo is nearer in the embedding
    w, metrics = choose_fusion_weight(*_fusion_codes(scores, np.eye(n)))
    assert w > 0 and metrics["acc_at_1"] == 1.0


def test_fusion_weight_prefers_acc_at_1_over_acc_at_10():
    """w = 0 has the best acc@1 but not the best acc@10: acc@1 decides, and 0 is chosen (found by a mutation pass)."""
    from fgsbir_core.evaluate import retrieval_metrics
    from fgsbir_core.retrieval import fused_distances
    from fgsbir_core.train import choose_fusion_weight

    n = 12
    scores, attribute_scores = np.eye(n), np.zeros((n, n))
    for i in range(3):  # first at w = 0; any w > 0 puts photo i + 6's attributes ahead: second
        scores[i, i + 6] = 0.99
        attribute_scores[i, i + 6] = 1.0
    scores[3] = 0.01  # sketch 3: 11th at w = 0 (10 photos nearer), first once attributes count
    scores[3, 3], scores[3, 4] = 0.0, -1.0
    attribute_scores[3, 3] = 1.0
    w, metrics = choose_fusion_weight(*_fusion_codes(scores, attribute_scores))
    assert w == 0.0 and metrics == {"acc_at_1": 11 / 12, "acc_at_10": 11 / 12}
    assert retrieval_metrics(fused_distances(*_fusion_codes(scores, attribute_scores), 0.25)) == {
        "acc_at_1": 9 / 12, "acc_at_10": 1.0}


def test_pick_copies_takes_each_items_own_copy_and_erases_the_dropout_share():
    """pick_copies returns copy[j] of item index[j], and dropout zeroes about that share of 8 x 8 patches (found by a mutation pass)."""
    from fgsbir_core.augment import pick_copies

    bank = torch.arange(5 * 3 * 2 * 16 * 16, dtype=torch.float32).reshape(5, 3, 2, 16, 16)
    index, copy = np.array([4, 0, 2, 2]), np.array([1, 2, 0, 2])
    rng = np.random.default_rng(0)
    assert torch.equal(pick_copies(bank, index, copy, rng), bank[[4, 0, 2, 2], [1, 2, 0, 2]])
    ones = torch.ones(400, 2, 2, 16, 16)
    cells = pick_copies(ones, np.arange(400), np.ones(400, np.int64), rng, dropout=0.25)
    patches = cells[:, 0].reshape(400, 8, 2, 8, 2)  # the 8 x 8 grid of 2 x 2 cells
    assert set(torch.unique(cells).tolist()) <= {0.0, 1.0}
    assert (patches.amin((2, 4)) == patches.amax((2, 4))).all()  # whole patches erased, or none of one
    assert 0.2 < float((cells == 0).float().mean()) < 0.3


def test_pseudo_sketches_drop_short_fragments_and_keep_ink_and_lines():
    """Fragments under min_component pixels go, ones of exactly that size and grey ink below 160 stay (found by a mutation pass)."""
    from fgsbir_core.augment import pseudo_sketches

    photo = np.full((1, 64, 64), 255, np.uint8)
    photo[0, 10, 5:61] = 0  # a long line
    photo[0, 30, 5:45] = 0  # exactly min_component = 40 pixels: kept
    photo[0, 50, 5:44] = 0  # 39 pixels: dropped
    photo[0, 40, 5:61] = 150  # a long grey line (ink: darker than 160)
    photo[0, 60, 5:61] = 170  # a long line too light to be ink: dropped
    out = pseudo_sketches(photo, np.random.default_rng(0), wobble=0.0)  # no wobble: lines stay put
    expected = np.full((64, 64), 255, np.uint8)
    expected[10, 5:61] = expected[30, 5:45] = 0
    expected[40, 5:61] = 150
    assert out.shape == photo.shape and out.dtype == np.uint8
    assert np.abs(out[0].astype(int) - expected).max() <= 1


def test_cross_validation_pools_the_folds_and_breaks_ties_by_later_step_then_smaller_weight(data_root, tmp_path, monkeypatch):
    """Equal acc@1: acc@10 decides, then the later step, then the smaller fusion weight; folds outside 2..n/2 are refused (found by a mutation pass)."""
    from fgsbir_core import crossval

    by_fold = {  # fold k's validation ranks at each step and weight
        0: {"1": {"0.0": [0, 3], "0.5": [0, 3]}, "2": {"0.0": [0, 3], "0.5": [0, 3]}, "3": {"0.0": [0, 20], "0.5": [0, 20]}},
        1: {"1": {"0.0": [2, 0], "0.5": [2, 0]}, "2": {"0.0": [2, 0], "0.5": [2, 0]}, "3": {"0.0": [2, 0], "0.5": [2, 0]}},
    }
    monkeypatch.setattr(crossval, "train_fold", lambda config, out_dir, k, folds, root, quiet=False: {
        "training_seconds": 1.0, "validation_ranks": by_fold[k]})
    config = TrainConfig(category="chairs", mode="mtl", steps=3, batch_size=4, eval_every=1)
    result = crossval.cross_validate(config, tmp_path, data_root, folds=2, quiet=True)
    assert {row["sketches"] for row in result["table"]} == {4}  # both folds' ranks pooled
    # step 3 ties on acc@1 but loses on acc@10; steps 1 and 2 tie on both: the later one, the smaller weight
    assert result["chosen_step"] == 2 and result["validation"] == {"fusion_weight": 0.0, "acc_at_1": 0.5, "acc_at_10": 1.0}
    for folds in (1, 101):  # 200 training pairs: each fold needs 2 validation pairs
        with pytest.raises(ValueError, match=f"--folds {folds}: must be from 2 to 100"):
            crossval.cross_validate(config, tmp_path, data_root, folds=folds, quiet=True)


def test_atomic_write_makes_missing_folders_and_keeps_special_permission_bits(tmp_path):
    """A write into a missing folder makes it; a replaced file keeps its setgid and sticky bits too (found by a mutation pass)."""
    import stat

    from fgsbir_core.files import atomic_write_bytes

    path = tmp_path / "new" / "deeper" / "card.json"
    atomic_write_bytes(path, b"one")
    assert path.read_bytes() == b"one"
    path.chmod(0o3750)
    atomic_write_bytes(path, b"two")
    assert path.read_bytes() == b"two" and stat.S_IMODE(path.stat().st_mode) == 0o3750
