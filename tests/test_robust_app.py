"""Never lose a sketch, never crash: autosave and restore, bad input, faults, logging, About."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import FakeDialogs, draw_mouse, simulate_crash

from app import logs, settings
from app.autosave import Autosave, read_snapshot
from app.canvas import UNDO_LIMIT
from fgsbir_core.sketch_file import MAX_SKETCH_BYTES

ROOT = Path(__file__).resolve().parent.parent
BOOT = [(120, 80), (125, 200), (130, 260), (250, 270), (300, 265), (300, 235), (200, 215), (180, 80)]


class RestoreDialogs(FakeDialogs):
    def __init__(self, answer: bool | None, **kw):
        super().__init__(**kw)
        self.answer = answer
        self.asked: list[str] = []

    def ask_restore(self, parent, summary):
        self.asked.append(summary)
        return self.answer


def data_dir() -> Path:
    return settings.data_dir()


def autosaves() -> list[Path]:
    return sorted(data_dir().glob("autosave-*.json"))


def wait_autosaved(qtbot, window, strokes: int):
    qtbot.waitUntil(lambda: window.autosave.path is not None and window.autosave.path.is_file()
                    and len(read_snapshot(window.autosave.path).strokes) == strokes, timeout=3000)


# ------------------------------------------------------------------------------ autosave
def test_every_stroke_is_autosaved_atomically_and_clean_exit_removes_it(qtbot, make_window):
    window = make_window()
    for n in range(1, 4):
        draw_mouse(qtbot, window.canvas, [(x + 10 * n, y) for x, y in BOOT])
        wait_autosaved(qtbot, window, n)
    window.attributes.set_mode("laces", "Must have")
    window.attributes.slider.setValue(70)
    window.autosave_now()
    snap = read_snapshot(window.autosave.path)
    assert snap.category == "shoes" and snap.attribute_slider == 70 and snap.attribute_modes["laces"] == "Must have"
    np.testing.assert_allclose(snap.strokes[0][0][:, :2], np.array(BOOT, float) + [10, 0])
    assert not list(data_dir().glob(".autosave*.tmp"))  # no temp file left behind
    window.canvas.undo_stack.undo()
    wait_autosaved(qtbot, window, 2)  # undo is a change too
    path = window.autosave.path
    window.close()
    assert not path.exists() and not autosaves()


def test_restore_after_crash_offers_and_restores_everything(qtbot, make_window):
    first = make_window()
    draw_mouse(qtbot, first.canvas, BOOT)
    draw_mouse(qtbot, first.canvas, [(20, 20), (90, 40)])
    first.attributes.set_mode("boot", "Ignore")
    first.attributes.slider.setValue(20)
    first.autosave_now()
    saved = [s.points.copy() for s in first.canvas.strokes]
    simulate_crash(first)  # what a crash does: the process (and its lock) is gone

    dialogs = RestoreDialogs(True)
    second = make_window(dialogs=dialogs)
    assert len(dialogs.asked) == 1 and "2 strokes" in dialogs.asked[0]
    assert [s.points.tolist() for s in second.canvas.strokes] == [np.round(p, 4).tolist() for p in saved]
    assert second.attributes.slider.value() == 20 and second.attributes.mode("boot") == "Ignore"
    qtbot.waitUntil(lambda: second.last_outcome is not None and second.last_outcome.code is not None, timeout=5000)
    second.canvas.undo_stack.undo()  # the restore itself is one undoable step
    assert second.canvas.strokes == []
    first.close()
    second.close()
    assert not autosaves()


def test_two_crashed_windows_sketches_are_both_kept(qtbot, make_window, tmp_path):
    """QA pass: two windows crashed; the next start offered the newer sketch and took the older
    one's slot, whose file its first autosave then overwrote: the older sketch was lost."""
    first, second = make_window(), make_window()
    draw_mouse(qtbot, first.canvas, BOOT)
    first.autosave_now()
    draw_mouse(qtbot, second.canvas, [(20, 20), (90, 40)])
    draw_mouse(qtbot, second.canvas, [(30, 20), (90, 60)])
    second.autosave_now()
    for crashed in (first, second):
        simulate_crash(crashed)
    dialogs = RestoreDialogs(True)
    third = make_window(dialogs=dialogs)  # takes slot 0, the first window's
    assert "2 strokes" in dialogs.asked[0] and len(third.canvas.strokes) == 2
    draw_mouse(qtbot, third.canvas, [(50, 50), (120, 90)])
    third.autosave_now()
    later = RestoreDialogs(True)
    fourth = make_window(dialogs=later)  # the first window's sketch is still there to offer
    assert "1 stroke" in later.asked[0] and len(fourth.canvas.strokes) == 1


def test_a_restored_sketch_keeps_its_file_name_and_facing(qtbot, make_window, tmp_path):
    """QA pass: a restored sketch came back "Untitled", on Auto, though it had a file and a forced facing."""
    first = make_window()
    draw_mouse(qtbot, first.canvas, BOOT)
    first.save_sketch(str(tmp_path / "knee.json"))
    draw_mouse(qtbot, first.canvas, [(20, 20), (90, 40)])
    first.attributes.facing.setCurrentIndex(2)
    first.autosave_now()
    simulate_crash(first)
    second = make_window(dialogs=RestoreDialogs(True))
    assert second.sketch_file == tmp_path / "knee.json" and second.windowTitle().startswith("knee.json")
    assert second.isWindowModified() and second.attributes.facing.currentIndex() == 2


def test_a_save_refreshes_the_autosave_so_a_crash_then_keeps_the_name(qtbot, make_window, tmp_path):
    """Stress test: a crash right after Save restored the sketch untitled (the autosave still had
    the name from before)."""
    window = make_window()
    draw_mouse(qtbot, window.canvas, BOOT)
    wait_autosaved(qtbot, window, 1)
    window.save_sketch(str(tmp_path / "x.json"))
    qtbot.waitUntil(lambda: read_snapshot(window.autosave.path).file == str(tmp_path / "x.json"), timeout=3000)


def test_declined_restore_deletes_and_is_not_asked_again(qtbot, make_window):
    first = make_window()
    draw_mouse(qtbot, first.canvas, BOOT)
    first.autosave_now()
    simulate_crash(first)
    later = RestoreDialogs(None)  # Not now, or Escape: kept and asked again next time
    assert make_window(dialogs=later).canvas.strokes == [] and len(later.asked) == 1
    assert make_window(dialogs=later).canvas.strokes == [] and len(later.asked) == 2
    dialogs = RestoreDialogs(False)
    second = make_window(dialogs=dialogs)
    assert len(dialogs.asked) == 1 and second.canvas.strokes == []
    third = make_window(dialogs=dialogs)
    assert len(dialogs.asked) == 1 and third.canvas.strokes == []


def test_a_running_windows_autosave_is_not_offered(qtbot, make_window):
    first = make_window()
    draw_mouse(qtbot, first.canvas, BOOT)
    first.autosave_now()
    dialogs = RestoreDialogs(True)
    second = make_window(dialogs=dialogs)
    assert dialogs.asked == [] and second.autosave.path != first.autosave.path
    draw_mouse(qtbot, second.canvas, [(10, 10), (50, 50)])
    second.autosave_now()
    assert len(autosaves()) == 2


