"""The window's modal dialogs (questions, file pickers, the desktop's viewer), in one object so
that tests can replace them with scripted answers."""
from __future__ import annotations

from pathlib import Path
from typing import Final

from PySide6.QtCore import QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QFileDialog, QMessageBox, QWidget

from fgsbir_core.data import DATA_ENV


DOWNLOAD: Final = "\0download"  # ask_data_root's answer for "download the benchmark" (no path holds a NUL)


def not_opened(path) -> str:
    """Why the desktop did not open `path`: the file is gone, or no program is set to open it."""
    path = Path(path)
    if not path.exists():
        return f"Could not open {path}: it is not there any more (moved or deleted?)."
    kind = "folders" if path.is_dir() else f"{path.suffix or 'such'} files"
    return f"Could not open {path}: no program on this desktop is set to open {kind}."


class QtDialogs:
    """The window's modal dialogs, in one object so that tests can replace them."""

    def __init__(self) -> None:
        # dialogs start where the last of their kind went, at first the home folder: not the
        # program's working directory (its install or source folder). Sketches and photo folders
        # apart: a sketch saved into a photo folder would be indexed as a product photo.
        self.folder = self.photo_folder = str(Path.home())

    def _used(self, path: str | None, is_folder: bool = False) -> str | None:
        if path and is_folder:
            self.photo_folder = str(Path(path).parent)
        elif path:
            self.folder = str(Path(path).parent)
        return path or None

    def _start(self, suggested: str = "") -> str:
        """Where a file dialog opens: a suggested name goes into the folder last used, a path stays."""
        return suggested if Path(suggested).is_absolute() else str(Path(self.folder) / suggested) if suggested else self.folder

    def ask_data_root(self, parent: QWidget) -> str | None:
        box = QMessageBox(parent)
        box.setWindowTitle("Photo catalogue")
        box.setIcon(QMessageBox.Icon.Information)
        box.setText("SketchFind searches a catalogue of product photos: a folder of your own, or the "
                    "benchmark's shoes and chairs (a demo catalogue).")
        box.setInformativeText(
            "Choose a folder of JPEG, PNG, WebP, BMP, GIF or TIFF product photos: it is indexed once and kept up to date. "
            "Or download the benchmark (about 34 MB), or choose a copy of it (it holds shoes/, chairs/ and "
            f"attributes/; setting {DATA_ENV} before starting does the same).\n\n"
            "You can draw without a catalogue: the attribute panel still works."
        )
        choose = box.addButton("Choose folder…", QMessageBox.ButtonRole.AcceptRole)
        download = box.addButton("Download the benchmark…", QMessageBox.ButtonRole.ActionRole)
        box.addButton("Later", QMessageBox.ButtonRole.RejectRole)
        box.exec()
        if box.clickedButton() is download:
            return DOWNLOAD
        return self.pick_folder(parent) if box.clickedButton() is choose else None

    def pick_folder(self, parent: QWidget, title: str = "Photo folder: the benchmark data folder or your own product photos"
                    ) -> str | None:
        return self._used(QFileDialog.getExistingDirectory(parent, title, self.photo_folder), is_folder=True)

    def open_path(self, parent: QWidget, title: str, filters: str) -> str | None:
        return self._used(QFileDialog.getOpenFileName(parent, title, self._start(), filters)[0])

    def save_path(self, parent: QWidget, title: str, filters: str, suggested: str) -> str | None:
        """A file to write (the dialog asks before replacing the file of the name as typed; the
        window asks too where it adds the extension: `confirm_replace`)."""
        return self._used(QFileDialog.getSaveFileName(parent, title, self._start(suggested), filters)[0])

    def confirm_replace(self, parent: QWidget, path: str) -> bool:
        """A name given without its extension turned out to be an existing file: replace it?"""
        answer = QMessageBox.question(parent, "Replace file", f"{Path(path).name} already exists. Replace it?",
                                      QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                                      QMessageBox.StandardButton.No)
        return answer == QMessageBox.StandardButton.Yes

    def ask_restore(self, parent: QWidget, summary: str) -> bool | None:
        """True: restore it; False: discard it; None (Not now, Escape, closing the box): keep it
        and ask again at the next start. Only the explicit button throws a sketch away."""
        box = QMessageBox(parent)
        box.setWindowTitle("Restore sketch")
        box.setIcon(QMessageBox.Icon.Question)
        box.setText(f"SketchFind did not close properly last time. Restore the sketch it was showing?\n\n{summary}")
        restore = box.addButton("Restore", QMessageBox.ButtonRole.AcceptRole)
        discard = box.addButton("Discard it", QMessageBox.ButtonRole.DestructiveRole)
        later = box.addButton("Not now", QMessageBox.ButtonRole.RejectRole)
        box.setDefaultButton(restore)
        box.setEscapeButton(later)
        box.exec()
        return True if box.clickedButton() is restore else False if box.clickedButton() is discard else None

    def ask_save_changes(self, parent: QWidget, before: str = "closing") -> str:
        """Closing (or replacing, `before` says) a sketch with unsaved changes: "save", "discard" or "cancel"."""
        answer = QMessageBox.question(
            parent, "Unsaved sketch", f"Save the sketch before {before}? Its latest changes are not saved in any file.",
            QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Save,
        )
        return {QMessageBox.StandardButton.Save: "save", QMessageBox.StandardButton.Discard: "discard"}.get(answer, "cancel")

    def show(self, dialog) -> None:
        try:
            dialog.exec()
        finally:  # a child of the window: without this every closed large view (photo, catalogue) stayed
            dialog.deleteLater()

    def warn(self, parent: QWidget, title: str, text: str) -> None:
        """A problem that must not pass unseen (a status-bar message would soon be overwritten)."""
        QMessageBox.warning(parent, title, text)

    def open_file(self, path) -> bool:
        """Open a file (or a folder) in the desktop's own viewer; False if it cannot be."""
        return Path(path).exists() and QDesktopServices.openUrl(QUrl.fromLocalFile(str(path)))
