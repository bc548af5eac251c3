"""scripts/aligned_validation.py: an aligned sketch's ink box is its photo's ink box."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "aligned_validation.py"


def load_script():
    spec = importlib.util.spec_from_file_location("aligned_validation", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_aligned_sketch_takes_its_photos_box_and_keeps_its_shape():
    script = load_script()
    sketch = np.full((256, 256), 255, np.uint8)
    sketch[40:60, 30:200] = 0  # a bar, top left
    photo = np.full((256, 256), 255, np.uint8)
    photo[[0, -1], :] = 128  # the edge maps' grey frame is not ink
    photo[100:180, 60:220] = 0
    moved = script.aligned(sketch, photo)
    assert moved.shape == sketch.shape and moved.dtype == sketch.dtype
    assert script.ink_box(moved) == script.ink_box(photo) == (60, 100, 220, 180)
    assert (moved[100:180, 60:220] < script.INK).mean() > 0.95  # the bar fills the photo's box
