"""What the context panes under the heatmap draw: taker volume delta, real liquidations, open
interest and funding, per exchange, bucketed in time.

Traders read a liquidation heatmap beside open interest, funding, cumulative volume delta and
the liquidations that really happened; :class:`ContextSeries` keeps those from the event batches
a chart ingests, in buckets of ``base_ms`` (5 s) per exchange, for the last ``keep_ms`` (7 days):

- **sums** per bucket and exchange: taker buy and sell notional (quote currency: price × size),
  liquidated long and short notional;
- **last values** per bucket and exchange: open interest (quote notional) and funding rate
  (a fraction per funding interval).

Memory is bounded by design: at most one row per bucket and exchange of each table, and rows
older than ``keep_ms`` before the newest are dropped (7 days of 5 s buckets on 5 exchanges:
at most ~600,000 rows, ~25 MB for the sums). :meth:`ContextSeries.window` reads any span at any
coarser interval, vectorized. Times are event times in ms since the epoch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .events import EXCHANGES, EventBatch

DAY_MS = 86_400_000

SUM_FIELDS = ("buy", "sell", "liq_long", "liq_short")
SUM_DTYPE = np.dtype([("time_ms", "i8")] + [(f, "f8") for f in SUM_FIELDS])
LAST_DTYPE = np.dtype([("time_ms", "i8"), ("value", "f8")])


class _Table:
    """A growing structured array of one exchange's buckets, strictly increasing in
    ``time_ms``, with a cheap append and a front trim."""

    def __init__(self, dtype: np.dtype):
        self._buf = np.empty(256, dtype)
        self._lo = 0
        self._hi = 0

    @property
    def rows(self) -> np.ndarray:
        """The stored rows (a view: writing to it writes the table)."""
        return self._buf[self._lo:self._hi]

    def append(self, rows: np.ndarray) -> None:
        n = len(rows)
        if self._hi + n > len(self._buf):
            live = self._hi - self._lo
            size = len(self._buf) if live + n <= len(self._buf) // 2 else max(2 * len(self._buf), 2 * (live + n))
            grown = np.empty(size, self._buf.dtype)
            grown[:live] = self._buf[self._lo:self._hi]
            self._buf, self._lo, self._hi = grown, 0, live
        self._buf[self._hi:self._hi + n] = rows
        self._hi += n

    def trim_before(self, time_ms: int) -> None:
        self._lo += int(np.searchsorted(self.rows["time_ms"], time_ms))

    def merge(self, new: np.ndarray, add: bool) -> None:
        """Store ``new`` (sorted, one row per bucket): a bucket already stored takes its values
        (``add``: summed into it, else replaced); a bucket older than the newest stored that is
        not stored (events a few seconds out of order across kinds) is summed into the newest
        (``add``) or dropped as stale; the rest is appended."""
        rows = self.rows
        if len(rows):
            t = rows["time_ms"]
            pos = np.searchsorted(t, new["time_ms"])
            hit = (pos < len(t)) & (t[np.minimum(pos, len(t) - 1)] == new["time_ms"])
            late = ~hit & (new["time_ms"] < t[-1])
            fields = [f for f in new.dtype.names if f != "time_ms"]
            for name in fields:
                if add:
                    np.add.at(rows[name], pos[hit], new[name][hit])
                    rows[name][-1] += new[name][late].sum()
                else:
                    rows[name][pos[hit]] = new[name][hit]
            new = new[~hit & ~late]
        if len(new):
            self.append(new)


def _buckets(time_ms: np.ndarray, base_ms: int, columns: dict[str, np.ndarray], dtype: np.dtype,
             last: bool) -> np.ndarray:
    """One row per ``base_ms`` bucket of the (time-sorted) rows: ``columns`` summed, or (``last``)
    the bucket's last row."""
    bucket = time_ms // base_ms
    starts = np.flatnonzero(np.concatenate([[True], bucket[1:] != bucket[:-1]]))
    out = np.empty(len(starts), dtype)
    out["time_ms"] = bucket[starts] * base_ms
    ends = np.concatenate([starts[1:], [len(bucket)]]) - 1
    for name, values in columns.items():
        out[name] = values[ends] if last else np.add.reduceat(values, starts)
    return out


@dataclass(frozen=True)
class ContextWindow:
    """The context of one time span, one row per ``interval_ms`` bucket starting at ``time_ms``.

    ``buy``/``sell``/``delta``: taker notional (quote) summed over the chosen exchanges;
    ``cvd``: the running sum of ``delta`` from the span's start; ``liq_long``/``liq_short``:
    liquidated notional; ``open_interest`` and ``funding``: per exchange (name -> array), the last
    value known at each bucket's end (NaN before the first), ``open_interest_total`` their sum over
    the exchanges that have one (NaN where none has)."""

    time_ms: np.ndarray
    interval_ms: int
    buy: np.ndarray
    sell: np.ndarray
    liq_long: np.ndarray
    liq_short: np.ndarray
    open_interest: dict[str, np.ndarray]
    funding: dict[str, np.ndarray]

    @property
    def delta(self) -> np.ndarray:
        return self.buy - self.sell

    @property
    def cvd(self) -> np.ndarray:
        return np.cumsum(self.delta)

    @property
    def open_interest_total(self) -> np.ndarray:
        if not self.open_interest:
            return np.full(len(self.time_ms), np.nan)
        stack = np.vstack(list(self.open_interest.values()))
        total = np.nansum(stack, axis=0)
        total[np.all(np.isnan(stack), axis=0)] = np.nan
        return total

    def at(self, time_ms: int) -> int | None:
        """The index of the bucket holding ``time_ms`` (None outside the span)."""
        i = int(np.searchsorted(self.time_ms, time_ms, side="right")) - 1
        if i < 0 or time_ms >= self.time_ms[i] + self.interval_ms:
            return None
        return i


