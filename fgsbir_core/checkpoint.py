"""Checkpoints: weights + everything needed to use them (config, rasteriser, attributes)."""
from __future__ import annotations

import hashlib
import io
import os
import tempfile
from pathlib import Path
from typing import Any

FORMAT_VERSION = 1


class ModelError(RuntimeError):
    """A model file is missing, unreadable, foreign or does not fit the category."""


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write to a temp file beside `path`, fsync, then rename: never a half-written file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_checkpoint(path: str | os.PathLike, state: dict[str, Any]) -> None:
    import torch

    buffer = io.BytesIO()
    torch.save({"format_version": FORMAT_VERSION, **state}, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    import torch

    path = Path(path)
    if not path.is_file():
        raise ModelError(f"Model file not found: {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ModelError(f"Cannot read model file {path}: it is truncated or not a SketchFind checkpoint ({exc.__class__.__name__}).") from exc
    if not isinstance(state, dict) or state.get("format_version") != FORMAT_VERSION:
        raise ModelError(f"{path} is not a SketchFind checkpoint (format version {FORMAT_VERSION} expected).")
    for key in ("model_config", "model_state", "raster_spec", "category", "attribute_names"):
        if key not in state:
            raise ModelError(f"{path} lacks '{key}': not a complete SketchFind checkpoint.")
    return state


def file_hash(path: str | os.PathLike) -> str:
    digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    return digest[:16]


def build_model(state: dict[str, Any]):
    """The network described by a checkpoint, with its weights, in eval mode."""
    from .model import ModelConfig, SketchPhotoNet

    config = ModelConfig.from_dict(state["model_config"])
    if config.num_attributes != len(state["attribute_names"]):
        raise ModelError(
            f"Checkpoint predicts {config.num_attributes} attributes but lists {len(state['attribute_names'])} names."
        )
    model = SketchPhotoNet(config)
    try:
        model.load_state_dict(state["model_state"])
    except RuntimeError as exc:
        raise ModelError(f"Checkpoint weights do not fit its model configuration: {exc}") from exc
    return model.eval()
