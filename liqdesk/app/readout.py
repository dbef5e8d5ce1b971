"""The crosshair read-out: what the heatmap holds at one cell, by side, tier and exchange, filtered
as the view is (no Qt; the heatmap panel formats it). Notional in quote currency, times in ms."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .view_state import ViewState


@dataclass
class Readout:
    """Estimated notional (quote currency) at one heatmap cell, filtered as the view is.
    ``time_ms``: the start of the cell's column, which covers ``[time_ms, time_ms + column_ms)``."""

    time_ms: int
    column: int
    live: bool
    price_low: float
    price_high: float
    long: float = 0.0
    short: float = 0.0
    by_tier: list = field(default_factory=list)       # [(leverage, long, short)]
    by_exchange: list = field(default_factory=list)   # [(name, long, short)]
    column_ms: int = 0
    #: exchanges in the read-out whose tier table for the symbol is the generic (approximate) one
    approximate: list = field(default_factory=list)

    @property
    def total(self) -> float:
        return self.long + self.short


def cell_breakdown(model, column: int, row_abs: int, origin: int) -> np.ndarray:
    """``[E, T, 2]`` notional of absolute bin ``row_abs`` in ``column`` (the live column reads
    the model's live state; a column never stored reads zero)."""
    s = model.settings
    live_col = (model.watermark // s.column_ms) if model.watermark is not None else None
    out = np.zeros((model.E, model.T, 2))
    if column == live_col:
        for e, name in enumerate(s.exchanges):
            for t, lev in enumerate(model.leverages):
                out[e, t] = model.level_map([name], [float(lev)], row_abs, 1)[:, 0]
        return out
    cell = model.cell(column, row_abs - origin, origin)
    return out if cell is None else cell


def readout_for(model, view: ViewState, time_s: float, price: float, origin: int) -> Readout | None:
    """The read-out of the cell under (time, price), or None when the model has no axis yet."""
    if not model.bin_width or not math.isfinite(time_s) or not math.isfinite(price):
        return None
    s = model.settings
    column = int(math.floor(time_s * 1000.0 / s.column_ms))
    row_abs = int(math.floor(price / model.bin_width))
    cell = cell_breakdown(model, column, row_abs, origin)
    ex_mask, tier_mask = view.masks(model)
    sides = np.array([view.long, view.short], dtype=float)
    sel = cell * ex_mask[:, None, None] * tier_mask[None, :, None] * sides[None, None, :]
    live_col = (model.watermark // s.column_ms) if model.watermark is not None else None
    by_tier = [(float(lev), float(sel[:, t, 0].sum()), float(sel[:, t, 1].sum()))
               for t, lev in enumerate(model.leverages) if tier_mask[t]]
    by_ex = [(name, float(sel[e, :, 0].sum()), float(sel[e, :, 1].sum()))
             for e, name in enumerate(s.exchanges) if ex_mask[e]]
    return Readout(time_ms=column * s.column_ms, column=column, live=column == live_col,
                   price_low=row_abs * model.bin_width, price_high=(row_abs + 1) * model.bin_width,
                   long=float(sel[..., 0].sum()), short=float(sel[..., 1].sum()),
                   by_tier=by_tier, by_exchange=by_ex, column_ms=s.column_ms,
                   approximate=[name for e, name in enumerate(s.exchanges)
                                if ex_mask[e] and getattr(model.tiers[name], "approximate", False)])
