"""Which way a picture faces: folder photos turned to the benchmark's facing before encoding,
and a drawn sketch turned the same way (`Engine.orient`).

The benchmark's shoes and chairs face left (toe on the left), and so does everything the model
learned: a right-facing photo is encoded poorly and its attributes read poorly. A shop's own
photos may face either way, so a folder catalogue is put into the benchmark's facing photo by
photo: a linear classifier on the model's fixed HOG descriptor (no learned weights involved)
says whether a picture faces the benchmark's way; those that do not are encoded mirrored.
Mirroring is done on the front end's orientation cells, which is exact (`mirror_cells`), so it
costs no second pass of the front end. A sketch is encoded as drawn and mirrored anyway; its
score as drawn says which of the two is matched.

The classifier is fitted by `scripts/fit_facing.py` on the benchmark's training sketches and
edge maps, as they are (the benchmark's way) and mirrored (the other way), and stored with the
front-end settings it was fitted for in `resources/models/<category>_facing.npz`.
"""
from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

FRONT_END_KEYS = ("work_size", "blur_sigma", "orientations", "clean_border", "cell", "hog_cell")


def front_end_settings(model) -> dict:
    """The model settings the fixed HOG descriptor depends on."""
    config = model.config.to_dict()
    return {key: config[key] for key in FRONT_END_KEYS}


def mirror_cells(cells):
    """Orientation cells (B, bins, G, G) of an image -> those of its left-right mirror: the grid
    flipped and orientation bin k (angle k*pi/bins) moved to bin -k (angle pi - k*pi/bins)."""
    import torch

    bins = cells.shape[1]
    order = torch.tensor([(-k) % bins for k in range(bins)], device=cells.device)
    return cells.flip(-1).index_select(1, order)


def descriptors(model, cells):
    """The fixed HOG descriptor (B, D) of orientation cells."""
    from .model import hog_descriptor

    return hog_descriptor(cells, model.config.hog_cell // model.config.cell)


@dataclass(frozen=True)
class FacingClassifier:
    """score(descriptor) = descriptor . weights + bias; > 0: faces the benchmark's way."""

    weights: np.ndarray  # (D,) float32
    bias: float
    settings: dict  # front-end settings it was fitted for

    @classmethod
    def fit(cls, benchmark_way: np.ndarray, other_way: np.ndarray, settings: dict, ridge: float = 1.0) -> "FacingClassifier":
        """Ridge regression of +1 / -1 on the descriptors (closed form; the bias unpenalised)."""
        x = np.concatenate([benchmark_way, other_way]).astype(np.float64)
        y = np.concatenate([np.ones(len(benchmark_way)), -np.ones(len(other_way))])
        mean_x, mean_y = x.mean(0), y.mean()
        xc = x - mean_x
        weights = np.linalg.solve(xc.T @ xc + ridge * np.eye(x.shape[1]), xc.T @ (y - mean_y))
        return cls(weights.astype(np.float32), float(mean_y - mean_x @ weights), dict(settings))

    def scores(self, descriptor: np.ndarray) -> np.ndarray:
        return np.asarray(descriptor, np.float32) @ self.weights + self.bias

    def fits(self, model) -> bool:
        """Whether `model`'s front end makes the descriptor this classifier was fitted on."""
        return front_end_settings(model) == self.settings

    def save(self, path: str | Path, card: dict | None = None) -> None:
        from .files import atomic_write_bytes

        buffer = io.BytesIO()
        np.savez(buffer, weights=self.weights, bias=np.float32(self.bias),
                 settings=np.array(json.dumps(self.settings)), card=np.array(json.dumps(card or {})))
        atomic_write_bytes(Path(path), buffer.getvalue())

    @classmethod
    def load(cls, path: str | Path, content: bytes | None = None) -> "FacingClassifier":
        """Raises ValueError for a file that is not a facing classifier. `content`: the file's
        bytes, already read."""
        try:
            with np.load(path if content is None else io.BytesIO(content), allow_pickle=False) as data:
                weights = np.asarray(data["weights"], np.float32)
                bias = float(data["bias"])
                settings = json.loads(str(data["settings"]))
        except Exception as exc:  # whatever a damaged file provokes (a cut-short .npz is a BadZipFile)
            reason = "damaged or not one" if "pickle" in str(exc) else str(exc)  # not numpy's advice to unpickle it
            raise ValueError(f"{Path(path).name} is not a facing classifier ({reason})") from None
        if weights.ndim != 1 or not np.isfinite(weights).all() or not isinstance(settings, dict):
            raise ValueError(f"{path} is not a facing classifier.")
        return cls(weights, bias, settings)