KILLED_SESSION = r"""
import os, signal, sys
os.environ["QT_QPA_PLATFORM"] = "offscreen"
sys.path.insert(0, sys.argv[1]); sys.path.insert(0, os.path.join(sys.argv[1], "tests"))
import app
from PySide6.QtWidgets import QApplication
from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest
from conftest import FakeDialogs, FakeEngine
from app.main_window import MainWindow
qapp = QApplication([])
window = MainWindow(engine_factory=lambda category, weights=None: FakeEngine(category), dialogs=FakeDialogs(),
                    devices=lambda: ["cpu"])
window.show()
canvas = window.canvas
for k in range(3):
    QTest.mousePress(canvas, Qt.MouseButton.LeftButton, pos=QPoint(50 + 40 * k, 50))
    QTest.mouseMove(canvas, QPoint(80 + 40 * k, 200))
    QTest.mouseRelease(canvas, Qt.MouseButton.LeftButton, pos=QPoint(90 + 40 * k, 260))
QTest.qWait(600)  # the autosave timer fires
print(window.autosave.path, flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
def test_killed_process_sketch_is_offered_at_next_start(qtbot, make_window, tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, "-c", KILLED_SESSION, str(ROOT)], env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == -9, done.stderr[-800:]
    path = Path(done.stdout.strip().splitlines()[-1])
    assert path.is_file() and path.parent == data_dir()
    dialogs = RestoreDialogs(True)
    window = make_window(dialogs=dialogs)
    assert len(dialogs.asked) == 1 and len(window.canvas.strokes) == 3
    window.close()
    assert not autosaves()


@pytest.mark.parametrize("content", [
    '{"format": "sketchfind.autosave", "strokes": [[[0, 0], ',  # cut short
    '{"format": "sketchfind.autosave", "saved_at": [1], "strokes": [{"points": [[0, 0], [9, 9]]}]}',
    '{"format": "sketchfind.autosave", "saved_at": 1e400, "strokes": [{"points": [[0, 0], [9, 9]]}]}',
])
def test_damaged_autosave_is_set_aside_quietly_and_the_model_still_loads(qtbot, make_window, content):
    data_dir().mkdir(parents=True, exist_ok=True)
    (data_dir() / "autosave-5.json").write_text(content)
    dialogs = RestoreDialogs(True)
    window = make_window(dialogs=dialogs)  # waits for the model and the catalogue
    assert dialogs.asked == [] and window.canvas.strokes == [] and not (data_dir() / "autosave-5.json").exists()
    assert [p.read_text() for p in data_dir().glob("autosave-damaged-*.bad")] == [content]  # kept, not offered


def test_an_odd_slider_in_an_autosave_is_ignored(tmp_path):
    path = tmp_path / "autosave-0.json"
    path.write_text('{"format": "sketchfind.autosave", "attribute_slider": ' + "9" * 400 + ', "saved_at": 5, '
                    '"strokes": [{"points": [[0, 0], [9, 9]]}]}')
    snap = read_snapshot(path)
    assert snap.attribute_slider is None and snap.saved_at == 5 and len(snap.strokes) == 1


def test_scripted_dialogs_without_restore_keep_the_file(qtbot, make_window):
    first = make_window()
    draw_mouse(qtbot, first.canvas, BOOT)
    first.autosave_now()
    first.autosave._lock.unlock()
    path, first.autosave._lock, first.autosave.path = first.autosave.path, None, None
    content = path.read_bytes()
    second = make_window()  # FakeDialogs has no ask_restore: nothing asked, nothing deleted
    draw_mouse(qtbot, second.canvas, BOOT[:3])
    second.autosave_now()  # the new window writes its own slot (the same number) ...
    second.canvas.clear()
    second.autosave_now()  # ... and an empty sketch removes it: the crashed session's file was moved aside
    assert content in [p.read_bytes() for p in path.parent.glob("autosave-*.json")]
    later = RestoreDialogs(True)
    assert make_window(dialogs=later).canvas.strokes and len(later.asked) == 1  # and offered at the next start


def test_unwritable_data_folder_turns_autosave_off_with_a_notice(qtbot, make_window, tmp_path):
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where the data folder should be")
    window = make_window(data_dir=blocker / "data")
    assert not window.autosave.enabled and window.log_file is None
    assert any("Autosave is off" in n for n in window.notices)
    draw_mouse(qtbot, window.canvas, BOOT)  # everything else works
    qtbot.waitUntil(lambda: window.last_outcome is not None and window.last_outcome.code is not None, timeout=5000)
    assert window.autosave_now() is False


def test_a_config_folder_that_cannot_be_made_costs_the_preferences_not_the_start(qtbot, make_window, tmp_path,
                                                                                 monkeypatch):
    """HOME=/nonexistent, a read-only home, XDG_CONFIG_HOME naming a file: the window still opens."""
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where the config folder should be")
    monkeypatch.setenv("SKETCHFIND_CONFIG_DIR", str(blocker / "config"))
    window = make_window(data_dir=tmp_path / "data")
    notices = [n for n in window.notices if n.startswith("Preferences will not be kept")]
    assert len(notices) == 1 and "Everything else works" in notices[0]
    window.set_category("chairs")  # a change that saves: not said again
    draw_mouse(qtbot, window.canvas, BOOT)
    qtbot.waitUntil(lambda: window.last_outcome is not None and window.last_outcome.code is not None, timeout=5000)
    assert sum(n.startswith("Preferences will not be kept") for n in window.notices) == 1
    both = make_window(data_dir=blocker / "data")  # autosave off as well: neither hides the other
    tip = both.warning.toolTip()
    assert "Autosave is off" in tip and "Preferences will not be kept" in tip and "Autosave is off too" in tip
    assert both.warning.text().startswith("⚠ 2 problems: Autosave is off")  # the one that risks work, first


def test_autosave_write_failure_is_noticed_once_and_recovers(qtbot, make_window, monkeypatch):
    window = make_window()
    import app.autosave as autosave_module

    real = autosave_module.atomic_write_bytes
    monkeypatch.setattr(autosave_module, "atomic_write_bytes",
                        lambda path, data: (_ for _ in ()).throw(OSError(28, "No space left on device")))
    draw_mouse(qtbot, window.canvas, BOOT)
    assert window.autosave_now() is False
    draw_mouse(qtbot, window.canvas, [(10, 10), (40, 40)])
    assert window.autosave_now() is False
    failures = [n for n in window.notices if "Autosave failed" in n]
    assert len(failures) == 1 and "No space left" in failures[0] and window.warning.isVisible()
    monkeypatch.setattr(autosave_module, "atomic_write_bytes", real)
    assert window.autosave_now() is True and window.autosave.error == "" and not window.warning.isVisible()


def test_opened_picture_is_autosaved_and_restored(qtbot, make_window, tmp_path):
    from PIL import Image

    picture = np.full((60, 80), 255, np.uint8)
    picture[10:50, 40] = 0
    Image.fromarray(picture).save(tmp_path / "s.png")
    first = make_window()
    first.open_sketch(str(tmp_path / "s.png"))
    draw_mouse(qtbot, first.canvas, [(10, 10), (50, 50)])
    first.autosave_now()
    simulate_crash(first)
    second = make_window(dialogs=RestoreDialogs(True))
    assert second.canvas.has_image and len(second.canvas.strokes) == 1
    np.testing.assert_array_equal(second.canvas.image_array(), picture)
    assert not any("may not line up" in n for n in second.notices)
    # the same from an older SketchFind, whose strokes over a picture were in window pixels: said
    path = second.autosave.path
    second.autosave_now()
    data = json.loads(path.read_text())
    data["version"] = 1
    simulate_crash(second)
    path.write_text(json.dumps(data))
    third = make_window(dialogs=RestoreDialogs(True))
    assert len(third.canvas.strokes) == 1 and any("older SketchFind and may not line up" in n for n in third.notices)


def test_two_autosave_slots_and_stale_lock(tmp_path):
    a, b = Autosave(tmp_path), Autosave(tmp_path)
    assert a.enabled and b.enabled and a.path != b.path
    a.remove()
    c = Autosave(tmp_path)
    assert c.path == tmp_path / "autosave-0.json"


# ------------------------------------------------------------------------------ saving
def test_save_failure_keeps_existing_file_and_says_so(qtbot, make_window, tmp_path, monkeypatch):
    window = make_window()
    draw_mouse(qtbot, window.canvas, BOOT)
    target = tmp_path / "mine.json"
    window.save_sketch(str(target))
    before = target.read_bytes()
    draw_mouse(qtbot, window.canvas, [(10, 10), (40, 40)])
    monkeypatch.setattr(os, "replace", lambda *a: (_ for _ in ()).throw(PermissionError(13, "Permission denied")))
    window.save_sketch(str(target))
    monkeypatch.undo()
    assert target.read_bytes() == before
    assert "Could not save mine.json: Permission denied" in window.statusBar().currentMessage()
    (tmp_path / "a-file").write_text("not a folder")
    window.save_sketch(str(tmp_path / "a-file" / "x.json"))
    assert "Could not save" in window.statusBar().currentMessage()
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


# ------------------------------------------------------------------------------ bad sketch files
SVG = ('<svg xmlns="http://www.w3.org/2000/svg" width="100" height="80">'
       '<path d="M10 10 L90 70" stroke="black" stroke-width="3" fill="none"/></svg>')


@pytest.mark.parametrize("name, content, message", [
    ("notes.json", b"%PDF-1.4 not a sketch", "not a sketch SketchFind can open"),
    ("archive.png", b"PK\x03\x04" + b"\0" * 100, "not a sketch SketchFind can open"),
    ("empty.json", b"", "is empty"),
    ("broken.json", b'{"strokes": [[[0, 0], [1, 1]]', "not a SketchFind stroke file"),
    ("deep.json", b"[" * 200_000, "nested too deeply"),
    ("truncated.png", b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0", "Cannot read image"),
    ("bad.svg", b"<svg><path d='M 0 0 L", "not a valid SVG"),
    ("noink.json", b'{"strokes": []}', None),
])
def test_bad_sketch_files_leave_the_sketch_alone(qtbot, make_window, tmp_path, name, content, message):
    window = make_window()
    draw_mouse(qtbot, window.canvas, BOOT)
    before = [s.points.tolist() for s in window.canvas.strokes]
    depth = window.canvas.undo_stack.count()
    (tmp_path / name).write_bytes(content)
    window.open_sketch(str(tmp_path / name))
    if message is None:  # a valid but empty stroke file: an (undoable) empty sketch
        assert window.canvas.strokes == []
        window.canvas.undo_stack.undo()
    else:
        assert message in window.statusBar().currentMessage(), window.statusBar().currentMessage()
        assert window.canvas.undo_stack.count() == depth
    assert [s.points.tolist() for s in window.canvas.strokes] == before


def test_huge_sketch_file_is_refused(qtbot, make_window, tmp_path):
    window = make_window()
    path = tmp_path / "huge.png"
    with open(path, "wb") as handle:
        handle.write(b"\x89PNG\r\n\x1a\n")
        handle.truncate(MAX_SKETCH_BYTES + 1)
    window.open_sketch(str(path))
    assert "too large" in window.statusBar().currentMessage()


def bomb_png(width: int, height: int) -> bytes:
    """A tiny PNG file whose header claims width x height pixels."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b"")


