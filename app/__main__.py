"""Entry point: ``python -m app`` / ``sketchfind``.

``--query SKETCH ... --json`` answers from the command line and exits without creating a
QApplication (PySide6 is not even imported on that path).
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def _parser() -> argparse.ArgumentParser:
    from fgsbir_core.cli import ArgumentParser, add_query_options
    from fgsbir_core.data import RETRIEVAL_CATEGORIES

    from fgsbir_core import version

    parser = ArgumentParser(prog="sketchfind", description="SketchFind: find photos by sketching them.")
    parser.add_argument("--version", action="version", version=f"SketchFind {version()}")
    parser.add_argument("--category", choices=RETRIEVAL_CATEGORIES, default=None,
                        help="product category (default: the last one used in the window; with --query, the --weights model's, else shoes)")
    parser.add_argument("--data-root", default=None, help="benchmark data folder (default $FGSBIR_DATA)")
    parser.add_argument("sketch", nargs="?", help="a sketch to open in the window (stroke file, SVG or picture)")
    query = parser.add_argument_group("answering from the command line, without a window (as `fgsbir query`)")
    query.add_argument("--query", nargs="+", metavar="SKETCH", help="sketch files (.json strokes or images): print results and exit")
    add_query_options(query)
    return parser


def run_query(args) -> int:
    """The same answer as `fgsbir query`, for the bundled program; the same exit status (2 on error)."""
    from fgsbir_core.cli import answer_queries, print_answers, report_failed

    try:
        answers = answer_queries(args.query, args.category, args.top, args.gallery, args.data_root,
                                 args.catalogue, args.weights, args.attribute_weight, args.facing)
        print_answers(answers, args.json)
    except KeyboardInterrupt:
        print("sketchfind: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a clear message and a non-zero status, no traceback
        print(f"sketchfind: error: {exc}", file=sys.stderr)
        return 2
    return report_failed(answers, "sketchfind")


def display_problem() -> str:
    """Why no window can open here ("" when one can, or when we cannot tell): Qt would abort
    with a core dump and a hint about a library that is in fact there."""
    platform = os.environ.get("QT_QPA_PLATFORM", "")
    if not sys.platform.startswith("linux") or platform not in ("", "xcb", "wayland"):
        return ""  # offscreen, vnc, ...: nothing to reach
    wayland = _wayland_reachable() if platform in ("", "wayland") else False
    if platform == "wayland" or (wayland and not os.environ.get("DISPLAY")):
        return "" if wayland else f"cannot reach the Wayland display {os.environ.get('WAYLAND_DISPLAY') or '(WAYLAND_DISPLAY is not set)'}"
    display = os.environ.get("DISPLAY", "")
    if not display:
        return "no display: DISPLAY is not set (start SketchFind from a desktop session)"
    refused = _x_display_refuses(display)
    if refused and not wayland:
        return f"cannot connect to the display {display} ({refused})"
    return ""


def _wayland_reachable() -> bool:
    name = os.environ.get("WAYLAND_DISPLAY", "")
    if not name:
        return False
    path = Path(name) if os.path.isabs(name) else Path(os.environ.get("XDG_RUNTIME_DIR", "/nonexistent"), name)
    return path.exists()


def _x_display_refuses(display: str) -> str:
    """Why the X server at `display` takes no client ("" when it does, or when libxcb, which Qt's
    window needs anyway, cannot be loaded to ask): local or remote, authorisation included."""
    import ctypes
    import ctypes.util

    try:
        xcb = ctypes.CDLL(ctypes.util.find_library("xcb") or "libxcb.so.1")
    except OSError:
        return ""
    xcb.xcb_connect.restype = ctypes.c_void_p
    xcb.xcb_connect.argtypes = [ctypes.c_char_p, ctypes.c_void_p]
    xcb.xcb_connection_has_error.argtypes = [ctypes.c_void_p]
    xcb.xcb_disconnect.argtypes = [ctypes.c_void_p]
    connection = xcb.xcb_connect(display.encode(), None)
    try:
        error = xcb.xcb_connection_has_error(connection)
    finally:
        xcb.xcb_disconnect(connection)
    return "" if not error else "is the X server running, and may this user use it? DISPLAY may be stale"


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.query and args.sketch:
        parser.error(f"{args.sketch}: a sketch to open in the window goes without --query")
    if args.query:
        return run_query(args)
    given = [f"--{name.replace('_', '-')}" for name in ("gallery", "catalogue", "attribute_weight", "json")
             if getattr(args, name) not in (None, False)]
    given += ["--top"] * (args.top != parser.get_default("top")) + ["--facing"] * (args.facing != "auto")
    if given:
        parser.error(f"{', '.join(given)} go{'es' * (len(given) == 1)} with --query (answers without a window)")
    problem = display_problem()
    if problem:
        print(f"sketchfind: error: {problem}; or answer from the command line: sketchfind --query SKETCH", file=sys.stderr)
        return 2

    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from .main_window import MainWindow

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("SketchFind")
    app.setOrganizationName("SketchFind")
    app.setDesktopFileName("sketchfind")
    icon = Path(__file__).resolve().parent.parent / "resources" / "icons" / "sketchfind.png"
    if icon.is_file():
        from PySide6.QtGui import QIcon

        app.setWindowIcon(QIcon(str(icon)))
    window = MainWindow(weights=args.weights, category=args.category, data_root=args.data_root)
    from . import logs

    logs.install_excepthook(lambda message: window.notice(message))
    window.show()
    def start() -> None:  # the window shows first, the model loads behind it
        window.start()
        if args.sketch:  # "Open with SketchFind": once the restore offer is answered, so the file is what shows
            window.open_sketch(str(Path(args.sketch).resolve()), given=True)

    QTimer.singleShot(0, start)
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
