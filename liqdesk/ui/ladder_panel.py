"""The DOM ladder (``core/book.py``): price rows around the mid with bid and ask sizes summed over
the view's exchanges, the estimated liquidation notional of each row (the heatmap's live column,
same bins), large resting orders marked (framed with a flag where one sits at an estimated
cluster), and the last trades underneath.

Painted by hand (one ``paintEvent``, no item per cell) so it stays cheap and legible: sizes as
bars with numbers, the best bid/ask rows and the mark highlighted. Rows are the model's price
bins. The ladder keeps its centre until the price leaves the middle of it, or re-centres on C.
"""

from __future__ import annotations

import math

import numpy as np
from PySide6 import QtCore, QtGui, QtWidgets

from liqdesk.app.view_state import ViewState, live_level_map
from liqdesk.core.events import EXCHANGE_ID, EXCHANGES
from liqdesk.core.stats import cluster_threshold

from . import scaling, theme

_SHORT_NAMES = {"binance": "BIN", "bybit": "BYB", "okx": "OKX", "hyperliquid": "HYP", "bitget": "BGT"}


def fmt_size(v: float) -> str:
    if v <= 0 or not math.isfinite(v):
        return ""
    if v >= 1000:
        return f"{v:,.0f}"
    if v >= 10:
        return f"{v:.1f}"
    return f"{v:.3f}"


def large_orders(bids: np.ndarray, asks: np.ndarray, factor: float = 4.0) -> tuple[np.ndarray, np.ndarray]:
    """Rows whose resting size is at least ``factor`` × the median non-empty size on the ladder."""
    sizes = np.concatenate([bids[bids > 0], asks[asks > 0]])
    if len(sizes) < 4:
        return np.zeros(len(bids), bool), np.zeros(len(asks), bool)
    thr = factor * float(np.median(sizes))
    return bids >= thr, asks >= thr


#: the band (± % of price) in which a cluster is defined, as the Stats panel's default
CLUSTER_BAND_PCT = 3.0


def cluster_thresholds(full: np.ndarray, origin: int, width: float, price: float,
                       band_pct: float = CLUSTER_BAND_PCT) -> tuple[float, float]:
    """(long, short) cluster thresholds as the Stats panel and alerts define them: the 90th
    percentile of the non-empty bins on that side of ``price`` within ±``band_pct`` %
    (``full``: the live level map ``[2, rows]`` whose first row is bin ``origin``)."""
    c = (origin + np.arange(full.shape[1]) + 0.5) * width
    near = np.abs(c / price - 1) <= band_pct / 100
    return (cluster_threshold(full[0][near & (c < price)]), cluster_threshold(full[1][near & (c > price)]))


def walls_at_clusters(edges: np.ndarray, width: float, price: float, long: np.ndarray, short: np.ndarray,
                      big_b: np.ndarray, big_a: np.ndarray, thresholds: tuple[float, float]) -> np.ndarray:
    """Rows where a large resting order (see :func:`large_orders`) sits in a long cluster below
    ``price`` or a short cluster above it: passive orders that may absorb, or be run through by,
    that cluster's forced orders."""
    below = edges + width / 2 < price
    liq = np.where(below, long, short)
    thr = np.where(below, thresholds[0], thresholds[1])
    return (big_b | big_a) & (liq > 0) & (liq >= thr)


def fmt_exact(v: float) -> str:
    """A spread or a book price at its own precision (0.1, not the 25-dollar bin's "0")."""
    if not math.isfinite(v):
        return "-"
    text = f"{round(v, 8):,.8f}".rstrip("0").rstrip(".")
    return text or "0"


