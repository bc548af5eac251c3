"""The retrieval network: a fixed oriented-gradient front end, a learned CNN, two heads.

Why this shape: on 304 training pairs a CNN learned from scratch reaches ~10 % acc@1, while
blurred-HOG with no learning reaches ~39 % (SCIENCE.md). So the network starts from what HOG
knows -- blur (tolerance to misplaced lines) and orientation energy -- as fixed,
differentiable layers, and learns on top of them. The hand-made baseline is the same front
end's block-normalised descriptor, so baseline and model share one implementation.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class ModelConfig:
    work_size: int = 128  # the 256 px input is area-averaged to this before the front end
    blur_sigma: float = 2.0  # px at work_size
    orientations: int = 9  # unsigned orientation bins
    cell: int = 8  # px per cell of the learned branch's orientation grid
    hog_cell: int = 16  # px per cell of the fixed HOG descriptor (baseline and residual path)
    width: int = 64  # channels of the first learned conv; doubled twice
    embedding_dim: int = 256
    num_attributes: int = 0
    hog_residual: bool = True  # keep the fixed HOG descriptor as part of the embedding
    dropout: float = 0.3

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "ModelConfig":
        return cls(**{k: v for k, v in values.items() if k in cls.__dataclass_fields__})


def _gaussian_kernel(sigma: float) -> torch.Tensor:
    radius = max(1, int(3 * sigma + 0.5))
    x = torch.arange(-radius, radius + 1, dtype=torch.float32)
    kernel = torch.exp(-(x**2) / (2 * sigma**2))
    return kernel / kernel.sum()


class OrientedGradients(nn.Module):
    """uint8-range images (B, 1, H, W), white paper -> orientation energy (B, bins, S, S)."""

    def __init__(self, work_size: int, sigma: float, bins: int):
        super().__init__()
        self.work_size = work_size
        self.bins = bins
        self.register_buffer("blur", _gaussian_kernel(sigma), persistent=False)
        sobel = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])
        self.register_buffer("sobel", torch.stack([sobel, sobel.T])[:, None], persistent=False)
        self.register_buffer("centres", torch.arange(bins, dtype=torch.float32) * math.pi / bins, persistent=False)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        ink = 1.0 - images / 255.0
        if ink.shape[-1] != self.work_size:
            ink = F.interpolate(ink, size=(self.work_size, self.work_size), mode="area")
        r = self.blur.numel() // 2
        ink = F.conv2d(F.pad(ink, (r, r, 0, 0), mode="replicate"), self.blur.view(1, 1, 1, -1))
        ink = F.conv2d(F.pad(ink, (0, 0, r, r), mode="replicate"), self.blur.view(1, 1, -1, 1))
        grad = F.conv2d(F.pad(ink, (1, 1, 1, 1), mode="replicate"), self.sobel)
        gx, gy = grad[:, :1], grad[:, 1:]
        magnitude = torch.sqrt(gx * gx + gy * gy + 1e-12)
        angle = torch.remainder(torch.atan2(gy, gx), math.pi)
        diff = (angle - self.centres.view(1, -1, 1, 1)).abs()
        diff = torch.minimum(diff, math.pi - diff)
        weight = (1.0 - diff * (self.bins / math.pi)).clamp(min=0.0)  # linear vote into 2 bins
        return magnitude * weight


def hog_descriptor(energy: torch.Tensor, cell: int) -> torch.Tensor:
    """Orientation energy -> L2-normalised HOG descriptor (2x2-cell blocks, L2-Hys)."""
    cells = F.avg_pool2d(energy, cell)
    blocks = F.unfold(cells, 2, stride=1)
    blocks = blocks / (blocks.norm(dim=1, keepdim=True) + 1e-6)
    blocks = blocks.clamp(max=0.2)
    blocks = blocks / (blocks.norm(dim=1, keepdim=True) + 1e-6)
    return F.normalize(blocks.flatten(1), dim=1)


def _conv(cin: int, cout: int, stride: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)
    )


class SketchPhotoNet(nn.Module):
    """Shared network for sketches and photo edge maps: embedding head + attribute head."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        c = config
        self.front = OrientedGradients(c.work_size, c.blur_sigma, c.orientations)
        grid = c.work_size // c.cell
        self.trunk = nn.Sequential(
            _conv(c.orientations, c.width, 1),
            _conv(c.width, c.width, 1),
            _conv(c.width, 2 * c.width, 2),
            _conv(2 * c.width, 2 * c.width, 1),
            _conv(2 * c.width, 4 * c.width, 2),
        )
        feat = 4 * c.width * (grid // 4) ** 2
        self.embed = nn.Sequential(nn.Dropout(c.dropout), nn.Linear(feat, c.embedding_dim))
        self.attributes = nn.Sequential(nn.Dropout(c.dropout), nn.Linear(feat, c.num_attributes)) if c.num_attributes else None
        hog_dim = c.orientations * 4 * (c.work_size // c.hog_cell - 1) ** 2
        # learned mixing of the fixed descriptor and the learned embedding (log scale)
        self.hog_scale = nn.Parameter(torch.tensor(0.0)) if c.hog_residual else None
        self.hog_dim = hog_dim

    def forward_features(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        energy = self.front(images)
        cells = F.avg_pool2d(energy, self.config.cell) * 4.0
        return self.trunk(cells).flatten(1), energy

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """images: (B, 1, H, W) float in 0..255 -> (unit embedding, attribute logits or None)."""
        features, energy = self.forward_features(images)
        learned = F.normalize(self.embed(features), dim=1)
        if self.hog_scale is not None:
            hog = hog_descriptor(energy, self.config.hog_cell)
            mix = torch.sigmoid(self.hog_scale)
            embedding = torch.cat([hog * torch.sqrt(mix), learned * torch.sqrt(1 - mix)], dim=1)
        else:
            embedding = learned
        logits = self.attributes(features) if self.attributes is not None else None
        return embedding, logits
