"""The SketchFind main window: canvas, results grid, attribute panel, toolbar, status bar."""
from __future__ import annotations

import html
import io
import logging
import os
import platform
import time
from collections import deque
from pathlib import Path
from typing import Callable, Final

import numpy as np
from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QSize, Qt, QTimer
from PySide6.QtGui import QAction, QActionGroup, QImage, QKeySequence, QUndoCommand
from PySide6.QtWidgets import (
    QApplication,
    QComboBox,
    QDockWidget,
    QLabel,
    QMainWindow,
    QMenu,
    QProgressBar,
    QPushButton,
    QToolBar,
    QWidget,
)

from fgsbir_core import version
from fgsbir_core.data import DATA_ENV, fetched_data_root, is_photo_folder
from fgsbir_core.files import atomic_write_bytes
from fgsbir_core.raster import MAX_PICTURE_SIDE

from . import logs, settings
from .about import AboutDialog, about_rows, shortcut_rows
from .attributes_panel import MODES, AttributesPanel, ScrollsWhenShort, wheel_needs_focus
from .autosave import Autosave, Snapshot
from .canvas import SketchCanvas
from .dialogs import DOWNLOAD, QtDialogs, not_opened
from .results import RESULT_ROLE, ResultDialog, ResultsView, attribute_label, is_dark, results_csv
from .worker import Downloader, QueryOutcome, Worker, default_engine_factory, default_fetch, probe_devices

log = logging.getLogger("sketchfind.window")

DETAIL_SIDE: Final = 512  # px, longer side of a folder photo in the large view (the grid's are 160)
MAX_RESULTS: Final = 200  # photos in the grid at most, scrolling down adds a page at a time
LIVE_QUERY_MS: Final = 150  # throttle for queries while a stroke is being drawn
AUTOSAVE_DELAY_MS: Final = 250  # a change is on disk within this time; changes meanwhile are written together
SKETCH_FILTER: Final = ("Sketches (*.json *.svg *.png *.jpg *.jpeg *.bmp);;Stroke files (*.json);;"
                        "SVG drawings (*.svg);;Images (*.png *.jpg *.jpeg *.bmp)")
EMPTY_SKETCH: Final = "The closest photos appear here as you draw."
NONE_MUST_HAVE: Final = "No photo is read to show every must-have attribute"
TOO_MANY_STROKES: Final = ("{verb} {name} as a picture only: the sketch has too many strokes to go in a PNG, so it "
                           "would reopen as a picture. Save it as a stroke file (.json) to keep them.")
INDEX_UNSAVED: Final = "The photo index cannot be saved"  # how user_catalogue says it, capitalised
RESULTS_SHARE: Final = 0.36  # of a maximised window's width, for the results panel at least
FRAME_ROOM: Final = QSize(16, 48)  # px a window manager's title bar and borders take (not known before showing)
NO_CATALOGUE: Final = f"No photo catalogue: File → Choose photo folder… (or set {DATA_ENV})."


class _SetIndex(QUndoCommand):
    """A combo box set to another entry, as part of an undo step."""

    def __init__(self, box, index: int):
        super().__init__()
        self._box, self._new, self._old = box, index, box.currentIndex()

    def redo(self) -> None:
        self._box.setCurrentIndex(self._new)

    def undo(self) -> None:
        self._box.setCurrentIndex(self._old)


