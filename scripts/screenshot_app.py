"""Start SketchFind in a real (virtual) X display, draw a boot, wait for results, save a screenshot.

    python scripts/screenshot_app.py [--out docs/screenshot.png] [--weights FILE] [--data-root DIR] [--toe left|right]

--data-root may also be a folder of your own product photos (indexed as a user catalogue).

Without a display it re-runs itself under
``QT_QPA_PLATFORM=xcb xvfb-run -a -s "-screen 0 1280x800x24"`` (Debian/Ubuntu:
``apt-get install -y --no-install-recommends xvfb libxcb-icccm4 libxcb-keysyms1``).
The boot is drawn with real mouse events, stroke by stroke, like a user would.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# A side view of an ankle boot, toe to the right, in a unit box (x right, y down).
BOOT_STROKES = [
    # outline: back of the shaft, heel, sole, toe, vamp, front of the shaft
    [(0.34, 0.06), (0.33, 0.25), (0.32, 0.45), (0.30, 0.62), (0.28, 0.74), (0.28, 0.86), (0.40, 0.87),
     (0.60, 0.87), (0.80, 0.87), (0.90, 0.86), (0.95, 0.82), (0.94, 0.76), (0.88, 0.71), (0.76, 0.66),
     (0.66, 0.60), (0.60, 0.52), (0.57, 0.40), (0.56, 0.25), (0.57, 0.06)],
    [(0.34, 0.06), (0.45, 0.04), (0.57, 0.06)],  # top opening
    [(0.28, 0.80), (0.45, 0.81), (0.70, 0.81), (0.93, 0.80)],  # sole line
    [(0.30, 0.86), (0.30, 0.93), (0.40, 0.93), (0.41, 0.87)],  # heel block
    [(0.50, 0.16), (0.60, 0.14)], [(0.50, 0.26), (0.60, 0.24)], [(0.51, 0.36), (0.61, 0.34)],  # laces
    [(0.53, 0.46), (0.63, 0.44)],
    [(0.35, 0.60), (0.45, 0.62), (0.52, 0.55)],  # ankle seam
]


def _relaunch_under_xvfb() -> int:
    if not shutil.which("xvfb-run"):
        print("No display and no xvfb-run: install xvfb (see this script's docstring).", file=sys.stderr)
        return 2
    env = dict(os.environ, QT_QPA_PLATFORM="xcb", SKETCHFIND_UNDER_XVFB="1")
    command = ["xvfb-run", "-a", "-s", "-screen 0 1280x800x24", sys.executable, __file__, *sys.argv[1:]]
    return subprocess.call(command, env=env)


def draw(canvas, strokes, qtest, app) -> None:
    from PySide6.QtCore import QPoint, Qt

    size = min(canvas.width(), canvas.height()) * 0.8
    left, top = (canvas.width() - size) / 2, (canvas.height() - size) / 2
    for stroke in strokes:
        points = [QPoint(int(left + x * size), int(top + y * size)) for x, y in stroke]
        qtest.mousePress(canvas, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, points[0])
        for a, b in zip(points[:-1], points[1:]):
            for k in range(1, 5):  # a few samples per segment, like a real pointer
                qtest.mouseMove(canvas, a + (b - a) * (k / 4))
                app.processEvents()
        qtest.mouseRelease(canvas, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, points[-1])
        app.processEvents()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "docs" / "screenshot.png"))
    parser.add_argument("--weights", default=None, help="model file (default: the bundled one)")
    parser.add_argument("--data-root", default=None, help="benchmark folder (default $FGSBIR_DATA)")
    parser.add_argument("--category", default="shoes", choices=("shoes", "chairs"))
    parser.add_argument("--timeout", type=float, default=180.0)
    parser.add_argument("--toe", choices=("left", "right"), default="left",
                        help="which way the boot faces (the benchmark's shoes face left; see the README)")
    parser.add_argument("--size", default="1280x760", help="window size, WIDTHxHEIGHT")
    parser.add_argument("--picture", default=None, help="open this sketch picture (PNG, JPEG, ...) instead of drawing the boot")
    parser.add_argument("--facing", default=None, help="force the facing (Auto, As drawn, Mirrored) after drawing")
    parser.add_argument("--large", type=int, default=0, metavar="RANK",
                        help="also save the large view of the result at RANK (OUT with _large before .png)")
    parser.add_argument("--more", type=int, default=0,
                        help="scroll the result grid to its end this many times (each shows one page more)")
    args = parser.parse_args()
    if not os.environ.get("DISPLAY") and not os.environ.get("SKETCHFIND_UNDER_XVFB"):
        return _relaunch_under_xvfb()

    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("SKETCHFIND_CONFIG_DIR", tempfile.mkdtemp(prefix="sketchfind-shot-"))
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication

    from app.main_window import MainWindow

    class NoDialogs:  # a screenshot run never waits for a person
        def __getattr__(self, name):
            return lambda *a, **k: None

        def ask_save_changes(self, parent, before="closing"):  # closing after drawing: no file wanted
            return "discard"

        def show(self, dialog):  # kept, shown without blocking, for --large
            self.shown = dialog

    app = QApplication([sys.argv[0]])
    window = MainWindow(dialogs=NoDialogs(), weights=args.weights, category=args.category,
                        data_root=args.data_root or os.environ.get("FGSBIR_DATA"))
    window.resize(*(int(v) for v in args.size.lower().split("x")))
    window.move(0, 0)
    window.show()
    window.start()

    def wait(condition, seconds: float) -> bool:
        end = time.monotonic() + seconds
        while not condition() and time.monotonic() < end:
            app.processEvents()
            time.sleep(0.01)
        return condition()

    try:
        if not wait(lambda: window.catalogue is not None or window.last_error is not None, args.timeout):
            print("The model or catalogue did not load in time.", file=sys.stderr)
            return 1
        if window.last_error is not None:
            print(f"Cannot take the screenshot: {window.last_error[1]}", file=sys.stderr)
            return 1
        strokes = BOOT_STROKES if args.toe == "right" else [[(1.0 - x, y) for x, y in s] for s in BOOT_STROKES]
        if args.picture:
            window.open_sketch(args.picture)
        else:
            draw(window.canvas, strokes, QTest, app)
        done = wait(lambda: window.last_outcome is not None and window.last_outcome.code is not None
                    and window.last_outcome.request_id == window._latest_request and window.results.ids(), 60)
        if not done:
            print(f"No results: {window.last_error}", file=sys.stderr)
            return 1
        if args.facing:
            before = window.last_outcome
            window.attributes.facing.setCurrentText(args.facing)
            wait(lambda: window.last_outcome is not before and window.last_outcome.request_id == window._latest_request, 30)
        for _ in range(args.more):
            shown = len(window.results.ids())
            bar = window.results.verticalScrollBar()
            bar.setValue(bar.maximum())
            if not wait(lambda: len(window.results.ids()) > shown, 30):
                print(f"No more results after {shown}", file=sys.stderr)
                break
        wait(lambda: False, 0.5)  # let the thumbnails paint
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        if not window.grab().save(str(out)):
            print(f"Could not write {out}", file=sys.stderr)
            return 1
        print(f"Saved {out} ({window.query_time.text()}; top: {', '.join(window.results.ids()[:5])})")
        wide = window.minimumSizeHint().width()
        window.attributes_panel_action.trigger()  # closed, as on a small screen
        print(f"Least window width: {wide} px; {window.minimumSizeHint().width()} px with the attribute panel closed")
        window.attributes_panel_action.trigger()
        if args.large:
            window._open_result(window.last_outcome.results[args.large - 1])
            dialog = window.dialogs.shown
            dialog.show()
            wait(lambda: False, 0.5)
            large = out.with_name(out.stem + "_large.png")
            dialog.grab().save(str(large))
            print(f"Saved {large} ({dialog.windowTitle()}, {dialog.width()} x {dialog.height()})")
        return 0
    finally:
        window.close()


if __name__ == "__main__":
    sys.exit(main())
