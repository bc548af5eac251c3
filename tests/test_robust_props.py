"""Property-based tests: the rasteriser's framing contract and stroke-file round trips."""
from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from fgsbir_core.raster import RasterSpec, SketchError, rasterise_strokes
from fgsbir_core.sketch_file import read_sketch, write_sketch

SPEC = RasterSpec(size=64, margin=8, line_width=1.6)  # small frame: fast, same code path
FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])

coord = st.floats(min_value=-1e4, max_value=1e4, allow_nan=False, allow_infinity=False)
point = st.tuples(coord, coord)
stroke = st.lists(point, min_size=1, max_size=12)
sketch = st.lists(stroke, min_size=1, max_size=6)


def extent(strokes) -> float:
    pts = np.concatenate([np.asarray(s, float) for s in strokes])
    return float(np.ptp(pts, axis=0).max())


def ink_bbox(image: np.ndarray, threshold: int = 250):
    ys, xs = np.nonzero(image < threshold)
    return xs.min(), ys.min(), xs.max(), ys.max()


@FAST
@given(sketch)
def test_output_is_always_a_frame_with_ink_inside_the_margin(strokes):
    image = rasterise_strokes(strokes, SPEC)
    assert image.shape == (SPEC.size, SPEC.size) and image.dtype == np.uint8
    assert (image < 255).any(), "a sketch always leaves ink"
    x0, y0, x1, y1 = ink_bbox(image)
    slack = SPEC.line_width + 2  # half a line width plus anti-aliasing on each side
    assert x0 >= SPEC.margin - slack and y0 >= SPEC.margin - slack
    assert x1 <= SPEC.size - SPEC.margin + slack and y1 <= SPEC.size - SPEC.margin + slack


@FAST
@given(sketch, coord, coord)
def test_translation_invariance(strokes, dx, dy):
    assume(extent(strokes) > 1.0)
    moved = [[(x + dx, y + dy) for x, y in s] for s in strokes]
    a, b = rasterise_strokes(strokes, SPEC).astype(int), rasterise_strokes(moved, SPEC).astype(int)
    # float rounding of the shifted coordinates moves edges by far less than a pixel
    assert np.abs(a - b).mean() < 2.0 and np.abs(a - b).max() <= 128


@FAST
@given(sketch, st.floats(min_value=0.05, max_value=50))
def test_scale_invariance(strokes, factor):
    assume(extent(strokes) > 1.0)
    scaled = [[(x * factor, y * factor) for x, y in s] for s in strokes]
    a, b = rasterise_strokes(strokes, SPEC).astype(int), rasterise_strokes(scaled, SPEC).astype(int)
    assert np.abs(a - b).mean() < 2.0


@FAST
@given(st.lists(st.lists(st.tuples(coord, coord, st.floats(0, 1)), min_size=1, max_size=8), min_size=1, max_size=4))
def test_pressure_column_never_breaks_the_frame(strokes):
    image = rasterise_strokes(strokes, RasterSpec(size=64, margin=8, pressure_width=True))
    assert image.shape == (64, 64) and (image < 255).any()


@FAST
@given(st.lists(st.one_of(st.just([]), st.just([[1.0]]), st.just([[0.0, float("nan")]]),
                          st.just([[0, 0, 0, 0, 0]])), min_size=1, max_size=3))
def test_malformed_strokes_are_sketch_errors(strokes):
    with pytest.raises(SketchError):
        rasterise_strokes(strokes, SPEC)


finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)
stored_stroke = st.tuples(
    st.lists(st.tuples(finite, finite, st.floats(0, 1), st.floats(0, 1e5)), min_size=1, max_size=20),
    st.floats(min_value=0.5, max_value=50),
)


@FAST
@given(st.lists(stored_stroke, max_size=8), st.tuples(st.integers(1, 5000), st.integers(1, 5000)))
def test_stroke_file_round_trip(tmp_path_factory, strokes, canvas):
    path = tmp_path_factory.mktemp("rt") / "sketch.json"
    arrays = [(np.asarray(points, float), width) for points, width in strokes]
    write_sketch(path, arrays, canvas)
    back = read_sketch(path)
    assert len(back) == len(arrays)
    for (points, width), (got, got_width) in zip(arrays, back):
        assert got.shape == points.shape
        np.testing.assert_allclose(got, np.round(points, 4), rtol=0, atol=1e-9)
        assert got_width == pytest.approx(width)
    data = json.loads(path.read_text())
    assert data["format"] == "sketchfind.strokes" and data["canvas"] == list(canvas)
    # and the round trip is a fixed point: writing what was read gives the same file
    write_sketch(path, [(p, w) for p, w in back], canvas)
    again = read_sketch(path)
    assert [(p.tolist(), w) for p, w in again] == [(p.tolist(), w) for p, w in back]


