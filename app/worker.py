"""The one long-lived worker thread that owns the engine.

Pattern: napari's status checker and Qt's mandelbrot example. The GUI thread only posts
requests; the worker sleeps on an event, runs control jobs (load a model, load a catalogue,
change device) in order (queries waiting while a catalogue is indexed are answered between its
photos, each against the catalogue the window names), and for queries always runs the *latest*
request only: a new
sketch replaces a pending one, new ranking settings replace pending settings. Every result
carries the id of the request it answers so the window can drop stale ones, and the worker
itself drops a result when a newer request is already waiting. The GUI thread never calls
the network, never loads files of the catalogue, and never sees a traceback: every
exception becomes a ``failed(stage, message)`` signal and the loop goes on.
"""
from __future__ import annotations

import logging
import sys
import threading
import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Any, Callable, Final

import numpy as np
from PySide6.QtCore import QThread, Signal

from fgsbir_core.checkpoint import ModelError
from fgsbir_core.data import DataError
from fgsbir_core.raster import SketchError

THUMBNAIL_CACHE: Final = 512
# Thumbnails read with a query's results, at most this long: the rest follow it (thumbnailsReady).
# A folder of 12-megapixel PNGs costs ~0.1 s a photo, which would hold a grid back for seconds.
THUMBNAIL_BUDGET_S: Final = 0.15
log = logging.getLogger("sketchfind.worker")


@dataclass
class RankParams:
    attribute_weight: float | None = None  # None: the engine's tuned default
    attribute_weights: np.ndarray | None = None  # (A,) 0 = ignore, 1 = use
    must_have: tuple[str, ...] = ()
    top_k: int = 24
    facing: str = "auto"  # Engine.orient: "auto", "as drawn" or "mirrored"


@dataclass
class QueryOutcome:
    request_id: int
    code: Any  # SketchCode, or None for an empty sketch
    results: list = field(default_factory=list)  # list[RankedResult]
    thumbnails: dict[int, np.ndarray] = field(default_factory=dict)  # catalogue row -> image
    encode_ms: float | None = None  # None: the cached code was re-ranked, no forward pass
    rank_ms: float = 0.0
    catalogue_size: int = 0
    sketch_present: tuple[str, ...] = ()  # the attributes the sketch is read to show
    catalogue: Any = None  # the catalogue ranked: result rows are its rows


def is_known(exc: BaseException) -> bool:
    """An error the user can act on (bad input, missing data or model), not a bug."""
    return isinstance(exc, (SketchError, DataError, ModelError))


def friendly(exc: BaseException) -> str:
    """An exception as one line for the status bar (no traceback)."""
    if is_known(exc):
        return str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {exc}"


def probe_devices() -> list[str]:
    """CPU, plus CUDA when the torch the engine imported can see a GPU (never imports torch)."""
    torch = sys.modules.get("torch")
    try:
        return ["cpu", "cuda"] if torch is not None and torch.cuda.is_available() else ["cpu"]
    except Exception:  # a broken CUDA install must not stop the app
        return ["cpu"]


def default_engine_factory(category: str, weights: str | None = None):
    from fgsbir_core.engine import Engine

    return Engine(category=category, weights=weights, device="cpu")


