"""The numpy image operations match scipy.ndimage, and the speed-ups of the edge extractor and
the network's front end change no result."""
import io

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw
from scipy import ndimage

from fgsbir_core import edges, imageops
from fgsbir_core.model import OrientedGradients


def random_masks(count=300, seed=0):
    rng = np.random.default_rng(seed)
    for _ in range(count):
        h, w = rng.integers(1, 48, 2)
        yield rng.random((h, w)) < rng.random()


@pytest.mark.parametrize("eight", [True, False])
def test_label_matches_ndimage(eight):
    structure = np.ones((3, 3)) if eight else None
    for mask in random_masks():
        expected, n = ndimage.label(mask, structure=structure)
        got, m = imageops.label(mask, eight)
        assert m == n
        np.testing.assert_array_equal(got, expected)


def test_label_of_thin_lines_and_blobs():
    yy, xx = np.mgrid[:160, :160]
    blob = (yy - 80) ** 2 / 3600 + (xx - 80) ** 2 / 1600 < 1
    rings = np.zeros((64, 64), bool)
    for k in range(0, 30, 4):  # nested square rings: long thin components
        rings[k, k:64 - k] = rings[63 - k, k:64 - k] = rings[k:64 - k, k] = rings[k:64 - k, 63 - k] = True
    for mask in (blob, rings, np.zeros((5, 7), bool), np.ones((5, 7), bool)):
        for eight in (True, False):
            expected, n = ndimage.label(mask, structure=np.ones((3, 3)) if eight else None)
            got, m = imageops.label(mask, eight)
            assert m == n
            np.testing.assert_array_equal(got, expected)


def test_opening_and_blur_match_ndimage():
    rng = np.random.default_rng(1)
    for mask in random_masks(100, seed=2):
        np.testing.assert_array_equal(imageops.binary_opening(mask), ndimage.binary_opening(mask))
        image = rng.random(mask.shape).astype(np.float32)
        for sigma, truncate in ((1.0, 2.5), (0.7, 2.0), (2.0, 3.0)):
            expected = ndimage.gaussian_filter(image, sigma, mode="nearest", truncate=truncate)
            np.testing.assert_allclose(imageops.gaussian_filter(image, sigma, truncate), expected, atol=1e-5)
    stack = rng.random((3, 20, 30)).astype(np.float32)
    expected = ndimage.gaussian_filter(stack, (0, 1.0, 1.0), mode="nearest", truncate=2.5)
    np.testing.assert_allclose(imageops.gaussian_filter(stack, 1.0), expected, atol=1e-5)


def product_photo(i: int) -> Image.Image:
    rng = np.random.default_rng(i)
    size = (int(rng.integers(200, 700)), int(rng.integers(200, 700)))
    image = Image.new("RGB", size, tuple(int(v) for v in rng.integers(200, 256, 3)))
    draw = ImageDraw.Draw(image)
    w, h = size
    box = [rng.uniform(0.05, 0.3) * w, rng.uniform(0.2, 0.4) * h, rng.uniform(0.7, 0.95) * w, rng.uniform(0.6, 0.9) * h]
    draw.ellipse(box, fill=tuple(int(v) for v in rng.integers(0, 200, 3)))
    draw.line([box[0], box[1], box[2], box[3]], fill=(20, 20, 20), width=3)
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=85)
    return edges.open_photo(buffer.getvalue())


def test_canny_on_the_photo_window_equals_the_whole_frame():
    for i in range(12):
        framed, content = edges._frame(product_photo(i), edges.DEFAULT_SPEC)
        assert content is not None
        windowed = edges._canny(framed, edges.DEFAULT_SPEC, content)
        whole = edges._canny(framed, edges.DEFAULT_SPEC, None)
        assert windowed.any()
        np.testing.assert_array_equal(windowed, whole)


def test_front_end_votes_into_cells_like_pooling_the_full_energy():
    torch.manual_seed(0)
    images = torch.rand(3, 1, 256, 256) * 255
    front = OrientedGradients(128, 2.0, 9, clean_border=True)
    with torch.no_grad():
        energy = front(images)
        cells = front(images, pool=8)
    assert energy.shape == (3, 9, 128, 128) and cells.shape == (3, 9, 16, 16)
    torch.testing.assert_close(cells, torch.nn.functional.avg_pool2d(energy, 8), rtol=1e-5, atol=1e-6)
    # the linear vote: every pixel's magnitude is split between two neighbouring bins
    assert torch.all(energy >= 0)
    assert (energy > 0).sum(1).max() <= 2
