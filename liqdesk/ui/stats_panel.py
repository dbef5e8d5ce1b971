"""The stats panel (``core/stats.py``): totals above and below price within a band, the asymmetry
ratio, the nearest clusters with their distance, the staircase (cascade) warning, and which mode
the estimate is in — a volume-only estimate is shown as a warning, never silently."""

from __future__ import annotations

import html
import math

import numpy as np
from PySide6 import QtCore, QtWidgets

from liqdesk.app.mix_view import mix_lines, mix_parts
from liqdesk.app.view_state import ViewState, live_level_map
from liqdesk.core.stats import BandTotals, summarize

from . import scaling, theme

BANDS = (1.0, 2.0, 3.0, 5.0, 10.0)


def asymmetry_text(t: BandTotals, long_shown: bool = True, short_shown: bool = True) -> str:
    """The long : short asymmetry as a user reads it; "n/a (…)" when a side is filtered out or
    there is nothing in the band (never a division by zero)."""
    if not long_shown and not short_shown:
        return "n/a (both sides hidden)"
    if not long_shown:
        return "n/a (longs hidden)"
    if not short_shown:
        return "n/a (shorts hidden)"
    lo, sh = t.long_below, t.short_above
    if lo <= 0 and sh <= 0:
        return "n/a (none in band)"
    if sh <= 0:
        return "longs only"
    if lo <= 0:
        return "shorts only"
    return f"{_times(lo / sh)} : 1" if lo >= sh else f"1 : {_times(sh / lo)}"


def _times(x: float) -> str:
    return f"{x:.2f}" if x < 100 else (f"{x:,.0f}" if x < 1e6 else "> 1M")


def mix_html(model) -> str:
    """The leverage mix block: a heading, then one line per exchange (its state dimmed)."""
    summary = model.mix_summary()
    dim = theme.TEXT_DIM
    if not model.mix.settings.learn:
        return f"<div style='color:{dim}; margin-top:6px'>{html.escape(mix_lines(summary, False)[0])}</div>"
    out = [f"<div style='margin-top:6px'><b>leverage mix</b> <span style='color:{dim}'>learned from "
           f"liquidations</span></div>"]
    for venue in summary:
        parts = " · ".join(mix_parts(venue))
        out.append(f"<div><b>{html.escape(venue['exchange'])}</b> {html.escape(parts)}<br>"
                   f"<span style='color:{dim}'>{html.escape(venue['state'])}, "
                   f"{venue['liquidations_matched']:g} liquidations matched</span></div>")
    return "".join(out)


