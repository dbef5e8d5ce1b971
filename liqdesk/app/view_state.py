"""What one chart window shows of the engine: filters and display choices (no Qt)."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

#: Candle intervals offered (ms); 0 = chosen by zoom.
CANDLE_INTERVALS_MS = (1_000, 5_000, 15_000, 60_000, 300_000, 900_000, 3_600_000)


@dataclass(frozen=True)
class ViewState:
    """Filters applied to the whole displayed window at once. ``None`` means all."""

    exchanges: tuple[str, ...] | None = None
    tiers: tuple[float, ...] | None = None
    #: position-age buckets shown (keys of ``liqdesk.core.position_age.BUCKETS``; None = all)
    ages: tuple[str, ...] | None = None
    long: bool = True
    short: bool = True
    scale: str = "percentile"
    candle_ms: int = 0

    def with_(self, **kw) -> ViewState:
        return replace(self, **kw)

    @property
    def filter_key(self) -> tuple:
        return (self.exchanges, self.tiers, self.long, self.short, self.ages)

    def masks(self, model) -> tuple[np.ndarray, np.ndarray]:
        """Boolean (exchange, tier) masks over ``model``'s slices."""
        ex = None if self.exchanges is None else [e for e in self.exchanges if e in model.settings.exchanges]
        return model.masks(ex, self.tiers)

    def model_exchanges(self, model) -> list[str] | None:
        """The view's exchanges that the model has (None = all)."""
        if self.exchanges is None:
            return None
        return [e for e in self.exchanges if e in model.settings.exchanges]


def auto_candle_ms(span_s: float, width_px: float, min_px: float = 7.0, max_count: int = 1_500) -> int:
    """The finest standard candle interval at which a candle is at least ``min_px`` wide."""
    px_per_s = max(width_px, 1.0) / max(span_s, 1e-3)
    for ms in CANDLE_INTERVALS_MS:
        if ms / 1000.0 * px_per_s >= min_px and span_s * 1000.0 / ms <= max_count:
            return ms
    return CANDLE_INTERVALS_MS[-1]


def interval_label(ms: int) -> str:
    if ms <= 0:
        return "auto"
    s = ms // 1000
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m"
    return f"{s // 3600}h"


def display_origin(model) -> int:
    """The absolute bin of the displayed grid's first row: the model's display origin, or (before
    the first column closes) the one it would pick around the current price."""
    import math

    if model.display_origin is not None:
        return model.display_origin
    mark = model.mark_price()
    if model.bin_width and math.isfinite(mark):
        return math.floor(mark / model.bin_width) - model.settings.rows // 2
    return model.origin


_LIVE_CACHE: dict = {}


def live_level_map(engine, view: ViewState, origin: int | None = None, rows: int | None = None
                   ) -> tuple[int, np.ndarray]:
    """(origin, ``[2, rows]`` live level map filtered by the view's exchanges, tiers and ages), shared
    by every panel within one engine version (the panels of one frame read it once)."""
    model = engine.model
    origin = display_origin(model) if origin is None else origin
    rows = model.settings.rows if rows is None else rows
    key = (id(model), engine.version, view.exchanges, view.tiers, view.ages, origin, rows)
    hit = _LIVE_CACHE.get("key")
    if hit == key:
        return origin, _LIVE_CACHE["value"]
    lm = model.level_map(view.model_exchanges(model), view.tiers, origin, rows, ages=view.ages)
    lm.flags.writeable = False
    _LIVE_CACHE["key"], _LIVE_CACHE["value"] = key, lm
    return origin, lm
