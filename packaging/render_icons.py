"""Render resources/icons/liqdesk.svg to the PNG sizes a desktop needs (16 … 256 px), with Qt's
own SVG renderer, into resources/icons/liqdesk-<size>.png. The PNGs are committed: run this again
after changing the SVG (``QT_QPA_PLATFORM=offscreen python packaging/render_icons.py``)."""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication, QImage, QPainter
from PySide6.QtSvg import QSvgRenderer

SIZES = (16, 32, 48, 64, 128, 256)
ICONS = Path(__file__).resolve().parents[1] / "resources" / "icons"


def render(svg: Path, size: int) -> QImage:
    """The SVG drawn on a transparent ``size`` × ``size`` image (pixels), antialiased."""
    renderer = QSvgRenderer(str(svg))
    if not renderer.isValid():
        raise SystemExit(f"render_icons: {svg} is not a valid SVG")
    image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    renderer.render(painter)
    painter.end()
    return image


def main() -> int:
    QGuiApplication.instance() or QGuiApplication(sys.argv[:1])
    svg = ICONS / "liqdesk.svg"
    for size in SIZES:
        out = ICONS / f"liqdesk-{size}.png"
        if not render(svg, size).save(str(out), "PNG"):
            raise SystemExit(f"render_icons: could not write {out}")
        print(f"{out.relative_to(ICONS.parents[1])}: {size}x{size}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