class _PaintedView(QtWidgets.QWidget):
    """A widget drawn by its ``_paint(painter)``; the painter is always ended. Its ``_paint``
    fills the whole widget first, so it is opaque: an update repaints it alone, not the dock and
    window behind it as well."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setAttribute(QtCore.Qt.WidgetAttribute.WA_OpaquePaintEvent)

    def paintEvent(self, ev) -> None:
        p = QtGui.QPainter(self)
        try:
            self._paint(p)
        finally:
            p.end()

    def _paint(self, p: QtGui.QPainter) -> None:
        raise NotImplementedError


class LadderView(_PaintedView):
    """The price rows."""

    MIN_WIDTH = 170
    #: characters a row needs at the narrowest: four columns of about seven
    ROW_CHARS = 30

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setMinimumWidth(self.MIN_WIDTH)
        self.setMinimumHeight(120)
        self.setSizePolicy(QtWidgets.QSizePolicy.Policy.Expanding, QtWidgets.QSizePolicy.Policy.Expanding)
        self.font_ = theme.mono_font(9)
        self.bold = theme.mono_font(9, bold=True)
        self.data = None
        #: rows where a large resting order sits at an estimated cluster (see walls_at_clusters)
        self.walls = np.zeros(0, bool)
        self.setFocusPolicy(QtCore.Qt.FocusPolicy.ClickFocus)
        self.scroll_rows = 0

    def resizeEvent(self, ev) -> None:
        # the largest font (9 pt down to 7 pt) at which a row's text fits the width
        for pt in (9.0, 8.5, 8.0, 7.5, 7.0):
            font = theme.mono_font(pt)
            if QtGui.QFontMetrics(font).horizontalAdvance("0" * self.ROW_CHARS) <= self.width() or pt == 7.0:
                break
        if font.pointSizeF() != self.font_.pointSizeF():
            self.font_, self.bold = font, theme.mono_font(pt, bold=True)
        super().resizeEvent(ev)

    @property
    def row_h(self) -> int:
        return QtGui.QFontMetrics(self.font_).lineSpacing()

    @property
    def rows(self) -> int:
        return max(8, (self.height() - self.row_h) // self.row_h)

    def wheelEvent(self, ev: QtGui.QWheelEvent) -> None:
        self.scroll_rows += 3 if ev.angleDelta().y() > 0 else -3
        ev.accept()

    def _paint(self, p: QtGui.QPainter) -> None:
        """Backgrounds and bars row by row; text one column at a time (multi-line drawText, rows
        one line apart), which keeps a full ladder to a handful of text layouts."""
        rh = self.row_h
        p.fillRect(self.rect(), QtGui.QColor(theme.BACKGROUND))
        w = self.width()
        cols = self._columns(w)
        p.setFont(self.font_)
        p.setPen(QtGui.QColor(theme.TEXT_DIM))
        heads = (("est. liq", cols["liq"]), ("bid", cols["bid"]), ("price", cols["price"]), ("ask", cols["ask"]))
        for text, (x0, x1) in heads:
            p.drawText(QtCore.QRectF(x0, 0, x1 - x0, rh), QtCore.Qt.AlignmentFlag.AlignCenter, text)
        p.setPen(QtGui.QColor(theme.BORDER))
        p.drawLine(0, rh - 1, w, rh - 1)
        d = self.data
        if d is None:
            p.setPen(QtGui.QColor(theme.TEXT_DIM))
            p.drawText(self.rect(), QtCore.Qt.AlignmentFlag.AlignCenter, "no order book yet")
            return
        edges, bids, asks, liq, liq_side, big_b, big_a, best_bid, best_ask, mark, step, zone = d
        n = len(edges)
        bmax = max(float(np.max(bids, initial=0)), float(np.max(asks, initial=0)), 1e-12)
        lmax = max(float(np.max(liq, initial=0)), 1e-12)
        lo_l = edges.tolist()
        mark_row = int(np.searchsorted(-edges, -mark, "left")) if math.isfinite(mark) else -1
        mark_row = mark_row if 0 <= mark_row < n and lo_l[mark_row] <= mark else -1
        best = set()
        for b in (best_bid, best_ask):
            if math.isfinite(b):
                i = int(np.argmin(np.abs(edges - b + step / 2)))
                if lo_l[i] <= b < lo_l[i] + step:
                    best.add(i)
        long_c, short_c = QtGui.QColor(theme.LONG), QtGui.QColor(theme.SHORT)
        bid_c, ask_c = QtGui.QColor(theme.BID), QtGui.QColor(theme.ASK)
        for c in (long_c, short_c, bid_c, ask_c):
            c.setAlpha(110)
        stripe = QtGui.QColor(theme.PANEL)
        y0 = rh
        for i in range(1, n, 2):
            p.fillRect(QtCore.QRectF(0, y0 + i * rh, w, rh), stripe)
        if mark_row >= 0:
            px0, px1 = cols["price"]
            p.fillRect(QtCore.QRectF(px0, y0 + mark_row * rh, px1 - px0, rh), QtGui.QColor("#33405a"))
        crossed = self.crossed_rows()
        if crossed.any():
            # bids at or above asks: hatched, so that nobody reads a spread off these rows
            warn = QtGui.QColor(theme.WARNING)
            warn.setAlpha(70)
            hatch = QtGui.QBrush(warn, QtCore.Qt.BrushStyle.BDiagPattern)
            for i in np.flatnonzero(crossed).tolist():
                p.fillRect(QtCore.QRectF(0, y0 + i * rh, w, rh), hatch)
        # bars
        x0, x1 = cols["liq"]
        span = x1 - x0 - 4
        for i in np.flatnonzero(liq > 0).tolist():
            bw = span * min(1.0, liq[i] / lmax)
            p.fillRect(QtCore.QRectF(x1 - 2 - bw, y0 + i * rh + 2, bw, rh - 4), long_c if liq_side[i] > 0 else short_c)
        for side, vals, big, colour in (("bid", bids, big_b, bid_c), ("ask", asks, big_a, ask_c)):
            x0, x1 = cols[side]
            span = x1 - x0 - 4
            strong = QtGui.QColor(colour)
            strong.setAlpha(235)
            for i in np.flatnonzero(vals > 0).tolist():
                bw = span * min(1.0, vals[i] / bmax)
                rect = QtCore.QRectF(x1 - 2 - bw if side == "bid" else x0 + 2, y0 + i * rh + 2, bw, rh - 4)
                p.fillRect(rect, strong if big[i] else colour)
        # a large resting order at an estimated cluster: the row framed, a flag by its dollars
        if len(self.walls) == n and self.walls.any():
            pen = QtGui.QPen(QtGui.QColor(theme.WARNING), 1.5)
            p.setPen(pen)
            p.setBrush(QtCore.Qt.BrushStyle.NoBrush)
            for i in np.flatnonzero(self.walls).tolist():
                p.drawRect(QtCore.QRectF(1, y0 + i * rh + 0.75, w - 2, rh - 1.5))
            p.setPen(QtGui.QColor(theme.WARNING))
            x0, x1 = cols["liq"]
            p.drawText(QtCore.QRectF(x0 + 3, y0, 14, n * rh + rh), QtCore.Qt.AlignmentFlag.AlignLeft
                       | QtCore.Qt.AlignmentFlag.AlignTop, "\n".join("⚑" if v else "" for v in self.walls.tolist()))
        # text, one column at a time
        right = QtCore.Qt.AlignmentFlag.AlignRight | QtCore.Qt.AlignmentFlag.AlignTop
        left = QtCore.Qt.AlignmentFlag.AlignLeft | QtCore.Qt.AlignmentFlag.AlignTop
        centre = QtCore.Qt.AlignmentFlag.AlignHCenter | QtCore.Qt.AlignmentFlag.AlignTop
        text_c = QtGui.QColor(theme.TEXT)

        def column(key, lines, align, pad=4):
            cx0, cx1 = cols[key]
            p.drawText(QtCore.QRectF(cx0 + pad, y0, cx1 - cx0 - 2 * pad, n * rh + rh), align, "\n".join(lines))

        p.setPen(text_c)
        column("liq", [scaling.fmt_usd(v) if v > 0 else "" for v in liq.tolist()], right, 6)
        big_b_l, big_a_l = big_b.tolist(), big_a.tolist()
        column("bid", [fmt_size(v) if not bb else "" for v, bb in zip(bids.tolist(), big_b_l)], right)
        column("ask", [fmt_size(v) if not bb else "" for v, bb in zip(asks.tolist(), big_a_l)], left)
        special = best | ({mark_row} if mark_row >= 0 else set())
        crossed_l = crossed.tolist()
        p.setPen(QtGui.QColor(theme.TEXT_DIM))
        column("price", ["" if i in special or crossed_l[i] else scaling.fmt_price(lo_l[i], step) for i in range(n)],
               centre, 0)
        p.setPen(QtGui.QColor(theme.WARNING))
        column("price", [scaling.fmt_price(lo_l[i], step) if crossed_l[i] and i not in special else ""
                         for i in range(n)], centre, 0)
        # emphasised rows: large resting orders, best bid/ask and the mark
        p.setFont(self.bold)
        p.setPen(QtGui.QColor("#ffffff"))
        fm = QtGui.QFontMetrics(self.bold)
        room = cols["bid"][1] - cols["bid"][0] - 8
        mark_b = "◆ " if fm.horizontalAdvance("◆ 9999.9") <= room else ""     # bold alone when narrow
        column("bid", [(mark_b + fmt_size(v)) if bb else "" for v, bb in zip(bids.tolist(), big_b_l)], right)
        column("ask", [(fmt_size(v) + mark_b[::-1]) if bb else "" for v, bb in zip(asks.tolist(), big_a_l)], left)
        column("price", [scaling.fmt_price(lo_l[i], step) if i in special else "" for i in range(n)], centre, 0)
        p.setFont(self.font_)

    def crossed_rows(self) -> np.ndarray:
        """Rows inside a crossed book's overlap (from its best ask up to its best bid)."""
        d = self.data
        if d is None or d[-1] is None:
            return np.zeros(0 if d is None else len(d[0]), bool)
        edges, step = d[0], d[10]
        lo, hi = d[-1]
        return (edges + step > lo) & (edges <= hi)

    @staticmethod
    def _columns(w: int) -> dict[str, tuple[float, float]]:
        liq = (0.0, w * 0.27)
        bid = (liq[1], w * 0.50)
        price = (bid[1], w * 0.73)
        ask = (price[1], float(w))
        return {"liq": liq, "bid": bid, "price": price, "ask": ask}