class ContextSeries:
    """Open interest, funding, taker delta and liquidations of one market, in ``base_ms`` buckets
    per exchange, kept for ``keep_ms`` before the newest event."""

    def __init__(self, base_ms: int = 5_000, keep_ms: int = 7 * DAY_MS):
        if base_ms <= 0 or keep_ms <= 0:
            raise ValueError("base_ms and keep_ms must be positive")
        self.base_ms, self.keep_ms = int(base_ms), int(keep_ms)
        #: per exchange id: sums, open interest, funding
        self._sums: dict[int, _Table] = {}
        self._oi: dict[int, _Table] = {}
        self._funding: dict[int, _Table] = {}
        self.newest_ms: int | None = None

    def _tables(self):
        return [t for group in (self._sums, self._oi, self._funding) for t in group.values()]

    def __len__(self) -> int:
        return sum(len(t.rows) for t in self._tables())

    @property
    def nbytes(self) -> int:
        return sum(t._buf.nbytes for t in self._tables())

    # ------------------------------------------------------------------ update
    def update(self, batch: EventBatch) -> None:
        """Add one batch (each kind in time order, as every source delivers it)."""
        trades, liqs = batch.trades, batch.liquidations
        for gid in np.unique(np.concatenate([trades["exchange"], liqs["exchange"]])).tolist():
            cols = {name: [] for name in SUM_FIELDS}
            times = []
            tr = trades[trades["exchange"] == gid]
            if len(tr):
                notional = tr["price"] * tr["size"]
                buy = tr["side"] > 0
                times.append(tr["time_ms"])
                for name, v in (("buy", np.where(buy, notional, 0.0)), ("sell", np.where(buy, 0.0, notional)),
                                ("liq_long", np.zeros(len(tr))), ("liq_short", np.zeros(len(tr)))):
                    cols[name].append(v)
            lq = liqs[liqs["exchange"] == gid]
            if len(lq):
                long = lq["side"] > 0
                times.append(lq["time_ms"])
                for name, v in (("buy", np.zeros(len(lq))), ("sell", np.zeros(len(lq))),
                                ("liq_long", np.where(long, lq["notional"], 0.0)),
                                ("liq_short", np.where(long, 0.0, lq["notional"]))):
                    cols[name].append(v)
            t = np.concatenate(times)
            order = np.argsort(t, kind="stable")
            new = _buckets(t[order], self.base_ms, {k: np.concatenate(v)[order] for k, v in cols.items()},
                           SUM_DTYPE, last=False)
            self._sums.setdefault(gid, _Table(SUM_DTYPE)).merge(new, add=True)
        for tables, arr, field in ((self._oi, batch.open_interest, "oi_notional"), (self._funding, batch.funding, "rate")):
            arr = arr[np.isfinite(arr[field])]
            for gid in np.unique(arr["exchange"]).tolist():
                mine = arr[arr["exchange"] == gid]
                order = np.argsort(mine["time_ms"], kind="stable")
                new = _buckets(mine["time_ms"][order], self.base_ms, {"value": mine[field][order]}, LAST_DTYPE,
                               last=True)
                tables.setdefault(gid, _Table(LAST_DTYPE)).merge(new, add=False)
        span = batch.time_span()
        if span is not None:
            self.newest_ms = span[1] if self.newest_ms is None else max(self.newest_ms, span[1])
            cut = self.newest_ms - self.keep_ms
            for table in self._tables():
                table.trim_before(cut)

    # ------------------------------------------------------------------ read
    def window(self, start_ms: int, end_ms: int, interval_ms: int, exchanges=None) -> ContextWindow:
        """Buckets of ``interval_ms`` (rounded up to a multiple of ``base_ms``) covering
        [start_ms, end_ms), over ``exchanges`` (names; None: all)."""
        interval = max(self.base_ms, -(-int(interval_ms) // self.base_ms) * self.base_ms)
        first = (int(start_ms) // interval) * interval
        n = max(0, -(-(int(end_ms) - first) // interval))
        edges = first + interval * np.arange(n + 1, dtype=np.int64)
        wanted = None if exchanges is None else {EXCHANGES.index(x) for x in exchanges}
        out = {name: np.zeros(n) for name in SUM_FIELDS}
        for gid, table in self._sums.items():
            if wanted is not None and gid not in wanted:
                continue
            rows = table.rows
            lo, hi = np.searchsorted(rows["time_ms"], [first, edges[-1]])
            part = rows[lo:hi]
            slot = (part["time_ms"] - first) // interval
            for name in SUM_FIELDS:
                out[name] += np.bincount(slot, weights=part[name], minlength=n)[:n]
        last = [{EXCHANGES[gid]: _last_values(table.rows, edges) for gid, table in sorted(group.items())
                 if wanted is None or gid in wanted} for group in (self._oi, self._funding)]
        last = [{k: v for k, v in d.items() if np.isfinite(v).any()} for d in last]
        return ContextWindow(edges[:-1].copy(), interval, out["buy"], out["sell"], out["liq_long"], out["liq_short"],
                             last[0], last[1])


def _last_values(rows: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """The value of the last bucket that starts before each of ``edges[1:]`` (NaN before the first)."""
    at = np.searchsorted(rows["time_ms"], edges[1:], side="left") - 1
    if not len(rows):
        return np.full(len(at), np.nan)
    return np.where(at >= 0, rows["value"][np.maximum(at, 0)], np.nan)