@pytest.mark.parametrize("side", [60_000, 8_000])  # past PIL's bomb limit; past ours only
def test_huge_picture_dimensions_are_refused(qtbot, make_window, tmp_path, side):
    window = make_window()
    (tmp_path / "bomb.png").write_bytes(bomb_png(side, side))
    window.open_sketch(str(tmp_path / "bomb.png"))
    assert "too large" in window.statusBar().currentMessage() and not window.canvas.has_image


def test_svg_and_misnamed_files_open_by_content(qtbot, make_window, tmp_path):
    window = make_window()
    (tmp_path / "line.svg").write_text(SVG)
    window.open_sketch(str(tmp_path / "line.svg"))
    assert window.canvas.has_image and (window.canvas.image_array() < 128).any()
    draw_mouse(qtbot, window.canvas, BOOT)
    window.save_sketch(str(tmp_path / "as.png"))
    os.replace(tmp_path / "as.png", tmp_path / "really_png.json")
    window.canvas.clear()
    window.open_sketch(str(tmp_path / "really_png.json"))
    assert window.canvas.has_image


def test_svg_too_complex_or_linking_outside_files_is_refused(qtbot, make_window, tmp_path):
    """QA pass: 20,000 paths froze the window for 25 s (drawn on the GUI thread), and an <image>
    linking a named pipe froze it for good."""
    window = make_window()
    draw_mouse(qtbot, window.canvas, BOOT)
    strokes = len(window.canvas.strokes)
    paths = "".join(f'<path d="M{i % 90} 0 L{i % 90} 90" stroke="black"/>' for i in range(2500))
    (tmp_path / "busy.svg").write_text(f'<svg xmlns="http://www.w3.org/2000/svg" width="100" height="100">{paths}</svg>')
    (tmp_path / "linked.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" '
                                         'width="100" height="100"><image xlink:href="/tmp/pipe.png" width="9" height="9"/></svg>')
    # nested <use>: 80 elements written, 10 ** 7 drawn (a QA pass: 46 s on the GUI thread)
    level = '<path id="l0" d="M0 0 L90 90" stroke="black"/>'
    for depth in range(1, 8):
        uses = "".join(f'<use xlink:href="#l{depth - 1}"/>' for _ in range(10))
        level += f'<g id="l{depth}">{uses}</g>'
    xlink = 'xmlns:xlink="http://www.w3.org/1999/xlink"'
    (tmp_path / "bomb.svg").write_text(f'<svg xmlns="http://www.w3.org/2000/svg" {xlink} width="100" height="100">'
                                       f'<defs>{level}</defs><use xlink:href="#l7"/></svg>')
    # a picture linked through a namespace prefix (a QA pass: a pipe there froze the window)
    (tmp_path / "prefixed.svg").write_text(f'<svg xmlns="http://www.w3.org/2000/svg" xmlns:s="http://www.w3.org/2000/svg" '
                                           f'{xlink} width="100" height="100">'
                                           '<s:image xlink:href="/tmp/pipe.png" width="9" height="9"/></svg>')
    # two hrefs: Qt reads xlink:href first (a review: only the first attribute was checked)
    (tmp_path / "two_hrefs.svg").write_text(f'<svg xmlns="http://www.w3.org/2000/svg" {xlink} width="100" height="100">'
                                            '<image href="data:image/png;base64,AAAA" xlink:href="/tmp/pipe.png" '
                                            'width="9" height="9"/></svg>')
    # what expat cannot parse but Qt may draw is checked by its text
    (tmp_path / "unbound.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg" width="100" height="100" inkscape:v="1">'
                                          '<s:image xlink:href="/tmp/pipe.png"/></svg>')
    for name, said in (("busy.svg", "too complex to open (more than 2,000 SVG elements drawn)"),
                       ("linked.svg", "links to pictures outside it"), ("bomb.svg", "too complex to open"),
                       ("prefixed.svg", "links to pictures outside it"), ("two_hrefs.svg", "links to pictures outside it"),
                       ("unbound.svg", "links to pictures outside it")):
        window.open_sketch(str(tmp_path / name))
        assert said in window.statusBar().currentMessage()
        assert len(window.canvas.strokes) == strokes and not window.canvas.has_image  # the sketch is kept
    # drawings that are fine: 1,200 paths kept in <defs> and drawn once by <use> (a review: counted
    # twice, and refused), and an Inkscape attribute whose prefix is not declared (expat refuses it)
    paths = "".join(f'<path d="M{i % 90} 0 L{i % 90} 90" stroke="black"/>' for i in range(1200))
    (tmp_path / "defs.svg").write_text(f'<svg xmlns="http://www.w3.org/2000/svg" {xlink} width="100" height="100">'
                                       f'<defs><g id="d">{paths}</g></defs><use xlink:href="#d"/></svg>')
    (tmp_path / "inkscape.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg" width="100" height="100" '
                                           'inkscape:version="1.2"><path d="M10 10 L90 70" stroke="black" stroke-width="3"/></svg>')
    for name in ("defs.svg", "inkscape.svg"):
        window.dialogs.save_changes_answer = "discard"
        window.open_sketch(str(tmp_path / name))
        assert window.canvas.has_image, name


