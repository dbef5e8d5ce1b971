"""Sweeps of the level model (:class:`~liqdesk.core.levels.LevelModel`): the mark price (or the
last trade without a mark feed) crossing a level removes it and records it as swept.

A batch's sweep prices are cut at every operation that changes an exchange's state
(:class:`_SweepSegments`), each segment's min, max and last price computed once; a segment that
stays inside the price bounds of the standing levels is skipped without touching the state.
Split out of ``levels.py`` (a mixin of the model: the methods share its state).
"""

from __future__ import annotations

import math

import numpy as np

from .level_common import _PRICE_SLACK, _SWEPT_PARTS, LONG, SHORT


class _SweepSegments:
    """One exchange's sweep prices in a batch, cut at every operation that touches its state
    (its own OI observations, inclusive of their time; column ends and volume steps, exclusive),
    with each segment's min, max and last price computed up front in one pass."""

    def __init__(self, stream, op_times: np.ndarray, op_is_oi: np.ndarray, op_exchange: np.ndarray, e: int):
        """``op_*``: the batch's operations in order (time, whether an OI observation, and its
        exchange; -1 for column ends and volume steps)."""
        self.times, self.prices = stream
        keep = ~op_is_oi | (op_exchange == e)
        cuts_t = op_times[keep]
        right = op_is_oi[keep]
        ends = np.empty(len(cuts_t), np.int64)
        ends[right] = np.searchsorted(self.times, cuts_t[right], "right")
        ends[~right] = np.searchsorted(self.times, cuts_t[~right], "left")
        self.bounds = np.concatenate([[0], ends, [len(self.times)]]).tolist()
        n = len(self.bounds) - 1
        mins, maxs, last = np.full(n, np.inf), np.full(n, -np.inf), np.full(n, np.nan)
        starts = np.asarray(self.bounds[:-1])
        stops = np.asarray(self.bounds[1:])
        full = stops > starts
        if full.any() and len(self.prices):
            mins[full] = np.minimum.reduceat(self.prices, starts[full])
            maxs[full] = np.maximum.reduceat(self.prices, starts[full])
            last[full] = self.prices[stops[full] - 1]
        # reduceat runs each segment to the next start; segments are contiguous and non-empty
        # ones are followed by their own end, so only a trailing empty run could spill over
        self.mins, self.maxs, self.last = mins.tolist(), maxs.tolist(), last.tolist()
        self.next = 0


