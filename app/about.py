"""Help → About (what is running: version, model, device, where the log file is) and Help →
Keyboard shortcuts."""
from __future__ import annotations

import platform
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QDialog, QDialogButtonBox, QFrame, QLabel, QScrollArea, QVBoxLayout


def about_rows(version: str, info: dict | None, log_file: Path | None, error: tuple[str, str] | None = None) -> list[tuple[str, str]]:
    """(label, value) pairs shown by the dialog; plain data so tests can read them."""
    import PySide6

    rows = [("Version", version), ("Python", platform.python_version()), ("Qt for Python", PySide6.__version__)]
    if info is None:
        rows.append(("Model", f"not loaded ({error[1]})" if error and error[0] == "load" else "not loaded"))
    else:
        rows += [
            ("Model", f"{info.get('category', '?')}: {info.get('weights') or 'bundled'}"),
            ("Model hash", info.get("model_hash") or "?"),
            ("Device", str(info.get("device", "?")).upper()),
            ("Attributes", str(len(info.get("attribute_names", [])))),
        ]
        if "facing" in info:  # "" = the facing classifier is loaded (fgsbir_core.facing)
            rows.append(("Folder photos facing right", f"searched as they are: {info['facing']}" if info["facing"] else "searched mirrored"))
        card = info.get("card") or {}
        for label, key in (("Validation (cross-validation)", "validation"), ("Test (published split)", "test")):
            figures = _figures(card.get(key))
            if figures:
                rows.append((label, figures))
        if isinstance((card.get("validation") or {}).get("fusion_weight"), (int, float)):
            rows.append(("Fusion weight (tuned)", f"{card['validation']['fusion_weight']:g}"))
        for key in ("mode", "chosen_step", "machine"):
            if key in card:
                rows.append((key.replace("_", " ").capitalize(), str(card[key])))
        seconds, notes = card.get("training_seconds"), []
        if isinstance(seconds, (int, float)):
            with_run = card.get("training_seconds_with_run")
            if isinstance(with_run, (int, float)) and with_run > seconds:
                seconds, notes = with_run, ["with its cross-validation share"]
            if isinstance(card.get("first_stage_seconds"), (int, float)):  # a staged recipe
                seconds, notes = seconds + card["first_stage_seconds"], notes + ["both stages"]
            rows.append(("Training time", f"{seconds / 60:.0f} min" + (f" ({', '.join(notes)})" if notes else "")))
    rows.append(("Log file", str(log_file) if log_file else "none (the data folder is not writable; logging to stderr)"))
    return rows


FIGURE_NAMES = {"acc_at_1": "acc@1", "acc@1": "acc@1", "acc_at_10": "acc@10", "acc@10": "acc@10",
                "triplet_acc": "triplet acc"}


def _figures(metrics) -> str:
    """{"acc_at_1": 0.785, ...} -> "acc@1 78.5 %, ..." (the retrieval figures only)."""
    if not isinstance(metrics, dict):
        return ""
    return ", ".join(f"{FIGURE_NAMES[k]} {100 * v:.1f} %" for k, v in metrics.items()
                     if k in FIGURE_NAMES and isinstance(v, (int, float)) and not isinstance(v, bool))


EXTRA_SHORTCUTS = [  # keys that belong to no menu action
    ("Results: open the selected photo large", "Enter"),
    ("Results: the next 24 photos", "End, or ↓ at the last photo"),
    ("Results: the selected photo's menu", "Menu, Shift+F10"),
    ("Large view: previous / next result", "← / →"),
    ("Large view: scroll the attribute table", "↑ / ↓"),
    ("Result photos larger / smaller", "Ctrl + mouse wheel"),
    ("Erase with a pen", "the pen's eraser end"),
]


def shortcut_rows(actions) -> list[tuple[str, str]]:
    """(what, keys) for every action that has a shortcut, then the keys of no action: read from
    the actions themselves, so the list never goes stale."""
    from PySide6.QtGui import QKeySequence

    rows = []
    for action in actions:
        keys = [k.toString(QKeySequence.SequenceFormat.NativeText) for k in action.shortcuts() if not k.isEmpty()]
        if keys:
            rows.append((action.iconText().replace("&", "").rstrip("…").strip(), ", ".join(keys)))  # "Undo", not "Undo Erase"
    return rows + EXTRA_SHORTCUTS


class AboutDialog(QDialog):
    """A title, a line and a two-column table: Help → About, and Help → Keyboard shortcuts."""

    def __init__(self, rows: list[tuple[str, str]], parent=None, title: str = "About SketchFind",
                 intro: str = "<h3>SketchFind</h3><p>Find product photos by sketching them.</p>", name: str = "aboutDialog"):
        super().__init__(parent)
        self.setObjectName(name)
        self.setWindowTitle(title)
        self.rows = rows
        html = intro + "<table>" + "".join(
            f"<tr><td><b>{_escape(k)}</b>&nbsp;&nbsp;</td><td>{_escape(v)}</td></tr>" for k, v in rows
        ) + "</table>"
        text = QLabel(html)
        text.setObjectName("aboutText")
        text.setTextFormat(Qt.TextFormat.RichText)
        text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        text.setWordWrap(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        scroll = QScrollArea()  # a long list (hundreds of skipped photos) scrolls inside a dialog that fits the screen
        scroll.setWidget(text)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        hint = text.sizeHint()
        # at most 480 px tall, and never taller than the screen leaves room for (a large font on a
        # short screen pushed the Close button off its bottom)
        screen = (parent.screen() if parent is not None else QApplication.primaryScreen()).availableGeometry()
        room = screen.height() - buttons.sizeHint().height() - 120  # title bar, margins
        scroll.setMinimumSize(min(hint.width() + 24, 720, screen.width() - 80), max(120, min(hint.height() + 8, 480, room)))
        layout = QVBoxLayout(self)
        layout.addWidget(scroll)
        layout.addWidget(buttons)


def _escape(text: str) -> str:
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
