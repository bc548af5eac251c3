"""User preferences (a readable JSON file) and window state (QSettings).

Preferences live in ``preferences.json`` in the user config dir (QStandardPaths
AppConfigLocation, or $SKETCHFIND_CONFIG_DIR when set, which tests use). Window geometry and
dock layout live in QSettings (an INI file next to it) under a layout version: bump
``LAYOUT_VERSION`` when the window layout changes and old saved layouts are ignored.
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Final

from fgsbir_core.data import RETRIEVAL_CATEGORIES
from fgsbir_core.files import atomic_write_bytes

CONFIG_ENV: Final = "SKETCHFIND_CONFIG_DIR"
DATA_DIR_ENV: Final = "SKETCHFIND_DATA_DIR"  # autosave and log file; default: the config override, else AppDataLocation
PREFERENCES_FILE: Final = "preferences.json"
WINDOW_STATE_FILE: Final = "window.ini"
LAYOUT_VERSION: Final = 1
CATEGORIES: Final = RETRIEVAL_CATEGORIES  # the categories with bundled models
MAX_RECENT: Final = 8  # sketch files in File → Open recent, photo folders in File → Recent photo folders


@dataclass
class Preferences:
    category: str = "shoes"
    device: str = "cpu"
    data_root: str = ""  # empty: use $FGSBIR_DATA
    top_k: int = 24
    attribute_slider: int = 50  # AttributesPanel slider position, 50 = the model's tuned weight
    attribute_modes: dict = field(default_factory=dict)  # category -> {attribute: "Ignore" | "Must have"}
    thumb_size: int = 112  # px, the result grid's photos (Ctrl + wheel, View menu)
    pen_width: float = 3.0  # on-screen width in logical pixels at pressure 1
    first_run_done: bool = False
    recent_sketches: list = field(default_factory=list)  # newest first, absolute paths
    recent_folders: list = field(default_factory=list)  # photo folders (catalogues), newest first

    @classmethod
    def from_dict(cls, values: dict) -> "Preferences":
        prefs = cls()
        for spec in fields(cls):
            if spec.name in values:
                value = values[spec.name]
                if _same_kind(value, getattr(prefs, spec.name)):
                    setattr(prefs, spec.name, type(getattr(prefs, spec.name))(value))
                # else a hand-edited value of another kind ("false", null, 1e400) keeps the default
        if prefs.category not in CATEGORIES:
            prefs.category = "shoes"
        if prefs.device not in ("cpu", "cuda"):
            prefs.device = "cpu"
        prefs.top_k = min(max(prefs.top_k, 1), 200)
        for name in ("recent_sketches", "recent_folders"):  # list(str) would split a hand-edited string into letters
            recent = values.get(name)
            setattr(prefs, name, [p for p in recent if isinstance(p, str) and p][:MAX_RECENT] if isinstance(recent, list) else [])
        prefs.attribute_slider = min(max(prefs.attribute_slider, 0), 100)
        modes = values.get("attribute_modes")
        prefs.attribute_modes = {category: {str(k): str(v) for k, v in chosen.items()}
                                 for category, chosen in (modes.items() if isinstance(modes, dict) else ())
                                 if category in CATEGORIES and isinstance(chosen, dict)}
        if not math.isfinite(prefs.pen_width) or not 0.5 <= prefs.pen_width <= 50:
            prefs.pen_width = Preferences.pen_width
        return prefs


def _same_kind(value, default) -> bool:
    """Whether a JSON value can stand for a preference of `default`'s type: no conversion between
    kinds (the string "false" would be true, null the folder "None"), a whole number for an int,
    any finite number for a float."""
    if isinstance(default, bool) or isinstance(value, bool):
        return isinstance(value, bool) and isinstance(default, bool)
    if isinstance(default, (int, float)):
        if not isinstance(value, (int, float)) or abs(value) > 1e15 or not math.isfinite(value):
            return False  # (checked in this order: float() of a 400-digit int overflows)
        return isinstance(default, float) or float(value).is_integer()
    return isinstance(value, type(default))


def remember_recent(recent: list, path: str) -> list:
    """`recent` with `path` moved to the front, duplicates dropped, at most MAX_RECENT long."""
    return [path] + [p for p in recent if p != path][: MAX_RECENT - 1]


def config_dir() -> Path:
    """Where the preferences and the window state live (not created here: saving creates it,
    and a home that cannot hold it costs the preferences, not the start)."""
    override = os.environ.get(CONFIG_ENV)
    if override:
        path = Path(override)
    else:
        from PySide6.QtCore import QStandardPaths

        location = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppConfigLocation)
        path = Path(location or Path.home() / ".config" / "sketchfind")
    return path


def data_dir() -> Path:
    """Where the autosave and the log file live (not created here: the caller copes with failure).

    $SKETCHFIND_DATA_DIR, else $SKETCHFIND_CONFIG_DIR (tests and portable installs keep
    everything in one folder), else Qt's AppDataLocation.
    """
    override = os.environ.get(DATA_DIR_ENV) or os.environ.get(CONFIG_ENV)
    if override:
        return Path(override)
    from PySide6.QtCore import QStandardPaths

    location = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppDataLocation)
    return Path(location or Path.home() / ".local" / "share" / "sketchfind")


def load_preferences(directory: Path | None = None) -> Preferences:
    return load_preferences_report(directory)[0]


def load_preferences_report(directory: Path | None = None) -> tuple[Preferences, str]:
    """The preferences and a notice ("" when all is well).

    A damaged file (not JSON, not an object, unreadable) is set aside as ``preferences.json.bad``
    and the defaults are used; the notice says so. A missing file is the normal first run.
    """
    path = (directory or config_dir()) / PREFERENCES_FILE
    try:
        raw = path.read_bytes()
    except (FileNotFoundError, NotADirectoryError):  # the first run, or no folder for them (said when saving)
        return Preferences(), ""
    except OSError as exc:
        return Preferences(), f"Preferences could not be read ({exc.strerror or exc}); using the defaults."
    try:
        values = json.loads(raw.decode("utf-8"))
        if not isinstance(values, dict):
            raise ValueError("not a JSON object")
    except (ValueError, RecursionError) as exc:
        backup = path.with_name(PREFERENCES_FILE + ".bad")
        try:
            os.replace(path, backup)
            kept = f" (the damaged file was kept as {backup.name})"
        except OSError:
            kept = ""
        return Preferences(), f"Preferences file was damaged and has been reset to the defaults{kept}: {str(exc)[:80]}"
    return Preferences.from_dict(values), ""


def save_preferences(prefs: Preferences, directory: Path | None = None) -> None:
    """Written atomically; OSError where the folder cannot be made or written."""
    path = (directory or config_dir()) / PREFERENCES_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(asdict(prefs), indent=2, sort_keys=True) + "\n"
    atomic_write_bytes(path, text.encode("utf-8"))


def window_settings(directory: Path | None = None):
    from PySide6.QtCore import QSettings

    path = (directory or config_dir()) / WINDOW_STATE_FILE
    return QSettings(str(path), QSettings.Format.IniFormat)
