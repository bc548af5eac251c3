"""Canvas input (mouse, pen, touch), undo, files and the model-input contract."""
from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import draw_mouse, export_png, model_input
from PySide6.QtCore import QEvent, QPoint, QPointF, QRectF, Qt
from PySide6.QtGui import QInputDevice, QMouseEvent, QPointingDevice, QTabletEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from app.canvas import MOUSE_PRESSURE, SketchCanvas
from fgsbir_core.raster import RasterSpec, SketchError, normalise_image, rasterise_strokes

BOOT = [(120, 80), (125, 200), (130, 260), (250, 270), (300, 265), (300, 235), (200, 215), (180, 80)]


def _pen_device(pointer=QPointingDevice.PointerType.Pen, system_id=1):
    caps = QInputDevice.Capability.Position | QInputDevice.Capability.Pressure
    return QPointingDevice("test pen", system_id, QInputDevice.DeviceType.Stylus, pointer, caps, 1, 3)


def _tablet(widget, kind, device, x, y, pressure):
    pos = QPointF(x, y)
    buttons = Qt.MouseButton.NoButton if kind == QEvent.Type.TabletRelease else Qt.MouseButton.LeftButton
    event = QTabletEvent(kind, device, pos, QPointF(widget.mapToGlobal(pos)), pressure, 0.0, 0.0, 0.0, 0.0, 0.0,
                         Qt.KeyboardModifier.NoModifier, Qt.MouseButton.LeftButton, buttons)
    QApplication.sendEvent(widget, event)
    return event


def pen_stroke(widget, points, device=None):
    device = device or _pen_device()
    (x, y, p), rest = points[0], points[1:]
    _tablet(widget, QEvent.Type.TabletPress, device, x, y, p)
    for x, y, p in rest:
        _tablet(widget, QEvent.Type.TabletMove, device, x, y, p)
    x, y, p = points[-1]
    _tablet(widget, QEvent.Type.TabletRelease, device, x, y, 0.0)


def test_mouse_stroke_becomes_one_vector_stroke(qtbot, canvas):
    draw_mouse(qtbot, canvas, BOOT)
    assert len(canvas.strokes) == 1
    points = canvas.strokes[0].points
    assert points.shape == (len(BOOT), 4)
    np.testing.assert_allclose(points[:, :2], np.array(BOOT, float))
    assert (points[:, 2] == MOUSE_PRESSURE).all()
    assert (np.diff(points[:, 3]) >= 0).all() and points[0, 3] >= 0
    assert canvas.undo_stack.count() == 1  # the whole stroke is one command


