"""The level model's ingest as it was before the speed work of issue 13, kept as a reference.

:class:`ReferenceLevelModel` overrides every method the faster ingest rewrote with its earlier
code (unchanged, one small numpy operation after another), so that a test can feed the same
stream to both and require the two models to agree bit for bit. Nothing here is used by the app.
"""

from __future__ import annotations

import math

import numpy as np

from liqdesk.core.levels import _SWEPT_PARTS, LONG, SWEPT_DTYPE, LevelModel
from liqdesk.core.position_age import column_codes


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
        self.grid.record(t_end // self.settings.column_ms - 1, origin, window, mark_rows, scale, codes)

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
