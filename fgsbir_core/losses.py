"""Training losses: triplet ranking on embeddings and on attribute predictions, attribute BCE."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def pair_distances(queries: torch.Tensor, gallery: torch.Tensor) -> torch.Tensor:
    """Squared Euclidean distances (Q, G); for unit vectors this is 2 - 2 cos."""
    return (queries.pow(2).sum(1, keepdim=True) + gallery.pow(2).sum(1) - 2 * queries @ gallery.T).clamp(min=0)


def triplet_ranking_loss(anchor: torch.Tensor, positive: torch.Tensor, negative: torch.Tensor, margin: float) -> torch.Tensor:
    """mean max(0, margin + d(a, p) - d(a, n)) over matched rows."""
    d_pos = (anchor - positive).pow(2).sum(1)
    d_neg = (anchor - negative).pow(2).sum(1)
    return F.relu(margin + d_pos - d_neg).mean()


def in_batch_triplet_loss(sketches: torch.Tensor, photos: torch.Tensor, positive_index: torch.Tensor,
                          margin: float | torch.Tensor) -> torch.Tensor:
    """Triplet loss of each sketch against every other photo in the batch (all negatives, averaged
    over the violating ones so that the few hard negatives are not drowned by easy ones).
    `margin` is a number or a (sketches, photos) tensor of per-pair margins."""
    dist = pair_distances(sketches, photos)
    rows = torch.arange(len(sketches), device=sketches.device)
    d_pos = dist[rows, positive_index]
    violation = F.relu(margin + d_pos[:, None] - dist)
    mask = torch.ones_like(dist, dtype=torch.bool)
    mask[rows, positive_index] = False
    violation = violation * mask
    active = (violation > 0).sum().clamp(min=1)
    return violation.sum() / active


def attribute_loss(logits: torch.Tensor, labels: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
    """Per-attribute sigmoid cross-entropy; `weights` (A,) down-weights noisy attributes."""
    loss = F.binary_cross_entropy_with_logits(logits, labels, reduction="none")
    if weights is not None:
        loss = loss * weights
        return loss.sum(1).mean() / weights.sum().clamp(min=1e-6)
    return loss.mean()
