"""Limit order books of several venues, kept by market makers, walked by market orders.

All venues live in one array so that every step is a handful of numpy calls, whatever the
number of venues. The book of venue ``v`` is two *relative ladders* of ``D`` price levels:

- row ``v`` (bids): level ``i`` at ``best[v] - i`` ticks,
- row ``V + v`` (asks): level ``i`` at ``best[V + v] + i`` ticks,

sizes in base currency, always >= 0. A market buy walks the ask row from level 0 outwards, a sell
the bid row. The last level of a row is never taken (an order larger than the whole ladder is
filled up to it and the rest is not filled, as an exchange's IOC protection would do).

Market makers, once per step (:meth:`Books.refresh`): re-centre their quotes on the mid left by
the takers (so takers move price), at a target spread that widens with activity; new levels
inside the old quotes start thin; every level relaxes toward a target depth profile (thinner
when the market is busy), so depth thins under sweeps and refills over seconds.
"""

from __future__ import annotations

import numpy as np

#: Size of the front levels market makers add when they improve their quotes, relative to target.
FRESH_FRACTION = 0.35
#: Fraction of the gap to the target depth refilled per step.
REFILL_RATE = 0.12
#: Book sizes are whole lots worth about this much quote currency at the start price (a lot is a
#: power of ten of base units: 1e-8 BTC near 60,000).
LOT_VALUE = 6e-4
#: Row offset (lots) in the flattened cumulative depth; exact in float64 up to 2**53.
ROW_OFFSET = float(2**42)


def depth_profile(levels: int) -> np.ndarray:
    """Target size per level (relative): thin at the touch, thicker a few dozen levels out."""
    i = np.arange(levels, dtype=float)
    return (0.25 + 0.75 * (1.0 - np.exp(-i / 12.0))) * (1.0 + i / 300.0)