class TradesView(_PaintedView):
    """The last trades, newest first."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.font_ = theme.mono_font(8.5)
        self.trades = None
        self.step = 0.0
        self.setMinimumHeight(60)

    def _paint(self, p: QtGui.QPainter) -> None:
        from datetime import UTC, datetime

        p.fillRect(self.rect(), QtGui.QColor(theme.BACKGROUND))
        p.setFont(self.font_)
        p.setPen(QtGui.QColor(theme.TEXT_DIM))
        p.drawText(QtCore.QRectF(4, 0, self.width(), 15), QtCore.Qt.AlignmentFlag.AlignVCenter, "last trades")
        tr = self.trades
        if tr is None or not len(tr):
            return
        lh = QtGui.QFontMetrics(self.font_).lineSpacing()
        n = max(0, (self.height() - 16) // lh)
        rows = tr[::-1][:n]
        if not len(rows):
            return
        notional = rows["price"] * rows["size"]
        big = float(np.quantile(tr["price"] * tr["size"], 0.9)) if len(tr) > 10 else math.inf
        w = self.width()
        top = QtCore.Qt.AlignmentFlag.AlignTop
        right = QtCore.Qt.AlignmentFlag.AlignRight | top
        fm = QtGui.QFontMetrics(self.font_)
        cw = fm.horizontalAdvance("0")
        # time with ms and the venue when there is room; seconds only, then no venue, when narrow
        with_ms = w >= cw * 36
        with_ex = w >= cw * 29
        fmt = "%H:%M:%S.%f" if with_ms else "%H:%M:%S"
        times = [datetime.fromtimestamp(t / 1000, tz=UTC).strftime(fmt)[:-3 if with_ms else None]
                 for t in rows["time_ms"].tolist()]
        exs = [_SHORT_NAMES.get(EXCHANGES[e], "?") for e in rows["exchange"].tolist()]
        p.setPen(QtGui.QColor(theme.TEXT_DIM))
        h = n * lh + lh
        t_w = cw * (13 if with_ms else 9)
        p.drawText(QtCore.QRectF(4, 16, t_w, h), top, "\n".join(times))
        x_ex = 4 + t_w
        if with_ex:
            p.drawText(QtCore.QRectF(x_ex, 16, cw * 4, h), top, "\n".join(exs))
            x_ex += cw * 4
        # price and size share what is left, right-aligned
        rest = max(w - x_ex - 4, 1)
        x_price, w_price = x_ex, rest * 0.55
        x_size, w_size = x_ex + rest * 0.55, rest * 0.45
        prices = [scaling.fmt_price(x, self.step) for x in rows["price"].tolist()]
        sizes = [fmt_size(x) for x in rows["size"].tolist()]
        side = rows["side"].tolist()
        is_big = (notional >= big).tolist()
        bold = QtGui.QFont(self.font_)
        bold.setBold(True)
        for want_side, colour in ((1, theme.BID), (-1, theme.ASK)):
            p.setPen(QtGui.QColor(colour))
            for want_big, font in ((False, self.font_), (True, bold)):
                sel = [sd == want_side and bg == want_big for sd, bg in zip(side, is_big)]
                if not any(sel):
                    continue
                p.setFont(font)
                p.drawText(QtCore.QRectF(x_price, 16, w_price, h), right,
                           "\n".join(x if k else "" for x, k in zip(prices, sel)))
                p.drawText(QtCore.QRectF(x_size, 16, w_size, h), right,
                           "\n".join(x if k else "" for x, k in zip(sizes, sel)))
        p.setFont(self.font_)


class LadderPanel(QtWidgets.QWidget):
    """DOM ladder + last trades. ``recentre()`` (key C) puts the mid back in the middle."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("ladderPanel")
        self.view = ViewState()
        self.centre: float | None = None
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        head = QtWidgets.QHBoxLayout()
        head.setContentsMargins(6, 2, 6, 0)
        self.info = theme.ElidedLabel("")
        self.info.setStyleSheet(f"color: {theme.TEXT_DIM}")
        head.addWidget(self.info, 1)
        btn = QtWidgets.QPushButton("Centre")
        btn.setToolTip("re-centre the ladder on the price (C)")
        btn.clicked.connect(self.recentre)
        head.addWidget(btn)
        layout.addLayout(head)
        # a partial or crossed book is said in words, above the rows it concerns
        self.warning = QtWidgets.QLabel("")
        self.warning.setWordWrap(True)
        self.warning.setStyleSheet(f"background: #4a3208; color: {theme.WARNING}; padding: 2px 6px;")
        self.warning.hide()
        layout.addWidget(self.warning)
        self.ladder = LadderView()
        layout.addWidget(self.ladder, 3)
        self.trades = TradesView()
        layout.addWidget(self.trades, 1)
        self.last = None

    def set_view(self, view: ViewState) -> None:
        self.view = view

    def _show_state(self, st, w: float) -> None:
        """The header: the spread when the books give one, else what is wrong with them."""
        if st.crossed:
            spread_s = "book crossed"
        elif st.venues_crossed:
            spread_s = "venues crossed"
        elif math.isfinite(st.spread):
            spread_s = f"spread {fmt_exact(st.spread)}"
        else:
            spread_s = "no spread (one side empty)"
        partial = " · partial book" if st.partial else ""
        bad = bool(st.crossed or st.venues_crossed or st.partial)
        style = f"color: {theme.WARNING if bad else theme.TEXT_DIM}" + ("; font-weight: bold" if st.crossed else "")
        if self.info.styleSheet() != style:
            self.info.setStyleSheet(style)
        self._set_text(self.info, f"tick {scaling.fmt_price(w, w)} · {spread_s}{partial}")
        notes = []
        if st.partial:
            notes.append(f"⚠ partial book ({', '.join(st.partial)}): no snapshot; levels it never saw are missing.")
        if st.crossed:
            notes.append(f"⚠ crossed ({', '.join(st.crossed)}): bid {fmt_exact(st.best_bid)} ≥ "
                         f"ask {fmt_exact(st.best_ask)}; the hatched rows are no spread.")
        self._set_text(self.warning, "<br>".join(notes))
        if st.venues_crossed:
            # venues crossing each other is the market, not a fault of the books: the header says
            # so, the tooltip gives the prices
            self.info.setToolTip(f"{self.info.text()}: the best bid of one venue ({fmt_exact(st.best_bid)}) "
                                 f"is at or above the best ask of another ({fmt_exact(st.best_ask)})")
        self.warning.setVisible(bool(notes))

    @staticmethod
    def _set_text(label: QtWidgets.QLabel, text: str) -> None:
        if label.text() != text:
            label.setText(text)

    def recentre(self) -> None:
        self.centre = None
        self.ladder.scroll_rows = 0

    def refresh(self, engine) -> None:
        model = engine.model
        w = model.bin_width
        if not w:
            self.ladder.data = None
            self.ladder.update()
            return
        books = engine.books
        exchanges = self.view.model_exchanges(model)
        ids = None if self.view.exchanges is None else [EXCHANGE_ID[e] for e in self.view.exchanges if e in EXCHANGE_ID]
        st = books.state(ids)
        best_bid, best_ask = st.best_bid, st.best_ask
        crossed = bool(st.crossed or st.venues_crossed)
        mark = model.mark_price()
        if math.isfinite(best_bid) and math.isfinite(best_ask) and not (crossed and math.isfinite(mark)):
            mid = (best_bid + best_ask) / 2
        else:
            mid = mark
        if not math.isfinite(mid):
            return
        rows = self.ladder.rows
        if self.centre is None or abs(mid - self.centre) > 0.35 * rows * w:
            self.centre = mid
            self.ladder.scroll_rows = 0
        centre = self.centre + self.ladder.scroll_rows * w
        edges, bids, asks = books.ladder(ids, centre, w, rows)
        k_hi = int(round(edges[0] / w))
        k_lo = int(round(edges[-1] / w))
        origin, full = live_level_map(engine, self.view)
        if origin <= k_lo and k_hi < origin + full.shape[1]:
            lm = full[:, k_lo - origin: k_hi - origin + 1][:, ::-1]
        else:
            lm = model.level_map(exchanges, self.view.tiers, k_lo, k_hi - k_lo + 1, ages=self.view.ages)[:, ::-1]
        long = lm[0] if self.view.long else np.zeros(rows)
        short = lm[1] if self.view.short else np.zeros(rows)
        liq = long + short
        liq_side = np.where(long >= short, 1, -1)
        big_b, big_a = large_orders(bids, asks)
        ref = mark if math.isfinite(mark) else mid
        thresholds = cluster_thresholds(full, origin, w, ref)
        self.ladder.walls = walls_at_clusters(edges, w, ref, long, short, big_b, big_a, thresholds)
        self.last = {"edges": edges, "bids": bids, "asks": asks, "liq": liq, "walls": self.ladder.walls,
                     "cluster_usd": thresholds}
        zone = (best_ask, best_bid) if crossed else None
        self.ladder.data = (edges, bids, asks, liq, liq_side, big_b, big_a, best_bid, best_ask,
                            mark if math.isfinite(mark) else mid, w, zone)
        self._show_state(st, w)
        self.ladder.update()
        tr = engine.recent_trades
        if ids is not None and len(tr):
            tr = tr[np.isin(tr["exchange"], ids)]
        self.trades.trades = tr
        self.trades.step = w
        self.trades.update()