class SweepsMixin:
    """The model's sweep methods (see the module docstring)."""

    def _sweep_next(self, e: int, seg: _SweepSegments) -> None:
        """Apply exchange ``e``'s next sweep segment; skip the work when it cannot reach a level."""
        k = seg.next
        seg.next += 1
        lo, hi = seg.bounds[k], seg.bounds[k + 1]
        if hi <= lo:
            return
        w = self.bin_width
        low, high = seg.mins[k], seg.maxs[k]
        reach_long = low < (self._long_top[e] + 1) * w
        reach_short = high >= self._short_bottom[e] * w
        if reach_long and low > self._long_ceiling[e] * (1 + _PRICE_SLACK):
            # no level to hit: do only what a sweep that finds nothing does (narrow the bins a
            # later sweep scans; write the queued additions, which then join the current cohort)
            reach_long = False
            k_ext = math.floor(low / w)
            if min(self._long_top[e], self.origin + self.notional.shape[-1] - 1) >= max(k_ext, self.origin):
                self._flush_due[e] = len(self._queued[e])
            self._long_top[e] = min(self._long_top[e], k_ext)
        if reach_short and high < self._short_floor[e] * (1 - _PRICE_SLACK):
            reach_short = False
            k_ext = math.floor(high / w)
            if min(k_ext, self.origin + self.notional.shape[-1] - 1) >= max(self._short_bottom[e], self.origin):
                self._flush_due[e] = len(self._queued[e])
            self._short_bottom[e] = max(self._short_bottom[e], k_ext)
        if reach_long or reach_short:
            self._sweep(e, seg.times[lo:hi], seg.prices[lo:hi], reach_long, reach_short)
        else:
            self.ex[e].mark = seg.last[k]

    def _sweep_streams(self, trades, marks) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per exchange, (times, prices) that sweep its levels: its marks, or its trades while it
        has no mark feed (until its first mark). Updates which exchanges have a mark feed."""
        out = []
        m_ex = marks["exchange"] if len(marks) else None
        t_ex = trades["exchange"] if len(trades) else None
        for e, st in enumerate(self.ex):
            mi = np.flatnonzero(m_ex == e) if m_ex is not None else np.empty(0, np.int64)
            times, prices = marks["time_ms"][mi], marks["price"][mi]
            if not st.has_mark_feed and t_ex is not None:
                ti = np.flatnonzero(t_ex == e)
                if len(mi):
                    ti = ti[trades["time_ms"][ti] < times[0]]
                if len(ti):
                    times = np.concatenate([trades["time_ms"][ti], times])
                    prices = np.concatenate([trades["price"][ti], prices])
            if len(mi):
                st.has_mark_feed = True
            out.append((times, prices))
        return out

    def _split_trades(self, trades: np.ndarray) -> list[tuple[np.ndarray, ...]]:
        """Per exchange: contiguous (time, price, size, side) columns of its trades in this batch."""
        if self.E == 1:
            return [tuple(np.ascontiguousarray(trades[f]) for f in ("time_ms", "price", "size", "side"))]
        ex = trades["exchange"]
        order = np.argsort(ex, kind="stable")        # radix sort on uint8: one pass, time order kept
        # gathered straight from the record fields (no contiguous copy of each field first)
        cols = [np.take(trades[f], order) for f in ("time_ms", "price", "size", "side")]
        bounds = np.concatenate([[0], np.cumsum(np.bincount(ex, minlength=self.E))])
        return [tuple(c[bounds[e]:bounds[e + 1]] for c in cols) for e in range(self.E)]

    def _collect(self, tr_ex, e: int, cursor: int, t_end, side: str) -> int:
        """Move exchange ``e``'s trades from ``cursor`` up to ``t_end`` into its pending buffer
        (as views: (price, size, side) column slices)."""
        if tr_ex is None or not len(tr_ex[e][0]):
            return cursor
        times, price, size, taker = tr_ex[e]
        end = len(times) if t_end is None else int(np.searchsorted(times, t_end, side))
        if end > cursor:
            self.ex[e].pending.append((price[cursor:end], size[cursor:end], taker[cursor:end]))
        return end

    # ------------------------------------------------------------------ state changes
    def _sweep(self, e: int, t: np.ndarray, p: np.ndarray, reach_long: bool, reach_short: bool) -> None:
        """Sweep exchange ``e`` with the prices ``p`` at times ``t`` (``reach_*``: whether their
        extreme can reach a level of that side at all)."""
        if reach_long:
            self._sweep_side(e, LONG, t, np.minimum.accumulate(p))
        if reach_short:
            self._sweep_side(e, SHORT, t, np.maximum.accumulate(p))
        self.ex[e].mark = float(p[-1])

    def _sweep_side(self, e: int, side: int, t: np.ndarray, running: np.ndarray) -> None:
        """Remove side levels of exchange ``e`` crossed by the running min (long) / max (short)."""
        w = self.bin_width
        extreme = float(running[-1])
        k_ext = math.floor(extreme / w)
        if side == LONG:
            lo, hi = k_ext - self.origin, self._long_top[e] - self.origin + 1
            # what is left sits below the extreme
            self._long_top[e] = min(self._long_top[e], k_ext)
            self._long_ceiling[e] = min(self._long_ceiling[e], extreme)
        else:
            lo, hi = self._short_bottom[e] - self.origin, k_ext - self.origin + 1
            self._short_bottom[e] = max(self._short_bottom[e], k_ext)
            self._short_floor[e] = max(self._short_floor[e], extreme)
        lo, hi = max(lo, 0), min(hi, self.notional.shape[-1])
        if hi <= lo:
            return
        self._flush(e)
        n = self.notional[e, :, side, lo:hi]
        wp = self.weighted[e, :, side, lo:hi]
        held = n > 0
        # the price of the cells holding a level (the others are never hit; dividing only where
        # ``held`` spares an errstate context per sweep, which costs as much as the division)
        price = np.divide(wp, n, out=np.zeros_like(wp), where=held)
        hit = held & ((price >= extreme) if side == LONG else (price <= extreme))
        if not hit.any():
            return
        tier_i, bin_i = np.nonzero(hit)
        lp = price[tier_i, bin_i]
        if side == LONG:
            first = np.searchsorted(-running, -lp, "left")
        else:
            first = np.searchsorted(running, lp, "left")
        self._sweep_parts.append((t[np.minimum(first, len(t) - 1)], int(self._global_id[e]), 1 if side == LONG else -1,
                                  tier_i, lp, n[tier_i, bin_i] * self._factor[e]))
        if len(self._sweep_parts) >= _SWEPT_PARTS:
            self._join_sweeps()
        n[hit] = 0.0
        wp[hit] = 0.0
        self.age.zero(e, side, lo, hi, hit)
        self._codes_dirty[e].append((tier_i * 2 + side) * self.notional.shape[-1] + (lo + bin_i))

    def _take_pending(self, e: int) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """(price, size, taker side) of the trades since the last addition, emptied."""
        st = self.ex[e]
        if not st.pending:
            return None
        if len(st.pending) == 1:
            out = st.pending[0]
        else:
            out = tuple(np.concatenate([part[i] for part in st.pending]) for i in range(3))
        st.pending = []
        return out
