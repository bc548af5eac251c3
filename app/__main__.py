"""Entry point: ``python -m app`` / ``sketchfind``.

``--query SKETCH ... --json`` answers from the command line and exits without creating a
QApplication (PySide6 is not even imported on that path).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sketchfind", description="SketchFind: find photos by sketching them.")
    parser.add_argument("--query", nargs="+", metavar="SKETCH", help="sketch files (.json strokes or images): print results and exit")
    parser.add_argument("--category", choices=("shoes", "chairs"), default=None, help="product category (default: last used)")
    parser.add_argument("--top", type=int, default=10, help="results per sketch with --query (default 10)")
    parser.add_argument("--json", action="store_true", help="with --query: print JSON (the only output format)")
    parser.add_argument("--gallery", choices=("test", "all"), default="test", help="with --query: benchmark photos to search (as fgsbir query)")
    parser.add_argument("--catalogue", default=None, metavar="FOLDER", help="with --query: a folder of your own photos to search instead")
    parser.add_argument("--data-root", default=None, help="benchmark data folder (default $FGSBIR_DATA)")
    parser.add_argument("--weights", default=None, help="model weights file (default: the bundled model)")
    return parser


def run_query(args) -> int:
    """The same answer as `fgsbir query`, for the bundled program."""
    from fgsbir_core.catalogue_cli import query_catalogue_json
    from fgsbir_core.cli import query_json

    category = args.category or "shoes"
    paths = [str(p) for p in args.query]
    if args.top < 1:
        print(f"sketchfind: --top must be at least 1, not {args.top}", file=sys.stderr)
        return 2
    try:
        if args.catalogue:
            answers = query_catalogue_json(paths, args.catalogue, category, args.top, args.weights)
        else:
            answers = query_json(paths, category, args.top, args.gallery, args.data_root, args.weights)
    except Exception as exc:  # a clear message and a non-zero status, no traceback
        print(f"sketchfind: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    json.dump(answers, sys.stdout, indent=None if not sys.stdout.isatty() else 2)
    sys.stdout.write("\n")
    failed = [answer["error"] for answer in answers if "error" in answer]  # the other sketches are still answered
    for message in failed:
        print(f"sketchfind: {message}", file=sys.stderr)
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.query:
        return run_query(args)

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
    QTimer.singleShot(0, window.start)  # the window shows first, the model loads behind it
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
