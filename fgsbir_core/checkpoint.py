"""Checkpoints: weights + everything needed to use them (config, rasteriser, attributes)."""
from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path
from typing import Any

from .files import atomic_write_bytes

FORMAT_VERSION = 1


class ModelError(RuntimeError):
    """A model file is missing, unreadable, foreign or does not fit the category."""


def save_checkpoint(path: str | os.PathLike, state: dict[str, Any]) -> None:
    import torch

    buffer = io.BytesIO()
    torch.save({"format_version": FORMAT_VERSION, **state}, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def load_checkpoint(path: str | os.PathLike, unfinished: bool = False) -> dict[str, Any]:
    """A checkpoint's contents, checked. The `.partial` file of a training run in progress is
    refused unless `unfinished` (only `train` resumes from it): its weights are a step's, not
    the validated choice, and rewriting it would change the run it resumes."""
    return read_checkpoint(path, unfinished)[0]


def read_checkpoint(path: str | os.PathLike, unfinished: bool = False) -> tuple[dict[str, Any], str]:
    """(load_checkpoint's contents, a short hash of the file naming the model in caches and indexes),
    both from one read of the file, so caches are never named after a file replaced meanwhile."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise ModelError(f"Model file not found: {path}")
    try:
        data = path.read_bytes()
        digest = hashlib.sha256(data).hexdigest()[:16]
        state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ModelError(f"Cannot read model file {path}: it is truncated or not a SketchFind checkpoint ({exc.__class__.__name__}).") from exc
    if not isinstance(state, dict) or state.get("format_version") != FORMAT_VERSION:
        raise ModelError(f"{path} is not a SketchFind checkpoint (format version {FORMAT_VERSION} expected).")
    for key in ("model_config", "model_state", "raster_spec", "category", "attribute_names"):
        if key not in state:
            raise ModelError(f"{path} lacks '{key}': not a complete SketchFind checkpoint.")
    if "optimiser_state" in state and not unfinished:
        steps = (state.get("train_config") or {}).get("steps", "?")
        raise ModelError(f"{path} is an unfinished training run (step {state.get('step', '?')} of {steps}), not a model: "
                         "run the same `fgsbir train` command again to finish it")
    return state, digest


def half_precision(model_state: dict) -> dict:
    """Weights stored as float16 (half the file; they are loaded back into float32 parameters,
    and retrieval figures do not move: the model card's test figures are measured on this file)."""
    return {k: v.half() if v.is_floating_point() else v for k, v in model_state.items()}


def build_model(state: dict[str, Any]):
    """The network described by a checkpoint, with its weights, in eval mode."""
    from .model import ModelConfig, SketchPhotoNet

    try:
        config = ModelConfig.from_dict(state["model_config"])
    except (AttributeError, TypeError, ValueError) as exc:
        raise ModelError(f"Checkpoint model configuration is unreadable: {exc}") from exc
    if config.num_attributes != len(state["attribute_names"]):
        raise ModelError(
            f"Checkpoint predicts {config.num_attributes} attributes but lists {len(state['attribute_names'])} names."
        )
    try:
        model = SketchPhotoNet(config)
    except Exception as exc:  # nonsense sizes in a hand-made or foreign config
        raise ModelError(f"Checkpoint model configuration cannot be built: {type(exc).__name__}: {exc}") from exc
    try:
        model.load_state_dict(state["model_state"])
    except (RuntimeError, TypeError, AttributeError) as exc:
        raise ModelError(f"Checkpoint weights do not fit its model configuration: {exc}") from exc
    return model.eval()
