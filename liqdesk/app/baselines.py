"""Trivial rules the model's accuracy is judged against, fed the same events and scored by the
same code as the model (:func:`liqdesk.app.analysis.evaluate`).

Each baseline gives, at a query time, a value per side (long, short) and absolute price bin;
bigger means "more liquidation notional expected here". Only what happened *before* the query
(whole seconds before it) is used: no look-ahead.

- ``nearest``: nearness to the price, per side where that side's liquidations happen: a long
  bin at or under the price's bin is worth ``1 / (1 + bins away)``, above it 0 (shorts mirrored).
- ``volume``: traded notional of the last hour in the bin (quote currency), both sides alike.
- ``naive``: the map of popular scripts: every trade's notional is spread evenly over 10/25/50/100x
  and placed at ``price·(1 − 1/L)`` (long) and ``price·(1 + 1/L)`` (short); a level goes when
  price reaches its bin (per second: that second's sweep first, then its new levels).
"""

from __future__ import annotations

import math

import numpy as np

from .price_tape import COMPACT_ROWS, PriceTape, RollingTape, SecondTape

__all__ = ["COMPACT_ROWS", "PriceTape", "RollingTape", "SecondTape", "BaselineMaps", "baseline_maps", "nearest_map",
           "volume_map"]

BASELINES = ("nearest", "volume", "naive")
NAIVE_LEVERAGES = (10.0, 25.0, 50.0, 100.0)
VOLUME_WINDOW_S = 3600
def nearest_map(mark: float, bin_width: float, origin: int, rows: int) -> np.ndarray:
    """``[2, rows]``: long bins at or under the price's bin worth ``1 / (1 + bins away)``, shorts
    at or above it; the other side's bins 0."""
    k = origin + np.arange(rows)
    kb = math.floor(mark / bin_width)
    out = np.zeros((2, rows))
    near = 1.0 / (1 + np.abs(k - kb))
    out[0] = np.where(k <= kb, near, 0.0)
    out[1] = np.where(k >= kb, near, 0.0)
    return out


def volume_map(tape: SecondTape, sec: int, origin: int, rows: int) -> np.ndarray:
    """``[2, rows]``: traded notional per bin over the hour of whole seconds before ``sec``."""
    a, b = np.searchsorted(tape.vol_sec, [sec - VOLUME_WINDOW_S, sec])
    k = tape.vol_bin[a:b] - origin
    ok = (k >= 0) & (k < rows)
    vol = np.bincount(k[ok], tape.vol_notional[a:b][ok], rows)
    return np.stack([vol, vol])


class BaselineMaps:
    """Every baseline's map at successive query times (in time order) over a tape holding the
    whole seconds before each query: a :class:`SecondTape` of the whole session, or the
    :class:`RollingTape` evaluate feeds as it goes."""

    def __init__(self, tape: SecondTape) -> None:
        self.tape = tape
        self.naive = NaiveMap(tape)
        self._second, self._seen = None, {}   # liquidations of one second often ask the same thing

    def at(self, time_ms: int, origin: int, rows: int, mark: float) -> dict[str, np.ndarray]:
        """``{baseline: [2, rows] map}`` from absolute bin ``origin`` as it stood at ``time_ms``
        (whole seconds before it), around the price ``mark``."""
        sec = int(time_ms) // 1000
        if sec != self._second:
            self._second, self._seen = sec, {}
        key = (origin, rows, mark)
        if key not in self._seen:
            w = self.tape.bin_width
            if not w or math.isnan(mark):
                self._seen[key] = dict.fromkeys(BASELINES, np.zeros((2, rows)))
            else:
                self._seen[key] = {"nearest": nearest_map(mark, w, origin, rows),
                                   "volume": volume_map(self.tape, sec, origin, rows),
                                   "naive": self.naive.at(sec, origin, rows)}
        return self._seen[key]


def baseline_maps(tape: SecondTape, queries: list[tuple[int, int, int, float]]) -> dict[str, list[np.ndarray]]:
    """Every baseline's ``[2, rows]`` map at each query ``(time_ms, origin bin, rows, price)`` on a
    whole session's tape. Queries may come in any order; they are answered in time order."""
    out = {name: [None] * len(queries) for name in BASELINES}
    maps = BaselineMaps(tape)
    for i in np.argsort(np.array([q[0] for q in queries], dtype=np.int64), kind="stable").tolist():
        got = maps.at(*queries[i])
        for name in BASELINES:
            out[name][i] = got[name]
    return out


