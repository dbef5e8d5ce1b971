"""The position-age view (no Qt): the filtered window split into the four age buckets (last hour,
1–24 h, 1–7 d, older; see :mod:`liqdesk.core.position_age`) and drawn as one picture a trader
reads at a glance: each cell's hue is the mix of its buckets' colours (weighted by their shares:
fresh positions warm orange, up to a day old sky blue, up to a week violet, older grey — warm is
new money, cool and grey have sat there), its brightness the cell's total notional on the same
square-root scale for the whole picture.
"""

from __future__ import annotations

import numpy as np

from liqdesk.core.position_age import BUCKET_KEYS, BUCKETS

#: RGB per bucket, youngest first: orange, sky blue, violet, grey (warm against cool: apart for
#: the common colour blindnesses too)
AGE_COLOURS = ((255, 130, 40), (70, 180, 255), (160, 110, 255), (150, 150, 160))
_BACKGROUND = np.array([11, 14, 20], np.float32)


def age_buckets(model, exchanges=None, tiers=None, long: bool = True, short: bool = True,
                include_live: bool = True) -> tuple[np.ndarray, np.ndarray, int]:
    """(``[4, rows, W]`` float32 notional per bucket (quote currency), column numbers, display
    origin): the filtered window read once per bucket; the four sum to the unfiltered window."""
    parts = []
    cols = origin = None
    for key in BUCKET_KEYS:
        img, cols, origin = model.image(exchanges, tiers, long, short, include_live=include_live, ages=(key,))
        parts.append(img)
    return np.stack(parts), cols, origin


def age_top(buckets: np.ndarray, quantile: float = 99.5) -> float:
    """The notional drawn at full brightness: a high percentile of the non-empty cells."""
    total = buckets.sum(axis=0)
    nz = total[total > 0]
    return float(np.percentile(nz, quantile)) if nz.size else 1.0


def age_rgb(buckets: np.ndarray, top: float) -> np.ndarray:
    """``[rows, W, 3]`` uint8: hue the share-weighted mix of the bucket colours, brightness
    ``sqrt(total / top)`` (clipped at 1) from the background (float32 throughout: a whole
    2,000 × 1,440 window in well under a plain frame's read)."""
    b = buckets.astype(np.float32, copy=False)
    total = b.sum(axis=0)
    # brightness over the total, folded into the shares: weight_i = share_i · bright = b_i · k
    k = np.sqrt(np.clip(total / np.float32(max(top, 1e-12)), 0.0, 1.0))
    np.divide(k, total, out=k, where=total > 0)
    k[total <= 0] = 0.0
    bright = np.minimum(total * k, 1.0)              # sqrt(total / top) clipped (0 where empty)
    out = np.empty(total.shape + (3,), np.uint8)
    for c in range(3):
        chan = np.full(total.shape, _BACKGROUND[c], np.float32)
        chan -= bright * _BACKGROUND[c]              # the background fades as the cell brightens
        for i in range(b.shape[0]):
            chan += b[i] * k * np.float32(AGE_COLOURS[i][c])
        np.clip(chan, 0, 255, out=chan)
        out[..., c] = chan
    return out


def age_legend() -> list[tuple[str, str]]:
    """(label, ``#rrggbb``) per bucket, youngest first."""
    return [(label, "#" + "".join(f"{v:02x}" for v in c)) for (_, label), c in zip(BUCKETS, AGE_COLOURS)]


def age_summary(buckets: np.ndarray) -> dict[str, float]:
    """Each bucket's notional in the newest column (quote currency), by key."""
    return {key: float(buckets[i, :, -1].sum()) for i, key in enumerate(BUCKET_KEYS)}


