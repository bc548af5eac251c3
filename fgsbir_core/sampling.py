"""Training triplets: from human annotations (baseline) or generated from attributes (MTL)."""
from __future__ import annotations

import numpy as np


def attribute_similarity(labels: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """(N, N) weighted share of agreeing attributes between photos."""
    w = np.ones(labels.shape[1]) if weights is None else np.asarray(weights, dtype=np.float64)
    agree = labels @ (labels * w).T + (1 - labels) @ ((1 - labels) * w).T
    return agree / w.sum()


def random_others(anchors: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """One photo per anchor, uniform over the n photos other than the anchor itself."""
    picks = rng.integers(0, n - 1, len(anchors))
    return picks + (picks >= anchors)


class AttributeNegativeSampler:
    """For photo i, draw negatives among the photos most similar to i in attributes.

    The seed paper's idea: photos sharing many attributes with the true one are the
    informative, hard negatives; no human triplet annotation needed. A negative is never i.
    """

    def __init__(self, labels: np.ndarray, hard_pool: int = 20, weights: np.ndarray | None = None, hard_share: float = 0.5,
                 appearance: np.ndarray | None = None):
        sim = attribute_similarity(labels, weights)
        if appearance is not None:
            # many photos share one attribute pattern (shoes: 130 patterns for 304 photos): among
            # equally similar ones, prefer those that also look alike (cosine of unit descriptors,
            # scaled far below one attribute's worth so it only breaks ties)
            sim = sim + 1e-3 * (appearance @ appearance.T)
        np.fill_diagonal(sim, -np.inf)
        n = len(labels)
        self.hard_pool = min(hard_pool, n - 1)
        self.pools = np.argsort(-sim, axis=1, kind="stable")[:, : self.hard_pool]
        self.hard_share = hard_share
        self.n = n
        self.hardest = None  # (n, k) pool members the model currently confuses most (`mine`)

    def mine(self, distances: np.ndarray, keep: int) -> None:
        """Narrow each pool to the `keep` members nearest to sketch i under the current model
        (distances: (n, n) sketch-to-photo): the pool still comes from attributes, the
        hardness within it from what the model gets wrong now."""
        pool_distances = np.take_along_axis(distances, self.pools, axis=1)
        order = np.argsort(pool_distances, axis=1, kind="stable")[:, : min(keep, self.hard_pool)]
        self.hardest = np.take_along_axis(self.pools, order, axis=1)

    def sample(self, anchors: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        anchors = np.asarray(anchors)
        pools = self.pools if self.hardest is None else self.hardest
        picks = pools[anchors, rng.integers(0, pools.shape[1], len(anchors))]
        easy = random_others(anchors, self.n, rng)
        use_hard = rng.random(len(anchors)) < self.hard_share
        return np.where(use_hard, picks, easy)


class HumanTripletSampler:
    """Triplets (sketch i, photo a, photo b) from human judgements 'a closer to i than b',
    plus easy random negatives for the true pair, as in Sketch Me That Shoe."""

    def __init__(self, triplets: list[np.ndarray], n: int):
        self.triplets = [t for t in triplets]
        self.n = n

    def sample(self, anchors: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Returns (closer, farther) photo indices per anchor; half human, half (true, random)."""
        closer = np.array(anchors, copy=True)
        farther = random_others(closer, self.n, rng)
        for k, i in enumerate(anchors):
            pairs = self.triplets[i]
            if len(pairs) and rng.random() < 0.5:
                a, b = pairs[rng.integers(len(pairs))]
                closer[k], farther[k] = a, b
        return closer, farther


class AttributeTripletSampler:
    """Ranking triplets generated from attributes, the stand-in for human triplet judgements:
    for sketch i, a photo `closer` among the `pool` photos most similar to photo i in attributes,
    and a photo `farther` drawn from those strictly less similar to photo i than `closer`.
    Neither is ever i. Where no photo is less similar, the pair is (i, random) instead."""

    def __init__(self, labels: np.ndarray, pool: int = 20, weights: np.ndarray | None = None):
        sim = attribute_similarity(labels, weights)
        n = len(labels)
        np.fill_diagonal(sim, np.inf)  # sorts first, then is skipped
        self.order = np.argsort(-sim, axis=1, kind="stable")[:, 1:]  # (n, n - 1), most similar first
        ranked = np.take_along_axis(sim, self.order, axis=1)
        # first_lower[i, r]: first rank whose similarity is strictly below that of rank r
        self.first_lower = np.stack([np.searchsorted(-row, -row, side="right") for row in ranked])
        self.pool = min(pool, n - 1)
        self.n = n

    def sample(self, anchors: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        anchors = np.asarray(anchors)
        ranks = rng.integers(0, self.pool, len(anchors))
        closer = self.order[anchors, ranks]
        lower = self.first_lower[anchors, ranks]
        has_lower = lower < self.n - 1
        far_rank = lower + (rng.random(len(anchors)) * (self.n - 1 - lower)).astype(int)
        farther = self.order[anchors, np.minimum(far_rank, self.n - 2)]
        return np.where(has_lower, closer, anchors), np.where(has_lower, farther, random_others(anchors, self.n, rng))