# ------------------------------------------------------------------------------ settings files
def test_corrupt_preferences_reset_with_notice_and_backup(qtbot, make_window):
    config = settings.config_dir()
    config.mkdir(parents=True, exist_ok=True)  # as a window before this one made it
    (config / settings.PREFERENCES_FILE).write_bytes(b"\x00\xff{{{ not json")
    window = make_window()
    assert window.prefs == settings.Preferences(first_run_done=window.prefs.first_run_done, data_root="fake-root")
    assert any("reset to the defaults" in n for n in window.notices)
    assert "reset to the defaults" in window.warning.toolTip() and window.warning.isVisible()  # not hidden by later messages
    assert (config / (settings.PREFERENCES_FILE + ".bad")).read_bytes().startswith(b"\x00\xff")
    window.close()
    assert json.loads((config / settings.PREFERENCES_FILE).read_text())["category"] == "shoes"


@pytest.mark.parametrize("content", [b"[General]\nlayout_version=banana\ngeometry=@ByteArray(xyz)\n",
                                     b"\x00\x01\x02\xff" * 100,
                                     b"[General]\nlayout_version=1\ngeometry=@ByteArray(garbage)\nstate=@ByteArray(junk)\n"])
def test_corrupt_window_state_uses_default_layout(qtbot, make_window, content):
    settings.config_dir().mkdir(parents=True, exist_ok=True)  # as a window before this one made it
    (settings.config_dir() / settings.WINDOW_STATE_FILE).write_bytes(content)
    window = make_window()
    assert window.isVisible() and window.findChild(object, "resultsDock").isVisible()


def test_hand_edited_bad_pen_width(tmp_path):
    (tmp_path / settings.PREFERENCES_FILE).write_text('{"pen_width": "NaN"}')
    assert settings.load_preferences(tmp_path).pen_width == 3.0


def test_hand_edited_values_of_another_kind_keep_their_defaults(tmp_path):
    (tmp_path / settings.PREFERENCES_FILE).write_text(
        '{"top_k": 1e400, "data_root": null, "first_run_done": "false", "thumb_size": 96.5, "category": 7,'
        ' "pen_width": 4, "attribute_slider": 30.0}')
    prefs = settings.load_preferences(tmp_path)  # 1e400 is JSON for infinity: it raised OverflowError
    assert (prefs.top_k, prefs.data_root, prefs.first_run_done, prefs.thumb_size, prefs.category) == (24, "", False, 112, "shoes")
    assert prefs.pen_width == 4.0 and prefs.attribute_slider == 30  # numbers of the right kind are kept
    (tmp_path / settings.PREFERENCES_FILE).write_text('{"top_k": ' + "9" * 400 + "}")  # too big for a float
    assert settings.load_preferences(tmp_path).top_k == 24


# ------------------------------------------------------------------------------ faults
def test_worker_exception_is_logged_with_traceback(qtbot, make_window, fake_engines):
    window = make_window()
    fake_engines.made[-1].fail_next_encode = ZeroDivisionError("bug in the network")
    draw_mouse(qtbot, window.canvas, BOOT)
    qtbot.waitUntil(lambda: window.last_error is not None, timeout=5000)
    assert "ZeroDivisionError: bug in the network" in window.statusBar().currentMessage()
    text = window.log_file.read_text()
    assert "query failed" in text and "Traceback" in text and "ZeroDivisionError" in text
    draw_mouse(qtbot, window.canvas, [(10, 10), (60, 70)])  # the next query works
    qtbot.waitUntil(lambda: window.last_outcome is not None and window.last_outcome.code is not None, timeout=5000)


def test_device_fallback_during_query_is_reported(qtbot, make_window, fake_engines):
    window = make_window()
    eng = fake_engines.made[-1]
    eng.device = "cuda"
    window.info["device"] = "cuda"
    original = eng._code

    def failing_gpu(raster):  # what Engine.encode_rasters does: retry on CPU, move there
        eng.device = "cpu"
        return original(raster)

    eng._code = failing_gpu
    draw_mouse(qtbot, window.canvas, BOOT)
    qtbot.waitUntil(lambda: "CUDA failed during a query" in window.statusBar().currentMessage(), timeout=5000)
    assert window.info["device"] == "cpu" and window.device_box.currentData() == "cpu"
    qtbot.waitUntil(lambda: window.last_outcome is not None and len(window.last_outcome.results) == 24, timeout=5000)


def test_unreadable_catalogue_images_only_lose_their_thumbnails(qtbot, make_window, fake_engines):
    window = make_window()
    real = window.catalogue.thumbnail

    def flaky(i):
        if i % 2:
            raise OSError(f"photo {i} is truncated")
        return np.zeros((5, 5, 4), np.uint8) if i % 4 == 2 else real(i)

    window.catalogue.thumbnail = flaky
    draw_mouse(qtbot, window.canvas, BOOT)
    qtbot.waitUntil(lambda: window.last_outcome is not None and window.last_outcome.code is not None, timeout=5000)
    outcome = window.last_outcome
    assert len(outcome.results) == 24 and window.results.model().rowCount() == 24
    assert all(i % 4 == 0 for i in outcome.thumbnails)
    assert window.last_error is None


def test_closing_during_indexing_stops_cleanly(qtbot, make_window, fake_engines):
    fake_engines.setup["catalogue_size"] = 10_000_000  # "indexing" that would take ages
    window = make_window(wait_ready=False)
    qtbot.waitUntil(lambda: window.progress.isVisible() or "Indexing" in window.statusBar().currentMessage(),
                    timeout=5000)
    started = time.monotonic()
    stop = window.worker.stop
    shown_while_stopping = []
    window.worker.stop = lambda: shown_while_stopping.append(window.isVisible()) or stop()
    window.close()
    assert time.monotonic() - started < 3 and not window.worker.isRunning()
    # the window goes first: saving a large folder's finished part can take seconds (review)
    assert shown_while_stopping == [False]


def _slow_folder_loading(fake_engines, release: threading.Event, finished: threading.Event | None = None):
    """Every fake engine indexes "slow-…" folders until `release` is set, checking cancel() as the
    real engine does between photos, and fails on "bad-…" ones; other roots load at once.
    `finished` is set as a slow folder's load returns."""
    from conftest import FakeCatalogue, FakeEngine

    from fgsbir_core.data import DataError

    def load_catalogue(data_root=None, progress=None, cancel=None):
        if str(data_root).startswith("bad"):
            raise DataError(f"{data_root} is not a benchmark data root")
        while str(data_root).startswith(("slow", "listing")) and not release.is_set():
            if cancel():
                raise InterruptedError("cancelled")
            progress(*((3, 0) if str(data_root).startswith("listing") else (1, 2)))  # (found, 0): still listing
            time.sleep(0.005)
        catalogue = FakeCatalogue(60 if data_root == "slow-folder" else 300, FakeEngine.DIM, len(FakeEngine.ATTRIBUTES),
                                  seed=len(str(data_root)))
        catalogue.source = f"/photos/{data_root}"
        if finished is not None and data_root == "slow-folder":
            finished.set()
        return catalogue

    fake_engines.setup["load_catalogue"] = load_catalogue


