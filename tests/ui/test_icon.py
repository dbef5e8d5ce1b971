"""The window icon: the application's icon set at start-up, carried by the chart window and its
dialogs, with every shipped PNG size."""

from __future__ import annotations


def test_main_window_and_dialogs_carry_the_icon(themed, window):
    from liqdesk.ui.app import application
    from liqdesk.ui.dialogs import NewWindowDialog

    application()  # what the window start-up runs on the existing QApplication
    assert not window.windowIcon().isNull()
    sizes = {(s.width(), s.height()) for s in window.windowIcon().availableSizes()}
    assert {(16, 16), (32, 32), (48, 48), (256, 256)} <= sizes
    dialog = NewWindowDialog(window.session, parent=window)
    assert not dialog.windowIcon().isNull()
    assert window.windowIcon().pixmap(16, 16).toImage().pixelColor(8, 8).alpha() == 255


def test_icon_pngs_are_the_sizes_they_say():
    from PySide6 import QtGui

    from liqdesk.core.resources import resource_path
    from liqdesk.ui.icon import ICON_SIZES

    for size in ICON_SIZES:
        image = QtGui.QImage(str(resource_path("icons", f"liqdesk-{size}.png")))
        assert (image.width(), image.height()) == (size, size)