@FAST
@given(st.binary(max_size=300))
def test_arbitrary_bytes_never_crash_the_reader(tmp_path_factory, blob):
    path = tmp_path_factory.mktemp("junk") / "junk.json"
    path.write_bytes(blob)
    try:
        strokes = read_sketch(path)
    except SketchError:
        return
    for points, width in strokes:  # whatever parsed is well formed
        assert points.ndim == 2 and points.shape[1] == 4 and np.isfinite(points).all()
        assert width is None or 0 < width <= 200


@FAST
@given(st.integers(0, 2**32 - 1), st.integers(4, 90), st.integers(4, 90))
def test_any_picture_with_ink_becomes_a_frame_no_darker_than_unlightened(seed, h, w):
    """Random pictures (noise, blobs, lines): `normalise_image` frames them and lightening only
    ever removes ink, never adds it or moves it."""
    import dataclasses

    from fgsbir_core.raster import normalise_image

    rng = np.random.default_rng(seed)
    picture = np.where(rng.random((h, w)) < rng.uniform(0.01, 0.9), rng.integers(0, 200, (h, w)), 255).astype(np.uint8)
    assume((picture < SPEC.ink_threshold).any())
    spec = dataclasses.replace(SPEC, ink_weight=1.4)
    try:
        out = normalise_image(picture, spec)
    except SketchError as exc:  # a speck: refused, not framed
        assert "too small to read" in str(exc)
        return
    plain = normalise_image(picture, dataclasses.replace(spec, ink_weight=0.0))
    assert out.shape == (SPEC.size, SPEC.size) and out.dtype == np.uint8
    assert (out >= plain).all() and ((out < 255) <= (plain < 255)).all()


def test_points_without_pressure_read_with_full_pressure(tmp_path):
    """[x, y] points (mouse or touch) read with pressure 1.0 and t 0 (found by a mutation pass)."""
    path = tmp_path / "xy.json"
    path.write_text(json.dumps({"format": "sketchfind.strokes", "version": 1,
                                "strokes": [{"width": 3.0, "points": [[0, 0], [10, 5], [20, 0]]}]}))
    (points, width), = read_sketch(path)
    assert points.shape == (3, 4) and width == 3.0
    np.testing.assert_array_equal(points[:, :2], [[0, 0], [10, 5], [20, 0]])
    assert (points[:, 2] == 1.0).all() and (points[:, 3] == 0.0).all()


def test_read_strokes_keeps_the_saved_pressure(tmp_path):
    """read_strokes gives the rasteriser x, y and the saved pressure, not x, y alone (found by a mutation pass)."""
    from fgsbir_core.sketch_file import read_strokes

    path = tmp_path / "pressure.json"
    write_sketch(path, [(np.array([[0.0, 0.0, 0.3, 0.0], [10.0, 5.0, 0.7, 16.0]]), 2.0)], (400, 400))
    strokes = read_strokes(path)
    assert len(strokes) == 1 and strokes[0].shape == (2, 3)
    np.testing.assert_allclose(strokes[0], [[0.0, 0.0, 0.3], [10.0, 5.0, 0.7]])


def test_a_sketch_of_the_next_format_version_is_refused(tmp_path):
    """A stroke file one format version newer than this SketchFind reads is refused (found by a mutation pass)."""
    from fgsbir_core.sketch_file import SKETCH_VERSION

    path = tmp_path / "newer.json"
    path.write_text(json.dumps({"format": "sketchfind.strokes", "version": SKETCH_VERSION + 1,
                                "strokes": [{"width": 2.0, "points": [[0, 0], [1, 1]]}]}))
    with pytest.raises(SketchError, match=f"newer SketchFind.*version {SKETCH_VERSION + 1}"):
        read_sketch(path)


def test_a_stroke_width_of_zero_reads_as_no_width(tmp_path):
    """A saved width of 0, like a negative one, reads as None (the reader's default) (found by a mutation pass)."""
    path = tmp_path / "widths.json"
    path.write_text(json.dumps({"strokes": [{"width": w, "points": [[0, 0], [1, 1]]} for w in (0, 0.0, -1, 0.5)]}))
    assert [width for _, width in read_sketch(path)] == [None, None, None, 0.5]
