"""The level model's ingest as it was before the speed work of issue 13, kept as a reference.

:class:`ReferenceLevelModel` overrides every method the faster ingest rewrote with its earlier
code (unchanged, one small numpy operation after another), so that a test can feed the same
stream to both and require the two models to agree bit for bit. Nothing here is used by the app.
"""

from __future__ import annotations

from liqdesk.core.levels import LevelModel


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
