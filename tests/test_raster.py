"""The one rasteriser: framing, determinism, pressure, images of odd kinds."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from PIL import Image, ImageDraw

from fgsbir_core.raster import RasterSpec, SketchError, normalise_image, rasterise_strokes

SPEC = RasterSpec()
UNLIGHTENED = dataclasses.replace(SPEC, ink_weight=0.0)  # for checks of framing and reading, not of ink weight


def ink_bbox(image):
    ys, xs = np.nonzero(image < 200)
    return xs.min(), xs.max(), ys.min(), ys.max()


def test_strokes_fill_frame_inside_margin_and_centred():
    strokes = [[(10, 10), (110, 10), (110, 60)], [(10, 10), (10, 60)]]
    image = rasterise_strokes(strokes, SPEC)
    assert image.shape == (256, 256) and image.dtype == np.uint8
    x0, x1, y0, y1 = ink_bbox(image)
    assert abs(x0 - SPEC.margin) <= 2 and abs(x1 - (255 - SPEC.margin)) <= 2  # longer side fills the frame
    assert abs((y0 + y1) / 2 - 127.5) <= 2  # centred vertically


def test_same_drawing_in_other_coordinates_gives_same_image():
    base = np.array([[0, 0], [40, 5], [60, 50], [10, 70]], float)
    a = rasterise_strokes([base], SPEC)
    b = rasterise_strokes([base * 3.0 + 500], SPEC)
    assert np.abs(a.astype(int) - b.astype(int)).max() <= 40  # only anti-aliasing differs
    assert np.array_equal(a, rasterise_strokes([base], SPEC))  # deterministic


def test_pressure_widens_lines_when_enabled():
    stroke_light = [(0, 0, 0.1), (100, 0, 0.1), (100, 100, 0.1)]
    stroke_heavy = [(0, 0, 1.0), (100, 0, 1.0), (100, 100, 1.0)]
    spec = RasterSpec(pressure_width=True)
    light = (255 - rasterise_strokes([stroke_light], spec).astype(int)).sum()
    heavy = (255 - rasterise_strokes([stroke_heavy], spec).astype(int)).sum()
    assert heavy > light * 1.5


@pytest.mark.parametrize("strokes", [[], [[]], [[(0, 0, 0, 0)]], [[(0, float("nan"))]]])
def test_bad_strokes_raise_clear_error(strokes):
    with pytest.raises(SketchError):
        rasterise_strokes(strokes, SPEC)


def test_single_dot_is_drawn():
    image = rasterise_strokes([[(5, 5)]], SPEC)
    assert (image < 230).any()  # faint: lines are as light as the benchmark's (0.5 px wide)


def test_image_normalisation_matches_stroke_framing():
    strokes = [[(0, 0), (100, 0), (100, 50), (0, 50), (0, 0)]]
    reference = rasterise_strokes(strokes, dataclasses.replace(SPEC, line_width=3.0))  # dark enough to survive shrinking
    # the same picture, small and off-centre, as RGBA with transparent paper
    small = Image.fromarray(reference).resize((128, 128))
    rgba = Image.new("RGBA", (400, 300), (0, 0, 0, 0))
    rgba.paste(Image.merge("RGBA", [small] * 3 + [Image.fromarray(255 - np.asarray(small))]), (20, 100))
    out = normalise_image(rgba, UNLIGHTENED)
    assert np.abs(np.array(ink_bbox(out)) - np.array(ink_bbox(reference))).max() <= 3


@pytest.mark.parametrize("mode", ["L", "RGB", "RGBA", "CMYK", "I;16", "P", "1"])
def test_odd_image_modes(mode):
    base = Image.new("L", (300, 200), 255)
    base.paste(0, (50, 50, 250, 60))
    image = base.convert(mode) if mode != "I;16" else Image.fromarray((np.asarray(base).astype(np.uint16) * 257))
    out = normalise_image(image, UNLIGHTENED)
    assert out.shape == (256, 256) and (out < 128).any()


def test_colour_key_transparency_and_float_pictures_read_on_white():
    """Paper given by a PNG colour key (tRNS) reads as white, like alpha; float (TIFF "F") pictures
    read like their 8-bit selves. (Sketch pictures and catalogue photos share this conversion.)"""
    from fgsbir_core.raster import to_grey
    keyed = Image.new("RGB", (300, 200), (0, 200, 0))  # green paper, declared transparent
    ImageDraw.Draw(keyed).line([(50, 50), (250, 150)], fill=(0, 0, 0), width=4)
    keyed.info["transparency"] = (0, 200, 0)
    grey = to_grey(keyed)
    assert grey[5, 5] == 255 and grey[100, 150] == 0
    base = Image.new("L", (300, 200), 255)
    base.paste(0, (50, 50, 250, 60))
    floats = Image.fromarray(np.asarray(base, np.float32), "F")
    assert np.array_equal(to_grey(floats), np.asarray(base))


def _boot(size=(300, 200)) -> Image.Image:
    picture = Image.new("L", size, 255)
    ImageDraw.Draw(picture).line([(40, 30), (60, 150), (250, 160), (250, 120), (90, 110), (80, 30)], fill=0, width=3)
    return picture


@pytest.mark.parametrize("kind", ["exif-rotated jpeg", "gif, blank first frame", "float tiff in 0-1", "12-bit in 16-bit png",
                                  "white lines on transparent", "keyed grey png"])
def test_sketch_pictures_of_every_kind_read_like_the_plain_one(tmp_path, kind):
    """`read_sketch_picture`, the app's and the engine's one reader, gives the same model input."""
    from fgsbir_core.raster import read_sketch_picture

    plain = _boot()
    ink = np.asarray(plain) < 128
    path = tmp_path / "sketch"
    if kind == "exif-rotated jpeg":  # stored on its side, with the EXIF tag that turns it upright
        exif = Image.Exif()
        exif[0x0112] = 6
        plain.rotate(90, expand=True).save(path, "JPEG", quality=95, exif=exif)
    elif kind == "gif, blank first frame":
        Image.new("L", plain.size, 255).save(path, "GIF", save_all=True, append_images=[plain])
    elif kind == "float tiff in 0-1":
        Image.fromarray(np.asarray(plain, np.float32) / 255, "F").save(path, "TIFF")
    elif kind == "12-bit in 16-bit png":
        Image.fromarray((np.asarray(plain, np.uint16) * 4095 // 255).astype(np.uint16)).save(path, "PNG")
    elif kind == "white lines on transparent":
        rgba = np.zeros(ink.shape + (4,), np.uint8)
        rgba[..., :3], rgba[..., 3] = 255, np.where(ink, 255, 0)
        Image.fromarray(rgba, "RGBA").save(path, "PNG")
    else:  # ink 40 on paper 0, paper declared transparent
        Image.fromarray(np.where(ink, 40, 0).astype(np.uint8)).save(path, "PNG", transparency=0)
    expected = normalise_image(plain, UNLIGHTENED)
    got = normalise_image(read_sketch_picture(path), UNLIGHTENED)
    assert np.abs(got.astype(int) - expected.astype(int)).mean() < 4, kind


def test_oversized_sketch_picture_is_refused_before_decoding(tmp_path):
    from fgsbir_core.raster import MAX_PICTURE_PIXELS, read_sketch_picture

    side = int(MAX_PICTURE_PIXELS ** 0.5) + 10
    Image.new("1", (side, side), 1).save(tmp_path / "huge.png")  # 1 bit a pixel: small to write
    with pytest.raises(SketchError, match="too large for a sketch"):
        read_sketch_picture(tmp_path / "huge.png")


def test_blank_image_is_an_error():
    with pytest.raises(SketchError, match="no strokes"):
        normalise_image(np.full((50, 50), 255, np.uint8), SPEC)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.lists(st.tuples(st.floats(-1e4, 1e4), st.floats(-1e4, 1e4), st.floats(0, 1)), min_size=1, max_size=12),
                min_size=1, max_size=6))
def test_any_finite_strokes_rasterise_inside_frame(strokes):
    image = rasterise_strokes(strokes, SPEC)
    assert image.shape == (256, 256)
    ink = image < 250
    assert ink.any()
    m = SPEC.margin - 3
    assert not ink[:m].any() and not ink[-m:].any() and not ink[:, :m].any() and not ink[:, -m:].any()


def _brute_run_weights(coverage):
    """Reference for `ink_run_weights`: row and column runs walked pixel by pixel."""
    h, w = coverage.shape
    ink = coverage > 0.1

    def run_sum(y, x, dy, dx):
        total, yy, xx = 0.0, y, x
        while 0 <= yy < h and 0 <= xx < w and ink[yy, xx]:
            total, yy, xx = total + coverage[yy, xx], yy + dy, xx + dx
        yy, xx = y - dy, x - dx
        while 0 <= yy < h and 0 <= xx < w and ink[yy, xx]:
            total, yy, xx = total + coverage[yy, xx], yy - dy, xx - dx
        return total

    return np.array([min(run_sum(y, x, 0, 1), run_sum(y, x, 1, 0))
                     for y in range(h) for x in range(w) if coverage[y, x] > 0.5])


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 10_000))
def test_ink_run_weights_match_brute_force(seed):
    from fgsbir_core.raster import ink_run_weights

    rng = np.random.default_rng(seed)
    coverage = (rng.random((12, 9)) * (rng.random((12, 9)) < 0.5)).astype(np.float32)
    np.testing.assert_allclose(ink_run_weights(coverage), _brute_run_weights(coverage), rtol=1e-5)


def test_heavy_picture_is_lightened_and_light_one_kept():
    from fgsbir_core.raster import ink_weight

    picture = Image.new("L", (400, 400), 255)
    ImageDraw.Draw(picture).ellipse((50, 80, 350, 320), outline=0, width=14)  # a thick marker line
    heavy, off = normalise_image(picture, SPEC), normalise_image(picture, UNLIGHTENED)
    weight = ink_weight((255 - off.astype(np.float32)) / 255)
    assert weight > 3 * SPEC.ink_weight
    ink = lambda image: (255 - image.astype(np.float64)).sum()
    assert ink(heavy) == pytest.approx(ink(off) * SPEC.ink_weight / weight, rel=0.02)
    np.testing.assert_array_equal(heavy < 255, off < 255)  # the same lines, only lighter
    light = rasterise_strokes([[(0, 0), (100, 40), (200, 0)]], SPEC)
    np.testing.assert_array_equal(normalise_image(light, SPEC), normalise_image(light, UNLIGHTENED))


def test_photo_of_a_paper_sketch_reads_like_the_sketch():
    """Grey, unevenly lit paper with camera noise (a phone photo of a drawing): the paper is
    flattened to white, so the model input is the drawing's, not a washed-out grey frame."""
    from fgsbir_core.raster import flatten_paper

    drawing = rasterise_strokes([[(0, 0), (120, 10), (150, 90), (30, 120), (0, 0)], [(40, 40), (90, 60)]],
                                dataclasses.replace(SPEC, line_width=3.0))
    drawing = np.asarray(Image.fromarray(drawing).resize((600, 600), Image.BILINEAR), np.float32)
    yy, xx = np.mgrid[0:600, 0:600]
    paper = 170 + 60 * xx / 600 + 10 * np.sin(yy / 80)  # 170-230 grey, brighter to the right
    noise = np.random.default_rng(0).normal(0, 4, paper.shape)
    photo = np.clip(paper * drawing / 255 + noise, 0, 255).astype(np.uint8)
    clean = normalise_image(drawing.astype(np.uint8), SPEC)
    out = normalise_image(photo, SPEC)
    assert np.abs(out.astype(int) - clean).mean() < 3
    assert np.abs(np.array(ink_bbox(out)) - np.array(ink_bbox(clean))).max() <= 3
    np.testing.assert_array_equal(flatten_paper(drawing), drawing)  # white paper: untouched


def test_light_lines_on_dark_paper_read_as_dark_on_light():
    drawing = rasterise_strokes([[(0, 0), (120, 10), (150, 90), (30, 120), (0, 0)]], dataclasses.replace(SPEC, line_width=3.0))
    np.testing.assert_array_equal(normalise_image(255 - drawing, SPEC), normalise_image(drawing, SPEC))


def test_default_spec_is_the_one_the_bundled_models_were_trained_with():
    """RasterSpec() frames drawings as the bundled models' stored spec does, field by field (found by a mutation pass)."""
    from fgsbir_core.checkpoint import load_checkpoint
    from fgsbir_core.engine import bundled_weights

    default = RasterSpec().to_dict()
    for category in ("shoes", "chairs"):
        stored = load_checkpoint(bundled_weights(category, "mtl"))["raster_spec"]
        assert set(stored) == set(default)
        for name, value in stored.items():
            assert default[name] == value, (category, name)
    assert default["margin"] == 15 and default["line_width"] == 0.5
