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
    parser.add_argument("--gallery", default=None, help="with --query: a folder of photos to search instead of the benchmark")
    parser.add_argument("--data-root", default=None, help="benchmark data folder (default $FGSBIR_DATA)")
    parser.add_argument("--weights", default=None, help="model weights file (default: the bundled model)")
    return parser


def _query_function():
    """``fgsbir_core.cli.query_json`` when the core provides it, else a small fallback."""
    try:
        from fgsbir_core.cli import query_json
    except ImportError:
        return _fallback_query_json
    return query_json


def _fallback_query_json(paths, category, top, gallery, data_root):
    from fgsbir_core.engine import Engine

    if gallery:
        raise SystemExit("--gallery needs fgsbir_core.cli, which this installation lacks.")
    engine = Engine(category=category, weights=None, device="cpu")
    engine.load()
    catalogue = engine.load_catalogue(data_root=data_root)
    answers = []
    for path in paths:
        if str(path).lower().endswith(".json"):
            data = json.loads(Path(path).read_text(encoding="utf-8"))
            raw = data.get("strokes", []) if isinstance(data, dict) else data
            strokes = [[p[:3] for p in (s.get("points") if isinstance(s, dict) else s)] for s in raw]
            code = engine.encode_strokes(strokes)
        else:
            from PIL import Image

            with Image.open(path) as image:
                code = engine.encode_image(image.copy())
        results = engine.rank(code, catalogue, top_k=top)
        answers.append({
            "sketch": str(path),
            "results": [{"id": r.id, "score": float(r.score), "attributes": {k: float(v) for k, v in r.attributes.items()}} for r in results],
        })
    return answers


def run_query(args) -> int:
    category = args.category or "shoes"
    try:
        answers = _query_function()([str(p) for p in args.query], category, args.top, args.gallery, args.data_root)
    except Exception as exc:  # a clear message and a non-zero status, no traceback
        print(f"sketchfind: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    json.dump(answers, sys.stdout, indent=None if not sys.stdout.isatty() else 2)
    sys.stdout.write("\n")
    return 0


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
    window = MainWindow(weights=args.weights, category=args.category, data_root=args.data_root)
    window.show()
    QTimer.singleShot(0, window.start)  # the window shows first, the model loads behind it
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
