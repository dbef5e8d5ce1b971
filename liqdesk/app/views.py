"""The other ways of reading the level model besides the plain heatmap (no Qt): the **delta**
view (how each level changed over a period) and **hot lines** (the N strongest levels).

Both read the same filtered image the heatmap draws (``LevelModel.image``: price rows × time
columns, oldest first, dollars), so a filter applies to them as it does to the heatmap.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: the views ``export --view`` writes besides ``heatmap`` (see :mod:`liqdesk.app.view_export`)
EXPORT_VIEWS = ("delta", "age", "liquidity", "context", "hotlines")
#: the delta view's periods (label -> ms)
DELTA_PERIODS = {"1h": 3_600_000, "4h": 14_400_000, "24h": 86_400_000}


def delta_image(image: np.ndarray, period_columns: int, first_data: int = 0) -> np.ndarray:
    """``image[:, c] - image[:, c - period_columns]`` per column: growth (> 0) and shrinkage (< 0)
    of each price row over the period, in dollars; NaN where there is nothing to compare with:
    the window does not reach back that far, or (``first_data``: the index of the first column
    that holds data) the period reaches back before the data began — "grew from nothing" would
    only say when the session started."""
    if period_columns < 1:
        raise ValueError("the period must span at least one column")
    out = np.full(image.shape, np.nan, np.float32)
    if period_columns < image.shape[1]:
        np.subtract(image[:, period_columns:], image[:, :-period_columns], out=out[:, period_columns:])
    out[:, :max(0, min(image.shape[1], first_data + period_columns))] = np.nan
    return out


def period_columns(period_ms: int, column_ms: int, window_columns: int) -> int:
    """Columns in ``period_ms``; ValueError (one line) when the period is not shorter than the
    model's time window or shorter than one column."""
    k = int(period_ms // column_ms)
    if k < 1:
        raise ValueError(f"a delta period of {period_ms / 1000:g} s is shorter than one column ({column_ms / 1000:g} s)")
    if k >= window_columns:
        raise ValueError(f"a delta over {period_ms / 3_600_000:g} h needs a time window longer than that "
                         f"(the window holds {window_columns * column_ms / 3_600_000:g} h)")
    return k


def delta_levels(image: np.ndarray) -> float:
    """The colour scale's half-range for a delta image: the 99th percentile of |delta| over
    the cells that changed (so one outlier does not wash out the rest; 1 when none did)."""
    v = np.abs(image[np.isfinite(image)])
    v = v[v > 0]
    return float(np.percentile(v, 99)) if len(v) else 1.0


@dataclass(frozen=True)
class HotLine:
    """One of the strongest levels: the price at its bin's middle, its dollars, its side
    (+1 long, below price; -1 short, above)."""

    price: float
    notional: float
    side: int


def hot_lines(level_map: np.ndarray, origin: int, width: float, n: int = 10, min_gap_bins: int = 2) -> list[HotLine]:
    """The ``n`` strongest bins of a live level map ``[2 (long, short), rows]`` whose first row is
    absolute bin ``origin`` (bins ``width`` apart), strongest first; a bin within ``min_gap_bins``
    of a stronger one on the same side is left out, so one wide cluster gives one line."""
    total = level_map.sum(axis=0)
    order = np.argsort(total)[::-1]
    taken: list[tuple[int, int]] = []
    out = []
    for i in order.tolist():
        if total[i] <= 0 or len(out) >= n:
            break
        side = 1 if level_map[0, i] >= level_map[1, i] else -1
        if any(abs(i - j) <= min_gap_bins and s == side for j, s in taken):
            continue
        taken.append((i, side))
        out.append(HotLine((origin + i + 0.5) * width, float(total[i]), side))
    return out
