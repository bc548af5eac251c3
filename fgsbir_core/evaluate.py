"""Retrieval metrics: acc@K and triplet accuracy, vectorised, ties counted against the query."""
from __future__ import annotations

import numpy as np


def true_ranks(distances: np.ndarray, true_index: np.ndarray | None = None) -> np.ndarray:
    """0-based rank of each query's true item; every other item at a distance <= the true one's
    counts as ahead of it (ties count against the query). A distance that is not a number (a
    model whose weights blew up) is as far as can be: such a true item is ranked last."""
    distances = np.where(np.isnan(distances), np.inf, distances)
    q = len(distances)
    true_index = np.arange(q) if true_index is None else np.asarray(true_index)
    d_true = distances[np.arange(q), true_index]
    return (distances <= d_true[:, None]).sum(1) - 1


def accuracy_at(ranks: np.ndarray, k: int) -> float:
    return float(np.mean(ranks < k))


def triplet_accuracy(distances: np.ndarray, triplets: list[np.ndarray]) -> float:
    """Share of human judgements (i, a closer than b) with d(i, a) < d(i, b); ties are wrong."""
    pairs_per_query = [np.asarray(t).reshape(-1, 2) for t in triplets]
    if sum(len(p) for p in pairs_per_query) == 0:
        return float("nan")  # no judgements to agree with
    rows = np.concatenate([np.full(len(p), i) for i, p in enumerate(pairs_per_query)])
    pairs = np.concatenate(pairs_per_query)
    return float(np.mean(distances[rows, pairs[:, 0]] < distances[rows, pairs[:, 1]]))


def retrieval_metrics(distances: np.ndarray, triplets: list[np.ndarray] | None = None) -> dict[str, float]:
    ranks = true_ranks(distances)
    result = {"acc_at_1": accuracy_at(ranks, 1), "acc_at_10": accuracy_at(ranks, 10)}
    if triplets is not None:
        result["triplet_acc"] = triplet_accuracy(distances, triplets)
    return result


def evaluate_checkpoint(weights, category: str, data_root=None, attribute_weight: float | None = None):
    """Test-split figures of one checkpoint: (metrics, distances). Uses the checkpoint's fusion
    weight (chosen on validation) unless told otherwise."""
    from .checkpoint import ModelError, build_model, load_checkpoint
    from .data import load_benchmark
    from .retrieval import encode_images, fused_distances

    state = load_checkpoint(weights)
    if state["category"] != category:
        raise ModelError(f"{weights} is a {state['category']} model, not a {category} model.")
    if attribute_weight is not None:
        if not (np.isfinite(attribute_weight) and attribute_weight >= 0):
            raise ValueError(f"The attribute weight must be a finite number of at least 0, not {attribute_weight!r}.")
        if attribute_weight > 0 and not state["attribute_names"]:
            raise ValueError(f"{weights} is a {state.get('mode', 'triplet')} model: it predicts no attributes, "
                             "so an attribute weight does not apply.")
    model = build_model(state)
    bench = load_benchmark(category, data_root)
    w = float(state.get("fusion_weight", 0.0)) if attribute_weight is None else attribute_weight
    weights_attr = state.get("attribute_reliability")
    s = encode_images(model, bench.test.sketches)
    p = encode_images(model, bench.test.photos)
    distances = fused_distances(s, p, w, None if weights_attr is None else np.asarray(weights_attr, np.float32))
    return retrieval_metrics(distances, bench.test.triplets), distances


def hog_baseline_distances(category: str, data_root=None):
    """The hand-made baseline: cosine distance between HOG descriptors of blurred images
    (the network's fixed front end, no learning)."""
    import torch

    from .data import load_benchmark
    from .model import ModelConfig, OrientedGradients, hog_descriptor
    from .retrieval import embedding_distances

    c = ModelConfig()
    front = OrientedGradients(c.work_size, c.blur_sigma, c.orientations)
    bench = load_benchmark(category, data_root)
    with torch.inference_mode():
        def describe(images):
            return hog_descriptor(front(torch.from_numpy(images).float()[:, None]), c.hog_cell).numpy()
        distances = embedding_distances(describe(bench.test.sketches), describe(bench.test.photos))
    return retrieval_metrics(distances, bench.test.triplets), distances
