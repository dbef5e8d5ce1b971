"""The level model's ingest as it was before the speed work of issue 13, kept as a reference.

:class:`ReferenceLevelModel` overrides every method the faster ingest rewrote with its earlier
code (unchanged, one small numpy operation after another), so that a test can feed the same
stream to both and require the two models to agree bit for bit. Nothing here is used by the app.
A change meant to alter what ingest computes changes this reference in the same commit (or retires
it with the methods it shadows); a change meant only to be faster must leave it alone.
"""

from __future__ import annotations

import math

import numpy as np

from liqdesk.core.level_additions import _Plan
from liqdesk.core.level_common import _SWEPT_PARTS, LONG
from liqdesk.core.levels import SWEPT_DTYPE, LevelModel
from liqdesk.core.position_age import YOUNG_CODE, cell_codes


def column_codes(window: np.ndarray, older: np.ndarray) -> np.ndarray | None:
    """Earlier: codes ``[E·T, rows]`` of one grid column from ``window[E, T, 2, rows]`` (stored
    notional) and ``older[3, E, T, 2, rows]`` (its "1–24 h", "1–7 d" and "older" parts), every
    cell holding something older encoded at every column end; None when none does."""
    old = older[:, :, :, 0] + older[:, :, :, 1]                       # float32 [3, E, T, rows]
    rows = old.shape[-1]
    old = old.reshape(3, -1)
    some = np.flatnonzero(old[0] + old[1] + old[2])
    if not some.size:
        return None
    total = (window[:, :, 0] + window[:, :, 1]).reshape(-1)[some]
    codes = np.full(old.shape[1], YOUNG_CODE, np.uint16)
    codes[some] = cell_codes(old[:, some], total)
    return codes.reshape(-1, rows)


def record(grid, column: int, origin: int, levels: np.ndarray, mark_rows: np.ndarray,
           scale: np.ndarray | None = None, age_codes: np.ndarray | None = None) -> None:
    """Earlier ``HeatmapGrid.record``: ``levels[E, T, 2, rows]`` (long, short) stored through
    ``record_packed`` with long and short added and the parts at each mark row."""
    rows_ok = (mark_rows >= 0) & (mark_rows < grid.rows)
    safe = np.where(rows_ok, mark_rows, 0)
    e_idx = np.arange(grid.n_exchanges)
    grid.record_packed(column, origin, np.add(levels[:, :, 0, :], levels[:, :, 1, :]),
                       levels[e_idx, :, :, safe[e_idx]], mark_rows, scale, age_codes)


