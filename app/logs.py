"""The log file: ``sketchfind.log`` in the user data directory, rotated at 1 MiB (3 old copies).

``setup(directory)`` is idempotent: calling it again (a second window, the next test) moves
the one handler it owns to the new directory instead of adding another. When the directory
cannot be written the log goes to stderr and ``setup`` returns None (the window's
``log_file``), which the About dialog says; nothing else changes.
"""
from __future__ import annotations

import logging
import logging.handlers
import sys
from pathlib import Path
from typing import Final

LOG_FILE: Final = "sketchfind.log"
MAX_BYTES: Final = 1 << 20
BACKUPS: Final = 3
FORMAT: Final = "%(asctime)s %(levelname)s %(name)s [%(threadName)s] %(message)s"

log = logging.getLogger("sketchfind")
_handler: logging.Handler | None = None
_path: Path | None = None


def setup(directory: Path) -> Path | None:
    """Log to ``directory/sketchfind.log``; returns the file, or None when it cannot be written."""
    global _handler, _path
    path = Path(directory) / LOG_FILE
    if _handler is not None and _path == path:
        return _path
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handler: logging.Handler = logging.handlers.RotatingFileHandler(
            path, maxBytes=MAX_BYTES, backupCount=BACKUPS, encoding="utf-8", delay=False
        )
        new_path: Path | None = path
    except OSError as exc:
        handler, new_path = logging.StreamHandler(sys.stderr), None
        sys.stderr.write(f"sketchfind: cannot write the log file {path} ({exc}); logging to stderr\n")
    handler.setFormatter(logging.Formatter(FORMAT))
    if _handler is not None:
        log.removeHandler(_handler)
        _handler.close()
    _handler, _path = handler, new_path
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = True  # pytest's caplog (and any root handler) still sees the records
    return _path


def shutdown() -> None:
    global _handler, _path
    if _handler is not None:
        log.removeHandler(_handler)
        _handler.close()
    _handler = _path = None


def install_excepthook(report) -> None:
    """An exception that escapes a Qt slot or a thread is logged with its traceback and shown
    as one line (``report(message)``) instead of ending the program."""
    import threading

    def hook(kind, value, tb):
        if issubclass(kind, KeyboardInterrupt):
            sys.__excepthook__(kind, value, tb)
            return
        log.critical("unhandled exception", exc_info=(kind, value, tb))
        try:
            report(f"Internal error: {kind.__name__}: {value} (details in {_path or 'the log'})")
        except Exception:
            pass

    def thread_hook(args) -> None:  # not the GUI thread: log only, never touch widgets
        if args.exc_type is not SystemExit:
            log.critical("unhandled exception in thread %s", getattr(args.thread, "name", "?"),
                         exc_info=(args.exc_type, args.exc_value, args.exc_traceback))

    sys.excepthook = hook
    threading.excepthook = thread_hook
