"""A long session in the real window: many strokes and queries; memory and latency must stay flat.

    python scripts/bench_long_session.py [--strokes 10000] [--queries 5000]

Draws ``--strokes`` mouse strokes on the canvas (Clear after every ``--per-sketch`` strokes,
as a user starting a new sketch) and, for ``--queries`` of them, waits for the answer and
records the latency from submitting the sketch to the window receiving its results. Autosave,
undo (limit 500), the live-query timer and the results grid all run as in the app. Prints the
resident memory (RSS) after warm-up and at the end, and the median / p95 latency of the first
and the last 500 queries.

Uses the real Engine when resources/models/shoes_mtl.pt exists and $FGSBIR_DATA is set;
otherwise a numpy engine with the same contract (deterministic, 2,000-photo catalogue).
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from fgsbir_core.engine import RankedResult, SketchCode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def rss_mib() -> float:
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # peak, not current


class NumpyCatalogue:
    def __init__(self, n: int, dim: int, n_attr: int):
        rng = np.random.default_rng(0)
        self.ids = [str(i + 1) for i in range(n)]
        self.embeddings = rng.normal(size=(n, dim)).astype(np.float32)
        self.attribute_probs = rng.uniform(size=(n, n_attr)).astype(np.float32)
        self._thumb = np.full((96, 96), 255, np.uint8)

    def __len__(self) -> int:
        return len(self.ids)

    def thumbnail(self, i: int) -> np.ndarray:
        return self._thumb


class NumpyEngine:
    """The engine contract: rasterise with the real rasteriser, project, rank by distance."""

    NAMES = ["high_heel", "boot", "laces", "pointed_toe", "platform", "zip"]

    def __init__(self, category: str = "shoes", weights=None, catalogue_size: int = 2000):
        from fgsbir_core.raster import RasterSpec

        self.category, self.raster_spec, self.device = category, RasterSpec(), "cpu"
        self.attribute_names: list[str] = []
        self.attribute_definitions: dict = {}
        self.default_attribute_weight, self.model_hash, self.card = 0.5, "numpy-bench", {}
        rng = np.random.default_rng(1)
        self._proj = rng.normal(size=(256, 64)).astype(np.float32)
        self._attr = rng.normal(size=(256, len(self.NAMES))).astype(np.float32)
        self._n = catalogue_size

    def load(self) -> None:
        self.attribute_names = list(self.NAMES)

    def set_device(self, device: str) -> str:
        return "cpu"

    def _code(self, raster: np.ndarray) -> SketchCode:
        pooled = (255.0 - raster.astype(np.float32)).reshape(16, 16, 16, 16).mean(axis=(1, 3)).ravel() / 255.0
        probs = 1 / (1 + np.exp(-(pooled @ self._attr)))
        return SketchCode(pooled @ self._proj, probs.astype(np.float32), raster)

    def encode_strokes(self, strokes) -> SketchCode:
        from fgsbir_core.raster import rasterise_strokes

        return self._code(rasterise_strokes(strokes, self.raster_spec))

    def encode_image(self, image) -> SketchCode:
        from fgsbir_core.raster import normalise_image

        return self._code(normalise_image(np.asarray(image), self.raster_spec))

    def load_catalogue(self, data_root=None, progress=None, cancel=None) -> NumpyCatalogue:
        return NumpyCatalogue(self._n, 64, len(self.NAMES))

    def orient(self, code, cat, facing="auto") -> SketchCode:
        return code  # the stand-in encodes no mirror

    def rank(self, code, cat, attribute_weight=None, attribute_weights=None, must_have=(), top_k=24):
        w = self.default_attribute_weight if attribute_weight is None else attribute_weight
        dist = ((cat.embeddings - code.embedding) ** 2).sum(1) + w * ((cat.attribute_probs - code.attribute_probs) ** 2).mean(1)
        order = np.argsort(dist, kind="stable")[:top_k]
        return [RankedResult(r + 1, int(i), cat.ids[i], float(dist[i]), {}) for r, i in enumerate(order)]

    def present_attributes(self, probs) -> tuple[str, ...]:
        return tuple(name for name, p in zip(self.NAMES, probs) if p >= 0.5)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--strokes", type=int, default=10_000)
    parser.add_argument("--queries", type=int, default=5_000)
    parser.add_argument("--per-sketch", type=int, default=40, help="strokes before each Clear (default 40)")
    parser.add_argument("--window", type=int, default=500, help="queries compared at the start and end")
    args = parser.parse_args(argv)

    scratch = tempfile.mkdtemp(prefix="sketchfind-bench-")
    os.environ["SKETCHFIND_CONFIG_DIR"] = scratch  # throw-away preferences, autosave and log
    from PySide6.QtCore import QPoint, Qt
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication

    from app.main_window import MainWindow
    from fgsbir_core.engine import bundled_weights

    real = bundled_weights("shoes").is_file() and os.environ.get("FGSBIR_DATA")
    if real:
        from app.worker import default_engine_factory as factory
        data_root, engine_name = os.environ["FGSBIR_DATA"], "real Engine (resources/models/shoes_mtl.pt)"
    else:
        factory, data_root, engine_name = NumpyEngine, "numpy-catalogue", "numpy engine (no $FGSBIR_DATA, or no bundled model)"

    class Dialogs:
        def ask_data_root(self, parent): return None
        def pick_folder(self, parent): return None
        def open_path(self, *a): return None
        def save_path(self, *a): return None
        def show(self, dialog): pass
        def ask_save_changes(self, parent, before="closing"): return "discard"

    qapp = QApplication.instance() or QApplication([])
    window = MainWindow(engine_factory=factory, dialogs=Dialogs(), data_root=data_root, devices=lambda: ["cpu"])
    window.resize(1280, 800)
    window.show()
    window.start()
    deadline = time.monotonic() + 600
    while window.catalogue is None and window.last_error is None and time.monotonic() < deadline:
        qapp.processEvents()
        time.sleep(0.005)
    if window.catalogue is None:
        print(f"model or catalogue did not load: {window.last_error}", file=sys.stderr)
        return 1
    canvas = window.canvas
    rng = np.random.default_rng(0)
    query_every = max(1, args.strokes // max(args.queries, 1))
    latencies: list[float] = []
    rss_start = None
    warm_up = min(200, args.strokes // 2)  # strokes before the first memory reading

    def stroke():
        x, y = rng.integers(40, canvas.width() - 40), rng.integers(40, canvas.height() - 40)
        QTest.mousePress(canvas, Qt.MouseButton.LeftButton, pos=QPoint(int(x), int(y)))
        for _ in range(int(rng.integers(3, 10))):
            x = int(np.clip(x + rng.integers(-30, 31), 5, canvas.width() - 5))
            y = int(np.clip(y + rng.integers(-30, 31), 5, canvas.height() - 5))
            QTest.mouseMove(canvas, QPoint(x, y))
        QTest.mouseRelease(canvas, Qt.MouseButton.LeftButton, pos=QPoint(x, y))

    started = time.perf_counter()
    for k in range(args.strokes):
        if k and k % args.per_sketch == 0:
            canvas.clear()
        measured = len(latencies) < args.queries and k % query_every == 0
        t0 = time.perf_counter()
        stroke()  # the stroke's end submits the sketch (sketchChanged -> submit_sketch)
        if measured:
            target = window._latest_request
            while window.last_outcome is None or window.last_outcome.request_id != target:
                qapp.processEvents()
                if window.last_error and window.last_error[0] == "query":
                    print(f"query failed: {window.last_error}", file=sys.stderr)
                    return 1
            latencies.append((time.perf_counter() - t0) * 1000)
        else:
            qapp.processEvents()
        if k == warm_up:
            rss_start = rss_mib()  # after warm-up: caches, first allocations
    for _ in range(50):
        qapp.processEvents()
        time.sleep(0.01)
    rss_end = rss_mib()
    elapsed = time.perf_counter() - started
    lat = np.asarray(latencies)
    n = min(args.window, len(lat) // 2)
    first, last = lat[:n], lat[-n:]
    print(f"engine: {engine_name}; catalogue {len(window.catalogue.ids)} photos")
    print(f"session: {args.strokes} strokes, {len(lat)} measured queries, Clear every {args.per_sketch} strokes, "
          f"{elapsed:.0f} s")
    print(f"undo stack: {canvas.undo_stack.count()} commands (limit {canvas.undo_stack.undoLimit()}); "
          f"autosaves written: {window.autosave.saves}")
    print(f"RSS after warm-up (stroke {warm_up}): {rss_start:.1f} MiB; at the end: {rss_end:.1f} MiB; "
          f"growth {rss_end - rss_start:+.1f} MiB")
    print(f"latency first {n} queries: median {np.median(first):.1f} ms, p95 {np.percentile(first, 95):.1f} ms")
    print(f"latency last  {n} queries: median {np.median(last):.1f} ms, p95 {np.percentile(last, 95):.1f} ms")
    blocks = [f"{np.median(lat[i:i + n]):.1f}" for i in range(0, len(lat) - n + 1, n)] if n else []
    print(f"median latency per block of {n} queries (ms): {' '.join(blocks)}")
    print(f"load average during the run: {os.getloadavg()[0]:.2f} (CPU shared with other work skews latency)"
          if hasattr(os, "getloadavg") else "")
    window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