class ReferenceLevelModel(LevelModel):
    """:class:`LevelModel` with the pre-issue-13 ingest paths."""

    def _sweep_next(self, e, seg):
        """Earlier: a sweep ran whenever the segment's extreme reached the bins holding levels."""
        k = seg.next
        seg.next += 1
        lo, hi = seg.bounds[k], seg.bounds[k + 1]
        if hi <= lo:
            return
        w = self.bin_width
        low, high = seg.mins[k], seg.maxs[k]
        reach_long = low < (self._long_top[e] + 1) * w
        reach_short = high >= self._short_bottom[e] * w
        if reach_long or reach_short:
            self._sweep(e, seg.times[lo:hi], seg.prices[lo:hi], reach_long, reach_short)
        else:
            self.ex[e].mark = seg.last[k]

    def _close_column(self, t_end):
        """Earlier: the whole window and its cohorts copied out, every code recomputed."""
        factor = self._column_decay()
        if factor != 1.0:
            for e in range(self.E):
                self._scale(e, factor)
        rows = self.settings.rows
        origin = self._recentre()
        self._flush_all()
        window = self._state_window(self.notional, origin, rows)     # stored values, unscaled
        scale = np.asarray(self._factor) if any(f != 1.0 for f in self._factor) else None
        mark_rows = np.array([(math.floor(st.mark / self.bin_width) - origin) if not math.isnan(st.mark) else -1
                              for st in self.ex], dtype=np.int64) if self.bin_width else np.full(self.E, -1)
        codes = column_codes(window, self._state_window(self.age.older_view(), origin, rows))
        record(self.grid, t_end // self.settings.column_ms - 1, origin, window, mark_rows, scale, codes)

    def _sweep_side(self, e, side, t, running):
        """Earlier: a structured record per sweep segment, and no price bounds kept."""
        w = self.bin_width
        extreme = float(running[-1])
        k_ext = math.floor(extreme / w)
        if side == LONG:
            lo, hi = k_ext - self.origin, self._long_top[e] - self.origin + 1
            self._long_top[e] = min(self._long_top[e], k_ext)
        else:
            lo, hi = self._short_bottom[e] - self.origin, k_ext - self.origin + 1
            self._short_bottom[e] = max(self._short_bottom[e], k_ext)
        lo, hi = max(lo, 0), min(hi, self.notional.shape[-1])
        if hi <= lo:
            return
        self._flush(e)
        n = self.notional[e, :, side, lo:hi]
        wp = self.weighted[e, :, side, lo:hi]
        with np.errstate(invalid="ignore", divide="ignore"):
            price = wp / n
        hit = (n > 0) & ((price >= extreme) if side == LONG else (price <= extreme))
        if not hit.any():
            return
        tier_i, bin_i = np.nonzero(hit)
        lp = price[tier_i, bin_i]
        if side == LONG:
            first = np.searchsorted(-running, -lp, "left")
        else:
            first = np.searchsorted(running, lp, "left")
        rec = np.empty(len(lp), SWEPT_DTYPE)
        rec["time_ms"] = t[np.minimum(first, len(t) - 1)]
        rec["exchange"] = self._global_id[e]
        rec["side"] = 1 if side == LONG else -1
        rec["leverage"] = self.leverages[tier_i]
        rec["price"] = lp
        rec["notional"] = n[tier_i, bin_i] * self._factor[e]
        self._swept.append(rec)
        self._swept_sorted = False
        if len(self._swept) >= _SWEPT_PARTS:
            self._prune_swept()
        if self.mix.settings.learn:
            self._mix_sweeps.append(rec)
        n[hit] = 0.0
        wp[hit] = 0.0
        self.age.zero(e, side, lo, hi, hit)


    def _plan_oi(self, oi, tr_ex, sweeps, tr_cursor):
        """Earlier: one search per trade for its interval, one planning pass per exchange."""
        plans = [None] * self.E
        if not len(oi):
            return plans
        for e in np.unique(oi["exchange"]):
            e = int(e)
            rows = oi[oi["exchange"] == e]
            times = np.ascontiguousarray(rows["time_ms"])
            st = self.ex[e]
            s_times, s_prices = sweeps[e]
            if len(s_times):
                at = np.searchsorted(s_times, times, "right") - 1
                marks_at = np.where(at >= 0, s_prices[np.maximum(at, 0)], st.mark)
            else:
                marks_at = np.full(len(times), st.mark)
            oi_base = np.where(rows["oi_base"] > 0, rows["oi_base"],
                               np.where(marks_at > 0, rows["oi_notional"] / np.where(marks_at > 0, marks_at, 1), 0))
            plan = _Plan(oi=oi_base, first_is_base=math.isnan(st.oi))
            plans[e] = plan
            first = 1 if plan.first_is_base else 0
            prev = np.concatenate([[st.oi if not plan.first_is_base else oi_base[0]], oi_base[:-1]])
            plan.delta = oi_base - prev
            shrink = np.where((plan.delta < 0) & (prev > 0), oi_base / np.where(prev > 0, prev, 1), 1.0)
            # trades of each interval: after the previous observation, up to and at this one
            if tr_ex is not None and len(tr_ex[e][0]):
                t_e, p_e, q_e, side_e = tr_ex[e]
                lo = int(np.searchsorted(t_e, times[0], "right")) if plan.first_is_base else 0
                hi = int(np.searchsorted(t_e, times[-1], "right"))
                plan.trades_used = hi
                seg = np.searchsorted(times, t_e[lo:hi], "left")
                parts = [(p_e[lo:hi], q_e[lo:hi], side_e[lo:hi], seg)]
            else:
                parts = []
            if not plan.first_is_base and st.pending:
                pend = self._take_pending(e)
                parts.insert(0, pend + (np.zeros(len(pend[0]), np.int64),))
            if parts:
                price, size, taker, seg = (np.concatenate([p[i] for p in parts]) if len(parts) > 1 else parts[0][i]
                                           for i in range(4))
            else:
                price = size = np.empty(0)
                taker, seg = np.empty(0, np.int8), np.empty(0, np.int64)
            opened = np.maximum(plan.delta, 0.0)
            if self.settings.turnover > 0:
                # positions also change hands without moving OI: a share of the interval's volume
                # closes existing ones (all levels in proportion) and, unless OI fell, reopens
                # as much at the interval's prices
                churn = self.settings.turnover * np.bincount(seg, size, len(times))
                shrink *= np.clip(1 - churn / np.where(prev > 0, prev, np.inf), 0.0, 1.0)
                opened = np.where(plan.delta >= 0, opened + churn, 0.0)
            amount = np.where(np.arange(len(times)) >= first, opened, 0.0)
            plan.factor = shrink.tolist()
            plan.adds = self._plan_additions(e, price, size, taker, seg, len(times), amount, marks_at, False)
            plan.opened = amount.tolist()
            plan.delta = plan.delta.tolist()
            plan.oi = oi_base.tolist()
        return plans
