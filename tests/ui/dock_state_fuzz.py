"""Mutated dock layouts through liqdesk's check, then Qt: run as a separate process
(``python -m tests.ui.dock_state_fuzz SEED COUNT [--unchecked]``) because a crash in Qt's reader
is a segmentation fault, not an exception. Prints ``checked N accepted M`` when it survives.

``--unchecked`` hands every mutation to Qt as the QSettings-era liqdesk did (it crashes)."""

from __future__ import annotations

import os
import random
import sys

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6 import QtCore, QtWidgets  # noqa: E402

from liqdesk.ui.dock_state import dock_state_problem  # noqa: E402

DOCKS = ["dock-heatmap", "dock-liqmap", "dock-ladder", "dock-stats", "dock-filters"]
VERSION = 3


def build_window() -> QtWidgets.QMainWindow:
    """A main window with liqdesk's dock options, docks and toolbars."""
    win = QtWidgets.QMainWindow()
    win.setDockNestingEnabled(True)
    win.setDockOptions(QtWidgets.QMainWindow.DockOption.AllowNestedDocks
                       | QtWidgets.QMainWindow.DockOption.AllowTabbedDocks)
    win.setCentralWidget(None)
    for name in DOCKS:
        dock = QtWidgets.QDockWidget(name, win)
        dock.setObjectName(name)
        dock.setWidget(QtWidgets.QLabel(name))
        win.addDockWidget(QtCore.Qt.DockWidgetArea.RightDockWidgetArea, dock)
    for name, area in (("sessionBar", QtCore.Qt.ToolBarArea.TopToolBarArea),
                       ("replayBar", QtCore.Qt.ToolBarArea.BottomToolBarArea)):
        bar = QtWidgets.QToolBar(name, win)
        bar.setObjectName(name)
        bar.addAction(name)
        win.addToolBar(area, bar)
    win.resize(1200, 800)
    return win


def arrangements(win: QtWidgets.QMainWindow) -> list[bytes]:
    """Saved states of several arrangements: default, nested splits, tabs, floating, hidden."""
    docks = [win.findChild(QtWidgets.QDockWidget, name) for name in DOCKS]
    H, V = QtCore.Qt.Orientation.Horizontal, QtCore.Qt.Orientation.Vertical
    states = [bytes(win.saveState(VERSION).data())]
    win.splitDockWidget(docks[0], docks[1], H)
    win.splitDockWidget(docks[1], docks[2], V)
    states.append(bytes(win.saveState(VERSION).data()))
    win.tabifyDockWidget(docks[3], docks[4])
    states.append(bytes(win.saveState(VERSION).data()))
    docks[2].setFloating(True)
    docks[2].move(-300, 40)
    docks[0].hide()
    win.addDockWidget(QtCore.Qt.DockWidgetArea.LeftDockWidgetArea, docks[1])
    states.append(bytes(win.saveState(VERSION).data()))
    return states


def mutate(rng: random.Random, state: bytes) -> bytes:
    b = bytearray(state)
    for _ in range(rng.randint(1, 4)):
        kind = rng.random()
        k = rng.randrange(len(b))
        if kind < 0.4:
            b[k] ^= 1 << rng.randrange(8)
        elif kind < 0.7:
            b[k] = rng.choice([0x00, 0x01, 0x02, 0x03, 0x04, 0x7F, 0x80, 0xF9, 0xFA, 0xFB, 0xFC, 0xFD, 0xFE, 0xFF])
        elif kind < 0.85:
            j = rng.randrange(len(b))
            b[k], b[j] = b[j], b[k]
        elif kind < 0.93:
            del b[k:k + rng.randint(1, 8)]
        else:
            b[k:k] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
        if not b:
            b = bytearray(b"\0")
    return bytes(b)


def main(argv: list[str]) -> int:
    seed, count = int(argv[0]), int(argv[1])
    unchecked = "--unchecked" in argv
    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication([])
    win = build_window()
    states = arrangements(win)
    for state in states:
        problem = dock_state_problem(state, VERSION, DOCKS)
        if problem is not None:
            print(f"a real state was refused: {problem}")
            return 1
    rng = random.Random(seed)
    accepted = 0
    for _ in range(count):
        data = mutate(rng, rng.choice(states))
        if unchecked or dock_state_problem(data, VERSION, DOCKS) is None:
            accepted += 1
            win.restoreState(QtCore.QByteArray(data), VERSION)
    app.processEvents()
    print(f"checked {count} accepted {accepted}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