class MainWindow(QMainWindow):
    def __init__(
        self,
        engine_factory: Callable = default_engine_factory,
        dialogs: QtDialogs | None = None,
        config_dir: Path | None = None,
        devices: Callable[[], list[str]] = probe_devices,
        weights: str | None = None,
        category: str | None = None,
        data_root: str | None = None,
        data_dir: Path | None = None,
        fetch: Callable = default_fetch,
    ):
        super().__init__()
        self.setObjectName("mainWindow")
        self.dialogs = dialogs or QtDialogs()
        self._config_dir = config_dir
        self._results_width_before = None  # the results panel's width before a maximised window widened it
        self._weights = weights  # --weights: one category's model; the other category loads its bundled one
        self._weights_category = category if weights else None  # None: not known until it loads
        self._load_job = 0
        self._fetch = fetch
        self.data_dir = Path(data_dir or config_dir or settings.data_dir())
        self.log_file = logs.setup(self.data_dir)
        self.version = version()
        self.prefs, prefs_notice = settings.load_preferences_report(config_dir)
        if prefs_notice:
            log.warning("%s", prefs_notice)
        if category in settings.CATEGORIES:
            self.prefs.category = category
        if data_root:
            self.prefs.data_root = str(data_root)
        self.info: dict | None = None  # engine info once a model is ready
        self.catalogue = None
        self.last_outcome: QueryOutcome | None = None
        self.last_error: tuple[str, str] | None = None
        self._before_folder: tuple | None = None  # (catalogue, data root) searched before the folder being indexed
        self.dropped_results = 0  # stale results thrown away (for tests and the curious)
        self._latest_request = 0
        self._more_request: int | None = None  # the request for the next page of results, while on its way
        self.shown_k = self.prefs.top_k  # photos asked for: grows by a page as the grid is scrolled
        self._submitted: dict[int, float] = {}
        self._catalogue_job: int | None = None  # the worker's catalogue job whose answer is awaited
        self._indexing_said: int | None = None  # the job whose indexing the status bar has announced
        self._started = False
        self._pending_modes: tuple[str, dict[str, str]] | None = None  # (category, modes) from a restore
        self.downloader: Downloader | None = None
        self.notices: deque[str] = deque(maxlen=100)  # the latest notices shown (for tests and the curious)

        self.canvas = SketchCanvas()
        self.canvas.pen_width = self.prefs.pen_width
        self.setCentralWidget(self.canvas)
        self.sketch_file: Path | None = None  # the file the sketch was last opened from or saved to
        self._sketch_file_is_source = False  # it is a picture opened (a scan, a photo), not a file saved here
        # Each sketch that New, Open, a paste or a restore put on the canvas keeps its own name on the
        # undo step that put it there (the first one's here): Undo and Redo across such steps name
        # the sketch they bring back, and a save renames the sketch whose step is below.
        self._first_sketch_name: tuple[Path | None, bool] = (None, False)
        self._undo_index = 0
        self.canvas.undo_stack.cleanChanged.connect(self._show_sketch_file)  # a bound slot: gone with the window
        self.canvas.undo_stack.indexChanged.connect(self._name_follows_undo)
        self._show_sketch_file()
        self.setAcceptDrops(True)  # a sketch file or picture dropped anywhere on the window opens
        self.results = ResultsView()
        self.results.set_thumb_size(self.prefs.thumb_size)
        self.prefs.thumb_size = self.results.thumb_size  # a hand-edited size, clamped
        self.attributes = AttributesPanel()
        self.attributes.slider.setValue(self.prefs.attribute_slider)
        self.results_dock = self._dock("Results", "resultsDock", self.results, Qt.DockWidgetArea.RightDockWidgetArea)
        self.attributes_dock = self._dock("Attributes", "attributesDock", ScrollsWhenShort(self.attributes),
                                          Qt.DockWidgetArea.LeftDockWidgetArea)

        self.worker = Worker(engine_factory, devices, self)
        self.worker.engineLoading.connect(self._engine_loading)
        self.worker.engineReady.connect(self._engine_ready)
        self.worker.catalogueProgress.connect(self._catalogue_progress)
        self.worker.catalogueReady.connect(self._catalogue_ready)
        self.worker.resultsReady.connect(self._show_results)
        self.worker.thumbnailsReady.connect(self._show_thumbnails)
        self.worker.deviceChanged.connect(self._device_changed)
        self.worker.devicesAvailable.connect(self._devices_available)
        self.worker.failed.connect(self._failed)
        self.worker.catalogueFailed.connect(self._catalogue_failed)

        self._live_timer = QTimer(self)
        self._live_timer.setSingleShot(True)
        self._live_timer.setInterval(LIVE_QUERY_MS)
        self._live_timer.timeout.connect(self._live_query)
        self.canvas.sketchChanged.connect(self.submit_sketch)
        self.canvas.strokeMoved.connect(self._stroke_moved)
        self.attributes.paramsChanged.connect(self.rerank)
        self.results.photoActivated.connect(self._open_result)
        self.results.moreWanted.connect(self.more_results)
        self.results.thumbSizeChanged.connect(self._thumb_size_changed)
        self.results.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.results.customContextMenuRequested.connect(self._result_menu)

        self._build_actions()
        self.query_time = QLabel("")
        self.query_time.setObjectName("queryTime")
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(160)
        self.progress.hide()
        self.cancel_indexing = QPushButton("Cancel")  # shown while a photo folder is being indexed
        self.cancel_indexing.setObjectName("cancelIndexing")
        self.cancel_indexing.setToolTip("Stop indexing; the photos done so far are kept for next time")
        self.cancel_indexing.clicked.connect(self.stop_indexing)
        self.cancel_indexing.hide()
        self._lasting: list[str] = []  # problems that hold for the whole session (autosave off, settings reset)
        self.warning = QLabel("")  # the latest of them, and how many: stays visible
        self.warning.setObjectName("warning")
        self.warning.setStyleSheet(f"color: {'#ff9a50' if is_dark(self.palette()) else '#a04000'};")  # readable on either
        self.warning.hide()
        self.statusBar().addPermanentWidget(self.warning)
        self.statusBar().addPermanentWidget(self.progress)
        self.statusBar().addPermanentWidget(self.cancel_indexing)
        self.statusBar().addPermanentWidget(self.query_time)
        screen = self.screen().availableGeometry()  # a small or scaled screen: no bigger than it, frame included
        self.resize(min(1280, screen.width() - FRAME_ROOM.width()), min(800, screen.height() - FRAME_ROOM.height()))
        self._restore_window_state()

        self.autosave = Autosave(self.data_dir)
        self._autosave_timer = QTimer(self)
        self._autosave_timer.setSingleShot(True)
        self._autosave_timer.setInterval(AUTOSAVE_DELAY_MS)
        self._autosave_timer.timeout.connect(self.autosave_now)
        self.canvas.sketchChanged.connect(self._schedule_autosave)
        self.attributes.paramsChanged.connect(self._schedule_autosave)
        log.info("SketchFind %s starting (Python %s, data folder %s, log %s)", self.version,
                 platform.python_version(), self.data_dir, self.log_file or "stderr")
        if not self.autosave.enabled:
            self.notice(f"Autosave is off: {self.autosave.error}.", lasting=True)
        if prefs_notice:
            self.notice(prefs_notice, lasting=True)
        self._prefs_error = ""  # set when the preferences cannot be kept: said once, not at every change
        try:
            (self._config_dir or settings.config_dir()).mkdir(parents=True, exist_ok=True)
        except OSError as exc:  # e.g. HOME=/nonexistent, or a read-only home
            self._preferences_not_kept(exc)

    # ------------------------------------------------------------------ layout
    def _dock(self, title: str, name: str, widget: QWidget, area) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(name)
        dock.setWidget(widget)
        # closable too (View menu brings it back): on a small screen the canvas gets the room
        dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable | QDockWidget.DockWidgetFeature.DockWidgetFloatable
                         | QDockWidget.DockWidgetFeature.DockWidgetClosable)
        self.addDockWidget(area, dock)
        return dock

    def _action(self, text: str, slot, shortcut=None, name: str = "", checkable: bool = False) -> QAction:
        action = QAction(text, self)
        action.setObjectName(name or text.lower().strip("…").replace(" ", "_"))
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        action.setCheckable(checkable)
        action.triggered.connect(slot)
        return action

    def _build_actions(self) -> None:
        stack = self.canvas.undo_stack
        self.pen_action = self._action("Pen", lambda: self.canvas.set_tool("pen"), "P", "pen", True)
        self.eraser_action = self._action("Eraser", lambda: self.canvas.set_tool("eraser"), "E", "eraser", True)
        tools = QActionGroup(self)
        tools.addAction(self.pen_action)
        tools.addAction(self.eraser_action)
        self.pen_action.setChecked(True)
        self.undo_action = stack.createUndoAction(self, "Undo")
        self.undo_action.setObjectName("undo")
        self.undo_action.setShortcut(QKeySequence.StandardKey.Undo)
        self.redo_action = stack.createRedoAction(self, "Redo")
        self.redo_action.setObjectName("redo")
        self.redo_action.setShortcut(QKeySequence.StandardKey.Redo)
        for action, word in ((self.undo_action, "Undo"), (self.redo_action, "Redo")):
            action.setIconText(word)  # the toolbar keeps one word (the menu names the step), so it never shifts
        self.clear_action = self._action("Clear", self.canvas.clear, "Ctrl+Backspace", "clear")
        self.new_action = self._action("New sketch", self.new_sketch, QKeySequence.StandardKey.New, "new")
        self.open_action = self._action("Open sketch…", self.open_sketch, QKeySequence.StandardKey.Open, "open")
        self.paste_action = self._action("Paste picture", self.paste_sketch, QKeySequence.StandardKey.Paste, "paste")
        self.save_action = self._action("Save sketch…", self.save_sketch, QKeySequence.StandardKey.Save, "save")
        self.export_action = self._action("Export PNG…", self.export_png, "Ctrl+E", "export_png")
        self.export_results_action = self._action("Export results…", self.export_results, "Ctrl+Shift+E", "export_results")
        self.folder_action = self._action("Choose photo folder…", lambda: self.choose_data_root(), None, "choose_data_root")
        self.download_action = self._action("Download benchmark data…", self.download_benchmark, None, "download")
        self.refresh_folder_action = self._action("Read photo folder again", self.refresh_folder, "F5", "refresh_folder")
        self.refresh_folder_action.setToolTip("Index what was added, changed or removed in the photo folder searched")
        self.skipped_action = self._action("Skipped photos…", self.show_skipped_photos, None, "skipped_photos")
        self.skipped_action.setEnabled(False)  # until a folder has photos that could not be used
        self.larger_action = self._action("Larger photos", lambda: self.results.zoom(1), None, "larger_photos")
        self.smaller_action = self._action("Smaller photos", lambda: self.results.zoom(-1), QKeySequence.StandardKey.ZoomOut, "smaller_photos")
        self.larger_action.setShortcuts([QKeySequence("Ctrl++"), QKeySequence("Ctrl+=")])  # "+" is shifted "=" on many keyboards
        self.next_area_action = self._action("Next area (canvas, attributes, results)", lambda: self.focus_area(1), "F6", "next_area")
        self.previous_area_action = self._action("Previous area", lambda: self.focus_area(-1), "Shift+F6", "previous_area")
        self.shortcuts_action = self._action("Keyboard shortcuts", self.show_shortcuts, "F1", "shortcuts")
        self.log_folder_action = self._action("Open log folder", self.open_log_folder, None, "log_folder")
        self.about_action = self._action("About SketchFind", self.show_about, None, "about")
        quit_action = self._action("Quit", self.close, QKeySequence.StandardKey.Quit, "quit")

        self.category_box = QComboBox()
        self.category_box.setObjectName("category")
        self.category_box.setAccessibleName("Category")
        self.category_box.addItems(list(settings.CATEGORIES))
        self.category_box.setCurrentText(self.prefs.category)
        self.category_box.currentTextChanged.connect(self.set_category)
        self.device_box = QComboBox()
        self.device_box.setObjectName("device")
        self.device_box.setAccessibleName("Device")
        self.device_box.addItem("CPU", "cpu")
        self.device_box.currentIndexChanged.connect(lambda _: self.set_device(self.device_box.currentData()))
        wheel_needs_focus(self.category_box, self.device_box)  # a wheel over the toolbar must not reload the model

        toolbar = QToolBar("Tools", self)
        toolbar.setObjectName("toolbar")
        for action in (self.pen_action, self.eraser_action, None, self.undo_action, self.redo_action,
                       self.clear_action, None, self.open_action, self.save_action):
            toolbar.addSeparator() if action is None else toolbar.addAction(action)
        for action in toolbar.actions():  # the key in the tooltip, where people look for it
            keys = action.shortcut().toString(QKeySequence.SequenceFormat.NativeText)
            if keys and not action.isSeparator():
                action.setToolTip(f"{action.text().rstrip('…')} ({keys})")
        toolbar.addSeparator()
        for text, box in ((" Category ", self.category_box), (" Device ", self.device_box)):
            label = QLabel(text)
            label.setBuddy(box)  # what a screen reader names the box by on Linux (not its accessibleName)
            toolbar.addWidget(label)
            toolbar.addWidget(box)
        self.addToolBar(toolbar)

        file_menu = self.menuBar().addMenu("&File")
        file_menu.addAction(self.new_action)
        file_menu.addAction(self.open_action)
        self.recent_menu = file_menu.addMenu("Open recent")
        self.recent_menu.setObjectName("recentMenu")
        self.recent_menu.aboutToShow.connect(self._fill_recent_menu)
        for action in (self.save_action, self.export_action, self.export_results_action, None, self.folder_action,
                       self.refresh_folder_action):
            file_menu.addSeparator() if action is None else file_menu.addAction(action)
        self.recent_folders_menu = file_menu.addMenu("Recent photo folders")
        self.recent_folders_menu.setObjectName("recentFoldersMenu")
        self.recent_folders_menu.aboutToShow.connect(self._fill_recent_menu)
        self._fill_recent_menu()
        for action in (self.skipped_action, self.download_action, None, quit_action):
            file_menu.addSeparator() if action is None else file_menu.addAction(action)
        edit_menu = self.menuBar().addMenu("&Edit")
        for action in (self.undo_action, self.redo_action, self.clear_action, self.paste_action, None,
                       self.pen_action, self.eraser_action):
            edit_menu.addSeparator() if action is None else edit_menu.addAction(action)
        view_menu = self.menuBar().addMenu("&View")
        # (not the docks' own toggleViewAction: its text follows the results dock's changing title)
        self.attributes_panel_action = self._action("Show / hide attributes panel", lambda: self._toggle(self.attributes_dock),
                                                    "Ctrl+Shift+A", "toggle_attributes")
        self.results_panel_action = self._action("Show / hide results panel", lambda: self._toggle(self.results_dock),
                                                 "Ctrl+Shift+R", "toggle_results")
        for action in (self.attributes_panel_action, self.results_panel_action, None, self.larger_action, self.smaller_action, None, self.next_area_action,
                       self.previous_area_action):
            view_menu.addSeparator() if action is None else view_menu.addAction(action)
        help_menu = self.menuBar().addMenu("&Help")
        for action in (self.shortcuts_action, self.log_folder_action, None, self.about_action):
            help_menu.addSeparator() if action is None else help_menu.addAction(action)

    @staticmethod
    def _toggle(dock: QDockWidget) -> None:
        dock.setVisible(not dock.isVisible())  # a closed (or hidden) panel comes back where it was

    def focus_area(self, step: int) -> None:
        """F6 / Shift+F6: the keyboard moves between the canvas, the attribute panel (its slider)
        and the results, instead of tabbing through every attribute's box."""
        areas = [self.canvas] + [area for dock, area in ((self.attributes_dock, self.attributes), (self.results_dock, self.results))
                                 if dock.isVisible()]
        focused = QApplication.focusWidget()  # (a closed panel is skipped: the keys would move what cannot be seen)
        here = next((i for i, area in enumerate(areas) if focused is not None and (focused is area or area.isAncestorOf(focused))), -1)
        target = areas[(here + step) % len(areas)] if here >= 0 else self.canvas
        widget = self.attributes.slider if target is self.attributes else target
        widget.setFocus(Qt.FocusReason.ShortcutFocusReason)
        if target is self.attributes:  # scrolled into view where the panel scrolls (a short screen)
            self.attributes_dock.widget().ensureWidgetVisible(widget)

    # ------------------------------------------------------------------ start / stop
    def start(self) -> None:
        """Offer a crashed session's sketch, start the worker and load the model behind the shown window."""
        try:
            if not self._started:
                self._started = True
                self._offer_restore()
        finally:  # whatever the restore met, the model loads
            if not self.worker.isRunning():
                self.worker.start()
            self._load_model()

    # ------------------------------------------------------------------ autosave / restore
    def _offer_restore(self) -> None:
        leftover = self.autosave.leftover() if self.autosave.enabled else None
        if leftover is None:
            return
        ask = getattr(self.dialogs, "ask_restore", None)
        if ask is None:  # dialogs that cannot ask (scripted): keep it for a later start
            self.autosave.keep(leftover)
            return
        snap = leftover.snapshot
        what = f"{len(snap.strokes)} stroke{'s' * (len(snap.strokes) != 1)}" + (" over a picture" if snap.image is not None else "")
        if snap.image is not None and not snap.strokes:
            what = "a picture"
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(snap.saved_at)) if snap.saved_at else "unknown time"
        try:
            restore = ask(self, f"{what}, {snap.category or 'shoes'}, saved {when}.")
        except Exception:  # a broken dialog must not lose the file
            log.exception("restore dialog failed")
            self.autosave.keep(leftover)
            return
        if restore is None:  # not now (Escape): kept, offered again at the next start
            log.info("autosaved sketch at %s kept for later", leftover.path)
            self.autosave.keep(leftover)
            return
        if restore:
            try:
                self.restore_snapshot(snap)
            except Exception as exc:
                log.exception("restoring the autosave failed")
                self.notice(f"Could not restore the autosaved sketch: {exc}")
                self.autosave.keep(leftover)
                return
            log.info("restored an autosaved sketch (%d strokes) from %s", len(snap.strokes), leftover.path)
        else:
            log.info("autosaved sketch at %s declined; removed", leftover.path)
        leftover.discard()  # restored (and saved again below in our own slot) or declined
        if restore:
            self.autosave_now()

    def restore_snapshot(self, snap: Snapshot) -> None:
        if snap.category in settings.CATEGORIES and snap.category != self.prefs.category:
            self.prefs.category = snap.category
            self.category_box.blockSignals(True)
            self.category_box.setCurrentText(snap.category)
            self.category_box.blockSignals(False)
        if snap.attribute_slider is not None:
            self.attributes.slider.setValue(min(max(snap.attribute_slider, 0), 100))
        modes = {k: v for k, v in snap.attribute_modes.items() if v in MODES}
        if modes:
            self._pending_modes = (self.prefs.category, modes)
            self._apply_pending_modes()
        step = self.canvas.replacement(lambda: self.canvas.set_image(snap.image, "Restore sketch", snap.strokes))
        if 0 < snap.facing < self.attributes.facing.count():
            self.attributes.facing.setCurrentIndex(snap.facing)
        # its changes since are in no file: the title marks them, Save offers the name
        self._name_sketch(step, Path(snap.file) if snap.file else None, snap.file_is_source)
        if snap.note:
            self.notice(snap.note)

    def _remember_modes(self) -> None:
        """The attribute modes the user set for this category's model (kept across a switch of
        category and a restart, as the slider is)."""
        if self.info is not None and self.attributes.names:
            self.prefs.attribute_modes[self.info["category"]] = {
                name: self.attributes.mode(name) for name in self.attributes.names if self.attributes.mode(name) != "Use"}

    def _apply_pending_modes(self) -> None:
        if self._pending_modes is None or not self.attributes.names:
            return
        category, modes = self._pending_modes
        if self.info is not None and self.info.get("category") != category:
            self._pending_modes = None  # another model: its attributes differ
            return
        self._pending_modes = None
        for name, mode in modes.items():
            if name in self.attributes.names:
                self.attributes.set_mode(name, mode)

    def snapshot(self) -> Snapshot:
        names = self.attributes.names
        return Snapshot(
            strokes=self.canvas.strokes,
            image=self.canvas.image_array(),
            category=self.prefs.category,
            attribute_slider=self.attributes.slider.value(),
            attribute_modes={name: self.attributes.mode(name) for name in names},
            saved_at=time.time(),
            file=str(self.sketch_file) if self.sketch_file else "",
            file_is_source=self._sketch_file_is_source,
            facing=self.attributes.facing.currentIndex(),
        )

    def _schedule_autosave(self) -> None:
        # A throttle, not a debounce: continuous drawing still saves every AUTOSAVE_DELAY_MS.
        if not self._autosave_timer.isActive():
            self._autosave_timer.start()

    def autosave_now(self) -> bool:
        """Write the autosave now (the timer calls this after every change)."""
        self._autosave_timer.stop()
        if not self.autosave.enabled:
            return False
        was_failing = bool(self.autosave.error)
        try:
            ok = self.autosave.save(self.snapshot())
        except Exception as exc:  # never let autosave take the window down
            log.exception("autosave failed")
            self.autosave.error, ok = f"{type(exc).__name__}: {exc}", False
        if not ok and not was_failing:
            log.warning("autosave failed: %s", self.autosave.error)
            self.notice(f"Autosave failed ({self.autosave.error}); your sketch is only in memory. Save it with Ctrl+S.",
                        lasting=True)
        elif ok and was_failing:
            log.info("autosave works again")
            self._lasting = [m for m in self._lasting if not m.startswith("Autosave failed")]
            self._show_lasting()
            if self.statusBar().currentMessage().startswith("Autosave failed"):
                self.statusBar().showMessage("Autosave works again.", 4000)
        return ok

    def notice(self, message: str, timeout: int = 0, lasting: bool = False) -> None:
        """Say something in the status bar; a lasting one also stays as a warning beside it
        (short text, the whole message as its tooltip) so that later messages do not hide it."""
        self.notices.append(message)
        self.statusBar().showMessage(message, timeout)
        if lasting and message not in self._lasting:
            self._lasting.append(message)
            self._show_lasting()

    def _show_lasting(self) -> None:
        """Every lasting problem stays said: the latest in short, all of them in the tooltip."""
        if not self._lasting:
            self.warning.hide()
            return
        # the one that risks the user's work first (autosave), else the latest
        latest = next((m for m in self._lasting if m.startswith("Autosave")), self._lasting[-1])
        text = latest if len(latest) <= 48 else latest[:47] + "…"
        self.warning.setText("⚠ " + (f"{len(self._lasting)} problems: {text}" if len(self._lasting) > 1 else text))
        self.warning.setToolTip("\n\n".join(self._lasting))
        self.warning.show()

    # ------------------------------------------------------------------ help
    def show_shortcuts(self) -> None:
        actions = [a for menu in self.menuBar().actions() for a in menu.menu().actions()]  # in menu order
        self.dialogs.show(AboutDialog(shortcut_rows(actions), self, "Keyboard shortcuts", "<h3>Keyboard shortcuts</h3>",
                                      "shortcutsDialog"))

    def open_log_folder(self) -> None:
        """For a bug report: the folder with the log file (and the autosave)."""
        folder = self.log_file.parent if self.log_file else None
        if folder is None or not self.dialogs.open_file(folder):
            self.notice("There is no log folder to open: the data folder is not writable, so the log goes to stderr."
                        if folder is None else f"{not_opened(folder)} The log file is {self.log_file}.")

    def show_skipped_photos(self) -> None:
        """File → Skipped photos: each file of the photo folder that could not be used, and why."""
        skipped = list(getattr(self.catalogue, "skipped", []) or [])
        source = getattr(self.catalogue, "source", "") or ""
        self.dialogs.show(AboutDialog(skipped, self, "Skipped photos",
                                      f"<h3>Skipped photos</h3><p>{len(skipped)} file{'s' * (len(skipped) != 1)} in {html.escape(source)} could not "
                                      "be searched; the other photos are.</p>", "skippedDialog"))

    def show_about(self) -> None:
        rows = about_rows(self.version, self.info, self.log_file, self.last_error)
        self.dialogs.show(AboutDialog(rows, self))

    # ------------------------------------------------------------------ download
    def download_benchmark(self) -> None:
        if self.downloader is not None and self.downloader.isRunning():
            self.notice("A download is already running.", 4000)
            return
        dest = self.dialogs.pick_folder(self, "Where to put the benchmark data (about 34 MB, every file checked)")
        if not dest:
            return
        self.downloader = Downloader(dest, self._fetch, self)
        self.downloader.progress.connect(self._download_progress)
        self.downloader.done.connect(self._download_done)
        self.downloader.failed.connect(lambda message: self._failed("download", message))
        log.info("downloading the benchmark to %s", dest)
        self.downloader.start()

    def _download_progress(self, name: str, done, total) -> None:
        self.progress.setFormat("%p%")
        self.progress.setRange(0, 1000)
        self.progress.setValue(int(1000 * done / total) if total else 0)
        self.progress.setVisible(True)
        self.statusBar().showMessage(f"Downloading {name}: {done >> 20} of {total >> 20} MiB…")

    def _download_done(self, root: str) -> None:
        self.progress.hide()
        log.info("benchmark downloaded to %s", root)
        self.notice(f"Benchmark data ready in {root}.", 6000)
        self.choose_data_root(root)  # as if chosen: searched once ready (after a model still loading), the way back kept

    def _load_model(self) -> None:
        if self._before_folder is not None:  # a folder being indexed: a cancel goes back to the root searched
            self._before_folder = (None, self._before_folder[1])  # before, not to codes of the old model
        self.info = self.catalogue = self._catalogue_job = None  # the old model's catalogue is never taken
        if self.last_error is not None and self.last_error[0] == "load":
            self.last_error = None  # a new load is on its way: a folder chosen meanwhile is loaded after it
        self.last_outcome, self._latest_request = None, -1  # nor answers asked of it: the new model asks again
        self.canvas.set_placeholder(f"Draw a {self.prefs.category[:-1]} here\n(pen, mouse or finger)")
        self.results.set_results([], {})
        self.attributes.set_probabilities(None, ())
        self.attributes.set_model_input(None)
        self.statusBar().showMessage("Loading model…")
        weights = self._weights if self._weights_category in (None, self.prefs.category) else None
        self._load_job = self.worker.load_engine(self.prefs.category, self.prefs.device, weights)
        self._load_catalogue()

    def _data_root(self) -> str | None:
        # the fetch's default folder too, so a benchmark fetched by `fgsbir data fetch` is found as the CLI finds it
        root = self.prefs.data_root or os.environ.get(DATA_ENV) or str(fetched_data_root() or "")
        if not root and not self.prefs.first_run_done:
            self.prefs.first_run_done = True
            root = self.dialogs.ask_data_root(self)
            if root == DOWNLOAD:  # the download picks its folder, and loads it when done
                QTimer.singleShot(0, self.download_benchmark)
                root = None
            if root:
                self.prefs.data_root = root
                self._remember_folder(root)
            self._save_preferences()
        return root or None

    @property
    def _catalogue_pending(self) -> bool:
        return self._catalogue_job is not None

    def _load_catalogue(self) -> None:
        root = self._data_root()
        self._catalogue_job = None if root is None else self.worker.load_catalogue(root)
        self._show_placeholder()
        if root is None:
            self.statusBar().showMessage(NO_CATALOGUE)

    def _remember_folder(self, root: str) -> None:
        self.prefs.recent_folders = settings.remember_recent(self.prefs.recent_folders, str(Path(root).absolute()))

    def choose_data_root(self, root: str | None = None) -> None:
        root = root or self.dialogs.pick_folder(self)
        if root and self._catalogue_pending and Path(root) == Path(self.prefs.data_root or ""):
            return  # that very folder is being loaded already (choosing it when loaded indexes what changed)
        if root and self.info is None and self.last_error is not None and self.last_error[0] == "load":
            self.prefs.data_root = root  # no model to index it with: kept, and searched once one loads
            self._remember_folder(root)
            self._save_preferences()
            self.notice(f"{root} is searched once a model loads (the model could not be loaded).", 10000)
            return
        if root:
            # what a cancel or a failure goes back to: the catalogue searched until the new folder is
            # ready, or the root still loading; a second folder chosen meanwhile keeps the first answer
            if self._before_folder is None and (self.catalogue is not None or self._catalogue_pending):
                self._before_folder = (self.catalogue, self.prefs.data_root)
            self.prefs.data_root = root
            self._remember_folder(root)
            self._save_preferences()
            self._catalogue_job = self.worker.load_catalogue(root)
            self._show_placeholder(not self.canvas.is_empty())

    def refresh_folder(self) -> None:
        """F5: the photo folder searched, read again (only what changed is indexed)."""
        root = self.prefs.data_root
        if root and (is_photo_folder(root) or not Path(root).exists()) and not self._catalogue_pending:
            self.choose_data_root(root)  # (a folder gone since is said to be gone)
        elif not self._catalogue_pending:
            self.notice("No photo folder of your own is searched: File → Choose photo folder…", 6000)

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        if self.windowState() & (Qt.WindowState.WindowMaximized | Qt.WindowState.WindowFullScreen):
            QTimer.singleShot(0, self._widen_results)  # once the docks have their new sizes
        elif self._results_width_before is not None:
            QTimer.singleShot(0, self._unwiden_results)

    def _widen_results(self) -> None:
        """Maximised, the results get a share of the new room (a main window gives all of it to the
        canvas: two columns of photos beside a canvas of 1,250 px); never narrowed. Restored, the
        panel gets its width back (the canvas would be squeezed)."""
        dock = self.results_dock
        if dock.isVisible() and not dock.isFloating() and dock.width() < RESULTS_SHARE * self.width():
            if self._results_width_before is None:
                self._results_width_before = dock.width()
            self.resizeDocks([dock], [int(RESULTS_SHARE * self.width())], Qt.Orientation.Horizontal)

    def _unwiden_results(self) -> None:
        width, self._results_width_before = self._results_width_before, None
        if width is not None and not self.windowState() & (Qt.WindowState.WindowMaximized | Qt.WindowState.WindowFullScreen):
            self.resizeDocks([self.results_dock], [width], Qt.Orientation.Horizontal)

    def closeEvent(self, event) -> None:
        if not self._may_replace_sketch("closing"):  # a clean exit removes the autosave: ask before the sketch goes
            event.ignore()
            return
        self._live_timer.stop()
        self._autosave_timer.stop()
        if self.downloader is not None:
            self.downloader.stop()  # cancels between blocks; a resumable .part stays
        self.prefs.attribute_slider = self.attributes.slider.value()
        self._remember_modes()
        self._save_preferences()
        state = settings.window_settings(self._config_dir)
        state.setValue("layout_version", settings.LAYOUT_VERSION)
        state.setValue("geometry", self.saveGeometry())
        state.setValue("state", self.saveState(settings.LAYOUT_VERSION))
        state.sync()
        self.hide()  # gone at once: the worker may still be saving a folder's finished photos (seconds for a large one)
        self.worker.stop()
        self.autosave.remove()  # a clean exit: nothing to restore next time
        log.info("clean exit")
        super().closeEvent(event)

    def _restore_window_state(self) -> None:
        state = settings.window_settings(self._config_dir)
        try:
            version = int(state.value("layout_version", 0) or 0)
        except (TypeError, ValueError):
            version = -1  # a damaged window.ini: the default layout
        if version != settings.LAYOUT_VERSION:
            return  # older or damaged layout: start from the default one
        geometry, dock_state = state.value("geometry"), state.value("state")
        if isinstance(geometry, QByteArray) and not self.restoreGeometry(geometry):
            log.warning("saved window geometry unreadable; using the default")
        if isinstance(dock_state, QByteArray) and not self.restoreState(dock_state, settings.LAYOUT_VERSION):
            log.warning("saved dock layout unreadable; using the default")

    def _save_preferences(self) -> None:
        if self._prefs_error:
            return
        try:
            settings.save_preferences(self.prefs, self._config_dir)
        except OSError as exc:
            self._preferences_not_kept(exc)

    def _preferences_not_kept(self, exc: OSError) -> None:
        self._prefs_error = exc.strerror or str(exc)
        where = self._config_dir or settings.config_dir()
        log.warning("preferences cannot be saved in %s: %s", where, exc)
        autosave = getattr(self, "autosave", None)
        others = "Everything else works." if autosave is None or autosave.enabled else "Autosave is off too."
        self.notice(f"Preferences will not be kept: {where} cannot be written ({self._prefs_error}). {others}",
                    lasting=True)

    # ------------------------------------------------------------------ queries
    def submit_sketch(self, include_live: bool = False) -> int | None:
        """Send the current sketch to the worker (encode + rank). Returns the request id."""
        if not include_live:
            self._live_timer.stop()
        if self.info is None:
            return None  # queued implicitly: submitted again when the model is ready
        self.shown_k = self.prefs.top_k  # a changed sketch starts again from its first page
        sketch = self.canvas.query_input(include_live) or ("empty",)
        return self._post(sketch)

    def rerank(self) -> int | None:
        """Re-rank the cached sketch code with the panel's settings (no forward pass)."""
        if self.info is None or self.canvas.is_empty():
            return None
        return self._post(None)

    def _thumb_size_changed(self, size: int) -> None:
        self.prefs.thumb_size = size  # saved with the other preferences on closing

    def more_results(self) -> None:
        """The grid was scrolled to its end: rank again for one more page (no forward pass)."""
        shown = self.last_outcome.results if self.last_outcome is not None else []
        if self._more_request is not None or len(shown) < self.shown_k or self.shown_k >= MAX_RESULTS:
            return  # already asked, or every photo that qualifies is shown
        if self.last_outcome.request_id != self._latest_request:
            return  # a newer answer is on its way, shown from its first page at the top
        self.shown_k = min(self.shown_k + self.prefs.top_k, MAX_RESULTS)
        self._more_request = self.rerank()

    def _post(self, sketch) -> int:
        self._more_request = None  # any newer request supersedes a page on its way
        request = self.worker.query(sketch, self.attributes.rank_params(self.shown_k), self.catalogue)
        self._latest_request = request
        self._submitted[request] = time.perf_counter()
        return request

    def _stroke_moved(self) -> None:
        if not self._live_timer.isActive():
            self._live_timer.start()

    def _live_query(self) -> None:
        if self.canvas.drawing:
            self.submit_sketch(include_live=True)

    def _show_thumbnails(self, request_id: int, images: dict) -> None:
        """The pictures of the grid's photos that were slow to read (they follow the results)."""
        if self.last_outcome is not None and self.last_outcome.request_id == request_id:
            self.last_outcome.thumbnails.update(images)
            self.results.set_icons(images)

    def _show_results(self, outcome: QueryOutcome) -> None:
        submitted = self._submitted.pop(outcome.request_id, None)
        if outcome.request_id != self._latest_request:
            self.dropped_results += 1  # a newer request is on its way
            return
        self._submitted = {k: v for k, v in self._submitted.items() if k > outcome.request_id}
        self.last_outcome = outcome
        more = outcome.request_id == self._more_request
        self._more_request = None
        self.results.set_results(outcome.results, outcome.thumbnails, keep_scroll=more)
        total, source = outcome.catalogue_size, getattr(outcome.catalogue, "source", "")
        where = f" in {Path(source).name}" if source else ""  # which catalogue, after switching folders
        must = self._must_have_text()
        having = f", only those with {must}" if must else ""  # why fewer than asked
        self.results_dock.setWindowTitle(f"Results: top {len(outcome.results)} of {total}{where}{having}" if outcome.results
                                         else f"Results: none of {total}{where}{having}" if total and must else "Results")
        code = outcome.code
        failed_sketch = code is None and not self.canvas.is_empty()  # (a re-rank of a sketch that could not be read)
        if self.last_error is not None and self.last_error[0] == "query" and not failed_sketch:
            if self.statusBar().currentMessage().startswith("Query: "):
                self.statusBar().clearMessage()  # this query worked: the last one's error no longer holds
            self.last_error = None
        self._show_placeholder(code is not None)
        self.attributes.set_probabilities(None if code is None else code.attribute_probs, outcome.sketch_present)
        self.attributes.set_model_input(None if code is None else code.raster)
        if code is None:
            self.query_time.setText("")
            return
        total = (time.perf_counter() - submitted) * 1000 if submitted else 0.0
        encode = f"encode {outcome.encode_ms:.0f} ms, " if outcome.encode_ms is not None else "re-rank only, "
        self.query_time.setText(f"Last query {total:.0f} ms ({encode}rank {outcome.rank_ms:.0f} ms)")
        if self.catalogue is None:
            if not self._catalogue_pending:  # else the indexing progress stays said
                self.statusBar().showMessage("Attributes predicted; no photo catalogue loaded.", 4000)
        elif not outcome.results and len(self.catalogue):
            self.statusBar().showMessage(self._none_must_have(), 4000)
        elif self.statusBar().currentMessage().startswith(NONE_MUST_HAVE):
            self.statusBar().clearMessage()  # photos qualify again

    def _must_have_text(self) -> str:
        return ", ".join(attribute_label(n) for n in self.attributes.rank_params(0).must_have)

    def _none_must_have(self) -> str:
        return f"{NONE_MUST_HAVE} ({self._must_have_text()}): set one of them back to Use."

    def _show_placeholder(self, sketched: bool = False) -> None:
        """What the result grid says while it is empty: the first thing that stands in the way."""
        if self.info is not None and self.last_error is not None and self.last_error[0] == "query" \
                and not self.canvas.is_empty() and not self.canvas.drawing:  # the sketch on the canvas could not be read (a query that works clears it)
            text = f"Nothing could be searched for this sketch. {self.last_error[1]}"
        elif self.info is None and self.last_error is not None and self.last_error[0] == "load":
            self.results_dock.setWindowTitle("Results")
            text = f"Nothing can be searched: the model could not be loaded. {self.last_error[1]}"
        elif self.catalogue is None:
            self.results_dock.setWindowTitle("Results")  # not the count of a catalogue no longer searched
            text = "Loading the photos…" if self._catalogue_pending else NO_CATALOGUE
        elif not len(self.catalogue):
            text = "The photo catalogue is empty."
        else:
            text = self._none_must_have() if sketched else EMPTY_SKETCH
        self.results.set_placeholder(text)

    # ------------------------------------------------------------------ worker signals
    def _engine_loading(self, category: str) -> None:
        if category == self.prefs.category:  # (not a model asked for before a quick switch)
            self.statusBar().showMessage(f"Loading model ({category})…")

    def _engine_ready(self, info: dict) -> None:
        if info.get("category") != self.prefs.category or info.get("load", self._load_job) != self._load_job:
            return  # a model asked for before a quick category switch: its successor is on its way
        if self._weights and info.get("weights") == str(Path(self._weights)):
            self._weights_category = info["category"]
        self.info = info
        self.last_error = None
        self.attributes.set_attributes(info["attribute_names"], info["attribute_definitions"],
                                       info["default_attribute_weight"], info.get("attribute_reliability"))
        if self._pending_modes is None:  # a restored sketch's modes win over the remembered ones
            remembered = self.prefs.attribute_modes.get(info["category"], {})
            self._pending_modes = (info["category"], {k: v for k, v in remembered.items() if v in MODES})
        self._apply_pending_modes()
        log.info("SketchFind %s: model %s (%s, hash %s) on %s", self.version, info["category"],
                 info.get("weights") or "bundled", info.get("model_hash") or "?", info["device"])
        ready = f"Model ready: {info['category']} on {info['device'].upper()}."
        if self._catalogue_pending:
            self.statusBar().showMessage(ready, 4000)
        else:
            self.statusBar().showMessage(f"{ready} {NO_CATALOGUE}")
        if not self.canvas.is_empty():
            self.submit_sketch()

    def _catalogue_progress(self, done: int, total: int, job: int) -> None:
        if job != self._catalogue_job:
            return  # cancelled or superseded: late progress from the worker
        if total == 0:  # still listing the folder: `done` photo files found so far
            self.progress.setRange(0, 0)  # busy: the total is not known yet
            self.progress.show()
            self.cancel_indexing.show()
            self.progress.setToolTip(f"{done} photos found so far")
            if self._indexing_said != ("listing", job):  # said once: queries answered meanwhile say theirs
                self._indexing_said = ("listing", job)
                folder = Path(self.prefs.data_root or "").name or "the folder"
                self.statusBar().showMessage(f"Looking for photos in {folder}… {done} found so far")
            return
        self.progress.setToolTip("")
        self.progress.setFormat("%v/%m")  # the count in the bar: the status bar stays free for queries' news
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(done)
        self.progress.setVisible(done < total)
        self.cancel_indexing.setVisible(done < total)
        if done < total and self._indexing_said != job:  # said once, not over each later message
            self._indexing_said = job
            source = getattr(self.catalogue, "source", "") if self._before_folder is not None else ""
            meanwhile = f" (searching {Path(source).name} meanwhile)" if source else ""
            folder = Path(self.prefs.data_root or os.environ.get(DATA_ENV) or "").name or "the benchmark"
            self.statusBar().showMessage(f"Indexing {total} photos of {folder}…{meanwhile}")

    def _loading_ended(self) -> None:
        """A catalogue's loading or indexing is over (done, failed or cancelled)."""
        self._show_placeholder(not self.canvas.is_empty())
        self.progress.hide()
        self.cancel_indexing.hide()

    def stop_indexing(self) -> None:
        self.worker.cancel_catalogue()
        self._catalogue_job = None  # an answer already on its way is not taken
        # a folder's finished photos are saved; the benchmark's codes only once all are done
        kept = (" The photos done so far are kept: choosing the folder again continues from there."
                if is_photo_folder(self.prefs.data_root or "") else "")
        back = self._bring_back_previous_catalogue()
        self._loading_ended()
        self.statusBar().showMessage("Indexing cancelled." + kept + (back or " Nothing is searched now."))

    def _bring_back_previous_catalogue(self) -> str:
        """After a folder was cancelled or failed: search the catalogue searched before it (or load
        its root again). Returns a note for the status bar, or "" if there was none."""
        previous, self._before_folder = self._before_folder, None
        if previous is None:
            return ""
        catalogue, self.prefs.data_root = previous
        self._save_preferences()
        if catalogue is None:  # the model changed meanwhile: that root is loaded again for it
            self._load_catalogue()
            return f" Loading {Path(self.prefs.data_root).name or 'the previous photos'} again."
        self.catalogue = catalogue
        self.rerank()
        source = getattr(self.catalogue, "source", "")
        return f" Searching {Path(source).name or 'the previous photos'} again."

    def _catalogue_ready(self, catalogue, job: int) -> None:
        if job != self._catalogue_job:
            return  # cancelled, superseded by another folder, or indexed by a model since replaced
        skipped = list(getattr(catalogue, "skipped", []) or [])
        empty = f"No photos in {Path(getattr(catalogue, 'source', '') or self.prefs.data_root or '').name or 'that folder'} " \
                "(JPEG, PNG, WebP, BMP, GIF or TIFF)."
        if (not len(catalogue.ids) and not skipped and self._before_folder is not None
                and self._before_folder[1] != self.prefs.data_root):  # (the same folder read again: it is empty now)
            # a folder chosen with no photo in it: the photos searched before stay searched
            root = self.prefs.data_root
            self._catalogue_job = None
            self._loading_ended()
            back = self._bring_back_previous_catalogue()
            self.prefs.recent_folders = [f for f in self.prefs.recent_folders if f != str(Path(root or "").absolute())]
            self._save_preferences()
            self.statusBar().showMessage(empty + back)
            return
        self.catalogue = catalogue
        self._before_folder = None
        self._catalogue_job = None
        self._loading_ended()
        turned = getattr(getattr(catalogue, "codes", None), "mirrored", None)  # folder photos facing right
        turned = 0 if turned is None else int(np.count_nonzero(turned))
        ready = f"{len(catalogue.ids)} photos ready" + (f" ({turned} facing right, searched mirrored)" if turned else "")
        self.skipped_action.setEnabled(bool(skipped))
        self._lasting = [m for m in self._lasting if not m.startswith(INDEX_UNSAVED)]  # about the folder before
        self._show_lasting()
        if getattr(catalogue, "unsaved", ""):  # every start would index the folder again: said, not hidden
            log.warning("%s", catalogue.unsaved)
            self.notice(catalogue.unsaved[:1].upper() + catalogue.unsaved[1:] + ".", lasting=True)
        if skipped:
            for name, reason in skipped:
                log.warning("photo skipped: %s: %s", name, reason)
            self.statusBar().showMessage(f"{ready}; {len(skipped)} could not be used (File → Skipped photos… says why).",
                                         30000)
        elif not catalogue.ids:
            self.statusBar().showMessage(f"{empty} File → Choose photo folder…")
        else:
            self.statusBar().showMessage(f"{ready}.", 6000 if turned else 4000)
        self.rerank()

    def _devices_available(self, devices: list) -> None:
        self.device_box.blockSignals(True)
        self.device_box.clear()
        for device in devices:
            self.device_box.addItem(device.upper(), device)
        index = self.device_box.findData(self.prefs.device)
        self.device_box.setCurrentIndex(max(index, 0))
        self.device_box.blockSignals(False)

    def _device_changed(self, actual: str, notice: str) -> None:
        self.prefs.device = actual
        self._save_preferences()
        self.device_box.blockSignals(True)
        index = self.device_box.findData(actual)
        if index < 0:
            self.device_box.addItem(actual.upper(), actual)
            index = self.device_box.findData(actual)
        self.device_box.setCurrentIndex(index)
        self.device_box.blockSignals(False)
        if self.info is not None:
            self.info["device"] = actual
        self.statusBar().showMessage(notice or f"Running on {actual.upper()}.", 6000)

    def _catalogue_failed(self, job: int, message: str) -> None:
        if job != self._catalogue_job:  # a folder since replaced or cancelled: its failure ends nothing now
            log.info("a catalogue no longer awaited failed: %s", message)
            return
        self._failed("catalogue", message)

    def _failed(self, stage: str, message: str) -> None:
        if not message:  # a quiet answer (a folder asked of a model that failed to load): only the wait ends
            if stage == "catalogue":
                self._catalogue_job = None
                self._loading_ended()
            return
        if stage == "load" or not (self.info is None and self.last_error is not None and self.last_error[0] == "load"):
            self.last_error = (stage, message)  # (while no model loaded, its error stays the one that counts)
        if stage == "query" and self.canvas.drawing:
            return  # a stroke still on its way (a dot so far): its end queries again and says what failed
        back = ""
        if stage in ("load", "catalogue", "download"):  # what was loading has ended
            if stage != "download":
                self._catalogue_job = None
            if stage == "catalogue":
                back = self._bring_back_previous_catalogue()
            self._loading_ended()
        prefix = {"load": "Model", "catalogue": "Photos", "device": "Device", "query": "Query",
                  "download": "Download"}.get(stage, stage)
        hint = " (File → Choose photo folder…)" if stage == "catalogue" else ""
        said = message if message.lower().startswith(prefix.lower()) else f"{prefix}: {message}"  # not "Download: Downloading …"
        self.statusBar().showMessage(f"{said}{hint}{back}")

    # ------------------------------------------------------------------ user actions
    def set_category(self, category: str) -> None:
        if category == self.prefs.category:
            return
        self._remember_modes()
        self.prefs.category = category
        self._save_preferences()
        self._schedule_autosave()
        self.category_box.blockSignals(True)
        self.category_box.setCurrentText(category)
        self.category_box.blockSignals(False)
        self._load_model()

    def set_device(self, device: str | None) -> None:
        if not device:
            return
        self.prefs.device = device  # what the next load uses, whatever this one does (a load failing meanwhile)
        self._save_preferences()
        if self.info is None and self.last_error is not None and self.last_error[0] == "load":
            return  # no model to move; the load error stays said
        self.statusBar().showMessage(f"Moving the model to {device.upper()}…")
        self.worker.set_device(device)

    def _may_replace_sketch(self, before: str) -> bool:
        """Before New or Open replaces a sketch with unsaved changes: Save / Discard / Cancel, as
        closing asks (Undo would bring it back, but not once the window is closed)."""
        if not self.has_unsaved_sketch():
            return True
        answer = self.dialogs.ask_save_changes(self, before)
        if answer == "save":
            self.save_sketch()
            return not self.has_unsaved_sketch()  # the save dialog cancelled, or the save failed
        return answer == "discard"

    def new_sketch(self) -> None:
        """An empty, untitled sketch (a later Save asks for a name). The old one goes by an undoable
        Clear, and Undo brings it back with its own name."""
        if not self._may_replace_sketch("starting a new one"):
            return
        step = self.canvas.replacement(self.canvas.clear)
        self._facing_to_auto(step)
        self._name_sketch(step, None)
        self.canvas.undo_stack.setClean()

    def _facing_to_auto(self, step) -> None:
        """A forced facing was for the old sketch: the new one starts on Auto, as part of the undo
        step that replaced the sketch, so that Undo brings back both."""
        if self.attributes.facing.currentIndex() == 0:
            return
        if step is None:  # nothing to undo (New sketch on an empty canvas)
            self.attributes.facing.setCurrentIndex(0)
        else:
            step.also(_SetIndex(self.attributes.facing, 0))

    def open_sketch(self, path: str | None = None, given: bool = False) -> None:
        """Open a sketch file or picture; `given`: named on the command line (the desktop's "Open
        with SketchFind"), where a failure is said in a box: the start's own messages would soon
        overwrite the status bar."""
        if not self._may_replace_sketch("opening another"):
            return
        path = path or self.dialogs.open_path(self, "Open sketch", SKETCH_FILTER)
        if not path:
            return
        try:
            step = self.canvas.replacement(lambda: self.canvas.load_file(path))  # by content: a PNG named .json opens
        except Exception as exc:  # SketchError and file errors: say so, keep the sketch
            log.warning("could not open %s: %s", path, exc)
            self.notice(f"Could not open {Path(path).name}: {exc}")
            if given:
                self.dialogs.warn(self, "Open sketch", f"Could not open {path}:\n{exc}")
        else:
            self._name_sketch(step, Path(path), self.canvas.has_image)
            self._sketch_saved_as(Path(path), is_source=self.canvas.has_image)
            self._facing_to_auto(step)

    def paste_sketch(self) -> None:
        """Edit → Paste: a picture on the clipboard (a screenshot, an image copied from another
        program) or a copied sketch file becomes the sketch, undoably."""
        self._open_mime(QApplication.clipboard().mimeData(), "Nothing to paste: copy a picture or a sketch file first.")

    def _open_mime(self, mime, nothing: str) -> bool:
        files = [url.toLocalFile() for url in (mime.urls() if mime is not None and mime.hasUrls() else []) if url.isLocalFile()]
        if files:
            self.open_sketch(files[0])
            return True
        if mime is not None and mime.hasImage():
            if not self._may_replace_sketch("using the picture"):
                return True
            image = QImage(mime.imageData())
            if max(image.width(), image.height()) > MAX_PICTURE_SIDE:  # the canvas keeps no more anyway
                image = image.scaled(MAX_PICTURE_SIDE, MAX_PICTURE_SIDE, Qt.AspectRatioMode.KeepAspectRatio,
                                     Qt.TransformationMode.SmoothTransformation)
            buffer = QBuffer()
            buffer.open(QIODevice.OpenModeFlag.WriteOnly)
            image.save(buffer, "PNG", 100)  # lossless, alpha kept, uncompressed (fast); PIL reads it as any picture
            try:
                step = self.canvas.replacement(
                    lambda: self.canvas.load_image(io.BytesIO(bytes(buffer.data())), "the pasted picture", "Paste picture"))
            except Exception as exc:
                log.warning("could not paste a picture: %s", exc)
                self.notice(f"Could not use the pasted picture: {exc}")
            else:  # a picture from no file: the old sketch's name is not this one's
                self._name_sketch(step, None)
            return True
        self.statusBar().showMessage(nothing, 4000)
        return False

    def dragEnterEvent(self, event) -> None:
        mime = event.mimeData()
        if mime.hasImage() or any(url.isLocalFile() for url in mime.urls()):
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        """A sketch file or picture dropped anywhere on the window opens as the sketch."""
        if self._open_mime(event.mimeData(), "Drop a sketch file or a picture."):
            event.acceptProposedAction()

    def save_sketch(self, path: str | None = None) -> None:
        if self.canvas.is_empty():
            self.statusBar().showMessage("Nothing to save: the canvas is empty.", 4000)
            return
        # a stroke file holds strokes only: a sketch with a picture is saved as a picture, strokes drawn in
        kind, filters = ((".png", "PNG image (*.png)") if self.canvas.has_image
                         else (".json", "Stroke files (*.json);;PNG image (*.png)"))
        if self.sketch_file is None:
            suggested = f"sketch{kind}"
        elif self._sketch_file_is_source:  # a scan or photo opened as the sketch: not replaced by its copy
            suggested = str(self.sketch_file.with_name(f"{self.sketch_file.stem}-sketch{kind}"))
        else:  # its own name where it already is that kind (UP.PNG stays UP.PNG)
            suggested = str(self.sketch_file if self.sketch_file.suffix.lower() == kind else self.sketch_file.with_suffix(kind))
        path = path or self.dialogs.save_path(self, "Save sketch", filters, suggested)
        if not path:
            return
        if not Path(path).suffix:  # typed without one: the kind the dialog offered
            path = self._suffixed(path, kind)
            if path is None:
                return
        if self.canvas.has_image and Path(path).suffix.lower() != ".png":
            self.notice(f"Not saved: this sketch has a picture, which a stroke file cannot hold. Save it as a "
                        f"PNG picture ({Path(path).with_suffix('.png').name}).")
            return
        if Path(path).suffix.lower() == ".png":
            data, carried = self.canvas.png_bytes()
            if not self._write_or_say(path, lambda p: atomic_write_bytes(Path(p), data), "save"):
                return
            if not carried:  # the file holds the picture only: the sketch is not in it, so not saved
                self.notice(TOO_MANY_STROKES.format(name=Path(path).name, verb="Saved"))
                return
        elif not self._write_or_say(path, self.canvas.save_json, "save"):
            return
        self._sketch_saved_as(Path(path))
        self.statusBar().showMessage(f"Saved {path}", 4000)

    def _suffixed(self, path: str, suffix: str) -> str | None:
        """`path` + `suffix` (a name given without it); None where that file exists and the user
        would rather not replace it (the file dialog asked about the name without the suffix)."""
        full = path + suffix
        if Path(full).exists() and not self.dialogs.confirm_replace(self, full):
            self.statusBar().showMessage("Nothing was saved.", 4000)
            return None
        return full

    def _write_or_say(self, path: str, write: Callable[[str], None], verb: str) -> bool:
        """write(path); a failure (no permission, disk full, ...) is said, and the old file is untouched."""
        try:
            write(path)
        except Exception as exc:
            log.warning("could not %s %s: %s", verb, path, exc)
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            self.notice(f"Could not {verb} {Path(path).name}: {reason}. Nothing was overwritten.")
            return False
        return True

    def _sketch_step(self):
        """The undo step that put the sketch now shown on the canvas (None: the first sketch)."""
        stack = self.canvas.undo_stack
        for index in range(stack.index() - 1, -1, -1):
            command = stack.command(index)
            if getattr(command, "sketch_name", None) is not None:
                return command
        return None

    def _name_sketch(self, step, path: Path | None, is_source: bool = False) -> None:
        """Name the sketch that `step` put on the canvas (None: the sketch now shown)."""
        step = step or self._sketch_step()
        if step is None:
            self._first_sketch_name = (path, is_source)
        else:
            step.sketch_name = (path, is_source)
        self.sketch_file, self._sketch_file_is_source = path, is_source
        self._show_sketch_file()

    def _name_follows_undo(self, index: int) -> None:
        previous, self._undo_index = self._undo_index, index
        if abs(index - previous) <= 1:  # a stroke drawn, undone or redone (0: drawn at the undo limit)
            crossed = self.canvas.undo_stack.command(index if index < previous else index - 1)
            if getattr(crossed, "sketch_name", None) is None:
                return  # a step that put no other sketch on the canvas: the name stays (no walk down the stack)
        step = self._sketch_step()
        self.sketch_file, self._sketch_file_is_source = self._first_sketch_name if step is None else step.sketch_name
        self._show_sketch_file()

    def _sketch_saved_as(self, path: Path, is_source: bool = False) -> None:
        """The sketch as it is now is in `path`: nothing to lose on closing."""
        self._name_sketch(None, path, is_source)
        self.canvas.undo_stack.setClean()
        self._schedule_autosave()  # a crash now restores the sketch under this name
        self._show_sketch_file()
        self.prefs.recent_sketches = settings.remember_recent(self.prefs.recent_sketches, str(path.absolute()))
        self._save_preferences()

    def _fill_recent_menu(self) -> None:
        """File → Open recent and Recent photo folders, rebuilt as they open."""
        for menu, key, empty in ((self.recent_menu, "recent_sketches", "No recent sketches"),
                                 (self.recent_folders_menu, "recent_folders", "No recent photo folders")):
            menu.clear()
            paths = getattr(self.prefs, key)
            for number, path in enumerate(paths, 1):
                action = menu.addAction(f"&{number} {Path(path).name or path}")
                action.setToolTip(path)
                action.setStatusTip(path)
                action.triggered.connect(lambda _=False, key=key, path=path: self.open_recent(path, key))
            if paths:
                menu.addSeparator()
                menu.addAction("Clear list", lambda key=key: self.clear_recent(key))
            else:
                menu.addAction(empty).setEnabled(False)

    def open_recent(self, path: str, key: str = "recent_sketches") -> None:
        """Open a recent sketch file or photo folder; one moved or deleted since is said so and forgotten."""
        folder = key == "recent_folders"
        if not (Path(path).is_dir() if folder else Path(path).is_file()):
            setattr(self.prefs, key, [p for p in getattr(self.prefs, key) if p != path])
            self._save_preferences()
            what = "photo folders" if folder else "sketches"
            self.notice(f"{Path(path).name or path} is no longer there ({path}); it was removed from the recent {what}.")
            return
        self.choose_data_root(path) if folder else self.open_sketch(path)

    def clear_recent(self, key: str = "recent_sketches") -> None:
        setattr(self.prefs, key, [])
        self._save_preferences()

    def _show_sketch_file(self, *_) -> None:
        name = self.sketch_file.name if self.sketch_file else "Untitled sketch"
        self.setWindowTitle(f"{name}[*] — SketchFind")  # [*]: Qt shows "*" while there are unsaved changes
        self.setWindowModified(not self.canvas.undo_stack.isClean())

    def has_unsaved_sketch(self) -> bool:
        return not self.canvas.undo_stack.isClean() and not self.canvas.is_empty()

    def export_png(self, path: str | None = None) -> None:
        """A picture of the sketch (carrying its strokes, `SketchCanvas.png_bytes`). Unlike Save,
        the sketch keeps its own file (or none), and closing still asks about unsaved changes."""
        if self.canvas.is_empty():
            self.statusBar().showMessage("Nothing to export: the canvas is empty.", 4000)
            return
        path = path or self.dialogs.save_path(self, "Export PNG", "PNG image (*.png)", "sketch.png")
        if not path:
            return
        path = path if path.lower().endswith(".png") else self._suffixed(path, ".png")
        if path is None:
            return
        data, carried = self.canvas.png_bytes()
        if self._write_or_say(path, lambda p: atomic_write_bytes(Path(p), data), "export"):
            if carried and self.sketch_file is not None and Path(path).absolute() == self.sketch_file.absolute():
                self._sketch_saved_as(Path(path))  # over the sketch's own file: that is a save (it was not noticed)
            if carried:
                self.statusBar().showMessage(f"Exported {path}", 4000)
            else:
                self.notice(TOO_MANY_STROKES.format(name=Path(path).name, verb="Exported"))

    def export_results(self, path: str | None = None) -> None:
        """File → Export results: the photos now in the grid, with distances and attributes, as CSV."""
        results = self.last_outcome.results if self.last_outcome is not None else []
        if not results:
            self.statusBar().showMessage("No results to export: draw a sketch first.", 4000)
            return
        path = path or self.dialogs.save_path(self, "Export results", "CSV table (*.csv)", "results.csv")
        if not path:
            return
        path = path if path.lower().endswith(".csv") else self._suffixed(path, ".csv")
        if path is None:
            return
        files = []
        for result in results:
            try:
                files.append(self.last_outcome.catalogue.photo_file(result.index))  # the rows are its rows
            except Exception:
                files.append(None)
        try:
            # a file name that is not UTF-8 (from an old archive) is written as the bytes it is
            atomic_write_bytes(Path(path), results_csv(results, files).encode("utf-8", "surrogateescape"))
        except OSError as exc:
            log.warning("could not export results to %s: %s", path, exc)
            self.notice(f"Could not export the results to {Path(path).name}: {exc.strerror or exc}.")
        else:
            self.statusBar().showMessage(f"Exported {len(results)} results to {path}", 4000)

    def result_menu(self, result) -> QMenu:
        """The right-click menu of one result: large view, copy its id or file, open its file."""
        menu = QMenu(self)
        menu.addAction("Large view", lambda: self._open_result(result))
        menu.addAction(f"Copy id ({result.id})", lambda: QApplication.clipboard().setText(str(result.id)))
        catalogue = self.last_outcome.catalogue if self.last_outcome is not None else None  # the rows are its rows
        try:
            photo_file = catalogue.photo_file(result.index) if catalogue is not None else None
        except Exception:
            photo_file = None
        if photo_file is not None:  # a photo of the user's own folder
            menu.addAction("Copy file path", lambda: QApplication.clipboard().setText(str(photo_file)))

            def open_photo() -> None:
                if not self.dialogs.open_file(photo_file):
                    self.notice(not_opened(photo_file))

            menu.addAction("Open photo file", open_photo)
        return menu

    def _result_menu(self, pos) -> None:
        result = self.results.indexAt(pos).data(RESULT_ROLE)
        if result is not None:
            self.result_menu(result).exec(self.results.viewport().mapToGlobal(pos))

    def _open_result(self, result) -> None:
        outcome = self.last_outcome
        catalogue = outcome.catalogue if outcome is not None else None  # the one ranked: the rows are its rows
        if result is None or catalogue is None or outcome is None:
            return

        def picture(r):  # off the GUI thread: a folder's photo read again at DETAIL_SIDE (None: the grid's stays)
            return catalogue.thumbnail(r.index, size=DETAIL_SIDE)

        code = outcome.code
        names = self.info["attribute_names"] if self.info else []
        sketch = {} if code is None else {n: float(p) for n, p in zip(names, code.attribute_probs)}
        definitions = self.info.get("attribute_definitions", {}) if self.info else {}
        results = outcome.results
        position = next((i for i, r in enumerate(results) if r.index == result.index), 0)
        self.dialogs.show(ResultDialog(results, position, picture, sketch, outcome.sketch_present, definitions, self,
                                       lambda r: catalogue.photo_file(r.index), self.dialogs.open_file,
                                       None if code is None else code.raster,
                                       quick_picture=lambda r: outcome.thumbnails.get(r.index)))