class Worker(QThread):
    engineLoading = Signal(str)  # category
    engineReady = Signal(dict)  # see _engine_info
    catalogueProgress = Signal(int, int, int)  # done, total, catalogue job id
    catalogueReady = Signal(object, int)  # the Catalogue (read-only from the GUI: thumbnails), its job id
    resultsReady = Signal(object)  # QueryOutcome
    thumbnailsReady = Signal(int, object)  # request id, {catalogue row: picture} its outcome was sent without (object: as dict, int keys are lost)
    deviceChanged = Signal(str, str)  # actual device, notice ("" when as asked)
    devicesAvailable = Signal(list)
    failed = Signal(str, str)  # stage (load | query | device), message
    catalogueFailed = Signal(int, str)  # catalogue job id, message: the window ends only the load it awaits

    def __init__(
        self,
        engine_factory: Callable[..., Any] = default_engine_factory,
        devices: Callable[[], list[str]] = probe_devices,
        parent=None,
    ):
        super().__init__(parent)
        self.setObjectName("sketchfind-worker")
        self._engine_factory = engine_factory
        self._devices = devices
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = False
        self._control: deque[tuple] = deque()
        self._next_id = 0
        self._next_catalogue_id = 0
        self._next_load_id = 0
        self._pending = False
        self._pending_sketch: tuple | None = None
        self._pending_params = RankParams()
        self._pending_query_catalogue = None
        self._pending_id = 0
        # Owned by the worker thread only:
        self._engine = None
        self._load_failed = False
        self._device_said = ""  # the model's device as the window knows it: a fallback is said once
        self._catalogue_cancel = False
        self._code = None
        self._thumbs: OrderedDict[int, np.ndarray] = OrderedDict()
        self._thumbs_of = None  # the catalogue whose rows _thumbs holds
        self._thumbs_left = None  # (request id, catalogue, rows): the last results' pictures not read yet

    # ------------------------------------------------------------ GUI-thread API
    def load_engine(self, category: str, device: str = "cpu", weights: str | None = None) -> int:
        """Load a model; returns the load id that its engineReady info carries (as "load")."""
        with self._lock:
            self._next_load_id += 1
            job = self._next_load_id
        self._post(("load", category, device, weights, job))
        return job

    def load_catalogue(self, data_root: str | None) -> int:
        """Load (or index) a catalogue; returns the job id its progress and catalogueReady carry.
        The window decides which catalogue is searched: it passes it with every query."""
        with self._lock:
            self._catalogue_cancel = False
            self._next_catalogue_id += 1
            job = self._next_catalogue_id
        self._post(("catalogue", data_root, job))
        return job

    def cancel_catalogue(self) -> None:
        """Stop indexing a photo folder; what is finished stays in its index for next time."""
        with self._lock:
            self._catalogue_cancel = True

    def set_device(self, device: str) -> None:
        self._post(("device", device))

    def query(self, sketch: tuple | None, params: RankParams, catalogue=None) -> int:
        """Ask for a ranking of `catalogue` (None: attributes only); ``sketch`` None re-ranks the
        last code (no forward pass).

        ``sketch`` is ("strokes", arrays), ("image", array) or ("empty",). Returns the
        request id that the matching QueryOutcome will carry.
        """
        with self._lock:
            self._next_id += 1
            self._pending = True
            if sketch is not None:
                self._pending_sketch = sketch
            self._pending_params = params
            self._pending_query_catalogue = catalogue
            self._pending_id = self._next_id
            self._wake.set()
            return self._next_id

    def stop(self) -> None:
        with self._lock:
            self._stopping = True
            self._wake.set()
        self.wait()

    def _post(self, job: tuple) -> None:
        with self._lock:
            self._control.append(job)
            self._wake.set()

    # ------------------------------------------------------------ worker thread
    def run(self) -> None:
        while True:
            self._wake.wait()
            with self._lock:
                if self._stopping:
                    return
                if self._control:
                    job = self._control.popleft()
                elif self._pending:
                    job = self._take_query_locked()
                elif self._thumbs_left is not None:  # pictures a device change or an indexing put off
                    job = self._take_thumbnails_locked()
                else:
                    self._wake.clear()
                    continue
            self._device_said = getattr(self._engine, "device", "")
            self._run_job(job)

    def _run_job(self, job: tuple) -> None:
        stage = job[0]  # the window's name for what failed
        run = {"load": self._do_load, "catalogue": self._do_catalogue, "device": self._do_device,
               "query": self._do_query, "thumbnails": self._do_thumbnails}[stage]
        try:
            run(*job[1:])
        except Exception as exc:  # reported and logged, never raised: the loop must survive
            if is_known(exc):
                log.warning("%s failed: %s", stage, friendly(exc))
            else:  # a bug or a device fault: the traceback goes to the log file
                log.exception("%s failed", stage)
            if job[0] == "catalogue":
                self.catalogueFailed.emit(job[2], friendly(exc))
            elif job[0] == "load" and self._newer_load_asked():
                pass  # the window awaits the newer model, not this one
            elif job[0] == "query" and self._superseded(by_sketch_only=True):
                pass  # a newer sketch is waiting: its answer says what holds (this one was a passing state)
            else:
                self.failed.emit(stage, friendly(exc))
                if stage == "query":  # and an empty answer to it, so the grid does not go on showing the last sketch's
                    self.resultsReady.emit(QueryOutcome(job[3], None))
        if stage in ("query", "catalogue", "thumbnails"):
            self._say_device_fallback(stage)

    def _say_device_fallback(self, stage: str) -> None:
        """The engine falls back to the CPU on a device error or out of memory, during any job."""
        engine = self._engine
        if engine is None or not self._device_said or engine.device == self._device_said:
            return
        during = {"query": "during a query", "catalogue": "while indexing photos"}.get(stage, "while reading pictures")
        log.warning("%s failed %s; the engine moved to %s", self._device_said, during, engine.device)
        self.deviceChanged.emit(engine.device, f"{self._device_said.upper()} failed {during}; "
                                               f"now running on {engine.device.upper()}.")
        self._device_said = engine.device

    def _cancelled(self) -> bool:
        with self._lock:
            return self._stopping or self._catalogue_cancel or any(job[0] in ("load", "catalogue") for job in self._control)

    def _between_photos(self) -> bool:
        """The engine's cancel check while it indexes (called between photos). Indexing a folder
        takes minutes, so a query waiting meanwhile is answered here, against the catalogue
        searched so far, instead of after the whole folder. True: stop indexing."""
        if self._cancelled():
            return True
        with self._lock:
            if self._pending:
                job = self._take_query_locked()
            elif self._control and self._control[0][0] == "device":  # a device change need not wait for the folder
                job = self._control.popleft()
            elif self._thumbs_left is not None and not self._control:  # the grid's pictures come first too
                job = self._take_thumbnails_locked()
            else:
                return False
        self._run_job(job)
        return self._cancelled()

    def _take_query_locked(self) -> tuple:
        """The waiting query as a job (the lock held)."""
        job = ("query", self._pending_sketch, self._pending_params, self._pending_id, self._pending_query_catalogue)
        self._pending, self._pending_sketch = False, None
        return job

    def _take_thumbnails_locked(self) -> tuple:
        """The put-off pictures as a job (the lock held)."""
        job, self._thumbs_left = ("thumbnails", *self._thumbs_left), None
        return job

    def _newer_load_asked(self) -> bool:
        with self._lock:
            return any(job[0] == "load" for job in self._control)

    def _do_load(self, category: str, device: str, weights: str | None, job: int) -> None:
        if self._newer_load_asked():  # quick category switches: only the last model asked for is loaded
            return
        with self._lock:  # queries asked of the old model (its catalogue, its attributes) are not run by the new
            self._pending, self._pending_sketch, self._pending_query_catalogue = False, None, None
        self._engine = self._code = self._thumbs_of = self._thumbs_left = None
        self._thumbs.clear()
        self.engineLoading.emit(category)
        self._load_failed = True
        engine = self._engine_factory(category=category, weights=weights)
        engine.load()
        self._load_failed = False
        self._engine = engine
        self.devicesAvailable.emit(self._devices())
        if device != "cpu":
            self._do_device(device)
        self.engineReady.emit({**self._engine_info(), "load": job})

    def _engine_info(self) -> dict:
        eng = self._engine
        return {
            "category": eng.category,
            "attribute_names": list(eng.attribute_names),
            "attribute_definitions": dict(getattr(eng, "attribute_definitions", {}) or {}),
            "attribute_reliability": [float(r) for r in getattr(eng, "attribute_reliability", ())],
            "raster_spec": eng.raster_spec,
            "default_attribute_weight": float(eng.default_attribute_weight),
            "device": eng.device,
            "model_hash": getattr(eng, "model_hash", ""),
            "card": dict(getattr(eng, "card", {}) or {}),
            "weights": str(getattr(eng, "weights", "") or ""),
            "facing": "" if getattr(eng, "facing", None) is not None else (getattr(eng, "facing_note", "") or "not judged"),
        }

    def _do_device(self, device: str) -> None:
        if self._engine is None:  # no model (its load failed): the window passes the choice to the next load
            return
        try:
            actual = self._engine.set_device(device)
        except Exception as exc:  # the contract says it never raises; be safe anyway (the model stays where it is)
            actual, reason = self._engine.device, friendly(exc)
        else:
            reason = ""
        notice = "" if actual == device and not reason else \
            f"{device.upper()} is not available{': ' + reason if reason else ''}; using {actual.upper()}."
        self._device_said = actual  # (also between photos of an indexing: not a fallback to report)
        self.deviceChanged.emit(actual, notice)

    def _do_catalogue(self, data_root: str | None, job: int) -> None:
        if self._engine is None and self._load_failed:  # the model error was said already: a quiet answer,
            self.catalogueFailed.emit(job, "")  # so that the window stops waiting for this folder
            return
        if self._engine is None:
            raise RuntimeError("The model is not loaded, so the photo catalogue cannot be indexed.")
        try:  # meanwhile the window's queries go on searching the catalogue it had
            catalogue = self._engine.load_catalogue(
                data_root=data_root or None,
                progress=lambda done, total: self.catalogueProgress.emit(int(done), int(total), job),
                cancel=self._between_photos,
            )
        except Exception:
            if self._cancelled():
                return  # the engine stopped because we asked it to
            raise
        if catalogue is None or self._cancelled():
            return  # superseded (new model or folder) or shutting down
        self.catalogueReady.emit(catalogue, job)

    def _superseded(self, by_sketch_only: bool) -> bool:
        with self._lock:
            if self._stopping:
                return True
            return self._pending and (self._pending_sketch is not None or not by_sketch_only)

    def _do_query(self, sketch: tuple | None, params: RankParams, request_id: int, catalogue=None) -> None:
        engine = self._engine
        if engine is None:
            raise RuntimeError("The model is not loaded yet.")
        encode_ms = None
        if sketch is not None:
            self._code = None
            if sketch[0] == "empty":
                self.resultsReady.emit(QueryOutcome(request_id, None))
                return
            start = time.perf_counter()
            if sketch[0] == "strokes":
                self._code = engine.encode_strokes(sketch[1])
            else:
                self._code = engine.encode_image(sketch[1])
            encode_ms = (time.perf_counter() - start) * 1000
            self._say_device_fallback("query")  # before the answer, so its timing is not taken for the GPU's
            if self._superseded(by_sketch_only=True):
                return  # a newer sketch is waiting: do not rank this one
        if self._code is None:  # nothing drawn yet, or the sketch could not be read: an empty answer, so that
            self.resultsReady.emit(QueryOutcome(request_id, None))  # the grid (and a "more" request) never stays on an old one
            return
        # as drawn or mirrored (the panel then shows what was matched); the mirror stays in
        # self._code, so a new catalogue decides again
        code = engine.orient(self._code, catalogue, params.facing)
        outcome = QueryOutcome(request_id, code, encode_ms=encode_ms,
                               sketch_present=engine.present_attributes(code.attribute_probs), catalogue=catalogue)
        if catalogue is not None:
            start = time.perf_counter()
            outcome.results = engine.rank(
                code,
                catalogue,
                attribute_weight=params.attribute_weight,
                attribute_weights=params.attribute_weights,
                must_have=tuple(params.must_have),
                top_k=params.top_k,
            )
            outcome.rank_ms = (time.perf_counter() - start) * 1000
            outcome.catalogue_size = len(catalogue.ids)
            later = self._read_thumbnails(catalogue, [r.index for r in outcome.results], outcome.thumbnails,
                                          time.perf_counter() + THUMBNAIL_BUDGET_S)
        else:
            later = []
        if self._superseded(by_sketch_only=False):
            return
        with self._lock:
            self._thumbs_left = None  # the older grid's pictures: this answer's grid replaces it
        self.resultsReady.emit(outcome)
        if later:  # after the grid is shown; a newer job comes first (its own results read theirs)
            self._read_thumbnails(catalogue, later, None, None, request_id)

    def _read_thumbnails(self, catalogue, rows: list[int], into: dict | None, deadline: float | None,
                         request_id: int = -1) -> list[int]:
        """Thumbnails of catalogue `rows`: into `into` until `deadline` (the rows left are
        returned), or, with `into` None, sent by thumbnailsReady a few at a time until a newer
        job waits."""
        batch, sent = {}, time.perf_counter()
        for n, row in enumerate(rows):
            if into is not None and n and time.perf_counter() > deadline and row not in self._thumbs_cached(catalogue):
                return rows[n:]
            if into is None and self._has_work():
                with self._lock:  # taken up again when the worker is idle, unless a query comes first
                    self._thumbs_left = (request_id, catalogue, rows[n:])
                break
            image = self._thumbnail(catalogue, row)
            if image is None:
                continue
            if into is not None:
                into[row] = image
            else:
                batch[row] = image
                if time.perf_counter() - sent > 0.1:
                    self.thumbnailsReady.emit(request_id, batch)
                    batch, sent = {}, time.perf_counter()
        if batch:
            self.thumbnailsReady.emit(request_id, batch)
        return []

    def _do_thumbnails(self, request_id: int, catalogue, rows: list[int]) -> None:
        self._read_thumbnails(catalogue, rows, None, None, request_id)

    def _thumbs_cached(self, catalogue) -> dict:
        return self._thumbs if catalogue is self._thumbs_of else {}

    def _has_work(self) -> bool:
        with self._lock:
            return self._stopping or self._pending or bool(self._control)

    def _thumbnail(self, catalogue, index: int) -> np.ndarray | None:
        """The picture of one result; None (shown without one) when it cannot be read."""
        if catalogue is not self._thumbs_of:  # rows of another catalogue
            self._thumbs.clear()
            self._thumbs_of = catalogue
        if index in self._thumbs:
            self._thumbs.move_to_end(index)
            return self._thumbs[index]
        try:
            image = np.ascontiguousarray(catalogue.thumbnail(index), dtype=np.uint8)
            if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] != 3) or min(image.shape[:2]) < 1:
                raise ValueError(f"unusable picture shape {image.shape}")
        except Exception as exc:  # an unreadable catalogue image costs its thumbnail, not the query
            log.warning("thumbnail of catalogue row %s unreadable: %s", index, friendly(exc))
            return None
        self._thumbs[index] = image
        if len(self._thumbs) > THUMBNAIL_CACHE:
            self._thumbs.popitem(last=False)
        return image


