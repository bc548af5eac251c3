"""scripts/resplit_comparison.py: the re-splits it trains on are what it says they are."""
from __future__ import annotations

import numpy as np


def test_resplit_zero_is_the_published_split_and_others_partition_the_pairs(load_script):
    script = load_script("resplit_comparison")
    fit, held = script.resplit(200, 297, 0)
    assert fit.tolist() == list(range(200)) and held.tolist() == list(range(200, 297))
    seen = set()
    for r in (1, 2, 3):
        fit, held = script.resplit(200, 297, r)
        assert len(fit) == 200 and len(held) == 97
        assert sorted(np.concatenate([fit, held]).tolist()) == list(range(297))
        seen.add(tuple(held))
    assert len(seen) == 3  # each re-split draws other held-out pairs


def test_pooled_split_keeps_every_pair_and_reindexes_the_test_triplets(data_root, load_script):
    script = load_script("resplit_comparison")
    bench, pooled, n_train = script.pooled_split("chairs", data_root)
    assert n_train == len(bench.train) and len(pooled) == len(bench.train) + len(bench.test)
    k = n_train + 5  # a test sketch: its pair and its judgements follow it
    assert np.array_equal(pooled.sketches[k], bench.test.sketches[5])
    assert np.array_equal(pooled.photos[k], bench.test.photos[5])
    assert np.array_equal(pooled.triplets[k], bench.test.triplets[5] + n_train)
    assert pooled.photo_ids[k] == bench.test.photo_ids[5]
    assert np.array_equal(pooled.triplets[3], bench.train.triplets[3])
    # a re-split's training part keeps only judgements whose two photos it holds
    fit, _ = script.resplit(n_train, len(pooled), 1)
    part = pooled.subset(fit)
    assert all(((t >= 0) & (t < len(fit))).all() for t in part.triplets)
    assert sum(len(t) for t in part.triplets) < sum(len(t) for t in pooled.triplets)


def test_a_staged_recipe_trains_its_first_stage_again_on_the_resplit(load_script):
    """Found by a QA pass: the staged cards name a first stage trained on the published training
    pairs (most of a re-split's held-out pairs), by a path relative to a folder a clone lacks."""
    script = load_script("resplit_comparison")
    first, second = script.recipe("chairs", "mtl", seed=2)
    assert first is not None and first.init_from == "" and first.steps == script.STAGE1_STEPS
    assert sorted(first.extra_categories) == ["handbags", "shoes"] and first.select == "final"
    assert (first.category, first.mode, first.seed, second.seed) == ("chairs", "mtl", 2, 2)
    assert second.init_from and second.extra_categories in ([], ())  # replaced by the re-split's own first stage
