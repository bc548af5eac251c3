"""Encoding images with a model and ranking a gallery by fused distance.

distance(s, p) = d_embedding(s, p) + w * d_attribute(s, p), where d_attribute is the
(weighted) mean squared difference of predicted attribute probabilities.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Sequence

import numpy as np

PRESENT_AT: Final = 0.5  # an attribute is read as present from this predicted probability
# The labels' own rules (attributes/taxonomy_*.txt of the data root): of each group a product
# shows at most one, or exactly one. Predictions are read by the same rules.
EXCLUSIVE_GROUPS: Final = (
    ("at most one", ("shaft_ankle", "shaft_mid_calf", "shaft_knee")),
    ("exactly one", ("heel_flat", "heel_low", "heel_high")),
    ("exactly one", ("base_four_legs", "base_star_casters", "base_sled_or_cantilever", "base_pedestal")),
)


@dataclass(frozen=True)
class Codes:
    """What the network says about a set of images."""

    embeddings: np.ndarray  # (N, D) float32
    attribute_probs: np.ndarray  # (N, A) float32 (A may be 0)
    mirrored: np.ndarray | None = None  # (N,) bool: encoded mirrored to face the benchmark's way (encode_images(facing=...))
    facing_scores: np.ndarray | None = None  # (N,) float32: > 0 = faced the benchmark's way as given (encode_images(facing=...))

    def __len__(self) -> int:
        return len(self.embeddings)


def encode_images(model, images: np.ndarray, batch_size: int = 64, device: str = "cpu", facing=None, turn: bool = True) -> Codes:
    """uint8 (N, H, W) images, white paper -> Codes; no gradients, model in eval mode.
    With a `facing.FacingClassifier`: each image's facing score (`Codes.facing_scores`, > 0 = faces
    the benchmark's way), and with `turn`, images that face the other way encoded mirrored."""
    import torch

    from .facing import descriptors, mirror_cells

    model.eval()
    embeddings, probs, scores = [], [], []
    with torch.inference_mode():
        for start in range(0, len(images), batch_size):
            chunk = torch.as_tensor(np.ascontiguousarray(images[start: start + batch_size]), dtype=torch.float32)
            cells = model.cells(chunk[:, None].to(device))
            if facing is not None:
                score = facing.scores(descriptors(model, cells).float().cpu().numpy())
                scores.append(score)
                if turn and (score < 0).any():
                    pick = torch.from_numpy(score < 0).to(cells.device)
                    cells = torch.where(pick[:, None, None, None], mirror_cells(cells), cells)
            emb, logits = model.forward_cells(cells)
            embeddings.append(emb.float().cpu().numpy())
            if logits is not None:
                probs.append(torch.sigmoid(logits).float().cpu().numpy())
    n_attr = model.config.num_attributes
    facing_scores = (np.concatenate(scores) if scores else np.zeros(0, np.float32)) if facing is not None else None
    return Codes(
        np.concatenate(embeddings) if embeddings else np.zeros((0, 0), np.float32),
        np.concatenate(probs) if probs else np.zeros((len(images), n_attr), np.float32),
        facing_scores < 0 if facing_scores is not None and turn else None,
        facing_scores,
    )


def embedding_distances(queries: np.ndarray, gallery: np.ndarray, gallery_squared_norms: np.ndarray | None = None) -> np.ndarray:
    """Squared Euclidean distances (Q, G), vectorised. `gallery_squared_norms`: the gallery's
    squared norms, computed once for a catalogue that is searched many times (the app's)."""
    q2 = np.einsum("ij,ij->i", queries, queries)[:, None]
    g2 = np.einsum("ij,ij->i", gallery, gallery) if gallery_squared_norms is None else gallery_squared_norms
    return np.maximum(q2 + g2[None, :] - 2.0 * queries @ gallery.T, 0.0)


def attribute_distances(queries: np.ndarray, gallery: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """Weighted mean squared difference of attribute probabilities (Q, G)."""
    if queries.shape[1] == 0:
        return np.zeros((len(queries), len(gallery)), np.float32)
    w = np.ones(queries.shape[1], np.float32) if weights is None else np.asarray(weights, np.float32)
    total = w.sum()
    if total <= 0:
        return np.zeros((len(queries), len(gallery)), np.float32)
    return embedding_distances(queries * np.sqrt(w), gallery * np.sqrt(w)) / total


def fused_distances(query: Codes, gallery: Codes, attribute_weight: float, attribute_weights: np.ndarray | None = None,
                    gallery_squared_norms: np.ndarray | None = None) -> np.ndarray:
    """The ranking distance (Q, G): embedding distance + attribute_weight x attribute distance,
    the one used by evaluation, `fgsbir query` and the app alike."""
    dist = embedding_distances(query.embeddings, gallery.embeddings, gallery_squared_norms)
    if attribute_weight:
        dist = dist + attribute_weight * attribute_distances(query.attribute_probs, gallery.attribute_probs, attribute_weights)
    return dist


def top_k(distances: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k smallest distances per row, in order (stable for ties)."""
    k = min(k, distances.shape[1])
    part = np.argpartition(distances, k - 1, axis=1)[:, :k] if k < distances.shape[1] else np.tile(np.arange(distances.shape[1]), (len(distances), 1))
    order = np.take_along_axis(distances, part, 1)
    idx = np.lexsort((part, order), axis=1)
    return np.take_along_axis(part, idx, 1)


def present_attributes(probs: np.ndarray, names: Sequence[str]) -> np.ndarray:
    """Predicted probabilities (..., A) -> bool (..., A): the attributes a sketch or photo is read
    to show. p >= PRESENT_AT, except within an exclusive group (EXCLUSIVE_GROUPS): there only
    the likeliest member, and in an "exactly one" group that one even below PRESENT_AT (a shoe
    has some heel: two heel heights, or none, would contradict the labels' rules)."""
    probs = np.asarray(probs, np.float32)
    present = probs >= PRESENT_AT
    names = list(names)
    for rule, group in EXCLUSIVE_GROUPS:
        if not set(group) <= set(names):
            continue
        columns = [names.index(name) for name in group]
        likeliest = np.argmax(probs[..., columns], axis=-1)
        for k, column in enumerate(columns):
            chosen = likeliest == k
            present[..., column] = chosen if rule == "exactly one" else chosen & present[..., column]
    return present


def must_have_mask(gallery_probs: np.ndarray, names: Sequence[str], required: Sequence[str]) -> np.ndarray:
    """Boolean (G,) of gallery items read (`present_attributes`) to have every required attribute."""
    present = present_attributes(gallery_probs, names)
    keep = np.ones(len(gallery_probs), bool)
    for name in required:
        keep &= present[:, list(names).index(name)]
    return keep