def _indexing_window(qtbot, make_window, fake_engines, root: str):
    """A window indexing the slow fake folder `root` (until the returned event is set), and the
    catalogue it searched before."""
    release = threading.Event()
    _slow_folder_loading(fake_engines, release)
    window = make_window()
    before = window.catalogue
    window.choose_data_root(root)
    qtbot.waitUntil(lambda: window.cancel_indexing.isVisible(), timeout=5000)
    return window, before, release


def _answered(window) -> bool:
    return window.last_outcome is not None and window.last_outcome.request_id == window._latest_request


def test_while_a_folder_is_indexed_the_catalogue_before_it_is_still_searched(qtbot, make_window, fake_engines):
    """Found by a QA pass: every query waited for the whole folder (minutes), so the grid, the lit
    attributes and the model input stayed on the sketch before, with nothing saying so."""
    release = threading.Event()
    _slow_folder_loading(fake_engines, release)
    window = make_window()
    before = window.catalogue
    draw_mouse(qtbot, window.canvas, BOOT)
    qtbot.waitUntil(lambda: _answered(window) and bool(window.last_outcome.results), timeout=5000)
    window.choose_data_root("slow-folder")
    qtbot.waitUntil(lambda: window.cancel_indexing.isVisible(), timeout=5000)
    assert window.catalogue is before and "searching fake-root meanwhile" in window.statusBar().currentMessage()
    window.clear_action.trigger()  # answered now, not after the folder
    qtbot.waitUntil(lambda: _answered(window) and window.last_outcome.code is None, timeout=5000)
    assert window.results.model().rowCount() == 0
    draw_mouse(qtbot, window.canvas, [(100, 100), (300, 300)])
    qtbot.waitUntil(lambda: _answered(window) and window.last_outcome.code is not None, timeout=5000)
    assert len(window.last_outcome.results) == 24 and window.last_outcome.catalogue_size == 300
    assert window.cancel_indexing.isVisible()  # all of it while the folder was still being indexed
    release.set()
    qtbot.waitUntil(lambda: window.catalogue is not before, timeout=5000)
    qtbot.waitUntil(lambda: _answered(window) and window.last_outcome.catalogue_size == 60, timeout=5000)
    assert window.prefs.data_root == "slow-folder"


def test_a_folder_still_being_listed_shows_progress_and_can_be_cancelled(qtbot, make_window, fake_engines):
    """Found by a review: listing a large tree (a link to `/`, a network drive) showed nothing and
    could not be cancelled until the first photo was hashed."""
    window, before, release = _indexing_window(qtbot, make_window, fake_engines, "listing-folder")
    assert window.progress.isVisible() and window.progress.maximum() == 0  # busy: no total yet
    assert "Looking for photos in listing-folder… 3 found so far" in window.statusBar().currentMessage()
    window.cancel_indexing.click()
    assert not window.cancel_indexing.isVisible() and not window.progress.isVisible()
    assert window.catalogue is before and "Indexing cancelled." in window.statusBar().currentMessage()
    release.set()


def test_a_folder_with_no_photos_keeps_the_photos_searched_before(qtbot, make_window, fake_engines):
    """QA pass: choosing an empty folder emptied the grid ("The photo catalogue is empty."), joined
    Recent photo folders, and the next start opened on it, saying "No photos in that folder"."""
    from conftest import FakeCatalogue, FakeEngine

    def load_catalogue(data_root=None, progress=None, cancel=None):
        catalogue = FakeCatalogue(0 if "empty" in str(data_root) else 30, FakeEngine.DIM, len(FakeEngine.ATTRIBUTES))
        catalogue.source = f"/photos/{data_root}"
        return catalogue

    fake_engines.setup["load_catalogue"] = load_catalogue
    window = make_window()
    before = window.catalogue
    window.choose_data_root("empty-folder")
    qtbot.waitUntil(lambda: window._catalogue_job is None, timeout=5000)
    assert window.catalogue is before and window.prefs.data_root == "fake-root"
    assert "No photos in empty-folder" in window.statusBar().currentMessage()
    assert "Searching fake-root again" in window.statusBar().currentMessage()
    assert not any("empty-folder" in f for f in window.prefs.recent_folders)
    # a folder searched whose photos were all deleted since: F5 shows it empty (review: the deleted
    # photos stayed searched). ("empty-now" is the fake loader's name for that folder, emptied.)
    window.prefs.data_root = "empty-now"
    window.refresh_folder()
    qtbot.waitUntil(lambda: window._catalogue_job is None, timeout=5000)
    assert len(window.catalogue) == 0 and "No photos in empty-now" in window.statusBar().currentMessage()


def test_a_category_change_while_a_folder_is_indexed_then_cancel_goes_back_to_the_root_before(
        qtbot, make_window, fake_engines):
    """Found by a QA pass: the cancel left no catalogue at all, and the cancelled folder stayed the
    data root, indexed again at the next start without asking."""
    window, _, release = _indexing_window(qtbot, make_window, fake_engines, "slow-folder")
    window.set_category("chairs")
    qtbot.waitUntil(lambda: window.info is not None and window.info["category"] == "chairs", timeout=5000)
    qtbot.waitUntil(lambda: window.cancel_indexing.isVisible(), timeout=5000)  # the folder, for the chairs model
    window.stop_indexing()
    assert window.prefs.data_root == "fake-root" and "Loading fake-root again" in window.statusBar().currentMessage()
    qtbot.waitUntil(lambda: window.catalogue is not None, timeout=5000)
    assert window.catalogue.source == "/photos/fake-root" and fake_engines.made[-1].category == "chairs"
    release.set()


def test_a_cancel_that_crosses_the_finished_index_is_a_cancel(qtbot, make_window, fake_engines):
    """Found by a QA pass: a cancel landing as the index finished put the previous root back in the
    preferences while the worker (and the grid) searched the new folder. The window now names the
    catalogue each query searches, and takes only the answer of the job it waits for."""
    finished = threading.Event()
    release = threading.Event()
    release.set()  # the folder loads at once
    _slow_folder_loading(fake_engines, release, finished)
    window = make_window()
    before = window.catalogue
    draw_mouse(qtbot, window.canvas, BOOT)
    window.choose_data_root("slow-folder")
    assert finished.wait(5)
    time.sleep(0.2)  # no Qt events: the finished folder's catalogueReady waits in the queue
    window.stop_indexing()  # before the window has heard of it
    window.rerank()
    qtbot.waitUntil(lambda: _answered(window), timeout=5000)
    assert window.catalogue is before and window.prefs.data_root == "fake-root"
    assert window.last_outcome.catalogue is before and window.last_outcome.catalogue_size == 300


def test_a_second_folder_chosen_while_the_first_is_indexed_then_cancel_goes_back_to_the_start(
        qtbot, make_window, fake_engines):
    """Found by a code review: the second choice recorded the first folder (still indexing) as the
    one to go back to, so Cancel left the preference on it."""
    window, before, release = _indexing_window(qtbot, make_window, fake_engines, "slow-folder")
    window.choose_data_root("slow-other")  # another folder while the first is indexed
    window.choose_data_root("slow-other")  # and again: that folder is being loaded already, nothing new
    window.stop_indexing()
    assert window.catalogue is before and window.prefs.data_root == "fake-root"
    release.set()


