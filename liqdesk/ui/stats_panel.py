"""The stats panel (``core/stats.py``): totals above and below price within a band, the asymmetry
ratio, the nearest clusters with their distance, the staircase (cascade) warning, and which mode
the estimate is in — a volume-only estimate is shown as a warning, never silently."""

from __future__ import annotations

import math

import numpy as np
from PySide6 import QtCore, QtWidgets

from liqdesk.app.view_state import ViewState, live_level_map
from liqdesk.core.stats import summarize

from . import scaling, theme

BANDS = (1.0, 2.0, 3.0, 5.0, 10.0)


class StatsPanel(QtWidgets.QWidget):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("statsPanel")
        self.view = ViewState()
        self.band_pct = 3.0
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(8, 4, 8, 4)
        row = QtWidgets.QHBoxLayout()
        row.addWidget(QtWidgets.QLabel("band ±"))
        self.band = QtWidgets.QComboBox()
        for b in BANDS:
            self.band.addItem(f"{b:g} %", b)
        self.band.setCurrentIndex(BANDS.index(3.0))
        self.band.currentIndexChanged.connect(lambda i: setattr(self, "band_pct", float(self.band.itemData(i))))
        row.addWidget(self.band)
        row.addStretch(1)
        layout.addLayout(row)
        self.mode_label = QtWidgets.QLabel()
        self.mode_label.setWordWrap(True)
        layout.addWidget(self.mode_label)
        self.body = QtWidgets.QLabel()
        self.body.setTextFormat(QtCore.Qt.TextFormat.RichText)
        self.body.setAlignment(QtCore.Qt.AlignmentFlag.AlignTop | QtCore.Qt.AlignmentFlag.AlignLeft)
        self.body.setWordWrap(True)
        self.body.setFont(theme.mono_font(9))
        layout.addWidget(self.body, 1)
        self.summary = None
        self._text = None

    def set_view(self, view: ViewState) -> None:
        self.view = view

    def refresh(self, engine) -> None:
        model = engine.model
        modes = model.modes
        volume = [n for n, m in modes.items() if m == "volume"]
        if volume:
            mode = (f"<div style='background:#4a3208; color:{theme.WARNING}; padding:4px'><b>⚠ VOLUME-ONLY "
                    f"estimate</b> for {', '.join(volume)}: no open interest, levels come from traded volume "
                    f"and decay with a half-life. Read them as rougher.</div>")
        else:
            mode = f"<span style='color:{theme.TEXT_DIM}'>estimate mode: <b>open interest</b> (all venues)</span>"
        self._set(self.mode_label, mode)
        if not model.bin_width:
            self._set(self.body, "waiting for data …")
            return
        mark = model.mark_price()
        if not math.isfinite(mark):
            return
        s = model.settings
        w = model.bin_width
        origin, lm = live_level_map(engine, self.view)
        long = lm[0] if self.view.long else np.zeros(s.rows)
        short = lm[1] if self.view.short else np.zeros(s.rows)
        edges = model.bin_prices(origin, s.rows)
        sm = summarize(long, short, edges, w, mark, band_pct=self.band_pct)
        self.summary = sm
        t = sm.totals
        ratio = t.ratio
        if math.isnan(ratio):
            ratio_s = "-"
        elif math.isinf(ratio):
            ratio_s = "longs only"
        else:
            ratio_s = f"{ratio:.2f} : 1" if ratio >= 1 else f"1 : {1 / ratio:.2f}"
        dom = {"long": f"<span style='color:{theme.LONG}'>longs heavier (a drop liquidates more)</span>",
               "short": f"<span style='color:{theme.SHORT}'>shorts heavier (a rise liquidates more)</span>",
               "balanced": "balanced"}[t.dominant]

        def cl(c, colour):
            if c is None:
                return "<span style='color:#8a93a6'>none in band</span>"
            return (f"<span style='color:{colour}'><b>{c.distance_pct:+.2f} %</b></span> "
                    f"{scaling.fmt_price(c.price_low, w)}–{scaling.fmt_price(c.price_high, w)} "
                    f"<b>{scaling.fmt_usd(c.notional)}</b>")

        stairs = []
        for side, st, colour in (("long", sm.long_staircases, theme.LONG), ("short", sm.short_staircases, theme.SHORT)):
            for run in st[:1]:
                stairs.append(f"<div style='color:{theme.DANGER}'><b>⚠ cascade risk:</b> {len(run)} "
                              f"<span style='color:{colour}'>{side}</span> clusters "
                              f"stacked from {run[0].distance_pct:+.2f} % to {run[-1].far_pct:+.2f} % "
                              f"({scaling.fmt_usd(sum(c.notional for c in run))})</div>")
        rows = [
            ("mark", f"<b>{scaling.fmt_price(mark, w)}</b>"),
            (f"short above (+{self.band_pct:g} %)", f"<span style='color:{theme.SHORT}'>{scaling.fmt_usd(t.short_above)}</span>"),
            (f"long below (−{self.band_pct:g} %)", f"<span style='color:{theme.LONG}'>{scaling.fmt_usd(t.long_below)}</span>"),
            ("long : short", f"<b>{ratio_s}</b> · {dom}"),
            ("nearest above", cl(sm.nearest_above, theme.SHORT)),
            ("nearest below", cl(sm.nearest_below, theme.LONG)),
            ("clusters", f"{len(sm.short_clusters)} above · {len(sm.long_clusters)} below"),
            ("total outstanding", scaling.fmt_usd(float(long.sum() + short.sum()))),
        ]
        html = "<table cellspacing=0 cellpadding=2>" + "".join(
            f"<tr><td style='color:{theme.TEXT_DIM}; padding-right:8px'>{k}</td><td>{v}</td></tr>" for k, v in rows
        ) + "</table>"
        html += "".join(stairs) if stairs else f"<div style='color:{theme.TEXT_DIM}'>no staircase of clusters in band</div>"
        self._set(self.body, html)

    def _set(self, label: QtWidgets.QLabel, html: str) -> None:
        if label.text() != html:
            label.setText(html)
