"""Dark theme: one palette for Qt widgets and pyqtgraph, and the colours every panel shares.

Colours are chosen to stay apart from the heatmap's colormap (dark blue-violet through teal to
yellow): long levels and liquidated longs are a warm red-orange, shorts a cyan-green, candles the
usual green/red with a dark outline so that they read on any heatmap colour.
"""

from __future__ import annotations

import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets

BACKGROUND = "#0b0e14"        # plot background = colour of an empty heatmap cell
PANEL = "#12161f"             # widget background
PANEL_ALT = "#181d28"
BORDER = "#2a3140"
TEXT = "#d7dce5"
TEXT_DIM = "#8a93a6"
ACCENT = "#4da3ff"
WARNING = "#ffb347"
DANGER = "#ff5c5c"

LONG = "#ff7a45"              # long levels / liquidated longs (a forced sell)
SHORT = "#3fd6c6"             # short levels / liquidated shorts (a forced buy)
BID = "#2ebd85"
ASK = "#f6465d"
CANDLE_UP = "#2ebd85"
CANDLE_DOWN = "#f6465d"
MARK = "#ffffff"
CROSSHAIR = "#c8d0e0"

MONO_FAMILY = "DejaVu Sans Mono"


def mono_font(point_size: float = 9.0, bold: bool = False) -> QtGui.QFont:
    font = QtGui.QFont(MONO_FAMILY)
    font.setStyleHint(QtGui.QFont.StyleHint.Monospace)
    font.setPointSizeF(point_size)
    font.setBold(bold)
    return font


STYLESHEET = f"""
QDockWidget {{ color: {TEXT}; }}
QMainWindow::separator {{ background: {BORDER}; width: 3px; height: 3px; }}
QMainWindow::separator:hover {{ background: {ACCENT}; }}
QDockWidget::title {{ background: {PANEL_ALT}; padding: 3px 6px; border-bottom: 1px solid {BORDER}; }}
QToolBar {{ background: {PANEL_ALT}; border: 0; spacing: 4px; padding: 2px; }}
QStatusBar {{ background: {PANEL_ALT}; color: {TEXT_DIM}; border-top: 1px solid {BORDER}; }}
QStatusBar QLabel {{ padding: 0 6px; }}
QMenuBar {{ background: {PANEL_ALT}; }}
QMenuBar::item:selected, QMenu::item:selected {{ background: #26304a; }}
QMenu {{ background: {PANEL_ALT}; border: 1px solid {BORDER}; }}
QGroupBox {{ border: 1px solid {BORDER}; border-radius: 3px; margin-top: 12px; padding-top: 2px; }}
QGroupBox::title {{ subcontrol-origin: margin; left: 6px; color: {TEXT_DIM}; }}
QComboBox, QPushButton, QToolButton, QSpinBox, QLineEdit {{
    background: #1c2230; border: 1px solid {BORDER}; border-radius: 3px; padding: 2px 6px; color: {TEXT}; }}
QPushButton:checked, QToolButton:checked {{ background: #26406a; border-color: {ACCENT}; }}
QPushButton:hover, QToolButton:hover {{ border-color: {ACCENT}; }}
QSlider::groove:horizontal {{ height: 4px; background: {BORDER}; }}
QSlider::handle:horizontal {{ width: 12px; margin: -5px 0; background: {ACCENT}; border-radius: 6px; }}
QProgressBar {{ border: 1px solid {BORDER}; border-radius: 3px; text-align: center; height: 14px; }}
QProgressBar::chunk {{ background: {ACCENT}; }}
QToolTip {{ background: {PANEL_ALT}; color: {TEXT}; border: 1px solid {BORDER}; }}
"""


def apply(app: QtWidgets.QApplication) -> None:
    """Dark Fusion palette, the stylesheet, and pyqtgraph's colours."""
    app.setStyle("Fusion")
    pal = QtGui.QPalette()
    role = QtGui.QPalette.ColorRole
    for r, c in ((role.Window, PANEL), (role.WindowText, TEXT), (role.Base, BACKGROUND),
                 (role.AlternateBase, PANEL_ALT), (role.Text, TEXT), (role.Button, "#1c2230"),
                 (role.ButtonText, TEXT), (role.Highlight, "#26406a"), (role.HighlightedText, "#ffffff"),
                 (role.ToolTipBase, PANEL_ALT), (role.ToolTipText, TEXT), (role.PlaceholderText, TEXT_DIM)):
        pal.setColor(r, QtGui.QColor(c))
    app.setPalette(pal)
    app.setStyleSheet(STYLESHEET)
    configure_pyqtgraph()


def configure_pyqtgraph() -> None:
    pg.setConfigOptions(background=BACKGROUND, foreground=TEXT, antialias=False, imageAxisOrder="row-major")


class ElidedLabel(QtWidgets.QLabel):
    """A one-line plain-text label that shrinks with its panel: what does not fit ends in "…"
    (the whole text stays in the tooltip), instead of forcing the panel wider or being cut."""

    def __init__(self, text: str = "", parent=None):
        super().__init__(text, parent)
        self.setSizePolicy(QtWidgets.QSizePolicy.Policy.Ignored, QtWidgets.QSizePolicy.Policy.Preferred)
        self.setMinimumWidth(24)

    def setText(self, text: str) -> None:
        super().setText(text)
        self.setToolTip(text)

    def minimumSizeHint(self):
        hint = super().minimumSizeHint()
        hint.setWidth(24)
        return hint

    def elided_text(self) -> str:
        fm = QtGui.QFontMetrics(self.font())
        return fm.elidedText(self.text(), QtCore.Qt.TextElideMode.ElideRight, max(0, self.contentsRect().width()))

    def paintEvent(self, ev) -> None:
        p = QtGui.QPainter(self)
        try:
            p.setPen(self.palette().color(self.foregroundRole()))
            p.drawText(self.contentsRect(), int(self.alignment() | QtCore.Qt.AlignmentFlag.AlignVCenter),
                       self.elided_text())
        finally:
            p.end()


def vertical_scroll(owner, name: str | None = None):
    """Fill ``owner`` with a frameless, vertically scrolling area and return (area, body): a
    panel whose dock is short scrolls instead of cutting its content off."""
    from PySide6 import QtCore, QtWidgets

    scroll = QtWidgets.QScrollArea(owner)
    if name:
        scroll.setObjectName(name)
    scroll.setWidgetResizable(True)
    scroll.setFrameShape(QtWidgets.QFrame.Shape.NoFrame)
    scroll.setHorizontalScrollBarPolicy(QtCore.Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    body = QtWidgets.QWidget()
    scroll.setWidget(body)
    top = QtWidgets.QVBoxLayout(owner)
    top.setContentsMargins(0, 0, 0, 0)
    top.addWidget(scroll)
    return scroll, body
