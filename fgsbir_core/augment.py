"""Training-time augmentation: warped copies of the training pairs, cached as front-end cells,
and pseudo-sketches made from edge maps."""
from __future__ import annotations

import numpy as np


def random_warps(n: int, rng: np.random.Generator, strength: float) -> np.ndarray:
    """(n, 5) affine jitter: log scale, log aspect, rotation (rad), shift x, shift y (frame = 2)."""
    return np.stack([
        rng.uniform(-0.12, 0.12, n), rng.uniform(-0.06, 0.06, n), np.deg2rad(rng.uniform(-6, 6, n)),
        rng.uniform(-0.08, 0.08, n), rng.uniform(-0.08, 0.08, n),
    ], 1) * strength


def warp(images, params: np.ndarray, size: int):
    """uint8-range (B, 1, H, W) tensor -> (B, 1, size, size) images warped by `random_warps` params."""
    import torch
    import torch.nn.functional as F

    ink = F.interpolate(1.0 - images / 255.0, size=(size, size), mode="area")
    scale, aspect, angle = np.exp(params[:, 0]), np.exp(params[:, 1]), params[:, 2]
    cos, sin = np.cos(angle), np.sin(angle)
    theta = np.zeros((len(ink), 2, 3), np.float32)
    theta[:, 0, 0] = cos / (scale * aspect)
    theta[:, 0, 1] = -sin / (scale * aspect)
    theta[:, 1, 0] = sin / (scale / aspect)
    theta[:, 1, 1] = cos / (scale / aspect)
    theta[:, :, 2] = params[:, 3:5]
    grid = F.affine_grid(torch.from_numpy(theta), list(ink.shape), align_corners=False)
    ink = F.grid_sample(ink, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return 255.0 * (1.0 - ink)


def augmented_pair_cells(model, sketches: np.ndarray, photos: np.ndarray, copies: int, rng: np.random.Generator,
                         strength: float, jitter: float, batch_size: int = 64):
    """Orientation cells (N, copies, bins, G, G) of warped copies of each sketch and photo.

    Copy k of sketch i and copy k of photo i share one warp (so the pair stays aligned, as the
    test pairs are) plus a small independent jitter for tolerance to misplaced lines; copy 0
    is unwarped. The front end has no weights, so computing it once per copy is exact and
    makes a training step several times cheaper than warping and filtering every step.
    """
    import torch

    n, size = len(sketches), model.config.work_size
    shared = random_warps(n * copies, rng, strength).reshape(n, copies, 5)
    shared[:, 0] = 0.0
    banks = []
    for images in (sketches, photos):
        params = shared + random_warps(n * copies, rng, jitter).reshape(n, copies, 5) * (np.arange(copies) > 0)[None, :, None]
        out = None
        with torch.no_grad():
            for start in range(0, n, batch_size):
                chunk = torch.from_numpy(images[start: start + batch_size]).float()[:, None]
                cells = torch.stack([model.cells(warp(chunk, params[start: start + batch_size, k], size)) for k in range(copies)], 1)
                if out is None:
                    out = torch.empty((n,) + tuple(cells.shape[1:]))
                out[start: start + len(chunk)] = cells
        banks.append(out)
    return banks


def pseudo_sketches(photos: np.ndarray, rng: np.random.Generator, min_component: int = 40, wobble: float = 0.012) -> np.ndarray:
    """Edge maps -> sketch-like drawings of the same object, exactly aligned with it.

    Drops short edge fragments (texture, shading) as a sketcher would, and bends the rest
    with a smooth random displacement field (hand wobble). Pairs (pseudo-sketch i, photo i)
    give the network precisely aligned examples, which the real training pairs lack.
    """
    import torch
    import torch.nn.functional as F

    from .imageops import label

    out = np.empty_like(photos)
    for i, photo in enumerate(photos):
        ink = photo < 160
        labels, count = label(ink)
        if count:
            keep = np.bincount(labels.ravel(), minlength=count + 1) >= min_component
            keep[0] = False
            ink = keep[labels]
        out[i] = np.where(ink, photo, 255)
    images = torch.from_numpy(out).float()[:, None]
    n, _, h, w = images.shape
    flow = torch.from_numpy(rng.normal(0, wobble, (n, 2, 6, 6)).astype(np.float32))
    flow = F.interpolate(flow, size=(h, w), mode="bicubic", align_corners=False).permute(0, 2, 3, 1)
    base = F.affine_grid(torch.eye(2, 3).expand(n, 2, 3), [n, 1, h, w], align_corners=False)
    ink = F.grid_sample(1.0 - images / 255.0, base + flow, mode="bilinear", padding_mode="zeros", align_corners=False)
    return np.clip(255.0 * (1.0 - ink[:, 0].numpy()), 0, 255).astype(np.uint8)


def pick_copies(bank, index: np.ndarray, copy: np.ndarray, rng: np.random.Generator, dropout: float = 0.0):
    """Copy `copy[j]` of item `index[j]`; `dropout` zeroes random patches (an 8 x 8 grid)."""
    import torch
    import torch.nn.functional as F

    cells = bank[torch.from_numpy(index), torch.from_numpy(copy)]
    if dropout > 0:
        keep = torch.from_numpy((rng.random((len(index), 1, 8, 8)) >= dropout).astype(np.float32))
        cells = cells * F.interpolate(keep, size=cells.shape[-2:], mode="nearest")
    return cells