def test_a_query_problem_while_a_folder_is_indexed_stays_said(qtbot, make_window, fake_engines):
    """Found by a code review: the next progress tick (every 16 photos) overwrote a query's error,
    and the error hid the progress bar and Cancel of the indexing still going on."""
    window, _, release = _indexing_window(qtbot, make_window, fake_engines, "slow-folder")
    window._failed("query", "The sketch is too small to read: draw lines, not a dot.")
    qtbot.wait(100)  # twenty progress ticks
    assert window.statusBar().currentMessage().startswith("Query: The sketch is too small")
    assert window.cancel_indexing.isVisible() and window.progress.isVisible()
    release.set()


def test_closing_during_download_stops_cleanly(qtbot, make_window, tmp_path):
    seen = {}

    def slow_fetch(dest, progress, cancel):
        for block in range(100_000):
            if cancel():
                seen["cancelled_at"] = block
                raise InterruptedError("cancelled")
            progress("shoes/shoes_edge_db_train.mat", block << 16, 1 << 40)
            time.sleep(0.002)
        return dest

    window = make_window(dialogs=FakeDialogs(data_root=str(tmp_path / "dl")), fetch=slow_fetch)
    window.download_action.trigger()
    qtbot.waitUntil(lambda: "Downloading shoes/" in window.statusBar().currentMessage(), timeout=5000)
    started = time.monotonic()
    window.close()
    assert time.monotonic() - started < 3 and not window.downloader.isRunning() and "cancelled_at" in seen


def test_download_failure_and_success_are_reported(qtbot, make_window, tmp_path):
    from fgsbir_core.data import DataError

    calls = []

    def fetch(dest, progress, cancel):
        calls.append(dest)
        if len(calls) == 1:
            raise DataError("Downloading shoes/x.mat failed after 5 tries (URLError: no network)")
        return dest

    window = make_window(dialogs=FakeDialogs(data_root=str(tmp_path / "dl")), fetch=fetch)
    window.download_benchmark()
    qtbot.waitUntil(lambda: window.last_error is not None, timeout=5000)
    assert window.last_error[0] == "download" and "no network" in window.statusBar().currentMessage()
    assert window.statusBar().currentMessage().startswith("Downloading shoes/x.mat failed")  # no "Download: " before it
    assert window.dialogs.picked_titles[-1].startswith("Where to put the benchmark data")
    window.downloader.wait(2000)
    window.download_benchmark()
    qtbot.waitUntil(lambda: window.prefs.data_root == str(tmp_path / "dl"), timeout=5000)


def test_first_run_dialog_offers_the_download(qtbot, make_window, tmp_path, monkeypatch):
    from app.dialogs import DOWNLOAD

    class FirstRun(FakeDialogs):
        def ask_data_root(self, parent):
            self.asked_data_root += 1
            return DOWNLOAD  # "Download the benchmark…"

    monkeypatch.delenv("FGSBIR_DATA", raising=False)
    dialogs = FirstRun(data_root=str(tmp_path / "dl"))
    fetched = []
    window = make_window(data_root=None, dialogs=dialogs, wait_ready=False,
                         fetch=lambda dest, progress, cancel: fetched.append(dest) or dest)
    qtbot.waitUntil(lambda: bool(fetched), timeout=5000)
    assert fetched == [str(tmp_path / "dl")] and dialogs.picked_titles[-1].startswith("Where to put the benchmark data")
    qtbot.waitUntil(lambda: window.prefs.data_root == str(tmp_path / "dl"), timeout=5000)  # and it is then used


def test_model_load_failure_keeps_drawing_and_autosave(qtbot, make_window, fake_engines):
    fake_engines.setup["fail_load"] = "Cannot read model file shoes_mtl.pt: it is truncated"
    window = make_window(wait_ready=False)
    qtbot.waitUntil(lambda: window.last_error is not None, timeout=5000)
    assert window.statusBar().currentMessage().startswith("Model: Cannot read model file")
    draw_mouse(qtbot, window.canvas, BOOT)
    assert window.autosave_now() and len(read_snapshot(window.autosave.path).strokes) == 1
    qtbot.wait(100)
    placeholder = window.results.placeholder  # the model is what stands in the way, not the photos
    assert placeholder.startswith("Nothing can be searched: the model could not be loaded") and "truncated" in placeholder


def test_exception_in_a_slot_is_logged_and_shown(qtbot, make_window):
    window = make_window()
    logs.install_excepthook(window.notice)
    try:
        try:
            raise KeyError("missing thing")
        except KeyError:
            sys.excepthook(*sys.exc_info())
    finally:
        sys.excepthook = sys.__excepthook__
        threading.excepthook = threading.__excepthook__
    assert "Internal error: KeyError" in window.statusBar().currentMessage()
    assert "unhandled exception" in window.log_file.read_text()


# ------------------------------------------------------------------------------ long sessions
def test_erase_gesture_across_a_clear_does_not_crash(qtbot, canvas):
    """Found by the monkey test: right-button erase, Clear by shortcut, release (was a segfault)."""
    from PySide6.QtCore import QPoint, Qt
    from PySide6.QtTest import QTest

    draw_mouse(qtbot, canvas, BOOT)
    QTest.mousePress(canvas, Qt.MouseButton.RightButton, pos=QPoint(*BOOT[0]))
    QTest.mouseMove(canvas, QPoint(*BOOT[1]))
    canvas.clear()
    QTest.mouseRelease(canvas, Qt.MouseButton.RightButton, pos=QPoint(*BOOT[2]))
    assert canvas.strokes == [] and canvas.undo_stack.count() == 2
    canvas.undo_stack.undo()
    assert len(canvas.strokes) == 1


def test_undo_stack_is_bounded(qtbot, canvas):
    for k in range(UNDO_LIMIT + 40):
        canvas.set_strokes([[(k, 0), (k + 5, 5)]], "Open sketch")
    assert canvas.undo_stack.count() == UNDO_LIMIT
    while canvas.undo_stack.canUndo():
        canvas.undo_stack.undo()
    assert len(canvas.strokes) == 1  # the oldest kept state, not a broken one


# ------------------------------------------------------------------------------ log file, About
def test_log_file_has_version_model_hash_and_device(qtbot, make_window):
    window = make_window()
    assert window.log_file == data_dir() / logs.LOG_FILE
    text = window.log_file.read_text()
    assert f"SketchFind {window.version} starting" in text
    assert "model shoes" in text and "hash fake" in text and "on cpu" in text


def test_log_file_rotates(tmp_path):
    import logging

    path = logs.setup(tmp_path)
    try:
        for _ in range(3000):
            logging.getLogger("sketchfind.test").info("x" * 600)
        assert (tmp_path / (logs.LOG_FILE + ".1")).is_file()
        assert path.stat().st_size <= logs.MAX_BYTES
        assert not (tmp_path / (logs.LOG_FILE + f".{logs.BACKUPS + 1}")).exists()
    finally:
        logs.shutdown()


