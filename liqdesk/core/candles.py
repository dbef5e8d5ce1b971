"""OHLCV candles from trades: base candles of ``base_ms`` kept in a growing buffer, coarser ones
aggregated on demand (the view picks 1 s … 1 h by zoom). Prices in quote currency, volume in base.
"""

from __future__ import annotations

import numpy as np

CANDLE_DTYPE = np.dtype([("time_ms", "i8"), ("open", "f8"), ("high", "f8"), ("low", "f8"), ("close", "f8"),
                         ("volume", "f8")])


def _reduce(time_ms: np.ndarray, interval_ms: int, open_: np.ndarray, high: np.ndarray, low: np.ndarray,
            close: np.ndarray, volume: np.ndarray) -> np.ndarray:
    """One candle per ``interval_ms`` bucket of time-sorted rows (first open, max high, min low,
    last close, summed volume)."""
    bucket = time_ms // interval_ms
    starts = np.flatnonzero(np.concatenate([[True], bucket[1:] != bucket[:-1]]))
    ends = np.concatenate([starts[1:], [len(bucket)]]) - 1
    out = np.empty(len(starts), CANDLE_DTYPE)
    out["time_ms"] = bucket[starts] * interval_ms
    out["open"] = open_[starts]
    out["close"] = close[ends]
    out["high"] = np.maximum.reduceat(high, starts)
    out["low"] = np.minimum.reduceat(low, starts)
    out["volume"] = np.add.reduceat(volume, starts)
    return out


def make_candles(time_ms: np.ndarray, price: np.ndarray, size: np.ndarray, interval_ms: int) -> np.ndarray:
    """Candles of ``interval_ms`` from time-sorted trades (one row per interval that traded)."""
    if not len(time_ms):
        return np.empty(0, CANDLE_DTYPE)
    return _reduce(time_ms, interval_ms, price, price, price, price, size)


def merge_candles(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a`` then ``b`` (both sorted); a candle present in both (same start) is combined."""
    if not len(a):
        return b
    if not len(b):
        return a
    if b["time_ms"][0] == a["time_ms"][-1]:
        last, first = a[-1].copy(), b[0]
        last["high"] = max(last["high"], first["high"])
        last["low"] = min(last["low"], first["low"])
        last["close"] = first["close"]
        last["volume"] += first["volume"]
        return np.concatenate([a[:-1], [last], b[1:]])
    return np.concatenate([a, b])


def aggregate(candles: np.ndarray, interval_ms: int) -> np.ndarray:
    """Coarser candles from finer ones (``interval_ms`` a multiple of theirs)."""
    if not len(candles):
        return candles
    return _reduce(candles["time_ms"], interval_ms, candles["open"], candles["high"], candles["low"],
                   candles["close"], candles["volume"])


class CandleSeries:
    """Base candles of ``base_ms`` for the last ``keep_ms``, updated from trade batches."""

    def __init__(self, base_ms: int = 1_000, keep_ms: int = 7 * 86_400_000):
        self.base_ms, self.keep_ms = base_ms, keep_ms
        self.candles = np.empty(0, CANDLE_DTYPE)

    def update(self, trades: np.ndarray) -> None:
        """Add time-sorted trades (TRADE_DTYPE)."""
        if not len(trades):
            return
        new = make_candles(np.ascontiguousarray(trades["time_ms"]), np.ascontiguousarray(trades["price"]),
                           np.ascontiguousarray(trades["size"]), self.base_ms)
        self.candles = merge_candles(self.candles, new)
        cut = self.candles["time_ms"][-1] - self.keep_ms
        if self.candles["time_ms"][0] < cut:
            self.candles = self.candles[np.searchsorted(self.candles["time_ms"], cut):]

    def window(self, start_ms: int, end_ms: int, interval_ms: int) -> np.ndarray:
        """Candles of ``interval_ms`` (a multiple of ``base_ms``) starting in [start_ms, end_ms)."""
        t = self.candles["time_ms"]
        lo, hi = np.searchsorted(t, [start_ms - start_ms % interval_ms, end_ms])
        part = self.candles[lo:hi]
        return part if interval_ms == self.base_ms else aggregate(part, interval_ms)
