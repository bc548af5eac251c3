"""The window on the real engine and the bundled shoes model (skipped without benchmark data)."""
from __future__ import annotations


import numpy as np
import pytest
from conftest import FakeDialogs, draw_mouse, model_input
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QListView


engine_module = pytest.importorskip("fgsbir_core.engine")

BOOT = [(120, 80), (125, 200), (130, 260), (250, 270), (300, 265), (300, 235), (200, 215), (180, 80)]

@pytest.fixture
def real_data(data_root):
    assert engine_module.bundled_weights("shoes").is_file(), "bundled shoes model missing"
    return str(data_root)


def _draw_boot_and_read_grid(qtbot, window) -> list:
    """Draw the boot with the mouse, wait for its answer, return the ids shown in the grid."""
    draw_mouse(qtbot, window.canvas, BOOT)
    qtbot.waitUntil(lambda: window.last_outcome is not None and window.last_outcome.code is not None
                    and window.last_outcome.request_id == window._latest_request, timeout=30_000)
    view = window.findChild(QListView, "resultsView")
    return [view.model().index(i, 0).data(Qt.ItemDataRole.UserRole) for i in range(view.model().rowCount())]


def test_real_engine_ranks_catalogue_from_canvas(qtbot, real_data, tmp_path):
    from app.main_window import MainWindow

    window = MainWindow(dialogs=FakeDialogs(), data_root=real_data)
    qtbot.addWidget(window)
    window.show()
    window.start()
    try:
        qtbot.waitUntil(lambda: window.catalogue is not None or window.last_error is not None, timeout=120_000)
        assert window.last_error is None, window.last_error
        ids = _draw_boot_and_read_grid(qtbot, window)
        assert len(ids) == 24 and set(ids) <= set(window.catalogue.ids)
        spec = window.info["raster_spec"]
        seen, drawn = window.last_outcome.code.raster, model_input(window.canvas, spec)
        assert np.array_equal(seen, drawn) or np.array_equal(seen, drawn[:, ::-1])  # as drawn or mirrored (Engine.orient)
        # the same strokes through `fgsbir query` give the same top 10 as the grid
        from fgsbir_core.cli import query_json

        sketch = tmp_path / "boot.json"
        window.canvas.save_json(sketch)
        answer = query_json([str(sketch)], "shoes", top=10, gallery="all", data_root=real_data)
        assert [r["id"] for r in answer[0]["results"]] == ids[:10]
        # a dot alone is no sketch: said in the status bar, not ranked from a blank picture
        window.canvas.clear()
        draw_mouse(qtbot, window.canvas, [(200, 200)])
        qtbot.waitUntil(lambda: window.last_error is not None, timeout=30_000)
        assert "too small to read" in window.last_error[1] and "too small" in window.statusBar().currentMessage()
        window.canvas.clear()  # the next sketch that works takes the error away
        assert _draw_boot_and_read_grid(qtbot, window)
        assert window.last_error is None and not window.statusBar().currentMessage().startswith("Query:")
    finally:
        window.close()


def test_real_engine_code_equals_offline_rasterised_strokes(qtbot, canvas, real_data):
    from fgsbir_core.raster import rasterise_strokes

    eng = engine_module.Engine(category="shoes")
    eng.load()
    draw_mouse(qtbot, canvas, BOOT)
    strokes = canvas.stroke_arrays()
    live = eng.encode_strokes(strokes)
    np.testing.assert_array_equal(live.raster, rasterise_strokes([s.points[:, :3] for s in canvas.strokes], eng.raster_spec))
    np.testing.assert_array_equal(live.raster, model_input(canvas, eng.raster_spec))
    offline = eng.encode_strokes([np.asarray(s) for s in strokes])
    np.testing.assert_allclose(live.embedding, offline.embedding, rtol=1e-5, atol=1e-6)


def _product_photos(folder, count):
    from PIL import Image, ImageDraw

    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        rng = np.random.default_rng(i)
        image = Image.new("RGB", (320, 240), (255, 255, 255))
        draw = ImageDraw.Draw(image)
        x0, y0 = int(rng.integers(10, 80)), int(rng.integers(20, 90))
        draw.polygon([(x0, 200), (x0 + 40, y0), (x0 + 120, y0 + 20), (300, 160), (300, 200)],
                     fill=tuple(int(v) for v in rng.integers(0, 200, 3)))
        image.save(folder / f"product_{i:03d}.jpg", quality=90)
    (folder / "damaged.jpg").write_bytes(b"\xff\xd8\xff not a JPEG")


def _window_on_photo_folder(qtbot, photos, count, monkeypatch):
    """The window with the bundled model, its folder dialog answering a folder of `count`
    synthetic product photos (plus one damaged file); returned once the model is loaded."""
    from app.main_window import MainWindow

    assert engine_module.bundled_weights("shoes").is_file(), "bundled shoes model missing"
    monkeypatch.setenv("FGSBIR_CACHE", str(photos.parent / "cache"))
    monkeypatch.delenv("FGSBIR_DATA", raising=False)
    _product_photos(photos, count)
    window = MainWindow(dialogs=FakeDialogs(str(photos)))
    qtbot.addWidget(window)
    window.show()
    window.start()
    qtbot.waitUntil(lambda: window.info is not None or window.last_error is not None, timeout=120_000)
    return window


