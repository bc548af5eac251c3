"""CLI commands for catalogues: `fgsbir data fetch qmul-v1` and `fgsbir index FOLDER`.

`add_commands(subparsers)` adds them to the `fgsbir` parser; `query_catalogue_json` ranks a
folder catalogue for sketch images in the same JSON format as the benchmark query.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

from .data import RETRIEVAL_CATEGORIES


class ProgressBar:
    """A one-line text progress bar on stderr (plain lines when stderr is not a terminal)."""

    def __init__(self, stream=None, width: int = 30):
        self.stream = stream or sys.stderr
        self.width = width
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self._last = 0.0
        self._label = None

    def update(self, label: str, done: int, total: int, unit: str = "") -> None:
        now = time.monotonic()
        finished = bool(total) and done >= total
        if label == self._label and not finished and now - self._last < (0.1 if self.tty else 2.0):
            return
        self._last, self._label = now, label
        if total:
            share = min(1.0, done / total)
            bar = "#" * int(share * self.width)
            text = f"{label} [{bar:<{self.width}}] {100 * share:5.1f}% {_fmt(done, unit)}/{_fmt(total, unit)}"
        else:
            text = f"{label} {_fmt(done, unit)}"
        if self.tty:
            self.stream.write("\r\x1b[2K" + text + ("\n" if finished else ""))
        else:
            self.stream.write(text + "\n")
        self.stream.flush()


def indexing_progress(bar: ProgressBar):
    """build_folder_catalogue's progress on `bar`: (found, 0) while the folder is listed, then (done, total)."""
    return lambda done, total: bar.update("indexing" if total else "photos found", done, total)


def _fmt(n: int, unit: str) -> str:
    if unit == "B":
        return f"{n / 1e6:.1f} MB"
    return str(n)


# ----------------------------------------------------------------------------- commands
def _cmd_fetch(args) -> int:
    from .fetch import PINNED_URL, default_data_dir, fetch_qmul_v1

    dest = Path(args.dest) if args.dest else default_data_dir()
    bar = ProgressBar()
    root = fetch_qmul_v1(dest, base_url=args.base_url or PINNED_URL,
                         progress=lambda name, done, total: bar.update(name, done, total, "B"),
                         photos=args.photos, notice=note)
    print(f"QMUL V1 benchmark ready in {root}")
    found = "SketchFind and fgsbir find it there with no setting" if not args.dest \
        else "Point SketchFind at it with --data-root or FGSBIR_DATA"
    print(f"{found}. The attributes/ labels are not part of the published release (only needed for training).")
    return 0


def _cmd_index(args) -> int:
    from .engine import Engine
    from .user_catalogue import build_folder_catalogue

    engine = Engine(args.category, args.weights)
    engine.load()
    bar = ProgressBar()
    stats: dict = {}
    started = time.perf_counter()
    catalogue, skipped = build_folder_catalogue(engine, args.folder, progress=indexing_progress(bar),
                                                stats=stats)
    seconds = time.perf_counter() - started
    if not len(catalogue):
        for path, reason in skipped:
            note(f"skipped {path}: {reason}")
        raise ValueError(no_photos_message(args.folder, skipped))
    print(f"{len(catalogue)} photo{'' if len(catalogue) == 1 else 's'} indexed in {args.folder} ({stats.get('encoded', 0)} encoded, "
          f"{stats.get('reused', 0)} unchanged, {stats.get('removed', 0)} removed, {len(skipped)} skipped) "
          f"in {seconds:.1f} s")
    if stats.get("mirrored"):
        turned = stats["mirrored"]
        print(f"  {turned} photo{' faces' if turned == 1 else 's face'} the other way from the model's and "
              f"{'is' if turned == 1 else 'are'} matched mirrored")
    for path, reason in skipped:
        print(f"  skipped {path}: {reason}")
    if catalogue.unsaved:  # saving the index is this command's whole job
        raise OSError(catalogue.unsaved)
    if args.faiss:
        from .user_catalogue import export_faiss

        print(f"FAISS index written to {export_faiss(catalogue, args.faiss)}")
    return 0


def no_photos_message(folder, skipped=()) -> str:
    from .edges import PHOTO_SUFFIXES

    if skipped:
        return f"No readable photo in {folder}: all {len(skipped)} were skipped (each is listed above, with why)."
    return (f"No photos in {folder}: SketchFind reads {', '.join(s.lstrip('.') for s in PHOTO_SUFFIXES)} files "
            "(subfolders included).")


def add_commands(subparsers) -> None:
    """Add `data fetch qmul-v1` and `index` to the `fgsbir` sub-command parsers."""
    data = subparsers.add_parser("data", help="get the benchmark data")
    data_sub = data.add_subparsers(dest="data_command", required=True)
    fetch = data_sub.add_parser(
        "fetch", help="download a benchmark, checked against its published SHA-256 digests",
        description="Download the QMUL V1 benchmark files (resumable, SHA-256 checked). The attributes/ folder "
                    "(attribute labels made for this project) is not part of the published release; it is only "
                    "needed to train, never to search.")
    fetch.add_argument("dataset", choices=("qmul-v1",))
    fetch.add_argument("--dest", help="destination folder (default: $FGSBIR_DATA or the per-user data folder)")
    fetch.add_argument("--base-url", help="mirror of the pinned data/ folder (default: the pinned GitHub commit)")
    fetch.add_argument("--photos", action="store_true", help="also try the optional colour photo files")
    fetch.set_defaults(func=_cmd_fetch)

    index = subparsers.add_parser("index", help="index a folder of your own product photos for searching")
    index.add_argument("folder", help="the folder of photos (JPEG, PNG, WebP, BMP, GIF, TIFF; subfolders included)")
    index.add_argument("--category", choices=RETRIEVAL_CATEGORIES, required=True,
                       help="shoes or chairs: the model whose codes are stored (each has its own index)")
    index.add_argument("--weights", help="checkpoint (default: the bundled model of the category)")
    index.add_argument("--faiss", metavar="FILE", help="also export the embeddings as a FAISS index (needs faiss-cpu)")
    index.set_defaults(func=_cmd_index)


def query_catalogue_json(paths, folder, category: str, top: int = 10, weights=None,
                         attribute_weight: float | None = None, progress=None, facing: str = "auto") -> list[dict]:
    """Rank the photos of `folder` (indexed on the way, incrementally) for each sketch file."""
    from .cli import check_attribute_weight, rank_sketch_files
    from .engine import Engine
    from .user_catalogue import build_folder_catalogue

    engine = Engine(category, weights)
    engine.load()
    check_attribute_weight(engine, attribute_weight)  # before a folder is indexed for nothing
    catalogue, skipped = build_folder_catalogue(engine, folder, progress=progress)
    for path, reason in skipped:  # searched without them: said, as `fgsbir index` says it
        note(f"skipped {path}: {reason}")
    if catalogue.unsaved:
        note(catalogue.unsaved)
    if not len(catalogue):
        raise ValueError(no_photos_message(folder, skipped))
    return rank_sketch_files(engine, catalogue, paths, top, attribute_weight, facing)


def note(message: str) -> None:
    """What an answer on stdout leaves out or does otherwise, on stderr."""
    print(f"note: {message}", file=sys.stderr)
