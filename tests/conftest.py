from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before any Qt import

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data" / "qmul_v1"


def pytest_addoption(parser):
    parser.addoption("--runslow", action="store_true", help="also run slow suites")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--runslow"):
        return
    skip = pytest.mark.skip(reason="slow: run with --runslow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def data_root() -> Path:
    root = os.environ.get("FGSBIR_DATA") or (str(SHARED_DATA) if SHARED_DATA.is_dir() else "")
    if not root or not Path(root).is_dir():
        pytest.skip("benchmark data not available (set FGSBIR_DATA)")
    return Path(root)


@pytest.fixture
def load_script():
    """Import scripts/NAME.py (scripts are not a package) -> its module."""
    def load(name: str):
        spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    return load


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("FGSBIR_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))
    # nor the user's data folder: a benchmark fetched there is found when no data root is named
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path_factory.getbasetemp() / "xdg-data"))


# =========================================================================== app (GUI) tests
# Appended by the app side: offscreen Qt, throw-away settings, no leaked QThreads, a fake engine.
os.environ["QT_QPA_PLATFORM"] = "offscreen"  # forced, not setdefault: tests never open a real window
os.environ.setdefault("QT_LOGGING_RULES", "qt.qpa.*=false")

import threading  # noqa: E402

import numpy as np  # noqa: E402

from fgsbir_core.checkpoint import ModelError  # noqa: E402
from fgsbir_core.engine import RankedResult, SketchCode  # noqa: E402
from fgsbir_core.raster import RasterSpec, normalise_image, rasterise_strokes  # noqa: E402
from fgsbir_core.retrieval import must_have_mask, present_attributes  # noqa: E402


