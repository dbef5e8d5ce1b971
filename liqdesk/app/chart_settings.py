"""The chart's time windows, bin sizes and decays, and the model settings they make (no Qt).

A chart shows a time window (1 h … 30 d) over :data:`WINDOW_COLUMNS` columns, price bins a
percentage of price wide, and an optional decay half-life; :func:`settings_for_window` turns
those choices into :class:`~liqdesk.core.levels.ModelSettings`. Times in ms.
"""

from __future__ import annotations

import math

from liqdesk.core.levels import ModelSettings

WINDOWS_MS = {"1h": 3_600_000, "4h": 4 * 3_600_000, "12h": 12 * 3_600_000, "1d": 86_400_000,
              "3d": 3 * 86_400_000, "7d": 7 * 86_400_000, "30d": 30 * 86_400_000}
BIN_PCTS = (0.01, 0.02, 0.05, 0.1, 0.25)
DECAYS_S = {"off": 0.0, "1h": 3600.0, "4h": 4 * 3600.0, "12h": 12 * 3600.0, "1d": 86400.0}
WINDOW_COLUMNS = 1440


def settings_for_window(base: ModelSettings, window: str | None = None, bin_pct: float | None = None,
                        decay: str | None = None, rows: int | None = None) -> ModelSettings:
    """``base`` with a time window (1h … 30d over 1,440 columns), a bin size (% of price) and a
    decay half-life applied; rows cover about ±15 % of price (400 to 2,000)."""
    from dataclasses import replace

    kw = {}
    if window is not None:
        kw["column_ms"] = max(1, WINDOWS_MS[window] // WINDOW_COLUMNS)
        kw["window_columns"] = WINDOW_COLUMNS
    if bin_pct is not None:
        kw["bin_width_pct"] = float(bin_pct)
        kw["bin_width"] = None
        kw["rows"] = rows or rows_for_bin(bin_pct)
    elif rows is not None:
        kw["rows"] = rows
    if decay is not None:
        kw["decay_half_life_s"] = DECAYS_S[decay]
    return replace(base, **kw)


def rows_for_bin(bin_pct: float) -> int:
    """Price rows so that the grid spans about ±15 % of price (400 … 2,000)."""
    return int(min(2000, max(400, round(30.0 / bin_pct / 100) * 100)))


def window_name(settings: ModelSettings) -> str:
    span = settings.column_ms * settings.window_columns
    return min(WINDOWS_MS, key=lambda k: abs(math.log(WINDOWS_MS[k] / max(span, 1))))


def decay_name(settings: ModelSettings) -> str:
    return min(DECAYS_S, key=lambda k: abs(DECAYS_S[k] - settings.decay_half_life_s))


def default_bin_pct(settings: ModelSettings) -> float:
    """The filter panel's bin choice closest to ``settings``."""
    return min(BIN_PCTS, key=lambda p: abs(math.log(p / max(settings.bin_width_pct, 1e-9))))
