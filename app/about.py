"""Help → About: what is running (version, model, device) and where the log file is."""
from __future__ import annotations

import platform
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QVBoxLayout


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
        card = info.get("card") or {}
        validation = card.get("validation") or {}
        figures = [f"{k} {v:.3f}" for k, v in validation.items() if isinstance(v, (int, float)) and not isinstance(v, bool)]
        if figures:
            rows.append(("Validation", ", ".join(figures)))
        for key in ("mode", "chosen_step", "training_seconds", "machine"):
            if key in card:
                rows.append((key.replace("_", " ").capitalize(), str(card[key])))
    rows.append(("Log file", str(log_file) if log_file else "none (the data folder is not writable; logging to stderr)"))
    return rows


class AboutDialog(QDialog):
    def __init__(self, rows: list[tuple[str, str]], parent=None):
        super().__init__(parent)
        self.setObjectName("aboutDialog")
        self.setWindowTitle("About SketchFind")
        self.rows = rows
        html = "<h3>SketchFind</h3><p>Find product photos by sketching them.</p><table>" + "".join(
            f"<tr><td><b>{_escape(k)}</b>&nbsp;&nbsp;</td><td>{_escape(v)}</td></tr>" for k, v in rows
        ) + "</table>"
        text = QLabel(html)
        text.setObjectName("aboutText")
        text.setTextFormat(Qt.TextFormat.RichText)
        text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        text.setWordWrap(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(text)
        layout.addWidget(buttons)


def _escape(text: str) -> str:
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