class Books:
    """Order books of ``V`` venues (see the module docstring for the layout).

    Sizes are kept in whole lots of ``lot`` base units (as float64 integers), so cumulative depth
    is exact and every row can be searched in one flat ``searchsorted`` (rows offset by
    ``ROW_OFFSET`` lots).
    """

    def __init__(self, mid_ticks: np.ndarray, depth_scale: np.ndarray, levels: int, rng: np.random.Generator,
                 lot: float):
        V = len(mid_ticks)
        self.V, self.D = V, int(levels)
        self.rng = rng
        self.rows = np.arange(2 * V)
        self.row_base = self.rows * self.D
        self.row_offset = self.rows * ROW_OFFSET
        self.sign = np.concatenate([-np.ones(V, np.int64), np.ones(V, np.int64)])
        self.profile = depth_profile(self.D)
        self.lot = float(lot)
        self.scale = np.concatenate([depth_scale, depth_scale]).astype(float) / self.lot
        self.texture = np.ones((2 * V, self.D))
        self.thinning = 1.0
        self.new_texture()
        self.ladder = np.rint(self.target)
        bid = np.floor(np.asarray(mid_ticks, float)).astype(np.int64)
        self.best = np.concatenate([bid, bid + 1])
        self._ar = np.arange(self.D)
        self._k = np.zeros(2 * V, np.int64)
        self._partial = np.zeros(2 * V)
        self.LC: np.ndarray | None = None
        self.LCo: np.ndarray | None = None

    # ------------------------------------------------------------------ read-outs
    def mid_ticks(self) -> np.ndarray:
        """Mid of each venue in ticks (float, may be a half tick)."""
        return (self.best[: self.V] + self.best[self.V:]) * 0.5

    def spread_ticks(self) -> np.ndarray:
        return self.best[self.V:] - self.best[: self.V]

    def snapshot(self, depth: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(row, price in ticks, size in base units) of the top ``depth`` levels with size > 0."""
        d = min(depth, self.D)
        sizes = self.ladder[:, :d]
        ticks = self.best[:, None] + self.sign[:, None] * self._ar[None, :d]
        keep = sizes > 0
        rows = np.broadcast_to(self.rows[:, None], sizes.shape)
        return rows[keep], ticks[keep], sizes[keep] * self.lot

    # ------------------------------------------------------------------ market makers
    def new_texture(self) -> None:
        """Redraw where the larger resting orders sit (called every simulated minute)."""
        self.texture = np.exp(self.rng.normal(-0.125, 0.5, self.texture.shape))
        self.set_thinning(self.thinning)

    def set_thinning(self, factor: float) -> None:
        """Market makers quote ``factor`` times their usual depth (< 1 when the market is busy)."""
        self.thinning = factor
        self.target = self.scale[:, None] * self.profile[None, :] * self.texture * factor
        self._fresh = FRESH_FRACTION * self.target
        self._refill = REFILL_RATE * self.target

    def begin_step(self) -> bool:
        """Cumulative depth per row (from the touch outwards), valid until the next walk.
        False when the book holds a negative or NaN size, or more depth than the exact layout
        holds (impossible states)."""
        if not self.ladder.min() >= 0:
            return False
        self.LC = LC = np.cumsum(self.ladder, axis=1)
        if not LC[:, -1].max() < ROW_OFFSET:
            return False
        self.LCo = (LC + self.row_offset[:, None]).ravel()
        self._k[:] = 0
        self._partial[:] = 0.0
        return True

    def ioc_quantities(self, buy_limit_ticks, sell_limit_ticks) -> np.ndarray:
        """Per row, the depth (lots) a sell down to ``sell_limit`` (bid rows) or a buy up to
        ``buy_limit`` (ask rows) could take, before any other order of the step."""
        V = self.V
        lim = np.empty(2 * V, np.int64)
        lim[:V] = sell_limit_ticks
        lim[V:] = buy_limit_ticks
        n = np.minimum(self.sign * (lim - self.best), self.D - 2)
        return np.where(n >= 0, self.LC.ravel()[self.row_base + np.maximum(n, 0)], 0.0)

    def walk(self, row: np.ndarray, qty: np.ndarray):
        """Fill market orders (``qty`` in whole lots) against the ladders; orders sorted by row,
        then by time.

        Returns ``(order, ticks, lots)`` per fill (one per order and price level touched, like
        exchanges' aggregated trades) and per order its filled lots and filled ticks × lots.
        Records each row's consumption (applied by :meth:`refresh`).
        """
        n, D = len(qty), self.D
        LC, LCo = self.LC, self.LCo
        cs = np.cumsum(qty)
        first = np.empty(n, bool)
        first[0] = True
        np.not_equal(row[1:], row[:-1], out=first[1:])
        end = cs - np.maximum.accumulate(np.where(first, cs - qty, 0.0))
        cap = LC[row, D - 2]
        B = np.minimum(end, cap)
        A = np.minimum(end - qty, cap)
        off = self.row_offset[row]
        base = self.row_base[row]
        la = np.searchsorted(LCo, A + off, "right") - base     # first level touched
        lb = np.searchsorted(LCo, B + off, "left") - base      # last level touched
        nlev = np.where(B > A, lb - la + 1, 0)
        oi = np.repeat(np.arange(n), nlev)
        start = np.cumsum(nlev) - nlev
        lvl = la[oi] + (np.arange(len(oi)) - start[oi])
        r = row[oi]
        flat = base[oi] + lvl
        LCf = LC.ravel()
        lots = np.minimum(B[oi], LCf[flat]) - np.maximum(A[oi], np.where(lvl > 0, LCf[flat - 1], 0.0))
        ticks = self.best[r] + self.sign[r] * lvl
        filled = np.bincount(oi, lots, n)
        filled_ticks = np.bincount(oi, lots * ticks, n)
        # consumption per row: where the last order of each row ended
        last = np.empty(n, bool)
        last[-1] = True
        np.not_equal(row[1:], row[:-1], out=last[:-1])
        rows_hit, B_last = row[last], B[last]
        k = np.searchsorted(LCo, B_last + self.row_offset[rows_hit], "right") - self.row_base[rows_hit]
        self._k[rows_hit] = k
        self._partial[rows_hit] = B_last - np.where(k > 0, LCf[self.row_base[rows_hit] + k - 1], 0.0)
        return oi, ticks, lots, filled, filled_ticks

    def refresh(self, spread: np.ndarray) -> None:
        """Apply the step's consumption, re-quote around the new mid at ``spread`` ticks (>= 1, per
        venue) and refill depth toward the target."""
        V, D = self.V, self.D
        k, part = self._k, self._partial
        bid_after = self.best[:V] - k[:V]
        ask_after = self.best[V:] + k[V:]
        s = bid_after + ask_after
        spread = spread + ((s - spread) & 1)       # keep the mid exactly where the takers left it
        new_bid = (s - spread) // 2
        new_ask = new_bid + spread
        m = np.concatenate([new_bid - bid_after, ask_after - new_ask])   # levels inserted at the front
        J = self._ar[None, :] + (k - m)[:, None]
        src = self.ladder.take(self.row_base[:, None] + J, mode="clip")
        new = np.where(J >= D, self.target, np.where(J < k[:, None], self._fresh, src))
        sel = (m >= 0) & (m < D) & (part > 0)
        if sel.any():
            r, c = self.rows[sel], m[sel]
            new[r, c] = np.maximum(new[r, c] - part[sel], 0.0)
        new *= 1.0 - REFILL_RATE
        new += self._refill
        self.ladder = np.rint(new, out=new)
        self.best[:V] = new_bid
        self.best[V:] = new_ask
