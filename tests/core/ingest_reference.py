"""The level model's ingest as it was before the speed work of issue 13, kept as a reference.

:class:`ReferenceLevelModel` overrides every method the faster ingest rewrote with its earlier
code (unchanged, one small numpy operation after another), so that a test can feed the same
stream to both and require the two models to agree bit for bit. Nothing here is used by the app.
"""

from __future__ import annotations

import math

import numpy as np

from liqdesk.core.levels import LevelModel
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
