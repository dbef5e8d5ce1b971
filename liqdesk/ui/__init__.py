"""liqdesk.ui: the window (PySide6 + pyqtgraph). Qt is used only in this package and main.py."""

import sys
from importlib import metadata

from liqdesk.errors import UserError


def _check_qt_binding() -> None:
    """Refuse the one PySide6 build known to crash here, with a clear way out.

    PySide6/shiboken6 6.12.0 drops references to None/True/False on CPython < 3.12 and a
    pyqtgraph window aborts with "Fatal Python error: none_dealloc" within seconds. The project
    pins PySide6-Essentials<6.12 on those Pythons; this catches an environment that ignored it.
    """
    if sys.version_info >= (3, 12):
        return
    try:
        version = metadata.version("shiboken6")
    except metadata.PackageNotFoundError:
        return
    if version.startswith("6.12."):
        raise UserError(f"PySide6 {version} crashes on Python {sys.version_info.major}.{sys.version_info.minor}; "
                           "install the pinned version: pip install 'PySide6-Essentials<6.12'")


_check_qt_binding()
