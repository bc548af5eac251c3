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
    from fgsbir_core.cli import add_query_options
    from fgsbir_core.data import RETRIEVAL_CATEGORIES

    parser = argparse.ArgumentParser(prog="sketchfind", description="SketchFind: find photos by sketching them.")
    parser.add_argument("--category", choices=RETRIEVAL_CATEGORIES, default=None, help="product category (default: last used)")
    parser.add_argument("--data-root", default=None, help="benchmark data folder (default $FGSBIR_DATA)")
    query = parser.add_argument_group("answering from the command line, without a window (as `fgsbir query`)")
    query.add_argument("--query", nargs="+", metavar="SKETCH", help="sketch files (.json strokes or images): print results and exit")
    add_query_options(query)
    return parser


def run_query(args) -> int:
    """The same answer as `fgsbir query`, for the bundled program; the same exit status (2 on error)."""
    from fgsbir_core.cli import answer_queries, report_failed

    try:
        answers = answer_queries(args.query, args.category or "shoes", args.top, args.gallery, args.data_root,
                                 args.catalogue, args.weights, args.attribute_weight, args.facing)
    except Exception as exc:  # a clear message and a non-zero status, no traceback
        print(f"sketchfind: error: {exc}", file=sys.stderr)
        return 2
    json.dump(answers, sys.stdout, indent=None if not sys.stdout.isatty() else 2)
    sys.stdout.write("\n")
    return report_failed(answers, "sketchfind")


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
