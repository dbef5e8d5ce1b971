"""The prices and traded volume the baselines (:mod:`liqdesk.app.baselines`) and the swept score
read of a session, reduced to whole seconds.

:class:`PriceTape` gathers the raw rows of the batches (trades, marks and public liquidation fills
of the model's exchanges); :class:`SecondTape` is a stretch of whole seconds: per second the low
and high price, and the traded notional per (second, absolute bin). :class:`RollingTape` is the
streaming form evaluate uses: it settles each second as soon as it is complete and forgets the
seconds nobody needs any more, so its size follows the look-back (an hour), not the session.
"""

from __future__ import annotations

import numpy as np

from liqdesk.core.events import EventBatch

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
                ds, db, dn = per_second_bin(vs[done], vb[done], vn[done])
                self._vol = [(ds, db, dn), (vs[~done], vb[~done], vn[~done])]

    def take_before(self, cut_s: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Hand out and forget the rows of the seconds before ``cut_s`` (those must be complete):
        (second, price) of every price and (second, bin, notional) of every trade, in the order
        they came; the later rows stay."""
        sec = np.concatenate(self._sec) if self._sec else np.empty(0, np.int64)
        price = np.concatenate(self._price) if self._price else np.empty(0)
        done = sec < cut_s
        self._sec, self._price = [sec[~done]], [price[~done]]
        if self._vol:
            vs, vb, vn = (np.concatenate([v[k] for v in self._vol]) for k in range(3))
        else:
            vs, vb, vn = np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0)
        vdone = vs < cut_s
        self._vol = [(vs[~vdone], vb[~vdone], vn[~vdone])]
        self._raw_rows = 0
        return sec[done], price[done], vs[vdone], vb[vdone], vn[vdone]

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
            vs, vb, vn = per_second_bin(*(np.concatenate([v[k] for v in self._vol]) for k in range(3)))
        else:
            vs, vb, vn = np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0)
        return SecondTape(first_s, low, high, vs, vb, vn, self.bin_width)


class SecondTape:
    """Per second (index 0 = ``first_s``, seconds since the epoch): ``low``/``high`` price (±inf
    when none), and the trades as (second, absolute bin, notional) sorted by second then bin, one
    row per (second, bin)."""

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




def per_second_bin(sec: np.ndarray, bins: np.ndarray, notional: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One row per (second, bin), sorted by second then bin, the notional summed in the order the
    rows are given (so reducing a second once or in parts of whole seconds gives the same bits)."""
    if not len(sec):
        return sec.astype(np.int64), bins.astype(np.int64), notional.astype(float)
    b0 = int(bins.min())
    span = int(bins.max()) - b0 + 1
    keys, inverse = np.unique(sec * span + (bins - b0), return_inverse=True)
    sums = np.bincount(inverse.ravel(), notional, len(keys))
    return keys // span, keys % span + b0, sums


class _Growing:
    """A 1-D array appended at the end and cut at the front, in amortized constant time."""

    def __init__(self, dtype) -> None:
        self.buf = np.empty(1024, dtype)
        self.lo = self.hi = 0

    @property
    def view(self) -> np.ndarray:
        return self.buf[self.lo:self.hi]

    def append(self, values: np.ndarray) -> None:
        n = len(values)
        if self.hi + n > len(self.buf):
            live = self.hi - self.lo
            if live + n > len(self.buf) // 2:
                bigger = np.empty(max(2 * len(self.buf), 2 * (live + n)), self.buf.dtype)
                bigger[:live] = self.view
                self.buf = bigger
            else:
                self.buf[:live] = self.view
            self.lo, self.hi = 0, live
        self.buf[self.hi:self.hi + n] = values
        self.hi += n

    def drop_front(self, n: int) -> None:
        self.lo = min(self.hi, self.lo + n)


class RollingTape(SecondTape):
    """A :class:`SecondTape` fed batch by batch: each batch's complete seconds are settled at once
    (the rows of a second a batch cuts through wait for the rest of it), and
    :meth:`drop_before` forgets the oldest seconds. ``first_s`` is the oldest second kept; the tape
    is dense from there up to ``settled_s`` (exclusive)."""

    def __init__(self, exchange_ids, first_s: int) -> None:  # noqa: D107 (no SecondTape.__init__: the arrays grow)
        self.pending = PriceTape(exchange_ids)
        self.first_s = self.settled_s = int(first_s)
        self._low, self._high = _Growing(float), _Growing(float)
        self._vs, self._vb, self._vn = _Growing(np.int64), _Growing(np.int64), _Growing(float)

    low = property(lambda self: self._low.view)
    high = property(lambda self: self._high.view)
    vol_sec = property(lambda self: self._vs.view)
    vol_bin = property(lambda self: self._vb.view)
    vol_notional = property(lambda self: self._vn.view)
    bin_width = property(lambda self: self.pending.bin_width)

    def add(self, batch: EventBatch, bin_width: float, until_ms: int) -> None:
        """Record a batch holding every event before ``until_ms`` not yet added; settle the
        seconds before ``until_ms`` (those are complete)."""
        self.pending.add(batch, bin_width)
        cut = max(self.settled_s, int(until_ms) // 1000)
        sec, price, vs, vb, vn = self.pending.take_before(cut)
        n = cut - self.settled_s
        low, high = np.full(n, np.inf), np.full(n, -np.inf)
        ok = sec >= self.settled_s          # rows before the first second are not the session's
        np.minimum.at(low, sec[ok] - self.settled_s, price[ok])
        np.maximum.at(high, sec[ok] - self.settled_s, price[ok])
        self._low.append(low)
        self._high.append(high)
        vs, vb, vn = per_second_bin(vs, vb, vn)
        self._vs.append(vs)
        self._vb.append(vb)
        self._vn.append(vn)
        self.settled_s = cut

    def drop_before(self, second: int) -> None:
        """Forget the seconds before ``second``."""
        n = min(int(second), self.settled_s) - self.first_s
        if n <= 0:
            return
        self._low.drop_front(n)
        self._high.drop_front(n)
        self.first_s += n
        k = int(np.searchsorted(self.vol_sec, self.first_s))
        for g in (self._vs, self._vb, self._vn):
            g.drop_front(k)

    def retained(self) -> dict[str, int]:
        """How much is kept: seconds, volume rows, rows not yet settled."""
        return {"tape_seconds": len(self.low), "tape_volume_rows": len(self.vol_sec),
                "tape_pending_rows": sum(len(s) for s in self.pending._sec)}
