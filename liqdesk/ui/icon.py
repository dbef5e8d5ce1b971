"""liqdesk's window icon: the rendered PNGs (16 … 256 px, ``packaging/render_icons.py``) and the
SVG they come from, among the shipped resources (``resources/icons``)."""

from __future__ import annotations

from PySide6 import QtGui

from liqdesk.core.resources import resource_path

#: the PNG sizes shipped beside the SVG (pixels)
ICON_SIZES = (16, 32, 48, 64, 128, 256)


def app_icon() -> QtGui.QIcon:
    """The icon with every shipped size; the SVG too when Qt's SVG icon engine is present (a
    bundle without it still has the PNGs). Missing files raise FileNotFoundError."""
    icon = QtGui.QIcon()
    for size in ICON_SIZES:
        icon.addFile(str(resource_path("icons", f"liqdesk-{size}.png")))
    svg = resource_path("icons", "liqdesk.svg")
    icon.addFile(str(svg))
    return icon
