"""Entry point of the frozen SketchFind (the script PyInstaller bundles; see sketchfind.spec).

Runs ``app.__main__.main`` like the ``sketchfind`` console script, plus two things that only
make sense for the bundle:

* The demo catalogue: when the build was given ``--data-root``, the benchmark files lie in
  ``<bundle>/data/qmul_v1``; if $FGSBIR_DATA is not set, it points there.
* Test hooks for packaging/smoke_test.sh and packaging/measure.sh, off unless set:
    SKETCHFIND_REPORT_SHOWN=1       print "sketchfind-shown: <unix time>" to stderr when the
                                    main window first paints (with SKETCHFIND_LAUNCHED_AT=<unix
                                    time of the exec>, also the launch-to-window seconds)
    SKETCHFIND_QUIT_AFTER_MS=N      close every window and quit N ms after start (exit code 0)
    SKETCHFIND_SCREENSHOT=FILE.png  save the main window's picture just before that quit
  They work by creating the QApplication here, before ``main()`` (which reuses an existing
  instance). They belong in app/__main__.py as ``--quit-after MS`` / ``--screenshot FILE``;
  this shim can go once they are there.
"""
from __future__ import annotations

import os
import sys
import time


def _bundle_dir() -> str:
    return os.path.dirname(os.path.realpath(sys.executable if getattr(sys, "frozen", False) else __file__))


def _default_data_root() -> None:
    if os.environ.get("FGSBIR_DATA"):
        return
    for candidate in (os.path.join(_bundle_dir(), "data", "qmul_v1"),
                      # macOS .app: Contents/MacOS/SketchFind -> Contents/Resources/data
                      os.path.join(_bundle_dir(), "..", "Resources", "data", "qmul_v1")):
        if os.path.isfile(os.path.join(candidate, "SHA256SUMS")):
            os.environ["FGSBIR_DATA"] = os.path.normpath(candidate)
            return


def _wants_window(argv: list[str]) -> bool:
    return not any(a in ("--query", "-h", "--help") or a.startswith("--query=") for a in argv)


def _install_test_hooks(argv: list[str]) -> None:
    report = os.environ.get("SKETCHFIND_REPORT_SHOWN") == "1"
    quit_after = os.environ.get("SKETCHFIND_QUIT_AFTER_MS")
    screenshot = os.environ.get("SKETCHFIND_SCREENSHOT")
    if not (report or quit_after) or not _wants_window(argv):
        return
    from PySide6.QtCore import QEvent, QObject, QTimer
    from PySide6.QtWidgets import QApplication, QMainWindow

    app = QApplication.instance() or QApplication(sys.argv[:1])

    def main_window():
        return next((w for w in app.topLevelWidgets() if isinstance(w, QMainWindow)), None)

    if report:
        class FirstPaint(QObject):
            def eventFilter(self, obj, event):
                if event.type() == QEvent.Type.Paint and isinstance(obj, QMainWindow):
                    shown = time.time()
                    app.removeEventFilter(self)
                    line = f"sketchfind-shown: {shown:.3f}"
                    launched = os.environ.get("SKETCHFIND_LAUNCHED_AT")
                    if launched:
                        line += f" launch_to_window_s: {shown - float(launched):.3f}"
                    print(line, file=sys.stderr, flush=True)
                return False

        app._sketchfind_first_paint = FirstPaint(app)  # kept alive with the app
        app.installEventFilter(app._sketchfind_first_paint)

    if quit_after:
        def finish():
            window = main_window()
            if window is not None:  # what the window had loaded (MainWindow's attributes, if it has them)
                catalogue = getattr(window, "catalogue", None)
                print(f"sketchfind-state: model={'ready' if getattr(window, 'info', None) else 'none'} "
                      f"catalogue={len(catalogue) if catalogue is not None else 0} "
                      f"error={getattr(window, 'last_error', None)}", file=sys.stderr, flush=True)
            if screenshot and window is not None:
                ok = window.grab().save(screenshot)
                print(f"sketchfind-screenshot: {screenshot} {'saved' if ok else 'FAILED'}", file=sys.stderr, flush=True)
            app.closeAllWindows()  # runs MainWindow.closeEvent: preferences saved, worker joined
            QTimer.singleShot(0, app.quit)

        QTimer.singleShot(int(quit_after), finish)


def run() -> int:
    import multiprocessing

    multiprocessing.freeze_support()
    _default_data_root()
    _install_test_hooks(sys.argv[1:])
    from app.__main__ import main

    return main()


if __name__ == "__main__":
    sys.exit(run())