class StatsPanel(QtWidgets.QWidget):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("statsPanel")
        self.view = ViewState()
        self.band_pct = 3.0
        # in a scroll area: a short dock scrolls instead of cutting the table off
        self.scroll, inner = theme.vertical_scroll(self)
        layout = QtWidgets.QVBoxLayout(inner)
        layout.setContentsMargins(4, 4, 4, 4)
        row = QtWidgets.QHBoxLayout()
        band_label = QtWidgets.QLabel("band ±")
        band_label.setToolTip("totals and clusters within this distance of the price")
        row.addWidget(band_label)
        self.band = QtWidgets.QComboBox()
        for b in BANDS:
            self.band.addItem(f"{b:g} %", b)
        self.band.setCurrentIndex(BANDS.index(3.0))
        self.band.currentIndexChanged.connect(self._band_changed)
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
        self.body.setFont(theme.mono_font(8.5))
        layout.addWidget(self.body)
        # the leverage mix in use: learned from the liquidation feed (or the fixed prior)
        self.mix_label = QtWidgets.QLabel()
        self.mix_label.setObjectName("leverageMix")
        self.mix_label.setTextFormat(QtCore.Qt.TextFormat.RichText)
        self.mix_label.setWordWrap(True)
        self.mix_label.setFont(theme.mono_font(8.5))
        self.mix_label.setToolTip(
            "share of the estimated notional per leverage, per exchange. Learned online from where public "
            "liquidations happened and which levels price crossed without any; starts at the prior. "
            "± is the relative uncertainty of a tier's share where the evidence narrows it.")
        layout.addWidget(self.mix_label)
        layout.addStretch(1)
        self.summary = None
        self._engine = None

    def set_view(self, view: ViewState) -> None:
        """New filters: every figure is recomputed at once (when the panel has an engine)."""
        changed = view.filter_key != self.view.filter_key
        self.view = view
        if changed and self._engine is not None:
            self.refresh(self._engine)

    def _band_changed(self, i: int) -> None:
        self.band_pct = float(self.band.itemData(i))
        if self._engine is not None:
            self.refresh(self._engine)

    def refresh(self, engine) -> None:
        self._engine = engine
        model = engine.model
        modes = model.modes
        volume = [n for n, m in modes.items() if m == "volume"]
        if volume:
            mode = (f"<div style='background:#4a3208; color:{theme.WARNING}; padding:4px'><b>⚠ VOLUME-ONLY "
                    f"estimate</b> ({', '.join(volume)}): no open interest; levels from traded volume, "
                    f"decaying. Rougher.</div>")
        else:
            mode = f"<span style='color:{theme.TEXT_DIM}'>estimate from <b>open interest</b> (all venues)</span>"
        feeds = getattr(engine, "liquidation_feeds", None)
        if feeds:
            mode += (f"<br><span style='color:{theme.TEXT_DIM}'>real liquidations: "
                     + " · ".join(f"{n} <b>{k}</b>" for n, k in feeds.items()) + "</span>")
        approx = [name for name, table in model.tiers.items() if getattr(table, "approximate", False)]
        if approx:
            mode += (f"<br><span style='color:{theme.WARNING}'>approximate tiers: {', '.join(approx)}</span> "
                     f"<span style='color:{theme.TEXT_DIM}'>(no published table for this symbol)</span>")
        self._set(self.mode_label, mode)
        mark = model.mark_price() if model.bin_width else math.nan
        if not math.isfinite(mark):
            # nothing to measure from: say so rather than keep the figures of an earlier state
            self.summary = None
            self._set(self.body, "waiting for data …" if not model.bin_width else "waiting for a price …")
            return
        self._set(self.body, self._html(engine, mark))
        self._set(self.mix_label, mix_html(model))

    def _html(self, engine, mark: float) -> str:
        model = engine.model
        s = model.settings
        w = model.bin_width
        view = self.view
        origin, lm = live_level_map(engine, view)
        long = lm[0] if view.long else np.zeros(s.rows)
        short = lm[1] if view.short else np.zeros(s.rows)
        edges = model.bin_prices(origin, s.rows)
        sm = summarize(long, short, edges, w, mark, band_pct=self.band_pct)
        self.summary = sm
        t = sm.totals
        dim = theme.TEXT_DIM
        hidden = f"<span style='color:{dim}'>hidden (filter)</span>"
        ratio_s = asymmetry_text(t, view.long, view.short)
        if (view.exchanges == () or view.tiers == ()) and ratio_s == "n/a (none in band)":
            ratio_s = "n/a (filters select nothing)"
        if ratio_s.startswith("n/a"):
            dom = ""
        else:
            dom = "<br>" + {
                "long": f"<span style='color:{theme.LONG}'>longs heavier (a drop liquidates more)</span>",
                "short": f"<span style='color:{theme.SHORT}'>shorts heavier (a rise liquidates more)</span>",
                "balanced": "balanced"}[t.dominant]

        def cl(c, colour, shown):
            if not shown:
                return hidden
            if c is None:
                return f"<span style='color:{dim}'>none in band</span>"
            return (f"<span style='color:{colour}'><b>{c.distance_pct:+.2f} %</b></span> "
                    f"<b>{scaling.fmt_usd(c.notional)}</b>",
                    f"{scaling.fmt_price(c.price_low, w)}–{scaling.fmt_price(c.price_high, w)}")

        stairs = []
        for side, st, colour in (("long", sm.long_staircases, theme.LONG), ("short", sm.short_staircases, theme.SHORT)):
            for run in st[:1]:
                stairs.append(f"<div style='color:{theme.DANGER}'><b>⚠ cascade risk:</b> {len(run)} "
                              f"<span style='color:{colour}'>{side}</span> clusters "
                              f"stacked from {run[0].distance_pct:+.2f} % to {run[-1].far_pct:+.2f} % "
                              f"({scaling.fmt_usd(sum(c.notional for c in run))})</div>")
        above = f"{len(sm.short_clusters)} above" if view.short else "– above"
        below = f"{len(sm.long_clusters)} below" if view.long else "– below"
        short_s = (f"<span style='color:{theme.SHORT}'>{scaling.fmt_usd(t.short_above)}</span>"
                   if view.short else hidden)
        long_s = f"<span style='color:{theme.LONG}'>{scaling.fmt_usd(t.long_below)}</span>" if view.long else hidden
        rows = [
            ("mark", f"<b>{scaling.fmt_price(mark, w)}</b>"),
            ("short above", short_s),
            ("long below", long_s),
            ("long : short", f"<b>{ratio_s}</b>{dom}"),
            ("near above", cl(sm.nearest_above, theme.SHORT, view.short)),
            ("near below", cl(sm.nearest_below, theme.LONG, view.long)),
            ("clusters", f"{above} · {below}"),
            ("total", scaling.fmt_usd(float(long.sum() + short.sum()))),
        ]
        cells = []
        for k, v in rows:
            # a cluster's price range on a line of its own, under its distance and notional
            v, extra = v if isinstance(v, tuple) else (v, None)
            cells.append(f"<tr><td style='color:{dim}; padding-right:6px; white-space:nowrap'>{k}</td>"
                         f"<td>{v}</td></tr>")
            if extra:
                cells.append(f"<tr><td colspan=2 align=right>{extra}</td></tr>")
        html = "<table cellspacing=0 cellpadding=2>" + "".join(cells) + "</table>"
        if stairs:
            html += "".join(stairs)
        elif view.long or view.short:
            html += f"<div style='color:{dim}'>no staircase of clusters</div>"
        return html

    def _set(self, label: QtWidgets.QLabel, html: str) -> None:
        if label.text() != html:
            label.setText(html)
