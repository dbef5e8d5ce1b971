"""Alert sounds (distinct for long and short) and desktop notifications, with no extra dependency.

- **Sound.** Two short WAV tones written once with the stdlib ``wave`` module into the cache
  folder: a falling one for long liquidations/levels (price falling), a rising one for short.
  Played with QtMultimedia's ``QSoundEffect`` when PySide6-Addons is installed; otherwise with the
  platform's own player — ``winsound`` (stdlib) on Windows, ``afplay`` on macOS, ``paplay``,
  ``pw-play`` or ``aplay`` on Linux — started without waiting; with none of these, the system beep.
- **Notification.** ``QSystemTrayIcon.showMessage`` (the desktop's notification service on Linux,
  the notification centre on Windows and macOS). Where there is no system tray (a headless run,
  some desktops) the notification is skipped and the window's status bar says the alert instead.

Every request is also kept in ``requests`` so headless tests can check it was made.
"""

from __future__ import annotations

import math
import shutil
import struct
import subprocess
import sys
import wave
from pathlib import Path

from PySide6 import QtGui, QtWidgets

RATE = 22_050
#: (start Hz, end Hz): long (price falling) sweeps down, short (price rising) sweeps up
TONES = {"long": (880.0, 440.0), "short": (440.0, 880.0)}


def write_tone(path: Path, start_hz: float, end_hz: float, seconds: float = 0.35) -> Path:
    """A 16-bit mono WAV sweep from ``start_hz`` to ``end_hz`` with a soft start and end."""
    n = int(RATE * seconds)
    frames = bytearray()
    phase = 0.0
    for i in range(n):
        f = start_hz + (end_hz - start_hz) * i / n
        phase += 2 * math.pi * f / RATE
        env = min(1.0, i / (0.02 * RATE), (n - i) / (0.08 * RATE))
        frames += struct.pack("<h", int(12_000 * env * math.sin(phase)))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".partial")
    with wave.open(str(tmp), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(bytes(frames))
    tmp.replace(path)
    return path


def sound_files(folder: Path | None = None) -> dict[str, Path]:
    """side -> WAV path, written when missing."""
    if folder is None:
        from platformdirs import user_cache_dir

        folder = Path(user_cache_dir("liqdesk")) / "sounds"
    out = {}
    for side, (a, b) in TONES.items():
        p = folder / f"alert-{side}.wav"
        if not p.is_file():
            write_tone(p, a, b)
        out[side] = p
    return out


def _qt_sound_effect():
    try:
        from PySide6.QtMultimedia import QSoundEffect  # PySide6-Addons, optional
    except ImportError:
        return None
    return QSoundEffect


def _platform_player() -> tuple[str, object] | None:
    """(name, play(path)) of the platform's player, or None."""
    if sys.platform == "win32":
        import winsound

        return "winsound", lambda p: winsound.PlaySound(str(p), winsound.SND_FILENAME | winsound.SND_ASYNC)
    for tool in (("afplay",) if sys.platform == "darwin" else ("paplay", "pw-play", "aplay")):
        exe = shutil.which(tool)
        if exe:
            args = [exe, "-q"] if tool == "aplay" else [exe]
            return tool, lambda p, a=args: subprocess.Popen(  # noqa: S603 - a fixed player, our own file
                [*a, str(p)], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return None


class AlertOutput:
    """Notifications and sounds of fired alerts, one for the whole application."""

    _instance: AlertOutput | None = None

    def __init__(self, sound_folder: Path | None = None):
        self.sound_on = True
        self.notify_on = True
        self.requests: list[tuple] = []     # ("notify", title, text, shown) / ("sound", side, path, backend)
        self._folder = sound_folder
        self._files: dict[str, Path] | None = None
        self._effects: dict[str, object] = {}
        self._tray: QtWidgets.QSystemTrayIcon | None = None
        effect = _qt_sound_effect()
        if effect is not None:
            self.backend_name, self._play = "QSoundEffect", self._play_qt
        else:
            found = _platform_player()
            self.backend_name, self._play = found if found else ("beep", lambda p: QtWidgets.QApplication.beep())

    @classmethod
    def instance(cls) -> AlertOutput:
        if cls._instance is None:
            cls._instance = AlertOutput()
        return cls._instance

    # ------------------------------------------------------------------ notification
    def tray(self) -> QtWidgets.QSystemTrayIcon | None:
        if self._tray is None and QtWidgets.QSystemTrayIcon.isSystemTrayAvailable():
            app = QtWidgets.QApplication.instance()
            icon = app.windowIcon() if app is not None else QtGui.QIcon()
            if icon.isNull():
                pix = QtGui.QPixmap(32, 32)
                pix.fill(QtGui.QColor("#e0a030"))
                icon = QtGui.QIcon(pix)
            self._tray = QtWidgets.QSystemTrayIcon(icon)
            self._tray.setToolTip("liqdesk alerts")
            self._tray.show()
        return self._tray

    def notify(self, title: str, text: str) -> bool:
        """Post a desktop notification; False when there is no tray to post it with."""
        if not self.notify_on:
            return False
        tray = self.tray()
        shown = tray is not None and QtWidgets.QSystemTrayIcon.supportsMessages()
        if shown:
            tray.showMessage(title, text, QtWidgets.QSystemTrayIcon.MessageIcon.Information, 8000)
        self.requests.append(("notify", title, text, shown))
        return shown

    # ------------------------------------------------------------------ sound
    def play(self, side: str) -> None:
        """The long or the short tone (anything else: the long one)."""
        if not self.sound_on:
            return
        try:
            if self._files is None:
                self._files = sound_files(self._folder)
            path = self._files.get(side, self._files["long"])
            self.requests.append(("sound", side, path, self.backend_name))
            self._play(path)
        except (OSError, RuntimeError):   # no player after all, winsound's RuntimeError: a beep
            QtWidgets.QApplication.beep()

    def _play_qt(self, path: Path) -> None:
        from PySide6.QtCore import QUrl

        effect = self._effects.get(str(path))
        if effect is None:
            effect = _qt_sound_effect()()
            effect.setSource(QUrl.fromLocalFile(str(path)))
            effect.setVolume(0.6)
            self._effects[str(path)] = effect
        effect.play()

    def alert(self, alert) -> bool:
        """One fired alert: notification and sound. Returns whether a notification was shown."""
        shown = self.notify(f"liqdesk: {alert.rule} — {alert.symbol}", f"{alert.detail}")
        self.play(alert.side)
        return shown