class NaiveMap:
    """The naive 1/leverage map, advanced second by second (vectorized between queries). The map
    covers the bins its levels reached so far and grows when a level lands outside."""

    def __init__(self, tape: SecondTape) -> None:
        self.tape = tape
        self.origin = 0
        self.state = np.zeros((2, 0))
        self.done: int | None = None     # seconds applied: up to ``done`` (exclusive, since the epoch)
        lev = np.asarray(NAIVE_LEVERAGES)
        self.ratios = np.stack([1 - 1 / lev, 1 + 1 / lev])  # [2, L]

    def advance(self, sec: int) -> None:
        """Apply the whole seconds before ``sec`` (those the tape holds). The result does not
        depend on how the seconds are split into calls."""
        t, w = self.tape, self.tape.bin_width
        if self.done is None:
            self.done = t.first_s
        if self.done < t.first_s:
            raise ValueError(f"naive map: seconds {self.done}..{t.first_s} left the tape before they were applied")
        sec = min(sec, t.first_s + len(t.low))
        if sec <= self.done or not w:
            return
        low = t.low[self.done - t.first_s:sec - t.first_s]
        high = t.high[self.done - t.first_s:sec - t.first_s]
        # absolute bin each second reached (±huge when no price that second)
        low_bin = np.where(np.isfinite(low), np.floor(np.where(np.isfinite(low), low, 0) / w), np.inf)
        high_bin = np.where(np.isfinite(high), np.floor(np.where(np.isfinite(high), high, 0) / w), -np.inf)
        # existing levels: a long at bin b goes when a low reaches b (low bin <= b); shorts mirrored
        k = self.origin + np.arange(self.state.shape[1])
        self.state[0][k >= low_bin.min()] = 0.0
        self.state[1][k <= high_bin.max()] = 0.0
        # new levels of second j survive the sweeps of the later seconds of the period
        a, b = np.searchsorted(t.vol_sec, [self.done, sec])
        if b > a:
            j = t.vol_sec[a:b] - self.done
            centre = (t.vol_bin[a:b] + 0.5) * w
            share = t.vol_notional[a:b] / len(NAIVE_LEVERAGES)
            suffix_low = np.append(np.minimum.accumulate(low_bin[::-1])[::-1], np.inf)[1:]
            suffix_high = np.append(np.maximum.accumulate(high_bin[::-1])[::-1], -np.inf)[1:]
            for side in (0, 1):
                level = np.floor(centre[:, None] * self.ratios[side][None, :] / w).astype(np.int64)
                alive = level < suffix_low[j][:, None] if side == 0 else level > suffix_high[j][:, None]
                if alive.any():
                    self._cover(int(level[alive].min()), int(level[alive].max()))
                    np.add.at(self.state[side], level[alive] - self.origin,
                              np.broadcast_to(share[:, None], level.shape)[alive])
        self.done = sec

    def _cover(self, lo: int, hi: int) -> None:
        """Grow the map to hold bins ``lo .. hi`` (with room to spare: price wanders)."""
        size = self.state.shape[1]
        if size and self.origin <= lo and hi < self.origin + size:
            return
        pad = max(256, size // 2)
        new_lo = min(lo, self.origin) - pad if size else lo - pad
        new_hi = max(hi, self.origin + size - 1) + pad if size else hi + pad
        grown = np.zeros((2, new_hi - new_lo + 1))
        grown[:, self.origin - new_lo:self.origin - new_lo + size] = self.state
        self.origin, self.state = new_lo, grown

    def at(self, sec: int, origin: int, rows: int) -> np.ndarray:
        """``[2, rows]`` from bin ``origin`` after the whole seconds before ``sec``."""
        self.advance(sec)
        out = np.zeros((2, rows))
        size = self.state.shape[1]
        a = max(origin, self.origin)
        b = min(origin + rows, self.origin + size)
        if b > a:
            out[:, a - origin:b - origin] = self.state[:, a - self.origin:b - self.origin]
        return out