def test_about_dialog_shows_version_model_device_and_log(qtbot, make_window, fake_engines):
    fake_engines.setup["card"] = {"validation": {"acc_at_1": 0.421, "acc_at_10": 0.9, "fusion_weight": 0.5}, "mode": "mtl",
                                  "test": {"acc_at_1": 0.4174, "acc_at_10": 0.8696, "triplet_acc": 0.7185},
                                  "training_seconds": 100.0, "training_seconds_with_run": 1200.0}
    window = make_window()
    window.about_action.trigger()
    dialog = window.dialogs.shown[-1]
    assert dialog.objectName() == "aboutDialog"
    rows = dict(dialog.rows)
    assert rows["Version"] == window.version and rows["Model hash"] == "fake" and rows["Device"] == "CPU"
    assert rows["Validation (cross-validation)"] == "acc@1 42.1 %, acc@10 90.0 %"
    assert rows["Test (published split)"] == "acc@1 41.7 %, acc@10 87.0 %, triplet acc 71.9 %"
    assert rows["Fusion weight (tuned)"] == "0.5" and rows["Training time"] == "20 min (with its cross-validation share)"
    assert rows["Log file"] == str(window.log_file)
    from app.about import about_rows

    staged = {"training_seconds": 150.0, "training_seconds_with_run": 150.0, "first_stage_seconds": 390.0}
    assert dict(about_rows("1", {"card": staged}, None))["Training time"] == "9 min (both stages)"
    assert rows["Folder photos facing right"].startswith("searched as they are")  # the fake engine has no facing classifier
    assert dict(about_rows("1", {"facing": ""}, None))["Folder photos facing right"] == "searched mirrored"
    help_menu = [m for m in window.menuBar().actions() if m.text() == "&Help"][0].menu()
    assert window.about_action in help_menu.actions()


def test_closing_with_an_unsaved_sketch_asks_first(qtbot, make_window, tmp_path):
    window = make_window()
    assert not window.isWindowModified() and window.close() and window.dialogs.asked_save == 0  # nothing drawn
    window = make_window()
    draw_mouse(qtbot, window.canvas, BOOT)
    assert window.has_unsaved_sketch() and window.isWindowModified()
    window.dialogs.save_changes_answer = "cancel"
    assert not window.close() and window.isVisible() and window.dialogs.asked_save == 1
    window.dialogs.save_changes_answer = "save"
    window.dialogs.save_answer = None  # ... then the save dialog is cancelled: still open
    assert not window.close() and window.isVisible() and not window.canvas.is_empty()
    window.dialogs.save_answer = str(tmp_path / "boot.json")
    assert window.close() and (tmp_path / "boot.json").is_file()
    assert window.autosave.leftover() is None  # a clean exit; the sketch is in boot.json

    window = make_window()
    window.open_sketch(str(tmp_path / "boot.json"))
    assert not window.isWindowModified() and window.windowTitle().startswith("boot.json")
    asked = window.dialogs.asked_save
    assert window.close() and window.dialogs.asked_save == asked  # opened and unchanged: nothing to ask


def test_keyboard_shortcuts_are_listed_from_the_actions(qtbot, make_window):
    window = make_window()
    window.canvas.set_strokes([[(10, 10), (60, 80)]])  # the Edit menu now says "Undo Open sketch"
    assert window.undo_action.text() == "Undo Open sketch"
    from PySide6.QtWidgets import QToolBar

    assert window.findChild(QToolBar).widgetForAction(window.undo_action).text() == "Undo"  # the toolbar does not shift
    window.shortcuts_action.trigger()
    dialog = window.dialogs.shown[-1]
    rows = dict(dialog.rows)
    assert rows["Undo"] == "Ctrl+Z" and rows["Paste picture"] == "Ctrl+V" and rows["Export results"] == "Ctrl+Shift+E"
    assert "Ctrl+=" in rows["Larger photos"] and rows["Pen"] == "P"
    assert "Large view: previous / next result" in rows
    assert window.pen_action.toolTip() == "Pen (P)" and window.save_action.toolTip() == "Save sketch (Ctrl+S)"
    window.pen_action.setShortcut("Ctrl+Alt+P")  # read from the actions: never stale
    window.shortcuts_action.trigger()
    assert dict(window.dialogs.shown[-1].rows)["Pen"] == "Ctrl+Alt+P"


def test_open_log_folder(qtbot, make_window):
    window = make_window()
    window.log_folder_action.trigger()
    assert window.dialogs.opened == [window.log_file.parent]
    window.dialogs.open_file_works = False
    window.log_folder_action.trigger()
    assert "Could not open" in window.notices[-1]


def test_a_folder_with_photos_facing_right_says_how_many_it_turned(qtbot, make_window):
    from types import SimpleNamespace

    window = make_window()
    catalogue = window.catalogue
    catalogue.codes = SimpleNamespace(mirrored=np.array([i % 3 == 0 for i in range(len(catalogue.ids))]))
    window._catalogue_job = 7  # as if the worker's job 7 had just finished
    window._catalogue_ready(catalogue, 7)
    turned = sum(i % 3 == 0 for i in range(len(catalogue.ids)))
    assert f"{len(catalogue.ids)} photos ready ({turned} facing right, searched mirrored)" in window.statusBar().currentMessage()
    assert not window.skipped_action.isEnabled()
    catalogue.skipped = [(f"bad{i}.jpg", "The photo shows no object (no edges found): it is blank") for i in range(300)]
    window._catalogue_job = 8
    window._catalogue_ready(catalogue, 8)
    assert f"({turned} facing right, searched mirrored); 300 could not be used (File → Skipped photos…" \
        in window.statusBar().currentMessage()
    window.skipped_action.trigger()  # the whole list, with reasons, in a dialog that fits the screen
    dialog = window.dialogs.shown[-1]
    assert dialog.objectName() == "skippedDialog" and dialog.rows[-1][0] == "bad299.jpg"
    assert dialog.sizeHint().height() < 700


def test_a_file_given_to_the_program_that_cannot_open_is_said_in_a_box(qtbot, make_window, tmp_path):
    """Found by a QA pass: `sketchfind /nope.png` ("Open with SketchFind") said it in the status
    bar for under a second, then the start's own messages took its place."""
    window = make_window()
    window.open_sketch(str(tmp_path / "nope.png"), given=True)
    assert window.dialogs.warnings[-1][0] == "Open sketch" and "nope.png" in window.dialogs.warnings[-1][1]
    window.open_sketch(str(tmp_path / "nope.png"))  # from the window: the status bar, seen as it happens
    assert len(window.dialogs.warnings) == 1 and "Could not open nope.png" in window.statusBar().currentMessage()


def test_an_index_that_cannot_be_saved_is_said_until_one_can(qtbot, make_window):
    window = make_window()
    catalogue = window.catalogue
    catalogue.unsaved = "the photo index cannot be saved (Read-only file system) in /cache: /photos is indexed again next time"
    window._catalogue_job = 3
    window._catalogue_ready(catalogue, 3)
    assert window.warning.isVisible() and "The photo index cannot be saved (Read-only file system)" in window.warning.toolTip()
    assert window.warning.text().startswith("⚠ The photo index cannot be saved")  # the reason first, not a path
    catalogue.unsaved = ""  # the next folder saved fine: the warning is about the one before
    window._catalogue_job = 4
    window._catalogue_ready(catalogue, 4)
    assert not window.warning.isVisible()


def test_a_category_change_leaves_no_answer_of_the_old_model(qtbot, make_window, fake_engines):
    """Found by a stress test: after a category change with a sketch drawn, clearing the canvas
    while the model loaded left the old model's 24 results in the grid (and its export); a query
    still waiting in the worker was run by the new model on the old catalogue."""
    window = make_window()
    draw_mouse(qtbot, window.canvas, BOOT)
    qtbot.waitUntil(lambda: _answered(window) and bool(window.last_outcome.results), timeout=5000)
    old = window.last_outcome
    window.set_category("chairs")
    assert window.results.model().rowCount() == 0 and window.last_outcome is None
    window.clear_action.trigger()  # while the model loads
    qtbot.waitUntil(lambda: window.info is not None and window.catalogue is not None, timeout=5000)
    qtbot.wait(100)
    assert window.results.model().rowCount() == 0 and window.last_outcome is None
    dropped = window.dropped_results
    window._show_results(old)  # an answer asked of the old model, arriving late
    assert window.dropped_results == dropped + 1 and window.results.model().rowCount() == 0
    from app.worker import Worker  # and a worker drops what was asked of the old model when it loads another

    worker = Worker(engine_factory=fake_engines, devices=lambda: ["cpu"])  # not started: its jobs run here
    worker.query(("empty",), window.attributes.rank_params(24), old.catalogue)
    worker._do_load("shoes", "cpu", None, 1)
    assert not worker._pending and worker._pending_query_catalogue is None


