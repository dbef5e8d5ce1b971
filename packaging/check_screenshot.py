"""Exit 1 unless a liqdesk screenshot shows a populated heatmap: ``python packaging/check_screenshot.py
SHOT.png``. Populated: many distinct colours, and a good share of the picture in the heatmap's
colour ramp rather than the plot background (a window that never got its history is one flat colour
with a little text)."""

from __future__ import annotations

import os
import sys

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtGui import QGuiApplication, QImage  # noqa: E402

#: at least this share of the pixels brighter than the background in blue or green (the ramp)
MIN_RAMP_SHARE = 0.15
MIN_COLOURS = 200


def check(path: str) -> str | None:
    """None when the screenshot looks populated, else why not."""
    image = QImage(path)
    if image.isNull():
        return f"{path}: not a readable image"
    image = image.convertToFormat(QImage.Format.Format_RGB32)
    w, h = image.width(), image.height()
    colours, ramp, n = set(), 0, 0
    for y in range(0, h, 4):
        for x in range(0, w, 4):
            rgb = image.pixel(x, y) & 0xFFFFFF
            colours.add(rgb)
            r, g, b = rgb >> 16, (rgb >> 8) & 0xFF, rgb & 0xFF
            ramp += (g > 60 or b > 90) and not (r > 150 and g > 150 and b > 150)  # not grey text
            n += 1
    share = ramp / n
    if len(colours) < MIN_COLOURS or share < MIN_RAMP_SHARE:
        return f"{path}: looks unpopulated ({len(colours)} colours, {share:.0%} of it heatmap colours)"
    print(f"{path}: {w}x{h}, {len(colours)} colours, {share:.0%} heatmap colours: populated")
    return None


if __name__ == "__main__":
    QGuiApplication(sys.argv[:1])
    problem = check(sys.argv[1])
    if problem:
        print(problem, file=sys.stderr)
    sys.exit(1 if problem else 0)
