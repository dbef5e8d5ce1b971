"""The one frame timer of the application: it pumps every session the windows show, then lets
each window redraw what changed. The feed rate never drives the paint rate."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from PySide6 import QtCore

from liqdesk.app.session import Session

if TYPE_CHECKING:
    from .chart_window import ChartWindow

FPS = 30


class FrameClock(QtCore.QObject):
    """The one frame timer: pumps the session's engine, then lets every window redraw what
    changed. The feed rate never drives the paint rate."""

    ticked = QtCore.Signal()

    def __init__(self, session: Session | None = None, fps: int = FPS, parent=None):
        super().__init__(parent)
        self.session = session
        self.windows: list[ChartWindow] = []
        self.timer = QtCore.QTimer(self)
        self.timer.setTimerType(QtCore.Qt.TimerType.PreciseTimer)
        self.timer.setInterval(int(1000 / fps))
        self.timer.timeout.connect(self.tick)
        self.tick_id = 0
        self.last_tick_ms = 0.0
        self.budget_s = 0.008
        self._reported = False

    def sessions(self) -> list[Session]:
        """The sessions to pump: the clock's own and those of its windows, each once."""
        out = [self.session] if self.session is not None else []
        for w in self.windows:
            if w.session not in out:
                out.append(w.session)
        return out

    def start(self) -> None:
        self.timer.start()

    def stop(self) -> None:
        self.timer.stop()

    def tick(self) -> None:
        t0 = time.perf_counter()
        self.tick_id += 1
        sessions = self.sessions()
        try:
            for session in sessions:
                session.pump(self.budget_s)
            for w in list(self.windows):
                w.on_frame()
        except Exception as exc:  # a drawing bug must not stop the clock or flood the terminal
            if not self._reported:
                self._reported = True
                import traceback

                traceback.print_exc()
            for session in sessions:
                session.message(f"display error: {type(exc).__name__}: {exc}")
        self.last_tick_ms = (time.perf_counter() - t0) * 1000.0
        self.ticked.emit()
