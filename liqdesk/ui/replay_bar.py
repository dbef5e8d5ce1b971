"""The replay bar (``sources/replay.py``): play/pause, speed, a seek slider with times, step, and
the progress of a seek or rebuild."""

from __future__ import annotations

import math

from PySide6 import QtCore, QtWidgets

from liqdesk.core.timefmt import format_time

SLIDER_STEPS = 10_000


def speed_label(s: float) -> str:
    return "max" if math.isinf(s) else f"{s:g}x"


class ReplayBar(QtWidgets.QToolBar):
    """Drives a replay :class:`~liqdesk.app.session.Session`."""

    def __init__(self, session, parent=None):
        super().__init__("Replay", parent)
        self.setObjectName("replayBar")
        self.session = session
        self.setMovable(True)
        src = session.source
        self.start_ms, self.end_ms = int(src.start_ms), int(src.end_ms)
        self.play_button = QtWidgets.QPushButton("▶ Play")
        self.play_button.setToolTip("play / pause (Space)")
        self.play_button.clicked.connect(self.toggle)
        self.addWidget(self.play_button)
        self.step_button = QtWidgets.QPushButton("Step ▸|")
        self.step_button.setToolTip("one column forward, paused (→)")
        self.step_button.clicked.connect(session.step)
        self.addWidget(self.step_button)
        self.speed = QtWidgets.QComboBox()
        from liqdesk.sources.replay import (
            SPEEDS,  # (imported here: the simulator's window never loads the store)
        )

        for s in SPEEDS:
            self.speed.addItem(speed_label(s), s)
        self.speed.setCurrentIndex(SPEEDS.index(1.0) if src.speed not in SPEEDS else SPEEDS.index(src.speed))
        self.speed.setToolTip("replay speed ([ and ])")
        self.speed.currentIndexChanged.connect(lambda i: session.set_speed(float(self.speed.itemData(i))))
        self.addWidget(self.speed)
        self.time_label = QtWidgets.QLabel(format_time(self.start_ms))
        self.time_label.setMinimumWidth(150)
        self.addWidget(self.time_label)
        self.slider = QtWidgets.QSlider(QtCore.Qt.Orientation.Horizontal)
        self.slider.setRange(0, SLIDER_STEPS)
        self.slider.setMinimumWidth(320)
        self.slider.setToolTip("seek: drag and release")
        self.slider.sliderReleased.connect(self._released)
        self.slider.sliderMoved.connect(self._moved)
        self.slider.actionTriggered.connect(self._action)
        self.addWidget(self.slider)
        self.end_label = QtWidgets.QLabel(format_time(self.end_ms))
        self.addWidget(self.end_label)
        self.progress = QtWidgets.QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setMaximumWidth(180)
        self.progress.setFormat("seeking %p%")
        self.progress.hide()
        self.progress_action = self.addWidget(self.progress)
        self._dragging = False

    def slider_time(self, value: int | None = None) -> int:
        v = self.slider.value() if value is None else value
        return int(self.start_ms + (self.end_ms - self.start_ms) * v / SLIDER_STEPS)

    def _moved(self, value: int) -> None:
        self._dragging = True
        self.time_label.setText(format_time(self.slider_time(value)))

    def _released(self) -> None:
        self._dragging = False
        self.seek(self.slider_time())

    def _action(self, action: int) -> None:
        # page/step clicks on the groove (not drags) seek at once
        if action in (QtWidgets.QAbstractSlider.SliderAction.SliderPageStepAdd,
                      QtWidgets.QAbstractSlider.SliderAction.SliderPageStepSub,
                      QtWidgets.QAbstractSlider.SliderAction.SliderSingleStepAdd,
                      QtWidgets.QAbstractSlider.SliderAction.SliderSingleStepSub):
            QtCore.QTimer.singleShot(0, lambda: self.seek(self.slider_time()))

    def seek(self, time_ms: int) -> None:
        self.session.seek_to(int(time_ms))
        self.refresh()

    def toggle(self) -> None:
        self.session.toggle_play()

    def faster(self, step: int = 1) -> None:
        self.speed.setCurrentIndex(max(0, min(self.speed.count() - 1, self.speed.currentIndex() + step)))

    def refresh(self) -> None:
        """Follow the session: displayed time, slider, play state, seek progress."""
        s = self.session
        playing = s.playing and not getattr(s.source, "finished", False)
        self.play_button.setText("❚❚ Pause" if playing else "▶ Play")
        if s.seek is not None:
            self.progress.setFormat(f"{s.seek.label} %p%")
            self.progress.setValue(int(s.seek.fraction * 1000))
            self.progress_action.setVisible(True)
            shown = s.seek.target_ms
        else:
            self.progress_action.setVisible(False)
            shown = s.engine.now_ms if s.engine.now_ms is not None else self.start_ms
        if not self._dragging and not self.slider.isSliderDown():
            self.time_label.setText(format_time(shown))
            frac = (shown - self.start_ms) / max(1, self.end_ms - self.start_ms)
            self.slider.blockSignals(True)
            self.slider.setValue(int(round(min(1.0, max(0.0, frac)) * SLIDER_STEPS)))
            self.slider.blockSignals(False)
