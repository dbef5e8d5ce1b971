"""Trivial rules the model's accuracy is judged against, fed the same events and scored by the
same code as the model (:func:`liqdesk.app.analysis.evaluate`).

Each baseline gives, at a query time, a value per side (long, short) and absolute price bin;
bigger means "more liquidation notional expected here". Only what happened *before* the query
(whole seconds before it) is used: no look-ahead.

- ``nearest``: nearness to the price, per side where that side's liquidations happen: a long
  bin at or under the price's bin is worth ``1 / (1 + bins away)``, above it 0 (shorts mirrored).
- ``volume``: traded notional of the last hour in the bin (quote currency), both sides alike.
- ``naive``: the map of popular scripts: every trade's notional is spread evenly over 10/25/50/100x
  and placed at ``price·(1 − 1/L)`` (long) and ``price·(1 + 1/L)`` (short); a level goes when
  price reaches its bin (per second: that second's sweep first, then its new levels).
"""

from __future__ import annotations

import math

import numpy as np

from liqdesk.core.events import EventBatch

BASELINES = ("nearest", "volume", "naive")
NAIVE_LEVERAGES = (10.0, 25.0, 50.0, 100.0)
VOLUME_WINDOW_S = 3600
#: raw tape rows gathered before the complete seconds are reduced (see ``PriceTape._compact``)
COMPACT_ROWS = 1 << 20


