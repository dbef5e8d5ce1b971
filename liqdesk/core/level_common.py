"""Constants shared by the level model's modules (:mod:`.levels` and its mixins)."""

from __future__ import annotations

import numpy as np

LONG, SHORT = 0, 1
#: swept-record parts (sweep segments that hit levels; joined batches) collected before they
#: are joined and the sweeps older than the grid's window dropped
_SWEPT_PARTS = 256
#: (interval, bin) keys above which additions are histogrammed by sorting instead of bincount
_MAX_KEYS = 2_000_000
#: relative slack on the price bounds of the levels (``_long_ceiling``, ``_short_floor``): far
#: above the rounding of a level's price (weighted / notional: ~1e-13 after thousands of
#: additions to one cell), so that skipping a sweep by them never skips a level it would hit
_PRICE_SLACK = 1e-9
#: "no level" as a bin: beyond any bin a price can have
_BIG_BIN = np.iinfo(np.int64).max // 2
_SIDE_SIGN = np.array([1, -1])[None, :, None]   # broadcast over [n, 2, T]