@pytest.fixture(autouse=True)
def _isolated_app_config(tmp_path, monkeypatch):
    """Every test gets its own preferences file and QSettings."""
    monkeypatch.setenv("SKETCHFIND_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    try:
        from PySide6.QtCore import QSettings, QStandardPaths
    except ImportError:
        yield
        return
    QStandardPaths.setTestModeEnabled(True)
    for fmt in (QSettings.Format.IniFormat, QSettings.Format.NativeFormat):
        QSettings.setPath(fmt, QSettings.Scope.UserScope, str(tmp_path / "qsettings"))
    yield


@pytest.fixture(autouse=True)
def _no_leaked_qthreads(monkeypatch):
    """Fail a test that leaves a QThread running (napari's rule)."""
    try:
        from PySide6.QtCore import QThread
    except ImportError:
        yield
        return
    started: list = []
    original = QThread.start

    def start(self, *args, **kwargs):
        started.append(self)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(QThread, "start", start)
    yield
    running = []
    for thread in started:
        try:
            if thread.isRunning():
                running.append(thread.objectName() or repr(thread))
        except RuntimeError:  # the C++ object is gone: it cannot be running
            pass
    if running:
        pytest.fail(f"Test left QThread(s) running: {', '.join(running)}")


class FakeCatalogue:
    def __init__(self, n: int, dim: int, n_attr: int, seed: int = 0):
        rng = np.random.default_rng(seed)
        self.ids = [str(i + 1) for i in range(n)]
        self.embeddings = rng.normal(size=(n, dim)).astype(np.float32)
        self.attribute_probs = rng.uniform(size=(n, n_attr)).astype(np.float32)
        self.sizes_asked: list[int | None] = []
        self.folder = None  # set to a Path: a folder of the user's photos, not the benchmark

    def __len__(self) -> int:
        return len(self.ids)

    def photo_file(self, i: int):
        return None if self.folder is None else self.folder / f"{self.ids[i]}.jpg"

    def thumbnail(self, i: int, size: int | None = None) -> np.ndarray:
        self.sizes_asked.append(size)
        image = np.full((48, 40), 255, np.uint8)
        image[8:40, 8 + i % 8: 16 + i % 8] = 0
        return image


class FakeModelError(ModelError):
    """A model file the fake engine refuses, reported as the engine's own ModelError is."""


class FakeEngine:
    """The engine contract in deterministic numpy; counts forward passes and rankings."""

    ATTRIBUTES = ["high_heel", "boot", "laces", "pointed_toe"]
    DIM = 16

    def __init__(self, category: str = "shoes", weights=None, device: str = "cpu", catalogue_size: int = 40):
        self.category = category
        self.weights = weights
        self.attribute_names: list[str] = []
        self.facing_note = ""  # why the facing classifier is off ("" when it is on), as the engine's
        self.attribute_definitions: dict[str, str] = {}
        self.raster_spec = RasterSpec()
        self.default_attribute_weight = 0.5
        self.device = "cpu"
        self.model_hash = "fake"
        self.catalogue_size = catalogue_size
        self.catalogue_roots: list = []  # the data roots it was asked to load
        self.encode_calls = 0
        self.rank_calls: list[dict] = []
        self.facings: list[str] = []  # what each query asked orient() for
        self.fail_load: str | None = None
        self.fail_next_encode: Exception | None = None
        self.encode_gate: threading.Event | None = None  # encode waits on it when set
        self.encode_started = threading.Event()
        rng = np.random.default_rng(1)
        self._projection = rng.normal(size=(64, self.DIM))
        self._attr_projection = rng.normal(size=(64, len(self.ATTRIBUTES)))

    def load(self) -> None:
        if self.fail_load:
            raise FakeModelError(self.fail_load)
        self.attribute_names = list(self.ATTRIBUTES)
        self.attribute_definitions = {n: f"the {n.replace('_', ' ')}" for n in self.ATTRIBUTES}

    def set_device(self, device: str) -> str:
        self.device = "cpu"  # no GPU here: fall back, never raise
        return self.device

    def _code(self, raster: np.ndarray) -> SketchCode:
        self.encode_calls += 1
        self.encode_started.set()
        if self.encode_gate is not None:
            assert self.encode_gate.wait(10), "test never opened the encode gate"
        if self.fail_next_encode is not None:
            exc, self.fail_next_encode = self.fail_next_encode, None
            raise exc
        pooled = (255.0 - raster.astype(np.float64)).reshape(8, 32, 8, 32).mean(axis=(1, 3)).ravel() / 255.0
        embedding = (pooled @ self._projection).astype(np.float32)
        probs = 1 / (1 + np.exp(-(pooled @ self._attr_projection)))
        return SketchCode(embedding, probs.astype(np.float32), raster)

    def encode_strokes(self, strokes) -> SketchCode:
        return self._code(rasterise_strokes(strokes, self.raster_spec))

    def encode_image(self, image) -> SketchCode:
        return self._code(normalise_image(np.asarray(image), self.raster_spec))

    def load_catalogue(self, data_root=None, progress=None, cancel=None) -> FakeCatalogue:
        self.catalogue_roots.append(data_root)
        for done in range(0, self.catalogue_size + 1, 20):
            if cancel is not None and cancel():
                raise InterruptedError("cancelled")
            if progress is not None:
                progress(min(done, self.catalogue_size), self.catalogue_size)
        return FakeCatalogue(self.catalogue_size, self.DIM, len(self.ATTRIBUTES))

    def orient(self, code, cat, facing="auto"):
        self.facings.append(facing)
        return code  # the real engine may return the mirrored sketch's code instead

    def rank(self, code, cat, attribute_weight=None, attribute_weights=None, must_have=(), top_k=24):
        self.rank_calls.append(dict(attribute_weight=attribute_weight, attribute_weights=attribute_weights,
                                    must_have=tuple(must_have), top_k=top_k))
        w = self.default_attribute_weight if attribute_weight is None else attribute_weight
        dist = ((cat.embeddings - code.embedding) ** 2).sum(1)
        aw = np.ones(len(self.attribute_names)) if attribute_weights is None else np.asarray(attribute_weights, float)
        if w > 0 and aw.sum() > 0:
            dist = dist + w * (((cat.attribute_probs - code.attribute_probs) ** 2) * aw).sum(1) / aw.sum()
        dist = np.where(must_have_mask(cat.attribute_probs, self.attribute_names, must_have), dist, np.inf)
        order = np.lexsort((np.arange(len(dist)), dist))[:top_k]
        return [RankedResult(r + 1, int(i), cat.ids[i], float(dist[i]),
                             dict(zip(self.attribute_names, map(float, cat.attribute_probs[i]))),
                             self.present_attributes(cat.attribute_probs[i]))
                for r, i in enumerate(order) if np.isfinite(dist[i])]

    def present_attributes(self, probs):
        shown = present_attributes(np.asarray(probs).reshape(-1), self.attribute_names)
        return tuple(name for name, on in zip(self.attribute_names, shown) if on)


class FakeDialogs:
    """Scripted answers instead of modal dialogs."""

    def __init__(self, data_root: str | None = None):
        self.data_root = data_root
        self.asked_data_root = 0
        self.open_answer: str | None = None
        self.save_answer: str | None = None
        self.shown: list = []
        self.opened: list = []
        self.asked_save = 0
        self.save_changes_answer = "discard"  # tests that close a drawn window do not keep it open
        self.asked_replace: list[str] = []
        self.replace_answer = True
        self.open_file_works = True
        self.suggested: list[str] = []  # the file names the save dialog offered

    def ask_data_root(self, parent):
        self.asked_data_root += 1
        return self.data_root

    def pick_folder(self, parent, title=""):
        self.picked_titles = getattr(self, "picked_titles", []) + [title]
        return self.data_root

    def open_path(self, parent, title, filters):
        return self.open_answer

    def save_path(self, parent, title, filters, suggested):
        self.suggested.append(suggested)
        return self.save_answer

    def show(self, dialog):
        self.shown.append(dialog)

    def warn(self, parent, title, text):
        self.warnings = getattr(self, "warnings", []) + [(title, text)]

    def confirm_replace(self, parent, path):
        self.asked_replace.append(path)
        return self.replace_answer

    def ask_save_changes(self, parent, before="closing"):
        self.asked_save += 1
        self.asked_before = before
        return self.save_changes_answer

    def open_file(self, path):
        self.opened.append(path)
        return self.open_file_works


def simulate_crash(window) -> None:
    """What a crash leaves: the window's autosave and its slot, with the lock's process gone."""
    window.autosave._lock.unlock()
    window.autosave._lock = window.autosave.path = None


@pytest.fixture
def fake_engines():
    """A factory for the window's worker plus the list of engines it made."""
    made: list[FakeEngine] = []
    setup: dict = {}

    def factory(category: str, weights=None):
        engine = FakeEngine(category, weights)
        for key, value in setup.items():
            setattr(engine, key, value)
        made.append(engine)
        return engine

    factory.made = made
    factory.setup = setup
    return factory


@pytest.fixture
def make_window(qtbot, fake_engines):
    """Build a started MainWindow on the fake engine; closes it (joining its thread) after."""
    from app.main_window import MainWindow

    windows = []

    def make(start: bool = True, wait_ready: bool = True, data_root: str | None = "fake-root", dialogs=None, **kwargs):
        window = MainWindow(engine_factory=fake_engines, dialogs=dialogs or FakeDialogs(), data_root=data_root,
                            devices=lambda: ["cpu"], **kwargs)
        qtbot.addWidget(window)
        windows.append(window)
        window.show()
        qtbot.waitExposed(window)
        if start:
            window.start()
            if wait_ready:
                qtbot.waitUntil(lambda: window.info is not None, timeout=5000)
                if data_root:
                    qtbot.waitUntil(lambda: window.catalogue is not None, timeout=5000)
        return window

    yield make
    for window in windows:
        if isinstance(window.dialogs, FakeDialogs):
            window.dialogs.save_changes_answer = "discard"  # whatever the test left, the window closes
        window.close()
        window.worker.wait(5000)


@pytest.fixture
def canvas(qtbot):
    from app.canvas import SketchCanvas

    widget = SketchCanvas()
    widget.resize(400, 400)
    qtbot.addWidget(widget)
    widget.show()
    qtbot.waitExposed(widget)
    return widget


def model_input(canvas, spec: RasterSpec) -> np.ndarray:
    """The picture the model is given for what the canvas holds (the engine's choice between
    strokes and a picture, made here independently, as the tests' oracle)."""
    from fgsbir_core.raster import SketchError

    query = canvas.query_input()
    if query is None:
        raise SketchError("The sketch is empty: draw at least one stroke.")
    kind, value = query
    return rasterise_strokes(value, spec) if kind == "strokes" else normalise_image(value, spec)


def export_png(canvas, path) -> bool:
    """What File → Export PNG writes (False: the strokes did not fit in the file)."""
    data, carried = canvas.png_bytes()
    Path(path).write_bytes(data)
    return carried


def draw_mouse(qtbot, widget, points, button=None):
    """Press, move through, release at logical points with the mouse."""
    from PySide6.QtCore import QPoint, Qt

    button = button or Qt.MouseButton.LeftButton
    pts = [QPoint(int(x), int(y)) for x, y in points]
    qtbot.mousePress(widget, button, pos=pts[0])
    for p in pts[1:]:
        qtbot.mouseMove(widget, p)
    qtbot.mouseRelease(widget, button, pos=pts[-1])
