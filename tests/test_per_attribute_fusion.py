"""scripts/per_attribute_fusion.py: the per-attribute fit weights an informative attribute above noise."""
from __future__ import annotations

import numpy as np


def _fold(rng, n=40):
    # attribute 0 tells the true pair apart, attribute 1 is noise, the embedding distance is weak
    labels = rng.integers(0, 2, n).astype(np.float32)
    sketch = np.stack([np.abs(labels - 0.1), rng.random(n)], 1).astype(np.float32)
    photo = np.stack([np.abs(labels - 0.05), rng.random(n)], 1).astype(np.float32)
    shape = rng.random((n, n)).astype(np.float32)
    np.fill_diagonal(shape, shape.diagonal() * 0.8)
    return sketch, photo, shape


def test_fit_favours_the_informative_attribute_and_nested_runs(load_script):
    script = load_script("per_attribute_fusion")
    rng = np.random.default_rng(0)
    folds = [script.fold_terms(shape, s, p) for s, p, shape in (_fold(rng) for _ in range(4))]
    v = script.fit_attribute_weights(folds[:3], np.array([0.5, 0.5], np.float32), ridge=0.01)
    assert v[0] > 2 * v[1] and (v >= 0).all()
    ranks = script.nested_comparison(folds, np.ones(2, np.float32), ridges=(0.01,))
    assert set(ranks) == {"single w", "per attribute, ridge 0.01"}
    assert all(len(r) == 160 for r in ranks.values())