def test_a_finished_download_is_searched_as_if_chosen(qtbot, make_window, fake_engines):
    """Found by a stress test: a download finishing while a folder was indexed (or during a
    category change) set the preference to it while another catalogue was searched; one that
    failed to load left the preference on it."""
    window, before, release = _indexing_window(qtbot, make_window, fake_engines, "slow-a")
    window._download_done("dl-root")
    qtbot.waitUntil(lambda: window.catalogue is not before and window._catalogue_job is None, timeout=5000)
    assert window.catalogue.source == "/photos/dl-root" and window.prefs.data_root == "dl-root"
    now = window.catalogue
    window._download_done("bad-dl")  # downloaded, but it does not load: back to what was searched
    qtbot.waitUntil(lambda: window._catalogue_job is None, timeout=5000)
    assert window.catalogue is now and window.prefs.data_root == "dl-root"
    release.set()


def test_a_stale_catalogue_failure_ends_nothing(qtbot, make_window, fake_engines):
    """Found by a stress test: a failure of a folder already replaced ended the wait for the new one."""
    release = threading.Event()
    _slow_folder_loading(fake_engines, release)
    window = make_window()
    before = window.catalogue
    window.choose_data_root("bad-x")
    time.sleep(0.3)  # no Qt events: the worker's failure waits in the queue
    window.choose_data_root("slow-a")
    qtbot.waitUntil(lambda: window.cancel_indexing.isVisible(), timeout=5000)
    qtbot.wait(100)
    assert window._catalogue_pending and window.prefs.data_root == "slow-a" and window.catalogue is before
    release.set()
    qtbot.waitUntil(lambda: window.catalogue is not before, timeout=5000)
    assert window.catalogue.source == "/photos/slow-a"


def test_cancelling_a_load_with_nothing_to_go_back_to_says_so(qtbot, make_window, fake_engines):
    release = threading.Event()
    _slow_folder_loading(fake_engines, release)
    window = make_window(data_root="slow-a", wait_ready=False)
    qtbot.waitUntil(lambda: window.cancel_indexing.isVisible(), timeout=5000)
    window.stop_indexing()
    said = window.statusBar().currentMessage()
    assert said.startswith("Indexing cancelled.") and "Nothing is searched now" in said and window.catalogue is None
    release.set()


def test_cancel_stops_the_indexing_in_the_worker_not_only_its_progress_bar(qtbot, make_window, fake_engines):
    """Cancel ends the folder's indexing in the worker too, not just the window's wait (found by a mutation pass)."""
    release, stopped = threading.Event(), threading.Event()
    _slow_folder_loading(fake_engines, release)
    slow = fake_engines.setup["load_catalogue"]

    def load_catalogue(data_root=None, progress=None, cancel=None):
        try:
            return slow(data_root, progress, cancel)
        except InterruptedError:
            stopped.set()
            raise

    fake_engines.setup["load_catalogue"] = load_catalogue
    window = make_window()
    try:
        window.choose_data_root("slow-folder")
        qtbot.waitUntil(lambda: window.cancel_indexing.isVisible(), timeout=5000)
        window.cancel_indexing.click()
        qtbot.waitUntil(stopped.is_set, timeout=5000)
    finally:
        release.set()


def test_the_worker_keeps_at_most_thumbnail_cache_pictures_dropping_the_least_used(qtbot, fake_engines):
    """The thumbnail cache is bounded at THUMBNAIL_CACHE, least recently used out first (found by a mutation pass)."""
    from conftest import FakeCatalogue

    from app.worker import THUMBNAIL_CACHE, Worker

    worker = Worker(engine_factory=fake_engines, devices=lambda: ["cpu"])  # not started: called here
    catalogue = FakeCatalogue(THUMBNAIL_CACHE + 1, 4, 2)
    for row in range(THUMBNAIL_CACHE):
        worker._thumbnail(catalogue, row)
    worker._thumbnail(catalogue, 0)  # used again: now the newest
    assert len(catalogue.sizes_asked) == THUMBNAIL_CACHE  # (from the cache, not read again)
    worker._thumbnail(catalogue, THUMBNAIL_CACHE)
    assert len(worker._thumbs) == THUMBNAIL_CACHE
    assert 0 in worker._thumbs and 1 not in worker._thumbs and THUMBNAIL_CACHE in worker._thumbs


def test_the_worker_sends_no_answer_a_newer_request_waiting_replaces(qtbot, fake_engines):
    """A ranking finished while a re-rank waits is dropped by the worker itself (found by a mutation pass)."""
    from app.worker import RankParams, Worker

    worker = Worker(engine_factory=fake_engines, devices=lambda: ["cpu"])  # not started: its jobs run here
    worker._do_load("shoes", "cpu", None, 1)
    catalogue = worker._engine.load_catalogue()
    sent = []
    worker.resultsReady.connect(sent.append)
    worker.query(("strokes", [np.array(BOOT, float)]), RankParams(), catalogue)
    job = worker._take_query_locked()
    newer = worker.query(None, RankParams(top_k=48), catalogue)  # a re-rank asked while the sketch is encoded
    worker._run_job(job)
    assert sent == [] and worker._engine.encode_calls == 1
    worker._run_job(worker._take_query_locked())
    assert [outcome.request_id for outcome in sent] == [newer] and len(sent[0].results) == 40


def test_autosave_is_a_throttle_so_continuous_changes_still_save(qtbot, make_window):
    """Changes while an autosave is scheduled do not push it back (throttle, not debounce) (found by a mutation pass)."""
    window = make_window()
    timer = window._autosave_timer
    timer.stop()
    starts = []
    start = timer.start
    timer.start = lambda *args: starts.append(1) or start(*args)
    for _ in range(3):  # a stroke, another, an undo: within AUTOSAVE_DELAY_MS
        window._schedule_autosave()
    assert timer.isActive() and len(starts) == 1
    qtbot.waitUntil(lambda: not timer.isActive(), timeout=3000)
    window._schedule_autosave()
    assert len(starts) == 2


def test_a_restored_sketch_brings_back_its_category(qtbot, make_window):
    """The autosave's category wins over the one the preferences hold now (found by a mutation pass)."""
    first = make_window()
    first.set_category("chairs")
    qtbot.waitUntil(lambda: first.info is not None and first.info["category"] == "chairs", timeout=5000)
    draw_mouse(qtbot, first.canvas, BOOT)
    first.autosave_now()
    simulate_crash(first)
    prefs = settings.load_preferences()
    prefs.category = "shoes"  # changed since (another window, or a hand edit)
    settings.save_preferences(prefs)

    second = make_window(dialogs=RestoreDialogs(True))
    assert second.category_box.currentText() == "chairs" and second.info["category"] == "chairs"
    first.close()


def test_a_hand_edited_page_size_is_kept_between_1_and_200(tmp_path):
    """top_k in preferences.json is clamped to 1..200 photos a page (found by a mutation pass)."""
    assert settings.Preferences.from_dict({"top_k": 1_000_000}).top_k == 200
    assert settings.Preferences.from_dict({"top_k": 0}).top_k == 1
    assert settings.Preferences.from_dict({"top_k": 48}).top_k == 48
