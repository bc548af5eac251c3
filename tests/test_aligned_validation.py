"""scripts/aligned_validation.py: an aligned sketch's ink box is its photo's ink box."""
from __future__ import annotations

import numpy as np


def test_aligned_sketch_takes_its_photos_box_and_keeps_its_shape(load_script):
    script = load_script("aligned_validation")
    sketch = np.full((256, 256), 255, np.uint8)
    sketch[40:60, 30:200] = 0  # a bar, top left
    photo = np.full((256, 256), 255, np.uint8)
    photo[[0, -1], :] = 128  # the edge maps' grey frame is not ink
    photo[100:180, 60:220] = 0
    moved = script.aligned(sketch, photo)
    assert moved.shape == sketch.shape and moved.dtype == sketch.dtype
    assert script.ink_box(moved) == script.ink_box(photo) == (60, 100, 220, 180)
    assert (moved[100:180, 60:220] < script.INK).mean() > 0.95  # the bar fills the photo's box
