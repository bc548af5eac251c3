"""GUI monkey test: thousands of random mouse, pen, touch and key events and toolbar actions."""
from __future__ import annotations

import random

import pytest
from conftest import draw_mouse
from PySide6.QtCore import QEvent, QPoint, QPointF, Qt, QTimer
from PySide6.QtGui import QInputDevice, QPointingDevice, QTabletEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from app.autosave import read_snapshot
from app.canvas import ECHO_WINDOW_S, UNDO_LIMIT

EVENTS = 3000
KEYS = [Qt.Key.Key_P, Qt.Key.Key_E, Qt.Key.Key_Z, Qt.Key.Key_A, Qt.Key.Key_Escape, Qt.Key.Key_Backspace,
        Qt.Key.Key_Space, Qt.Key.Key_Return, Qt.Key.Key_Tab]
MODIFIERS = [Qt.KeyboardModifier.NoModifier, Qt.KeyboardModifier.ControlModifier,
             Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier, Qt.KeyboardModifier.ShiftModifier]


def _pen(pointer):
    caps = QInputDevice.Capability.Position | QInputDevice.Capability.Pressure
    return QPointingDevice("monkey pen", 7 + int(pointer.value), QInputDevice.DeviceType.Stylus, pointer, caps, 1, 3)


@pytest.mark.parametrize("seed", [20240611, 7])
def test_monkey(qtbot, make_window, fake_engines, seed):
    rng = random.Random(seed)
    window = make_window()
    canvas = window.canvas
    stack = canvas.undo_stack
    pens = [_pen(QPointingDevice.PointerType.Pen), _pen(QPointingDevice.PointerType.Eraser)]
    touch = QTest.createTouchDevice()
    actions = [window.pen_action, window.eraser_action, window.undo_action, window.redo_action, window.clear_action,
               window.save_action, window.open_action, window.export_action]
    buttons = [Qt.MouseButton.LeftButton, Qt.MouseButton.RightButton, Qt.MouseButton.MiddleButton]
    touching = False
    counts = dict.fromkeys(("mouse", "pen", "touch", "key", "action", "panel"), 0)

    def pos():
        return QPoint(rng.randrange(-20, canvas.width() + 20), rng.randrange(-20, canvas.height() + 20))

    def tablet(kind, device, p, pressure):
        buttons_now = Qt.MouseButton.NoButton if kind == QEvent.Type.TabletRelease else Qt.MouseButton.LeftButton
        event = QTabletEvent(kind, device, QPointF(p), QPointF(canvas.mapToGlobal(p)), pressure, 0.0, 0.0, 0.0, 0.0,
                             0.0, Qt.KeyboardModifier.NoModifier, Qt.MouseButton.LeftButton, buttons_now)
        QApplication.sendEvent(canvas, event)

    for step in range(EVENTS):
        roll = rng.random()
        if roll < 0.35:
            counts["mouse"] += 1
            kind = rng.choice(["press", "move", "move", "move", "release", "click"])
            button = rng.choice(buttons)
            if kind == "press":
                QTest.mousePress(canvas, button, pos=pos())
            elif kind == "move":
                QTest.mouseMove(canvas, pos())
            elif kind == "release":
                QTest.mouseRelease(canvas, button, pos=pos())
            else:
                draw_mouse(qtbot, canvas, [(p.x(), p.y()) for p in (pos(), pos(), pos())], button)
        elif roll < 0.55:
            counts["pen"] += 1
            device = rng.choice(pens)
            kind = rng.choice([QEvent.Type.TabletPress, QEvent.Type.TabletMove, QEvent.Type.TabletMove,
                               QEvent.Type.TabletRelease])
            tablet(kind, device, pos(), rng.random())
        elif roll < 0.70:
            counts["touch"] += 1
            sequence = QTest.touchEvent(canvas, touch)
            finger = rng.choice([0, 0, 0, 1])
            if not touching:
                sequence.press(finger, pos(), canvas)
                touching = True
            elif rng.random() < 0.7:
                sequence.move(finger, pos(), canvas)
            else:
                sequence.release(finger, pos(), canvas)
                touching = False
            sequence.commit()
        elif roll < 0.85:
            counts["key"] += 1
            QTest.keyClick(window, rng.choice(KEYS), rng.choice(MODIFIERS))
        elif roll < 0.95:
            counts["action"] += 1
            rng.choice(actions).trigger()
        else:
            counts["panel"] += 1
            choice = rng.random()
            if choice < 0.4:
                window.attributes.slider.setValue(rng.randrange(0, 101))
            elif choice < 0.8 and window.attributes.names:
                window.attributes.set_mode(rng.choice(window.attributes.names), rng.choice(["Ignore", "Use", "Must have"]))
            elif choice < 0.9:
                window.set_device("cuda")
            else:
                window.set_category(rng.choice(["shoes", "chairs"]))
        if step % 100 == 0:
            QApplication.processEvents()
            # consistency while it runs: the stack is bounded, the strokes are distinct objects
            assert stack.count() <= UNDO_LIMIT and 0 <= stack.index() <= stack.count()
            assert len({id(s) for s in canvas.strokes}) == len(canvas.strokes)
    if touching:
        QTest.touchEvent(canvas, touch).release(0, QPoint(10, 10), canvas).release(1, QPoint(10, 10), canvas).commit()
    tablet(QEvent.Type.TabletRelease, pens[0], QPoint(5, 5), 0.0)
    QTest.mouseRelease(canvas, Qt.MouseButton.LeftButton, pos=QPoint(5, 5))
    assert all(counts.values()), counts

    # Undo stack consistent with the strokes: undo everything kept, redo it all, same sketch.
    now = list(canvas.strokes)
    steps = stack.index()
    for _ in range(steps):
        stack.undo()
    for _ in range(steps):
        stack.redo()
    assert canvas.strokes == now

    # Still responsive: the event loop runs, a new stroke is queried and answered, autosave is current.
    fired = []
    QTimer.singleShot(0, lambda: fired.append(1))
    qtbot.waitUntil(lambda: fired == [1], timeout=2000)
    window.pen_action.trigger()
    canvas.clear()
    # random touches may leave a finger down that Qt never releases to the canvas: the mouse counts
    # as that finger's echo only for a moment (it used to be ignored for good)
    qtbot.wait(int(ECHO_WINDOW_S * 1000) + 100)
    draw_mouse(qtbot, canvas, [(100, 100), (200, 220), (260, 120)])
    qtbot.waitUntil(lambda: window.info is not None and window.last_outcome is not None
                    and window.last_outcome.code is not None
                    and window.last_outcome.request_id == window._latest_request, timeout=10_000)
    assert len(canvas.strokes) == 1
    window.autosave_now()
    assert len(read_snapshot(window.autosave.path).strokes) == 1