def test_choosing_a_folder_of_own_photos_indexes_and_searches_it(qtbot, tmp_path, monkeypatch):
    """File -> Choose photo folder… with a folder of product photos (not the benchmark): indexed
    with progress, the damaged file reported, the grid searches those photos."""
    window = _window_on_photo_folder(qtbot, tmp_path / "my shoes", 30, monkeypatch)
    try:
        window.choose_data_root()
        qtbot.waitUntil(lambda: window.catalogue is not None or window.last_error is not None, timeout=120_000)
        assert window.last_error is None, window.last_error
        assert len(window.catalogue.ids) == 30 and window.catalogue.ids[0] == "product_000.jpg"
        assert [name for name, _ in window.catalogue.skipped] == ["damaged.jpg"]
        assert "1 could not be used" in window.statusBar().currentMessage() and window.skipped_action.isEnabled()
        assert not window.cancel_indexing.isVisible()
        ids = _draw_boot_and_read_grid(qtbot, window)
        assert len(ids) == 24 and set(ids) <= set(window.catalogue.ids)
    finally:
        window.close()


def test_cancelling_the_indexing_keeps_the_window_usable(qtbot, tmp_path, monkeypatch):
    window = _window_on_photo_folder(qtbot, tmp_path / "many", 400, monkeypatch)
    try:
        window.choose_data_root()
        qtbot.waitUntil(lambda: window.cancel_indexing.isVisible(), timeout=60_000)
        qtbot.mouseClick(window.cancel_indexing, Qt.MouseButton.LeftButton)
        assert not window.cancel_indexing.isVisible() and not window.progress.isVisible()
        assert "cancelled" in window.statusBar().currentMessage()
        qtbot.wait(1500)
        assert window.catalogue is None and window.last_error is None
        window.choose_data_root()  # again: continues from what the cancelled run saved
        qtbot.waitUntil(lambda: window.catalogue is not None or window.last_error is not None, timeout=120_000)
        assert window.last_error is None and len(window.catalogue.ids) == 400
    finally:
        window.close()


def test_a_cancelled_folder_gives_back_the_photos_searched_before(qtbot, real_data, tmp_path, monkeypatch):
    from app.main_window import MainWindow

    monkeypatch.setenv("FGSBIR_CACHE", str(tmp_path / "cache"))
    _product_photos(tmp_path / "many", 400)
    window = MainWindow(dialogs=FakeDialogs(str(tmp_path / "many")), data_root=real_data)
    qtbot.addWidget(window)
    window.show()
    window.start()
    try:
        qtbot.waitUntil(lambda: window.catalogue is not None or window.last_error is not None, timeout=120_000)
        benchmark = window.catalogue
        before = _draw_boot_and_read_grid(qtbot, window)
        window.choose_data_root()
        qtbot.waitUntil(lambda: window.cancel_indexing.isVisible(), timeout=60_000)
        qtbot.mouseClick(window.cancel_indexing, Qt.MouseButton.LeftButton)
        assert window.catalogue is benchmark and window.prefs.data_root == real_data
        assert "cancelled" in window.statusBar().currentMessage() and "again" in window.statusBar().currentMessage()
        qtbot.waitUntil(lambda: window.last_outcome.request_id == window._latest_request and bool(window.last_outcome.results),
                        timeout=60_000)  # the boot searched in the benchmark again, by the worker's kept catalogue
        view = window.findChild(QListView, "resultsView")
        assert [view.model().index(i, 0).data(Qt.ItemDataRole.UserRole) for i in range(view.model().rowCount())] == before
    finally:
        window.close()


def test_right_facing_sketches_are_matched_as_their_mirror(data_root):
    """The benchmark's shoes face left; a sketch facing right is turned round before ranking."""
    from fgsbir_core.data import load_benchmark

    eng = engine_module.Engine(category="shoes")
    eng.load()
    bench = load_benchmark("shoes", data_root)
    catalogue = eng.load_catalogue(data_root, gallery="test")
    kept = turned = 0
    for i in range(40):
        sketch = bench.test.sketches[i]
        as_drawn = eng.encode_image(sketch)
        kept += np.array_equal(eng.orient(as_drawn, catalogue).raster, as_drawn.raster)
        facing_right = eng.encode_image(np.ascontiguousarray(sketch[:, ::-1]))
        turned += np.array_equal(eng.orient(facing_right, catalogue).raster, facing_right.mirror.raster)
    assert kept >= 30 and turned >= 30, (kept, turned)  # 34 / 34 when written
    # ranking a right-facing sketch gives the left-facing one's results
    flipped = eng.rank(eng.encode_image(np.ascontiguousarray(bench.test.sketches[0][:, ::-1])), catalogue, top_k=10)
    original = eng.rank(eng.encode_image(bench.test.sketches[0]), catalogue, top_k=10)
    # (the same photos; near-ties may swap, as re-centring the mirrored picture can move it a pixel)
    assert flipped[0].id == original[0].id and {r.id for r in flipped[:3]} == {r.id for r in original[:3]}


def test_a_folder_without_readable_photos_is_an_empty_catalogue_not_an_error(tmp_path, monkeypatch):
    monkeypatch.setenv("FGSBIR_CACHE", str(tmp_path / "cache"))
    eng = engine_module.Engine(category="shoes")
    eng.load()
    folder = tmp_path / "nothing useful"
    folder.mkdir()
    (folder / "a.jpg").write_bytes(b"xx")
    catalogue = eng.load_catalogue(str(folder))
    assert len(catalogue.ids) == 0 and [name for name, _ in catalogue.skipped] == ["a.jpg"]
    sketch = np.full((200, 200), 255, np.uint8)
    sketch[50:150, 100] = 0
    assert eng.rank(eng.encode_image(sketch), catalogue) == []


