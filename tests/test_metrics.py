"""Metrics against a brute-force reference, with ties counted against the query."""
from __future__ import annotations

import numpy as np
import pytest

from fgsbir_core.evaluate import accuracy_at, retrieval_metrics, triplet_accuracy, true_ranks
from fgsbir_core.retrieval import attribute_distances, embedding_distances, top_k


def brute_rank(distances, i):
    d_true = distances[i, i]
    ahead = 0
    for j in range(distances.shape[1]):
        if j != i and distances[i, j] <= d_true:
            ahead += 1
    return ahead


def test_ranks_match_brute_force_with_ties():
    rng = np.random.default_rng(0)
    for _ in range(20):
        d = rng.integers(0, 5, size=(30, 30)).astype(float)  # many ties
        expected = np.array([brute_rank(d, i) for i in range(30)])
        np.testing.assert_array_equal(true_ranks(d), expected)
        for k in (1, 5, 10):
            assert accuracy_at(true_ranks(d), k) == np.mean(expected < k)


def test_tie_counts_against_query():
    d = np.array([[1.0, 1.0], [0.5, 0.2]])
    assert list(true_ranks(d)) == [1, 0]
    assert retrieval_metrics(d)["acc_at_1"] == 0.5


def test_distances_that_are_not_numbers_never_count_as_hits():
    """A model whose weights blew up gives NaN distances: a miss (it scored 100 % acc@1 before)."""
    d = np.full((3, 3), np.nan)
    assert list(true_ranks(d)) == [2, 2, 2] and retrieval_metrics(d)["acc_at_1"] == 0.0
    d = np.array([[0.1, np.nan], [np.nan, 0.3]])
    assert list(true_ranks(d)) == [0, 0]


def test_triplet_accuracy_brute_force():
    rng = np.random.default_rng(1)
    d = rng.integers(0, 4, size=(8, 8)).astype(float)
    triplets = [rng.integers(0, 8, size=(5, 2)) for _ in range(8)]
    hits = total = 0
    for i, pairs in enumerate(triplets):
        for a, b in pairs:
            total += 1
            hits += d[i, a] < d[i, b]  # ties count as wrong
    assert triplet_accuracy(d, triplets) == hits / total


def test_triplet_accuracy_without_judgements_is_not_a_number():
    d = np.zeros((2, 2))
    assert np.isnan(triplet_accuracy(d, [])) and np.isnan(triplet_accuracy(d, [np.zeros((0, 2), int)] * 2))


def test_distances_match_loops():
    rng = np.random.default_rng(2)
    q, g = rng.normal(size=(4, 6)), rng.normal(size=(7, 6))
    loop = np.array([[np.sum((a - b) ** 2) for b in g] for a in q])
    np.testing.assert_allclose(embedding_distances(q, g), loop, rtol=1e-6, atol=1e-9)
    w = rng.random(6)
    loop_attr = np.array([[np.sum(w * (a - b) ** 2) / w.sum() for b in g] for a in q])
    np.testing.assert_allclose(attribute_distances(q, g, w), loop_attr, rtol=1e-5)


def test_top_k_is_sorted_and_stable():
    d = np.array([[3.0, 1.0, 1.0, 0.5, 9.0]])
    assert top_k(d, 3).tolist() == [[3, 1, 2]]
    assert top_k(d, 10).tolist() == [[3, 1, 2, 0, 4]]