class PriceTape:
    """What the baselines need of a session, per whole second: the low and high price (trades,
    marks and public liquidation fills of the model's exchanges) and the traded notional by
    absolute price bin. Fed the same batches as the model, in time order."""

    def __init__(self, exchange_ids, compact_rows: int | None = None) -> None:
        self.ids = np.asarray(list(exchange_ids), dtype=np.uint8)
        self.compact_rows = COMPACT_ROWS if compact_rows is None else int(compact_rows)
        self._sec: list[np.ndarray] = []
        self._price: list[np.ndarray] = []
        self._vol: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self._raw_rows = 0                       # rows added since the last compaction
        self.bin_width = 0.0

    def add(self, batch: EventBatch, bin_width: float) -> None:
        """Record a batch; ``bin_width`` the model's (0 while it has seen no price)."""
        if bin_width and not self.bin_width:
            self.bin_width = float(bin_width)
        for arr in (batch.trades, batch.marks, batch.liquidations):
            if len(arr):
                keep = np.isin(arr["exchange"], self.ids)
                self._sec.append(arr["time_ms"][keep] // 1000)
                self._price.append(arr["price"][keep].astype(float))
        tr = batch.trades
        if len(tr) and self.bin_width:
            tr = tr[np.isin(tr["exchange"], self.ids)]
            self._vol.append((tr["time_ms"] // 1000, np.floor(tr["price"] / self.bin_width).astype(np.int64),
                              tr["price"] * tr["size"]))
        self._raw_rows += len(batch.trades) + len(batch.marks) + len(batch.liquidations)
        if self._raw_rows >= self.compact_rows:
            self._compact()

    def _compact(self) -> None:
        """Reduce every complete second (before the newest second seen: batches come in time
        order) to what :meth:`finish` reads of it: its low and high price, and one traded
        notional per (second, bin), summed in the order the trades came, as the final sum does,
        so the result is the same bit for bit. Memory then follows the seconds, not the events."""
        self._raw_rows = 0
        if self._sec:
            sec, price = np.concatenate(self._sec), np.concatenate(self._price)
            if len(sec):
                cut = int(sec.max())
                done = sec < cut
                s, p = sec[done], price[done]
                order = np.argsort(s, kind="stable")
                s, p = s[order], p[order]
                starts = np.flatnonzero(np.concatenate([[True], s[1:] != s[:-1]])) if len(s) else np.empty(0, np.int64)
                keys = s[starts]
                low = np.minimum.reduceat(p, starts) if len(s) else p
                high = np.maximum.reduceat(p, starts) if len(s) else p
                self._sec = [np.repeat(keys, 2), sec[~done]]
                self._price = [np.stack([low, high], axis=1).ravel(), price[~done]]
        if self._vol:
            vs = np.concatenate([v[0] for v in self._vol])
            vb = np.concatenate([v[1] for v in self._vol])
            vn = np.concatenate([v[2] for v in self._vol])
            if len(vs):
                done = vs < int(vs.max())
                ds, db, dn = vs[done], vb[done], vn[done]
                if len(ds):
                    b0 = int(db.min())
                    span = int(db.max()) - b0 + 1
                    keys, inverse = np.unique(ds * span + (db - b0), return_inverse=True)
                    sums = np.bincount(inverse.ravel(), dn, len(keys))
                    ds, db, dn = keys // span, keys % span + b0, sums
                self._vol = [(ds, db, dn), (vs[~done], vb[~done], vn[~done])]

    def finish(self, first_s: int, last_s: int) -> SecondTape:
        """The per-second arrays over ``first_s .. last_s`` (seconds since the epoch)."""
        n = max(0, last_s - first_s + 1)
        low = np.full(n, np.inf)
        high = np.full(n, -np.inf)
        if self._sec:
            sec = np.concatenate(self._sec) - first_s
            price = np.concatenate(self._price)
            ok = (sec >= 0) & (sec < n)
            np.minimum.at(low, sec[ok], price[ok])
            np.maximum.at(high, sec[ok], price[ok])
        if self._vol:
            vs = np.concatenate([v[0] for v in self._vol]) - first_s
            vb = np.concatenate([v[1] for v in self._vol])
            vn = np.concatenate([v[2] for v in self._vol])
            # one row per (second, bin): an hour's look-up then sums a few thousand rows
            span = int(vb.max() - vb.min()) + 1
            keys, inverse = np.unique(vs * span + (vb - vb.min()), return_inverse=True)
            vn = np.bincount(inverse.ravel(), vn, len(keys))
            vs, vb = keys // span, keys % span + vb.min()
        else:
            vs = np.empty(0, np.int64)
            vb = np.empty(0, np.int64)
            vn = np.empty(0)
        return SecondTape(first_s, low, high, vs, vb, vn, self.bin_width)


class SecondTape:
    """Per second (index 0 = ``first_s``): ``low``/``high`` price (±inf when none), and the
    trades as (second index, absolute bin, notional) sorted by second."""

    def __init__(self, first_s, low, high, vol_sec, vol_bin, vol_notional, bin_width) -> None:
        self.first_s, self.low, self.high = first_s, low, high
        self.vol_sec, self.vol_bin, self.vol_notional = vol_sec, vol_bin, vol_notional
        self.bin_width = bin_width

    def price_range(self, start_ms: np.ndarray, end_ms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Lowest and highest price over the whole seconds in ``[start_ms, end_ms)``, per query
        (vectorized; ±inf where no price was seen)."""
        n = len(self.low)
        a = np.clip(np.asarray(start_ms) // 1000 - self.first_s, 0, n)
        b = np.clip(-(-np.asarray(end_ms) // 1000) - self.first_s, 0, n)
        lo, hi = np.full(len(a), np.inf), np.full(len(a), -np.inf)
        if not len(a):
            return lo, hi
        width = int(max(1, (b - a).max()))
        pad_low = np.concatenate([self.low, np.full(width, np.inf)])
        pad_high = np.concatenate([self.high, np.full(width, -np.inf)])
        step = max(1, 4_000_000 // width)   # a month of columns in pieces of a few tens of MB
        for i in range(0, len(a), step):
            idx = a[i:i + step, None] + np.arange(width)[None, :]
            inside = idx < b[i:i + step, None]
            lo[i:i + step] = np.where(inside, pad_low[idx], np.inf).min(axis=1)
            hi[i:i + step] = np.where(inside, pad_high[idx], -np.inf).max(axis=1)
        return lo, hi


def nearest_map(mark: float, bin_width: float, origin: int, rows: int) -> np.ndarray:
    """``[2, rows]``: long bins at or under the price's bin worth ``1 / (1 + bins away)``, shorts
    at or above it; the other side's bins 0."""
    k = origin + np.arange(rows)
    kb = math.floor(mark / bin_width)
    out = np.zeros((2, rows))
    near = 1.0 / (1 + np.abs(k - kb))
    out[0] = np.where(k <= kb, near, 0.0)
    out[1] = np.where(k >= kb, near, 0.0)
    return out


def baseline_maps(tape: SecondTape, queries: list[tuple[int, int, int, float]]) -> dict[str, list[np.ndarray]]:
    """Every baseline's ``[2, rows]`` map at each query ``(time_ms, origin bin, rows, price)``.
    Queries may come in any order; the naive map is advanced through them in time order."""
    out = {name: [None] * len(queries) for name in BASELINES}
    if not queries:
        return out
    w = tape.bin_width
    times = np.array([q[0] for q in queries], dtype=np.int64)
    order = np.argsort(times, kind="stable")
    naive = _NaiveMap(tape)
    seen: dict[tuple, int] = {}   # liquidations of one second often ask the same thing
    for i in order.tolist():
        t_ms, origin, rows, mark = queries[i]
        key = (t_ms // 1000, origin, rows, mark)
        if key in seen:
            for name in BASELINES:
                out[name][i] = out[name][seen[key]]
            continue
        seen[key] = i
        if not w or math.isnan(mark):
            for name in BASELINES:
                out[name][i] = np.zeros((2, rows))
            continue
        sec = t_ms // 1000 - tape.first_s  # whole seconds before the query
        out["nearest"][i] = nearest_map(mark, w, origin, rows)
        a, b = np.searchsorted(tape.vol_sec, [sec - VOLUME_WINDOW_S, sec])
        k = tape.vol_bin[a:b] - origin
        ok = (k >= 0) & (k < rows)
        vol = np.bincount(k[ok], tape.vol_notional[a:b][ok], rows)
        out["volume"][i] = np.stack([vol, vol])
        out["naive"][i] = naive.at(sec, origin, rows)
    return out


class _NaiveMap:
    """The naive 1/leverage map, advanced second by second (vectorized between queries)."""

    def __init__(self, tape: SecondTape) -> None:
        self.tape = tape
        w = tape.bin_width
        finite = np.concatenate([tape.low[np.isfinite(tape.low)], tape.high[np.isfinite(tape.high)]])
        if not w or not len(finite):
            self.origin, self.size = 0, 1
        else:
            lo_lev = min(NAIVE_LEVERAGES)
            self.origin = math.floor(finite.min() * (1 - 1 / lo_lev) / w) - 2
            self.size = math.floor(finite.max() * (1 + 1 / lo_lev) / w) - self.origin + 3
        self.state = np.zeros((2, self.size))
        self.done = 0  # seconds applied: [0, done)
        self.vol_cursor = 0
        lev = np.asarray(NAIVE_LEVERAGES)
        self.ratios = np.stack([1 - 1 / lev, 1 + 1 / lev])  # [2, L]

    def _advance(self, sec: int) -> None:
        sec = min(sec, len(self.tape.low))
        if sec <= self.done:
            return
        t, w = self.tape, self.tape.bin_width
        low = t.low[self.done:sec]
        high = t.high[self.done:sec]
        # absolute bin each second reached (±huge when no price that second)
        low_bin = np.where(np.isfinite(low), np.floor(np.where(np.isfinite(low), low, 0) / w), np.inf)
        high_bin = np.where(np.isfinite(high), np.floor(np.where(np.isfinite(high), high, 0) / w), -np.inf)
        # existing levels: a long at bin b goes when a low reaches b (low bin <= b); shorts mirrored
        k = self.origin + np.arange(self.size)
        self.state[0][k >= low_bin.min()] = 0.0
        self.state[1][k <= high_bin.max()] = 0.0
        # new levels of second j survive the sweeps of the later seconds of the period
        b = int(np.searchsorted(t.vol_sec, sec))
        a = self.vol_cursor
        if b > a and w:
            j = t.vol_sec[a:b] - self.done
            centre = (t.vol_bin[a:b] + 0.5) * w
            share = t.vol_notional[a:b] / len(NAIVE_LEVERAGES)
            suffix_low = np.append(np.minimum.accumulate(low_bin[::-1])[::-1], np.inf)[1:]
            suffix_high = np.append(np.maximum.accumulate(high_bin[::-1])[::-1], -np.inf)[1:]
            for side in (0, 1):
                level = np.floor(centre[:, None] * self.ratios[side][None, :] / w).astype(np.int64)
                alive = level < suffix_low[j][:, None] if side == 0 else level > suffix_high[j][:, None]
                idx = level - self.origin
                alive &= (idx >= 0) & (idx < self.size)
                np.add.at(self.state[side], idx[alive], np.broadcast_to(share[:, None], level.shape)[alive])
        self.vol_cursor = b
        self.done = sec

    def at(self, sec: int, origin: int, rows: int) -> np.ndarray:
        self._advance(sec)
        out = np.zeros((2, rows))
        a = max(origin, self.origin)
        b = min(origin + rows, self.origin + self.size)
        if b > a:
            out[:, a - origin:b - origin] = self.state[:, a - self.origin:b - self.origin]
        return out
