"""The chart window's status bar: source state, rate, latency, frames, model mode, approximate
tiers, memory, recording, and a progress bar for long work (history, rebuild, seek)."""

from __future__ import annotations

import math
import time
from collections import deque
from typing import TYPE_CHECKING

import psutil
from PySide6 import QtWidgets

from liqdesk.app.session import Session

from . import theme

if TYPE_CHECKING:
    from .frame_clock import FrameClock


class StatusBar(QtWidgets.QStatusBar):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.source = QtWidgets.QLabel()
        self.rate = QtWidgets.QLabel()
        self.latency = QtWidgets.QLabel()
        self.fps = QtWidgets.QLabel()
        self.mode = QtWidgets.QLabel()
        self.record = QtWidgets.QLabel()
        self.memory = QtWidgets.QLabel()
        self.tiers = QtWidgets.QLabel()
        self.tiers.setStyleSheet(f"color: {theme.WARNING}")
        self.record.setStyleSheet(f"color: {theme.DANGER}; font-weight: bold")
        self.progress = QtWidgets.QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setMaximumWidth(160)
        self.progress.hide()
        self.addWidget(self.progress)
        for w in (self.source, self.tiers, self.mode, self.rate, self.latency, self.fps, self.memory, self.record):
            self.addPermanentWidget(w)
        self._proc = psutil.Process()
        self._versions: deque = deque()
        self.fps.setToolTip("frames painted per second; the window repaints only when the data or the view "
                            "changed (the frame timer runs at 30 per second)")

    def refresh(self, session: Session, clock: FrameClock | None) -> None:
        eng = session.engine
        self.source.setText(session.source_state())
        self.rate.setText(f"{eng.stats.rate(time.monotonic()):,.0f} msg/s")
        lat = session.latency_ms()
        if session.is_replay:
            self.latency.setText("latency n/a (replay)")
        else:
            self.latency.setText(f"latency {lat:.0f} ms" if math.isfinite(lat) else "latency -")
        busy = session.busy()
        if busy is not None:
            label, frac = busy
            self.progress.setFormat(f"{label} %p%")
            self.progress.setValue(int(frac * 1000))
            self.progress.show()
        else:
            self.progress.hide()
        fps = session.fps()
        now = time.perf_counter()
        self._versions.append((now, eng.version))
        while len(self._versions) > 2 and now - self._versions[0][0] > 5.0:
            self._versions.popleft()
        t0, v0 = self._versions[0]
        ups = (eng.version - v0) / (now - t0) if now - t0 > 0.9 else 30.0
        # the window repaints only when something changed: a slow source means few frames
        idle = f" · {ups:.0f} updates/s" if fps < 20 and ups < 20 else ""
        self.fps.setText(f"{fps:.0f} fps{idle}" + (f" · frame {clock.last_tick_ms:.1f} ms" if clock else ""))
        approx = approximate_tiers(eng.model)
        self.tiers.setText(f"approximate tiers: {', '.join(approx)}" if approx else "")
        self.tiers.setToolTip("no published tier table for this symbol on these venues: their liquidation "
                              "prices use the venue's generic table (resources/tiers/README.md)" if approx else "")
        mode = eng.model.mode
        self.mode.setText({"oi": "model: OI", "volume": "model: VOLUME-ONLY", "mixed": "model: OI + volume"}[mode])
        self.mode.setStyleSheet("" if mode == "oi" else f"color: {theme.WARNING}; font-weight: bold")
        self.record.setText("● REC" if session.recording else "")
        self.memory.setText(f"{self._proc.memory_info().rss / 2**20:,.0f} MB")


def approximate_tiers(model) -> list[str]:
    """The model's exchanges whose tier table for its symbol is the generic (approximate) one."""
    return [name for name, table in model.tiers.items() if getattr(table, "approximate", False)]