class AgeImage:
    """The age view's buckets and picture kept between frames: a full read only when the filters,
    the display origin, the mix or the grid change (:meth:`LevelModel.closed_since` says when);
    otherwise the columns that closed are read alone (each bucket's band of those columns, the
    same cells as a whole read bit for bit), the live column is read again, and only those are
    coloured. The brightness scale (``top``) is recomputed from the whole picture only when the
    new columns' own high percentile leaves it by more than :data:`TOP_RULE` (so a frame does not
    re-colour the window for a small change)."""

    #: relative change of the full-brightness level that re-colours the whole picture
    TOP_RULE = 0.25
    #: event time after which a change of the learned mix re-reads the whole window (ms)
    MIX_REFRESH_MS = 300_000

    def __init__(self) -> None:
        self.buckets: np.ndarray | None = None     # [4, rows, W] float32
        self.rgb: np.ndarray | None = None         # [rows, W, 3] uint8
        self.columns: np.ndarray | None = None
        self.origin: int | None = None
        self.top = 1.0
        self._stamp = self._last = self._filters = None
        self._full_ms = 0
        #: how the last update went: "full", "columns" (with how many) or "live"
        self.last_update: tuple = ("none", 0)

    def update(self, model, exchanges=None, tiers=None, long: bool = True, short: bool = True,
               shown=None) -> bool:
        """Bring the picture up to ``model``; ``shown``: the buckets drawn (None: all; the others
        go dark). False when the model has nothing to draw yet."""
        if model.watermark is None or not model.bin_width:
            return False
        filters = (tuple(exchanges) if exchanges is not None else None,
                   tuple(tiers) if tiers is not None else None, long, short,
                   tuple(shown) if shown is not None else None, id(model))
        new = self._closed_since(model) if filters == self._filters else None
        if new is None or self.buckets is None:
            self._full(model, exchanges, tiers, long, short, shown)
            self._full_ms = model.watermark
        else:
            self._columns(model, new, exchanges, tiers, long, short, shown)
        self._filters, self._stamp, self._last = filters, model.window_stamp(), model.grid.last_column
        return True

    def _closed_since(self, model) -> np.ndarray | None:
        """As :meth:`LevelModel.closed_since`, except that a change of the learned mix alone asks
        for a whole read only once :data:`MIX_REFRESH_MS` of event time passed since the last one:
        the mix moves most minutes, and a whole read of four buckets costs ~10 plain frames; until
        then the older columns keep the mix they were read with (new columns use the new one)."""
        new = model.closed_since(self._stamp, self._last)
        if new is not None or self._stamp is None:
            return new
        now = model.window_stamp()
        if now[:2] + now[3:] != self._stamp[:2] + self._stamp[3:] or \
                model.watermark - self._full_ms >= self.MIX_REFRESH_MS:
            return None
        end = model.grid.last_column
        if end < self._last or end - self._last > model.settings.window_columns:
            return None
        return np.arange(self._last + 1, end + 1)

    def _full(self, model, exchanges, tiers, long, short, shown) -> None:
        buckets, cols, origin = age_buckets(model, exchanges, tiers, long, short)
        self._mask(buckets, shown)
        self.buckets, self.columns, self.origin = buckets, cols, origin
        self.top = age_top(buckets)
        self.rgb = age_rgb(buckets, self.top)
        self.last_update = ("full", len(cols))

    def _columns(self, model, new: np.ndarray, exchanges, tiers, long, short, shown) -> None:
        k = len(new)
        b = self.buckets
        W, rows = b.shape[2], b.shape[1]
        if k:
            b[:, :, :-k] = b[:, :, k:].copy()
            self.rgb[:, :-k] = self.rgb[:, k:].copy()
            slots = new % model.settings.window_columns
            for i, key in enumerate(BUCKET_KEYS):
                b[i, :, W - 1 - k: W - 1] = model.band(exchanges, tiers, long, short, origin=self.origin,
                                                       slots=slots, ages=(key,))
            self.columns = self.columns + k
        live = np.stack([model.level_map(exchanges, tiers, self.origin, rows, ages=(key,)) for key in BUCKET_KEYS])
        b[:, :, -1] = (live[:, 0] if long else 0) + (live[:, 1] if short else 0)
        self._mask(b[:, :, -1 - k:], shown)
        fresh = b[:, :, -1 - k:]
        top = age_top(fresh) if fresh.any() else self.top
        if abs(top - self.top) > self.TOP_RULE * self.top and top > self.top:
            self.top = age_top(b)
            self.rgb = age_rgb(b, self.top)
            self.last_update = ("full colour", k)
            return
        self.rgb[:, -1 - k:] = age_rgb(fresh, self.top)
        self.last_update = ("columns", k)

    @staticmethod
    def _mask(buckets: np.ndarray, shown) -> None:
        if shown is not None:
            for i, key in enumerate(BUCKET_KEYS):
                if key not in shown:
                    buckets[i] = 0.0
