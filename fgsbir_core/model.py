"""The retrieval network: a fixed oriented-gradient front end, a learned CNN, two heads.

Why this shape: on 304 training pairs a CNN learned from scratch reaches ~10 % acc@1, while
blurred-HOG with no learning reaches ~39 % (../shared/docs/SCIENCE.md). So the network starts from what HOG
knows -- blur (tolerance to misplaced lines) and orientation energy -- as fixed,
differentiable layers, and learns on top of them. The hand-made baseline is the same front
end's block-normalised descriptor, so baseline and model share one implementation.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class ModelConfig:
    work_size: int = 128  # the 256 px input is area-averaged to this before the front end
    blur_sigma: float = 2.0  # px at work_size
    orientations: int = 9  # unsigned orientation bins
    clean_border: bool = True  # paper over the edge maps' 1-pixel grey frame (validation acc@1 shoes 23 -> 30 % for HOG)
    cell: int = 8  # px per cell of the learned branch's orientation grid
    hog_cell: int = 16  # px per cell of the fixed HOG descriptor (baseline and residual path)
    width: int = 64  # channels of the first learned conv; doubled twice
    embedding_dim: int = 256
    num_attributes: int = 0
    hog_residual: bool = True  # keep the fixed HOG descriptor as part of the embedding
    hog_dims: int = 384  # project the 1764-d descriptor onto its top principal axes (0 = keep all)
    dropout: float = 0.3
    local_norm: bool = False  # contrast-normalise the learned branch's input (tried: validation acc@1 fell)
    members: int = 1  # learned branches (trunk + heads) beside one front end, trained side by side: an ensemble in one model

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
    """uint8-range images (B, 1, H, W), white paper -> orientation energy (B, bins, S, S).

    Blur, Sobel gradients, then HOG's linear vote of the gradient magnitude into the two
    nearest unsigned orientation bins. `clean_border` turns the outermost pixel ring into
    paper: the benchmark's edge maps carry a grey 1-pixel frame that sketches lack.
    """

    def __init__(self, work_size: int, sigma: float, bins: int, clean_border: bool = False):
        super().__init__()
        self.work_size = work_size
        self.bins = bins
        self.clean_border = clean_border
        self.register_buffer("blur", _gaussian_kernel(sigma), persistent=False)

    def _blur(self, ink: torch.Tensor) -> torch.Tensor:
        """Separable Gaussian as fused multiply-adds of shifted views (edge pixels repeated):
        on the CPU about 15x faster than conv1d/conv2d with one input channel."""
        r = self.blur.numel() // 2
        taps = self.blur.tolist()
        h, w = ink.shape[-2:]
        padded = F.pad(ink, (r, r, 0, 0), mode="replicate")
        rows = padded[..., r: r + w] * taps[r]
        for d in range(1, r + 1):
            rows.add_(padded[..., r - d: r - d + w], alpha=taps[r + d]).add_(padded[..., r + d: r + d + w], alpha=taps[r + d])
        padded = F.pad(rows, (0, 0, r, r), mode="replicate")
        out = padded[..., r: r + h, :] * taps[r]
        for d in range(1, r + 1):
            out.add_(padded[..., r - d: r - d + h, :], alpha=taps[r + d]).add_(padded[..., r + d: r + d + h, :], alpha=taps[r + d])
        return out

    @staticmethod
    def _sobel(image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """3 x 3 Sobel gradients (x: columns, y: rows), edge pixels repeated, from shifted views."""
        p = F.pad(image, (1, 1, 1, 1), mode="replicate")
        dx = p[..., :, 2:] - p[..., :, :-2]
        dy = p[..., 2:, :] - p[..., :-2, :]
        gx = dx[..., :-2, :] + 2.0 * dx[..., 1:-1, :] + dx[..., 2:, :]
        gy = dy[..., :, :-2] + 2.0 * dy[..., :, 1:-1] + dy[..., :, 2:]
        return gx, gy

    def forward(self, images: torch.Tensor, pool: int = 1) -> torch.Tensor:
        """Orientation energy, averaged over `pool` x `pool` cells when pool > 1 (voted straight
        into the cells: the full-resolution (B, bins, S, S) tensor is never made)."""
        if self.clean_border:
            images = F.pad(images[..., 1:-1, 1:-1], (1, 1, 1, 1), value=255.0)
        size = images.shape[-1]
        if size != self.work_size:  # area average (a plain 2x2 mean for 256 -> 128)
            if size % self.work_size == 0:
                images = F.avg_pool2d(images, size // self.work_size)
            else:
                images = F.interpolate(images, size=(self.work_size, self.work_size), mode="area")
        ink = 1.0 - images / 255.0
        gx, gy = self._sobel(self._blur(ink))
        magnitude = torch.sqrt(gx * gx + gy * gy + 1e-12)
        # linear vote into the two nearest of `bins` unsigned orientations (bin k at k*pi/bins)
        position = torch.remainder(torch.atan2(gy, gx), math.pi) * (self.bins / math.pi)
        below = torch.floor(position)
        upper_share = position - below
        lower_bin = below.long() % self.bins  # position == bins (angle pi) is bin 0
        upper_bin = (lower_bin + 1) % self.bins
        lower_vote, upper_vote = magnitude * (1.0 - upper_share), magnitude * upper_share
        b, _, h, w = ink.shape
        if pool == 1:
            energy = torch.zeros(b, self.bins, h, w, dtype=ink.dtype, device=ink.device)
            energy.scatter_(1, lower_bin, lower_vote)
            energy.scatter_add_(1, upper_bin, upper_vote)
            return energy
        gh, gw = h // pool, w // pool
        rows = torch.arange(h, device=ink.device) // pool
        cols = torch.arange(w, device=ink.device) // pool
        cell = (rows[:, None] * gw + cols[None, :]).view(1, 1, h, w)
        energy = torch.zeros(b, self.bins * gh * gw, dtype=ink.dtype, device=ink.device)
        energy.scatter_add_(1, (lower_bin * (gh * gw) + cell).view(b, -1), lower_vote.view(b, -1))
        energy.scatter_add_(1, (upper_bin * (gh * gw) + cell).view(b, -1), upper_vote.view(b, -1))
        return energy.view(b, self.bins, gh, gw) / (pool * pool)


def hog_descriptor(energy: torch.Tensor, cell: int) -> torch.Tensor:
    """Orientation energy (or finer cells) -> L2-normalised HOG descriptor: `cell` x `cell`
    pooling, 2x2-cell blocks, L2-Hys."""
    cells = F.avg_pool2d(energy, cell)
    blocks = F.unfold(cells, 2, stride=1)
    blocks = blocks / (blocks.norm(dim=1, keepdim=True) + 1e-6)
    blocks = blocks.clamp(max=0.2)
    blocks = blocks / (blocks.norm(dim=1, keepdim=True) + 1e-6)
    return F.normalize(blocks.flatten(1), dim=1)


def local_contrast_norm(cells: torch.Tensor) -> torch.Tensor:
    """Divide each cell by the energy of its 3 x 3 neighbourhood (after scaling the image to
    unit mean energy), so sparse sketches and busy edge maps reach the network on one scale."""
    cells = cells / (cells.mean(dim=(1, 2, 3), keepdim=True) + 1e-6)
    energy = F.avg_pool2d(cells.pow(2).sum(1, keepdim=True), 3, stride=1, padding=1, count_include_pad=False)
    return cells / torch.sqrt(energy + 1.0)


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
        self.front = OrientedGradients(c.work_size, c.blur_sigma, c.orientations, c.clean_border)
        grid = c.work_size // c.cell
        feat = 4 * c.width * (grid // 4) ** 2

        def trunk():
            return nn.Sequential(
                _conv(c.orientations, c.width, 1),
                _conv(c.width, c.width, 1),
                _conv(c.width, 2 * c.width, 2),
                _conv(2 * c.width, 2 * c.width, 1),
                _conv(2 * c.width, 4 * c.width, 2),
            )

        def embed():
            return nn.Sequential(nn.Dropout(c.dropout), nn.Linear(feat, c.embedding_dim))

        def attributes():
            return nn.Sequential(nn.Dropout(c.dropout), nn.Linear(feat, c.num_attributes)) if c.num_attributes else None

        if c.members == 1:  # (the names of one-member checkpoints)
            self.trunk, self.embed, self.attributes = trunk(), embed(), attributes()
        else:
            self.trunks = nn.ModuleList(trunk() for _ in range(c.members))
            self.embeds = nn.ModuleList(embed() for _ in range(c.members))
            self.attribute_heads = nn.ModuleList(attributes() for _ in range(c.members)) if c.num_attributes else None
        hog_dim = c.orientations * 4 * (c.work_size // c.hog_cell - 1) ** 2
        # learned mixing of the fixed descriptor and the learned embedding (log scale)
        self.hog_scale = nn.Parameter(torch.tensor(0.0)) if c.hog_residual else None
        # Fixed (not learned) projection fitted on training images by `fit_hog_projection`:
        # 384 dims instead of 1764 keep 100k-photo search fast, at ~no accuracy cost.
        self.hog_dim = c.hog_dims or hog_dim
        if c.hog_residual and c.hog_dims:
            self.register_buffer("hog_projection", torch.eye(hog_dim)[:, : c.hog_dims].clone())
        else:
            self.hog_projection = None

    def cells(self, images: torch.Tensor) -> torch.Tensor:
        """The fixed part: images (B, 1, H, W) in 0..255 -> orientation cells (B, bins, G, G).
        Training caches these for augmented copies of each image, as nothing here learns."""
        return self.front(images, pool=self.config.cell) * 4.0

    def _branches(self):
        if self.config.members == 1:
            return [(self.trunk, self.embed, self.attributes)]
        heads = self.attribute_heads if self.attribute_heads is not None else [None] * self.config.members
        return list(zip(self.trunks, self.embeds, heads))

    def _parts(self, cells: torch.Tensor):
        """(fixed HOG part or None, [(learned unit embedding, attribute logits or None) per member])."""
        trunk_input = local_contrast_norm(cells) if self.config.local_norm else cells
        learned = []
        for trunk, embed, attributes in self._branches():
            features = trunk(trunk_input).flatten(1)
            learned.append((F.normalize(embed(features), dim=1), attributes(features) if attributes is not None else None))
        hog = None
        if self.hog_scale is not None:
            hog = hog_descriptor(cells, self.config.hog_cell // self.config.cell)
            if self.hog_projection is not None:
                hog = F.normalize(hog @ self.hog_projection, dim=1)
        return hog, learned

    def _join(self, hog: torch.Tensor | None, learned: torch.Tensor) -> torch.Tensor:
        if hog is None:
            return learned
        mix = torch.sigmoid(self.hog_scale)
        return torch.cat([hog * torch.sqrt(mix), learned * torch.sqrt(1 - mix)], dim=1)

    def member_outputs(self, cells: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor | None]]:
        """Each member's own (unit embedding, attribute logits): training gives each its own loss."""
        hog, learned = self._parts(cells)
        return [(self._join(hog, e), logits) for e, logits in learned]

    def forward_cells(self, cells: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(unit embedding, attribute logits). With several members the learned parts are
        concatenated (scaled by 1/sqrt(members)), so a squared distance is the mean of the
        members' distances, and the logits averaged."""
        hog, learned = self._parts(cells)
        if len(learned) == 1:
            return self._join(hog, learned[0][0]), learned[0][1]
        k = len(learned)
        joined = torch.cat([e for e, _ in learned], dim=1) / math.sqrt(k)
        logits = torch.stack([l for _, l in learned]).mean(0) if learned[0][1] is not None else None
        return self._join(hog, joined), logits

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """images: (B, 1, H, W) float in 0..255 -> (unit embedding, attribute logits or None)."""
        return self.forward_cells(self.cells(images))


@torch.no_grad()
def fit_hog_projection(model: SketchPhotoNet, images: torch.Tensor, batch_size: int = 128) -> None:
    """Set the fixed HOG projection to the top principal axes (uncentred SVD) of `images`'
    descriptors (training sketches and edge maps only)."""
    if model.hog_projection is None:
        return
    descriptors = []
    for start in range(0, len(images), batch_size):
        cells = model.cells(images[start: start + batch_size])
        descriptors.append(hog_descriptor(cells, model.config.hog_cell // model.config.cell))
    _, _, vt = torch.linalg.svd(torch.cat(descriptors), full_matrices=False)
    k = min(model.config.hog_dims, len(vt))  # fewer images than dims: the rest stay zero
    model.hog_projection.zero_()
    model.hog_projection[:, :k] = vt[:k].T
