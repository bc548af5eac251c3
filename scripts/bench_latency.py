"""Latency of the live loop: stroke end -> results grid updated, and pen move -> repaint.

    python scripts/bench_latency.py [--sizes 1000 100000] [--repeats 30] [--weights FILE]

Runs the real MainWindow offscreen, drawing with real mouse events. The photo catalogue is
synthetic (random unit embeddings and attribute probabilities of the model's dimensions),
so only the catalogue size matters; the sketch goes through the real network (the bundled
shoes model, or --weights). Prints p50 / p95 in ms.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("SKETCHFIND_CONFIG_DIR", tempfile.mkdtemp(prefix="sketchfind-bench-"))
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402


def synthetic_catalogue(n: int, dim: int, n_attr: int, seed: int = 0):
    """A real Catalogue of n random unit embeddings and attribute probabilities."""
    from fgsbir_core.engine import Catalogue
    from fgsbir_core.retrieval import Codes

    rng = np.random.default_rng(seed)
    emb = rng.normal(size=(n, dim)).astype(np.float32)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    thumb = np.full((128, 128), 255, np.uint8)
    thumb[20:108, 60:68] = 0
    return Catalogue([str(i + 1) for i in range(n)], Codes(emb, rng.uniform(size=(n, n_attr)).astype(np.float32)),
                     thumbnail_loader=lambda i: thumb, source="synthetic")


class SyntheticCatalogueEngine:
    """Wraps an engine so that its catalogue is `size` synthetic photos."""

    def __init__(self, inner, size: int):
        self._inner, self._size = inner, size

    def __getattr__(self, name):
        return getattr(self._inner, name)

    def load_catalogue(self, data_root=None, progress=None, cancel=None):
        probe = self._inner.encode_strokes([[(0, 0), (10, 10)]])
        return synthetic_catalogue(self._size, len(probe.embedding), len(probe.attribute_probs))


def percentiles(values: list[float]) -> str:
    arr = np.asarray(values)
    return f"p50 {np.percentile(arr, 50):7.1f} ms   p95 {np.percentile(arr, 95):7.1f} ms   (n={len(arr)})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 100_000])
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--weights", default=None, help="model file (default: the bundled shoes model)")
    args = parser.parse_args()

    from PySide6.QtCore import QPoint, Qt
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication

    from app.main_window import MainWindow

    weights = args.weights
    print(f"engine: real network ({weights or 'bundled'})")

    app = QApplication([sys.argv[0]])

    class NoDialogs:
        def __getattr__(self, name):
            return lambda *a, **k: None

        def ask_save_changes(self, parent, before="closing"):  # closing after drawing: no file wanted
            return "discard"

    from PySide6.QtCore import QEventLoop, QTimer

    ticker = QTimer()  # wakes the blocking wait below now and then, so timeouts are noticed
    ticker.start(10)

    def wait(condition, seconds: float = 120) -> bool:
        """Run the event loop like a real app would (sleeping between events, no busy loop)."""
        end = time.monotonic() + seconds
        while not condition() and time.monotonic() < end:
            app.processEvents(QEventLoop.ProcessEventsFlag.WaitForMoreEvents)
        return condition()

    for size in args.sizes:
        def factory(category, weights=None, size=size):
            from fgsbir_core.engine import Engine

            return SyntheticCatalogueEngine(Engine(category=category, weights=weights), size)

        window = MainWindow(engine_factory=factory, dialogs=NoDialogs(), data_root="synthetic", weights=weights)
        window.resize(1280, 800)
        window.show()
        window.start()
        if not wait(lambda: window.catalogue is not None or window.last_error is not None, 600) or window.last_error:
            print(f"{size}: could not load: {window.last_error}")
            window.close()
            continue
        canvas = window.canvas
        grid_updated: list[float] = []
        fill_grid = window.results.set_results

        def timed_fill(*args, fill_grid=fill_grid, grid_updated=grid_updated, **kwargs):
            fill_grid(*args, **kwargs)
            grid_updated.append(time.perf_counter())

        window.results.set_results = timed_fill  # the moment the grid holds the new results

        def idle() -> bool:
            return window.last_outcome is not None and window.last_outcome.request_id == window._latest_request

        stroke_latency, encode_ms, rank_ms = [], [], []
        rng = np.random.default_rng(size)
        for _ in range(args.repeats):
            pts = [QPoint(int(x), int(y)) for x, y in rng.uniform(40, 360, size=(12, 2))]
            QTest.mousePress(canvas, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, pts[0])
            for p in pts[1:]:
                QTest.mouseMove(canvas, p)
            window._live_timer.stop()  # measure stroke end alone, not a live query in flight
            app.processEvents()
            start = time.perf_counter()
            QTest.mouseRelease(canvas, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, pts[-1])
            request = window._latest_request
            filled = len(grid_updated)
            wait(lambda: len(grid_updated) > filled and window.last_outcome.request_id >= request and idle())
            stroke_latency.append((grid_updated[-1] - start) * 1000)
            encode_ms.append(window.last_outcome.encode_ms or 0.0)
            rank_ms.append(window.last_outcome.rank_ms)
            if len(canvas.strokes) >= 6:
                canvas.clear()
                wait(idle)
        print(f"catalogue {size:>7}: stroke end -> grid updated   {percentiles(stroke_latency)}")
        print(f"{'':>18}of which encode p50 {np.median(encode_ms):.1f} ms, rank p50 {np.median(rank_ms):.1f} ms")

        # pen move -> repaint of the dirty rectangle (the time until the paint event has run)
        painted: list[float] = []
        original = canvas.paintEvent

        def timed_paint(event, original=original):
            original(event)
            painted.append(time.perf_counter())

        canvas.paintEvent = timed_paint
        repaint = []
        QTest.mousePress(canvas, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, QPoint(50, 50))
        app.processEvents()
        for k in range(args.repeats * 4):
            before = len(painted)
            start = time.perf_counter()
            QTest.mouseMove(canvas, QPoint(50 + (k * 7) % 300, 50 + (k * 13) % 300))
            if wait(lambda: len(painted) > before, 2):
                repaint.append((painted[-1] - start) * 1000)
        QTest.mouseRelease(canvas, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, QPoint(60, 60))
        wait(idle)
        print(f"catalogue {size:>7}: pen move -> repaint          {percentiles(repaint)}")
        window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
