"""Resting liquidity over time: the order books' bid and ask notional by price bin, sampled at the
end of every heatmap column — the order-book heatmap a trader lays beside the liquidation
estimate ("the heatmap answers where, the order book answers whether").

:class:`LiquidityGrid` applies book rows to its own :class:`~liqdesk.core.book.OrderBooks` in
time order, cut at the column ends, and at each column end stores, per absolute price bin of
``bin_width`` (the level model's), the notional (quote: price × size) resting on the bid and ask
side, summed over the exchanges. Books from several venues are merged in quote notional.

Memory is bounded by design: a column keeps only the bins its books reach (a book's visible
depth: tens to hundreds of bins), and only the newest ``window_columns`` columns are kept (a
ring), like the heatmap's own window. Times in ms since the epoch.
"""

from __future__ import annotations

import math

import numpy as np

from .book import OrderBooks


class LiquidityGrid:
    """Bid and ask notional per price bin at the end of each ``column_ms`` column, for the newest
    ``window_columns`` columns, for the exchanges ``exchange_ids`` (None: all)."""

    def __init__(self, column_ms: int, window_columns: int, exchange_ids=None, books: OrderBooks | None = None):
        if column_ms < 1 or window_columns < 1:
            raise ValueError("column_ms and window_columns must be positive")
        self.column_ms, self.window_columns = int(column_ms), int(window_columns)
        self.exchange_ids = None if exchange_ids is None else sorted(int(e) for e in exchange_ids)
        #: the books it applies rows to and samples (the engine hands it its own: one book state,
        #: applied once, serves the ladder and this grid)
        self.books = OrderBooks() if books is None else books
        self.bin_width: float = 0.0
        #: column number -> (first absolute bin, exchange ids, bid and ask notional [exchanges, n])
        self.columns: dict[int, tuple[int, tuple[int, ...], np.ndarray, np.ndarray]] = {}
        self._column: int | None = None          # the column in progress

    @property
    def nbytes(self) -> int:
        return sum(b.nbytes + a.nbytes for _, _, b, a in {id(v): v for v in self.columns.values()}.values())

    def set_bin_width(self, width: float) -> None:
        """The price bin (quote) — the level model's, once it has one; fixed from then on."""
        if width and not self.bin_width:
            self.bin_width = float(width)

    def apply(self, book: np.ndarray, watermark_ms: int | None = None) -> None:
        """Apply book rows (time-sorted); each column end they pass (or ``watermark_ms``, the
        newest event time of the batch, passes) stores the books as they stood then."""
        end_ms = watermark_ms if watermark_ms is not None else (int(book["time_ms"][-1]) if len(book) else None)
        if end_ms is None:
            return
        if self._column is None:
            first = int(book["time_ms"][0]) if len(book) else int(end_ms)
            self._column = first // self.column_ms
        t = book["time_ms"]
        start = 0
        cm = self.column_ms
        # one step per column end passed (not per row): the rows before it, then a sample
        while (self._column + 1) * cm <= end_ms:
            stop = int(np.searchsorted(t, (self._column + 1) * cm, "left"))
            if stop > start:
                self.books.apply(book[start:stop])
            start = stop
            self._sample(self._column)
            # the columns up to the one of the next row hold no book change: the same state
            upto = min(int(t[start]) if start < len(book) else end_ms, end_ms) // cm
            for c in range(self._column + 1, upto):
                self._copy_last(c)
            self._column = max(self._column + 1, upto)
        if start < len(book):
            self.books.apply(book[start:])

    def sample_now(self) -> None:
        """Store the books as they stand now as the column in progress (a session's end: its
        last, partial column holds the books at the last event, as the heatmap's live column)."""
        if self._column is not None:
            self._sample(self._column)

    def _sample(self, column: int) -> None:
        w = self.bin_width
        if not w:
            return
        parts = []
        for e, bk in sorted(self.books.books.items()):
            if self.exchange_ids is not None and e not in self.exchange_ids:
                continue
            for sign, side in ((1, bk.bids), (-1, bk.asks)):
                live = side.size > 0
                if live.any():
                    p = side.price[live]
                    parts.append((e, sign, np.floor(p / w).astype(np.int64), p * side.size[live]))
        if not parts:
            return
        k_lo = min(int(k.min()) for _, _, k, _ in parts)
        k_hi = max(int(k.max()) for _, _, k, _ in parts)
        n = k_hi - k_lo + 1
        if n > 100_000:             # a stray price far off (a bad row): keep the bins near the rest
            return
        ids = tuple(sorted({e for e, _, _, _ in parts}))
        bids, asks = np.zeros((len(ids), n), np.float32), np.zeros((len(ids), n), np.float32)
        for e, sign, k, notional in parts:
            np.add.at((bids if sign > 0 else asks)[ids.index(e)], k - k_lo, notional)
        self.columns[column] = (k_lo, ids, bids, asks)
        self._trim(column)

    def _copy_last(self, column: int) -> None:
        last = self.columns.get(column - 1)
        if last is not None:
            self.columns[column] = last            # (the same arrays: read-only by contract)
            self._trim(column)

    def _trim(self, newest: int) -> None:
        oldest = newest - self.window_columns + 1
        if len(self.columns) > self.window_columns:
            for c in [c for c in self.columns if c < oldest]:
                del self.columns[c]

    def image(self, origin: int, rows: int, columns: np.ndarray, side: str = "both", exchanges=None) -> np.ndarray:
        """``[rows, len(columns)]`` float32 of resting notional from absolute bin ``origin`` up,
        for the column numbers ``columns`` (0 where a column or bin has none); ``side``: "bid",
        "ask" or "both"; ``exchanges``: names (None: all)."""
        from .events import EXCHANGE_ID

        wanted = None if exchanges is None else {EXCHANGE_ID[x] for x in exchanges if x in EXCHANGE_ID}
        out = np.zeros((rows, len(columns)), np.float32)
        for j, c in enumerate(np.asarray(columns).tolist()):
            got = self.columns.get(int(c))
            if got is None:
                continue
            k_lo, ids, bids, asks = got
            lo, hi = max(origin, k_lo), min(origin + rows, k_lo + bids.shape[1])
            if hi <= lo:
                continue
            pick = [i for i, e in enumerate(ids) if wanted is None or e in wanted]
            src = slice(lo - k_lo, hi - k_lo)
            if side in ("bid", "both"):
                out[lo - origin:hi - origin, j] += bids[pick, src].sum(axis=0)
            if side in ("ask", "both"):
                out[lo - origin:hi - origin, j] += asks[pick, src].sum(axis=0)
        return out

    def at(self, column: int, price: float) -> tuple[float, float]:
        """(bid, ask) notional in the bin holding ``price`` at the end of ``column`` (0 when none)."""
        got = self.columns.get(int(column))
        if got is None or not self.bin_width or not math.isfinite(price):
            return 0.0, 0.0
        k_lo, _, bids, asks = got
        i = math.floor(price / self.bin_width) - k_lo
        if 0 <= i < bids.shape[1]:
            return float(bids[:, i].sum()), float(asks[:, i].sum())
        return 0.0, 0.0