def test_attributes_are_read_by_the_labels_exclusivity_rules(data_root):
    """One heel height exactly, at most one shaft, one chair base: the labels' own rules
    (attributes/taxonomy_*.txt), which every label row keeps, and so do the readings."""
    import csv

    from fgsbir_core.retrieval import EXCLUSIVE_GROUPS, must_have_mask, present_attributes

    names = ["shaft_ankle", "shaft_knee", "shaft_mid_calf", "heel_flat", "heel_low", "heel_high", "zip"]
    probs = np.array([[0.7, 0.9, 0.1, 0.2, 0.3, 0.1, 0.6],   # two shafts above 0.5, no heel above it
                      [0.2, 0.3, 0.1, 0.6, 0.55, 0.9, 0.4],  # three heel heights above 0.5
                      [0.2, 0.3, 0.1, 0.5, 0.5, 0.5, 0.5]])  # a tie: the first of the group
    shown = present_attributes(probs, names)
    assert [[n for n, on in zip(names, row) if on] for row in shown] == [
        ["shaft_knee", "heel_low", "zip"], ["heel_high"], ["heel_flat", "zip"]]
    assert must_have_mask(probs, names, ["heel_low"]).tolist() == [True, False, False]
    assert present_attributes(probs[:, [0, 6]], ["shaft_ankle", "zip"]).tolist() == (probs[:, [0, 6]] >= 0.5).tolist()
    for category in ("shoes", "chairs"):
        with open(data_root / "attributes" / f"{category}.csv", newline="") as f:
            rows = list(csv.DictReader(f))
        taxonomy = (data_root / "attributes" / f"taxonomy_{category}.txt").read_text()
        for rule, group in EXCLUSIVE_GROUPS:
            if group[0] not in rows[0]:
                continue
            assert all(name in taxonomy for name in group) and rule in taxonomy
            counts = [sum(int(row[name]) for name in group) for row in rows]
            assert all(c == 1 if rule == "exactly one" else c <= 1 for c in counts), (category, group)
            labels = np.array([[float(row[name]) for name in group] for row in rows])
            assert (present_attributes(labels, group) == labels.astype(bool)).all()  # labels read as themselves


def test_evaluating_a_model_as_another_category_is_refused(data_root):
    """A chairs model evaluated as shoes is a ModelError naming both categories (found by a mutation pass)."""
    from fgsbir_core.checkpoint import ModelError
    from fgsbir_core.engine import bundled_weights
    from fgsbir_core.evaluate import evaluate_checkpoint

    with pytest.raises(ModelError, match="chairs model, not a shoes model"):
        evaluate_checkpoint(bundled_weights("chairs", "mtl"), "shoes", data_root)


def test_evaluating_with_a_negative_attribute_weight_is_refused(data_root):
    """evaluate_checkpoint refuses an attribute weight below 0 (found by a mutation pass)."""
    from fgsbir_core.engine import bundled_weights
    from fgsbir_core.evaluate import evaluate_checkpoint

    with pytest.raises(ValueError, match="at least 0"):
        evaluate_checkpoint(bundled_weights("shoes", "mtl"), "shoes", data_root, attribute_weight=-1)


def test_fused_distance_ignores_an_attribute_weighted_zero():
    """With per-attribute weights [1, 0], a difference in attribute 1 alone adds nothing to the fused distance (found by a mutation pass)."""
    from fgsbir_core.retrieval import Codes, fused_distances

    emb = np.array([[0.0, 1.0], [0.5, 0.5]], np.float32)
    query = Codes(emb[:1], np.array([[0.3, 0.9]], np.float32))
    gallery = Codes(emb[1:], np.array([[0.3, 0.1]], np.float32))  # differs in attribute 1 only
    fused = fused_distances(query, gallery, 2.0, np.array([1.0, 0.0], np.float32))
    np.testing.assert_allclose(fused, embedding_distances(query.embeddings, gallery.embeddings), rtol=1e-6)
    assert fused_distances(query, gallery, 2.0)[0, 0] > fused[0, 0] + 0.5  # unweighted, the difference counts


def test_all_zero_attribute_weights_give_zero_attribute_distances():
    """Per-attribute weights that are all 0 give attribute distances of 0, not 0/0 = NaN (found by a mutation pass)."""
    rng = np.random.default_rng(3)
    q, g = rng.random((3, 4)).astype(np.float32), rng.random((5, 4)).astype(np.float32)
    with np.errstate(all="raise"):  # no 0/0 on the way
        d = attribute_distances(q, g, np.zeros(4, np.float32))
    assert d.shape == (3, 5)
    np.testing.assert_array_equal(d, np.zeros((3, 5)))
