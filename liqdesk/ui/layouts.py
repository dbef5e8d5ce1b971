"""Window geometry and dock layouts in QSettings (per window and named), versioned: a layout an
older or newer liqdesk wrote, or a damaged one, is refused and the default layout used."""

from __future__ import annotations

from PySide6 import QtCore, QtWidgets

LAYOUT_VERSION = 3


class LayoutStore:
    """Window geometry and dock state in QSettings, plus named layouts."""

    def __init__(self, settings: QtCore.QSettings | None = None):
        self.settings = settings or QtCore.QSettings("liqdesk", "liqdesk")

    def save(self, name: str, window: QtWidgets.QMainWindow) -> None:
        self.settings.setValue(f"windows/{name}/geometry", window.saveGeometry())
        self.settings.setValue(f"windows/{name}/state", window.saveState(LAYOUT_VERSION))
        self.settings.sync()

    def restore(self, name: str, window: QtWidgets.QMainWindow) -> str | None:
        """Restore a saved layout. Returns None when restored or nothing was saved, else the
        reason it could not be used (the caller then keeps the default layout)."""
        geometry = self.settings.value(f"windows/{name}/geometry")
        state = self.settings.value(f"windows/{name}/state")
        if geometry is None and state is None:
            return None
        try:
            if state is not None and (not isinstance(state, QtCore.QByteArray)
                                      or not window.restoreState(state, LAYOUT_VERSION)):
                return "the saved dock layout is unreadable"
            if geometry is not None and not isinstance(geometry, QtCore.QByteArray):
                return "the saved window geometry is unreadable"
            if geometry is not None:
                # Qt refuses a position saved on another screen setup (a monitor unplugged, another
                # display server): the window then keeps its default place and size, docks as saved
                window.restoreGeometry(geometry)
        except (TypeError, ValueError, RuntimeError) as exc:
            return f"the saved layout is unreadable ({exc})"
        return None

    def forget(self, name: str) -> None:
        self.settings.remove(f"windows/{name}")

    def save_named(self, layout: str, window: QtWidgets.QMainWindow) -> None:
        self.settings.setValue(f"layouts/{layout}/state", window.saveState(LAYOUT_VERSION))
        self.settings.setValue(f"layouts/{layout}/geometry", window.saveGeometry())
        self.settings.sync()

    def named(self) -> list[str]:
        self.settings.beginGroup("layouts")
        try:
            return sorted(self.settings.childGroups())
        finally:
            self.settings.endGroup()

    def load_named(self, layout: str, window: QtWidgets.QMainWindow) -> bool:
        state = self.settings.value(f"layouts/{layout}/state")
        geometry = self.settings.value(f"layouts/{layout}/geometry")
        if isinstance(geometry, QtCore.QByteArray):
            window.restoreGeometry(geometry)
        return isinstance(state, QtCore.QByteArray) and window.restoreState(state, LAYOUT_VERSION)