def default_fetch(dest: str, progress, cancel) -> str:
    from fgsbir_core.fetch import fetch_qmul_v1

    # A short network timeout bounds how long a cancel (closing the window) can take.
    return str(fetch_qmul_v1(dest, progress=progress, cancel=cancel, timeout=10.0))


class Downloader(QThread):
    """Downloads the benchmark in its own thread, so that queries go on meanwhile.

    ``stop()`` (the window closing) sets the cancel flag the fetch checks between blocks and
    joins the thread; the fetch leaves only verified files and a resumable ``.part``.
    """

    progress = Signal(str, object, object)  # file name, bytes done, bytes total (may pass 2 GiB)
    done = Signal(str)  # the data root
    failed = Signal(str)

    def __init__(self, dest: str, fetch: Callable[..., str] = default_fetch, parent=None):
        super().__init__(parent)
        self.setObjectName("sketchfind-download")
        self._dest = dest
        self._fetch = fetch
        self._cancel = threading.Event()

    def stop(self) -> None:
        self._cancel.set()
        self.wait()

    def run(self) -> None:
        try:
            root = self._fetch(self._dest, lambda name, done, total: self.progress.emit(str(name), int(done), int(total)),
                               self._cancel.is_set)
        except InterruptedError:
            log.info("download cancelled")
            return
        except Exception as exc:
            log.warning("download failed: %s", friendly(exc), exc_info=not isinstance(exc, (DataError, OSError)))
            self.failed.emit(friendly(exc))
            return
        if not self._cancel.is_set():
            self.done.emit(str(root))