def test_pen_pressure_recorded_and_synthetic_mouse_dropped(qtbot, canvas):
    device = _pen_device()
    _tablet(canvas, QEvent.Type.TabletPress, device, 50, 50, 0.2)
    _tablet(canvas, QEvent.Type.TabletMove, device, 100, 60, 0.5)
    # While the pen is down, Qt may also deliver synthesised mouse events: they must not draw.
    fake_mouse = QMouseEvent(QEvent.Type.MouseMove, QPointF(300, 300), QPointF(canvas.mapToGlobal(QPoint(300, 300))),
                             Qt.MouseButton.NoButton, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(canvas, fake_mouse)
    _tablet(canvas, QEvent.Type.TabletMove, device, 150, 80, 0.9)
    _tablet(canvas, QEvent.Type.TabletRelease, device, 150, 80, 0.0)
    assert len(canvas.strokes) == 1
    points = canvas.strokes[0].points
    np.testing.assert_allclose(points[:, :2], [[50, 50], [100, 60], [150, 80]])
    np.testing.assert_allclose(points[:, 2], [0.2, 0.5, 0.9], atol=1e-6)


def test_pen_eraser_end_erases_touched_stroke_undoably(qtbot, canvas):
    draw_mouse(qtbot, canvas, [(20, 20), (200, 20)])
    draw_mouse(qtbot, canvas, [(20, 300), (200, 300)])
    keep = canvas.strokes[1]
    eraser = _pen_device(QPointingDevice.PointerType.Eraser, system_id=2)
    pen_stroke(canvas, [(100, 5, 0.5), (100, 35, 0.5)], eraser)
    assert canvas.strokes == [keep]
    canvas.undo_stack.undo()
    assert len(canvas.strokes) == 2 and canvas.strokes[1] is keep


def test_one_finger_touch_draws(qtbot, canvas):
    device = QTest.createTouchDevice()
    QTest.touchEvent(canvas, device).press(0, QPoint(40, 40), canvas).commit()
    QTest.touchEvent(canvas, device).move(0, QPoint(80, 90), canvas).commit()
    QTest.touchEvent(canvas, device).move(0, QPoint(120, 150), canvas).commit()
    QTest.touchEvent(canvas, device).release(0, QPoint(120, 150), canvas).commit()
    assert len(canvas.strokes) == 1
    np.testing.assert_allclose(canvas.strokes[0].points[:, :2], [[40, 40], [80, 90], [120, 150]])
    assert (canvas.strokes[0].points[:, 2] == MOUSE_PRESSURE).all()


def test_second_finger_is_ignored(qtbot, canvas):
    device = QTest.createTouchDevice()
    QTest.touchEvent(canvas, device).press(0, QPoint(40, 40), canvas).commit()
    QTest.touchEvent(canvas, device).move(0, QPoint(60, 40), canvas).press(1, QPoint(300, 300), canvas).commit()
    QTest.touchEvent(canvas, device).move(0, QPoint(80, 40), canvas).move(1, QPoint(320, 320), canvas).commit()
    QTest.touchEvent(canvas, device).release(0, QPoint(80, 40), canvas).release(1, QPoint(320, 320), canvas).commit()
    assert len(canvas.strokes) == 1
    np.testing.assert_allclose(canvas.strokes[0].points[:, :2], [[40, 40], [60, 40], [80, 40]])


@pytest.mark.parametrize("spec", [RasterSpec(), RasterSpec(size=128, margin=10, line_width=2.5, pressure_width=True)])
def test_model_input_is_rasterise_strokes_of_the_vectors(qtbot, canvas, spec):
    draw_mouse(qtbot, canvas, BOOT)
    pen_stroke(canvas, [(140, 120, 0.3), (190, 150, 0.8), (240, 160, 0.6)])
    expected = rasterise_strokes([s.points[:, :3] for s in canvas.strokes], spec)
    np.testing.assert_array_equal(model_input(canvas, spec), expected)
    kind, strokes = canvas.query_input()
    assert kind == "strokes" and all(s.shape[1] == 3 for s in strokes)
    np.testing.assert_array_equal(rasterise_strokes(strokes, spec), expected)


def test_empty_canvas_has_no_model_input(canvas):
    assert canvas.query_input() is None
    with pytest.raises(SketchError):
        model_input(canvas, RasterSpec())


def test_undo_redo_and_undoable_clear(qtbot, canvas):
    changes = []
    canvas.sketchChanged.connect(lambda: changes.append(1))
    draw_mouse(qtbot, canvas, [(10, 10), (100, 100)])
    draw_mouse(qtbot, canvas, [(10, 200), (100, 250)])
    first, second = canvas.strokes
    canvas.undo_stack.undo()
    assert canvas.strokes == [first]
    canvas.undo_stack.redo()
    assert canvas.strokes == [first, second]
    canvas.clear()
    assert canvas.strokes == [] and canvas.is_empty()
    canvas.undo_stack.undo()
    assert canvas.strokes == [first, second]
    assert len(changes) == 6


def test_eraser_tool_removes_only_touched_strokes(qtbot, canvas):
    for y in (50, 150, 250):
        draw_mouse(qtbot, canvas, [(20, y), (300, y)])
    a, b, c = canvas.strokes
    canvas.set_tool("eraser")
    draw_mouse(qtbot, canvas, [(150, 140), (150, 160)])
    assert canvas.strokes == [a, c]
    canvas.set_tool("pen")
    canvas.undo_stack.undo()
    assert canvas.strokes == [a, b, c]  # back at its old place


def test_right_button_erases(qtbot, canvas):
    draw_mouse(qtbot, canvas, [(20, 50), (300, 50)])
    draw_mouse(qtbot, canvas, [(150, 40), (150, 60)], button=Qt.MouseButton.RightButton)
    assert canvas.strokes == []


def test_live_segment_repaints_only_dirty_rect(qtbot, canvas, monkeypatch):
    rects = []
    original = SketchCanvas.update

    def spy(self, *args):
        rects.append(args[0] if args else None)
        return original(self, *args)

    monkeypatch.setattr(SketchCanvas, "update", spy)
    qtbot.mousePress(canvas, Qt.MouseButton.LeftButton, pos=QPoint(100, 100))
    qtbot.mouseMove(canvas, QPoint(110, 104))
    segment_updates = [r for r in rects if r is not None]
    assert segment_updates, "the live segment should request a partial update"
    last = segment_updates[-1]
    assert last.contains(QPoint(105, 102)) and last.width() < 40 and last.height() < 40
    assert None not in rects  # no whole-widget repaint while drawing
    qtbot.mouseRelease(canvas, Qt.MouseButton.LeftButton, pos=QPoint(110, 104))


def test_backing_image_follows_device_pixel_ratio(canvas):
    ratio = canvas.devicePixelRatioF()
    assert canvas._backing.devicePixelRatioF() == ratio
    assert canvas._backing.width() == round(canvas.width() * ratio)


def test_json_round_trip_is_atomic_and_exact(qtbot, canvas, tmp_path):
    draw_mouse(qtbot, canvas, BOOT)
    pen_stroke(canvas, [(140, 120, 0.3), (190, 150, 0.8)])
    path = tmp_path / "boot.json"
    canvas.save_json(path)
    assert [p.name for p in tmp_path.iterdir()] == ["boot.json"]  # no temp file left behind
    data = json.loads(path.read_text())
    assert data["format"] == "sketchfind.strokes" and len(data["strokes"]) == 2
    before = [s.points.copy() for s in canvas.strokes]
    canvas.clear()
    canvas.load_json(path)
    assert len(canvas.strokes) == 2
    for old, new in zip(before, canvas.strokes):
        np.testing.assert_allclose(new.points, old, atol=1e-4)
    canvas.undo_stack.undo()  # opening is undoable
    assert canvas.strokes == []


def test_save_failure_keeps_old_file(qtbot, canvas, tmp_path, monkeypatch):
    path = tmp_path / "s.json"
    path.write_text("old")
    draw_mouse(qtbot, canvas, BOOT)

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("app.settings.os.replace", boom)
    with pytest.raises(OSError):
        canvas.save_json(path)
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["s.json"]


def test_plain_stroke_lists_open_and_bad_files_raise(canvas, tmp_path):
    plain = tmp_path / "plain.json"
    plain.write_text(json.dumps([[[0, 0], [10, 10]], [[5, 0, 0.5], [5, 10, 0.5]]]))
    canvas.load_json(plain)
    assert len(canvas.strokes) == 2 and canvas.strokes[1].points[0, 2] == 0.5
    bad = tmp_path / "bad.json"
    bad.write_text('{"strokes": [[["a"]]]}')
    with pytest.raises(SketchError):
        canvas.load_json(bad)
    with pytest.raises(SketchError):
        canvas.load_json(tmp_path / "missing.json")


def test_png_export_and_open_as_image_query(qtbot, canvas, tmp_path):
    draw_mouse(qtbot, canvas, BOOT)
    path = tmp_path / "boot.png"
    export_png(canvas, path)
    canvas.clear()
    canvas.load_image(path)
    assert canvas.has_image and canvas.strokes == []
    kind, picture = canvas.query_input()
    assert kind == "image" and picture.dtype == np.uint8 and picture.min() < 100
    spec = RasterSpec()
    np.testing.assert_array_equal(model_input(canvas, spec), normalise_image(picture, spec))
    canvas.undo_stack.undo()
    assert not canvas.has_image


def test_a_png_saved_from_strokes_opens_as_those_strokes(qtbot, canvas, tmp_path):
    """Export PNG / Save as PNG of a drawing, opened again: the same strokes (editable, undoable
    one by one) and the same model input, not a redrawn picture of them."""
    draw_mouse(qtbot, canvas, BOOT)
    draw_mouse(qtbot, canvas, [(150, 120), (200, 125)])
    spec = RasterSpec()
    before, strokes = model_input(canvas, spec), [s.points.copy() for s in canvas.strokes]
    export_png(canvas, tmp_path / "boot.png")
    canvas.clear()
    assert canvas.load_file(tmp_path / "boot.png") == "image"
    assert not canvas.has_image and len(canvas.strokes) == 2
    assert all(np.allclose(a.points[:, :3], b[:, :3], atol=1e-4) for a, b in zip(canvas.strokes, strokes))
    np.testing.assert_array_equal(model_input(canvas, spec), before)
    canvas.undo_stack.undo()
    assert canvas.strokes == [] and not canvas.has_image


def test_an_opened_picture_is_queried_as_itself_whatever_the_canvas_size(qtbot, canvas, tmp_path):
    """The model sees the picture as `fgsbir query` does, not as the window happens to show it;
    strokes drawn over it land on it where they are seen."""
    from PIL import Image, ImageDraw

    from fgsbir_core.raster import read_sketch_picture

    picture = Image.new("L", (500, 300), 255)
    ImageDraw.Draw(picture).line([(60, 40), (70, 230), (420, 250), (430, 200), (200, 170), (180, 40)], fill=0, width=3)
    path = tmp_path / "boot.png"
    picture.save(path)
    spec = RasterSpec()
    as_queried = normalise_image(read_sketch_picture(path), spec)  # what `fgsbir query boot.png` encodes
    canvas.load_image(path)
    for size in ((640, 480), (300, 260), (900, 300)):
        canvas.resize(*size)
        kind, grey = canvas.query_input()
        assert kind == "image" and grey.shape == (300, 500), size
        np.testing.assert_array_equal(model_input(canvas, spec), as_queried)
    canvas.resize(1000, 600)  # the picture shown twice its size, at (0, 0)
    draw_mouse(qtbot, canvas, [(100, 500), (900, 500)])  # a sole line along its foot
    kind, grey = canvas.query_input()
    assert kind == "image" and grey.shape == (300, 500)
    assert grey[248:253, 60:300].min() < 100 and grey[100:150, 100:150].min() > 200  # on the picture, at y = 250
    drawn = canvas.query_input()[1]
    for size in ((500, 300), (1400, 500), (1000, 600)):  # the strokes stay on the picture, whatever the window
        canvas.resize(*size)
        np.testing.assert_array_equal(canvas.query_input()[1], drawn)
    draw_mouse(qtbot, canvas, [(100, 590), (100, 598)])  # below the picture: the sheet grows to keep it
    assert canvas.query_input()[1].shape[0] > 300


def test_photo_of_a_paper_drawing_opens_on_white_paper(qtbot, canvas, tmp_path):
    """A grey, unevenly lit photo is flattened when opened: the canvas shows white paper, so the
    picture's edge does not become ink where the canvas around it is white."""
    from PIL import Image

    draw_mouse(qtbot, canvas, BOOT)
    clean = tmp_path / "boot.png"
    export_png(canvas, clean)
    drawing = np.asarray(Image.open(clean), np.float32)
    h, w = drawing.shape
    paper = 170 + 60 * np.mgrid[0:h, 0:w][1] / w  # 170-230 grey, brighter to the right
    photo = tmp_path / "photo.png"
    Image.fromarray(np.clip(paper * drawing / 255, 0, 255).astype(np.uint8)).save(photo)
    canvas.clear()
    canvas.load_image(photo)
    _, picture = canvas.query_input()
    assert np.median(picture) >= 250  # white paper, not grey
    spec = RasterSpec()
    assert np.abs(model_input(canvas, spec).astype(int) - normalise_image(drawing.astype(np.uint8), spec)).mean() < 3


def test_large_picture_is_kept_at_a_bounded_size(canvas, tmp_path):
    from PIL import Image, ImageDraw

    from fgsbir_core.raster import MAX_PICTURE_SIDE

    picture = Image.new("L", (3000, 1500), 255)
    ImageDraw.Draw(picture).ellipse((300, 200, 2700, 1300), outline=0, width=12)
    path = tmp_path / "big.png"
    picture.save(path)
    canvas.load_image(path)
    kept = canvas.image_array()
    assert kept.shape == (MAX_PICTURE_SIDE // 2, MAX_PICTURE_SIDE) and kept.min() < 100


def test_empty_canvas_shows_a_hint_that_is_never_part_of_the_sketch(qtbot, canvas):
    def grey_pixels() -> int:  # the hint is drawn in mid grey; ink is near black, paper white
        shot = canvas.grab().toImage().convertToFormat(canvas.grab().toImage().Format.Format_Grayscale8)
        pixels = np.frombuffer(shot.constBits(), np.uint8).reshape(shot.height(), shot.bytesPerLine())
        return int(((pixels > 100) & (pixels < 200)).sum())

    assert grey_pixels() == 0
    canvas.set_placeholder("Draw a shoe here")
    assert grey_pixels() > 50
    spec = RasterSpec()
    draw_mouse(qtbot, canvas, BOOT)
    assert grey_pixels() < 50  # only the stroke's anti-aliased edge is grey now
    drawn = model_input(canvas, spec)
    canvas.set_placeholder("")
    np.testing.assert_array_equal(model_input(canvas, spec), drawn)  # the hint never reaches the model
    canvas.set_placeholder("Draw a shoe here")
    canvas.clear()
    assert canvas.is_empty() and grey_pixels() > 50


def test_a_smaller_canvas_shrinks_the_view_and_keeps_drawing_in_place(qtbot, canvas):
    """A window made smaller than the drawing shows all of it, shrunk and centred (it used to cut
    it off); strokes keep their coordinates, and a stroke drawn meanwhile lands where it is drawn."""
    draw_mouse(qtbot, canvas, [(40, 40), (360, 60), (350, 360), (60, 340)])
    before = canvas.stroke_arrays()[0].copy()
    canvas.resize(260, 260)
    qtbot.waitUntil(lambda: canvas.width() == 260)
    ink = np.argwhere(canvas.render_grey() < 128)
    assert ink.min() >= 4 and ink.max() < 256 and ink[:, 0].max() - ink[:, 0].min() > 200  # all of it, shrunk
    np.testing.assert_array_equal(canvas.stroke_arrays()[0], before)  # the sketch itself is unchanged
    scale = canvas._view.m11()
    assert 0.7 < scale < 0.8
    draw_mouse(qtbot, canvas, [(100, 100), (120, 100)])  # drawn in the shrunk view: stored in sketch units
    drawn = canvas.stroke_arrays()[1]
    expected = canvas._view.inverted()[0].map(QPointF(100, 100))
    assert abs(drawn[0, 0] - expected.x()) < 1e-6 and abs(drawn[0, 1] - expected.y()) < 1e-6
    canvas.resize(400, 400)  # room again: drawn at its own size
    qtbot.waitUntil(lambda: canvas.width() == 400)
    assert canvas._view.isIdentity()


def test_ink_beside_a_picture_stays_in_view_and_saved_pictures_reopen_the_same(qtbot, canvas, tmp_path):
    """Strokes beside a picture are shown with it whatever the window (not pushed off the canvas);
    the picture rendered for the model (and saved) keeps its size when the ink is on it, never
    exceeds MAX_PICTURE_SIDE, and a tiny picture is drawn up so strokes keep their weight."""
    from PIL import Image, ImageDraw

    from app.canvas import MIN_RENDER_SIDE
    from fgsbir_core.raster import MAX_PICTURE_SIDE

    wide = Image.new("L", (2400, 300), 255)
    ImageDraw.Draw(wide).rectangle((1000, 60, 1400, 240), outline=0, width=6)
    wide.save(tmp_path / "wide.png")
    canvas.resize(900, 900)
    canvas.load_image(tmp_path / "wide.png")  # kept at MAX_PICTURE_SIDE wide, shown as a thin band
    draw_mouse(qtbot, canvas, [(300, 60), (600, 80)])  # well above the band
    for size in ((1280, 500), (400, 900), (900, 900)):
        canvas.resize(*size)
        stroke = canvas._view.mapRect(QRectF(QPointF(*canvas.strokes[0].points[:, :2].min(0)),
                                             QPointF(*canvas.strokes[0].points[:, :2].max(0))))
        assert QRectF(canvas.rect()).contains(stroke), (size, stroke)
    assert max(canvas.query_input()[1].shape) <= MAX_PICTURE_SIDE

    big = Image.new("L", (3000, 2000), 255)
    ImageDraw.Draw(big).ellipse((300, 200, 2700, 1800), outline=0, width=12)
    big.save(tmp_path / "big.png")
    canvas.clear()
    canvas.pen_width = 12
    canvas.load_image(tmp_path / "big.png")
    kept = canvas.image_array().shape
    w, h = canvas.width(), canvas.height()
    draw_mouse(qtbot, canvas, [(int(w * 0.8), int(h * 0.3)), (int(w * 0.8), int(h * 0.6))])  # on the picture, near its edge
    grey = canvas.query_input()[1]
    assert grey.shape == kept  # the ink is on the picture: its own size
    export_png(canvas, tmp_path / "saved.png")
    canvas.clear()
    canvas.load_image(tmp_path / "saved.png")
    np.testing.assert_array_equal(canvas.query_input()[1], grey)  # reopens as the very same picture

    Image.new("L", (40, 30), 255).save(tmp_path / "tiny.png")
    canvas.clear()
    canvas.pen_width = 3
    canvas.load_image(tmp_path / "tiny.png")
    draw_mouse(qtbot, canvas, [(int(w * 0.2), h // 2), (int(w * 0.8), h // 2)])
    grey = canvas.query_input()[1]
    assert max(grey.shape) == MIN_RENDER_SIDE and grey.min() < 180  # drawn up: a line, not a faint hair


def test_clear_on_an_empty_canvas_adds_no_undo_step(qtbot, canvas):
    """Clearing nothing leaves Undo as it was and the sketch unmodified (found by a mutation pass)."""
    canvas.clear()
    assert canvas.undo_stack.count() == 0 and canvas.undo_stack.isClean()
    draw_mouse(qtbot, canvas, BOOT)
    canvas.clear()
    canvas.clear()
    assert canvas.undo_stack.count() == 2 and canvas.is_empty()


def test_the_canvas_keeps_the_500_undo_steps_the_docs_promise(qtbot, canvas):
    """README and FAULTS.md say the undo stack stops at 500 commands (found by a mutation pass)."""
    for k in range(501):
        canvas.set_strokes([[(k, 0), (k + 5, 5)]], "Open sketch")
    assert canvas.undo_stack.count() == 500


def test_pressure_outside_0_to_1_draws_as_the_nearest_end(qtbot, canvas):
    """A stroke file's pressure beyond 0..1 is drawn clamped, not as a huge or inverted line (found by a mutation pass)."""
    def ink(pressure: float) -> int:
        canvas.set_strokes([[(50, 200, pressure), (350, 200, pressure)]])
        return int((canvas.render_grey() < 128).sum())

    assert ink(40.0) == ink(1.0) and ink(-3.0) == ink(0.0) < ink(1.0)
