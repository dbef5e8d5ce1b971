"""The traders' positions (struct of arrays) and the price triggers that close them.

Every open position has two trigger prices, checked against its venue's mark price:

- ``down``: fires when the mark is at or below it. Long: ``max(liquidation, stop-loss)``;
  short: its take-profit.
- ``up``: fires when the mark is at or above it. Short: ``min(liquidation, stop-loss)``;
  long: its take-profit.

:class:`TriggerIndex` keeps one direction per venue as a sorted array, so a step's check is one
comparison against the largest key and, when something fires, one ``searchsorted``: the fired
positions are a suffix of the sorted array, cut off in O(1). Positions opened since the last
merge sit in a small unsorted buffer checked linearly. Positions closed another way are removed
lazily (skipped when they fire, dropped at the next merge). No Python loop runs per position.
"""

from __future__ import annotations

import numpy as np

OPEN, CLOSED, TAKE_PROFIT, STOP_LOSS, LIQUIDATED = 0, 1, 2, 3, 4
REASONS = {OPEN: "open", CLOSED: "closed", TAKE_PROFIT: "take_profit", STOP_LOSS: "stop_loss",
           LIQUIDATED: "liquidated"}

#: Every position, open or closed (``Simulator.positions()``). Prices in quote currency, size in
#: base currency, times in ms. ``liq_price`` from the venue's tier table (core.tiers);
#: ``take_profit``/``stop_loss`` NaN when not set; ``close_ms`` -1 while open, else the time of the
#: mark that triggered the close (or of the close order); ``close_mark`` that mark (NaN otherwise).
POSITION_DTYPE = np.dtype([
    ("pid", "i8"), ("exchange", "u1"), ("venue", "u1"), ("side", "i1"), ("leverage", "f8"),
    ("entry", "f8"), ("size", "f8"), ("liq_price", "f8"), ("take_profit", "f8"), ("stop_loss", "f8"),
    ("open_ms", "i8"), ("planned_close_ms", "i8"), ("close_ms", "i8"), ("reason", "u1"),
    ("close_mark", "f8"),
])

_NEG_INF = -np.inf


class TriggerIndex:
    """Trigger keys of one direction, per venue; a key fires when ``key >= query[venue]``.

    For ``down`` triggers key = price and query = mark; for ``up`` triggers key = -price and
    query = -mark, so both directions share the code. Positions opened in the current block of
    steps sit in a buffer aligned with their (consecutive) pool ids, NaN until they open.
    """

    def __init__(self, venues: int):
        self.V = venues
        self.keys = [np.empty(0) for _ in range(venues)]
        self.ids = [np.empty(0, np.int64) for _ in range(venues)]
        self.top = np.full(venues, _NEG_INF)          # largest sorted key per venue
        self.flo = 0                                  # pool id of fresh slot 0
        self.fkeys = np.empty(0)
        self.fven = np.empty(0, np.int64)
        self.factive = False

    def __len__(self) -> int:
        return sum(len(k) for k in self.keys) + int(np.count_nonzero(self.fkeys == self.fkeys))

    def reserve(self, lo: int, venue: np.ndarray) -> None:
        """Fresh slots for pool ids ``lo .. lo + len(venue)`` (call after :meth:`merge`)."""
        self.flo = lo
        self.fven = venue.astype(np.int64)
        self.fkeys = np.full(len(venue), np.nan)
        self.factive = False

    def set(self, rel: np.ndarray, key: np.ndarray) -> None:
        """Keys of fresh slots ``rel`` (NaN or -inf: never fires)."""
        self.fkeys[rel] = key
        self.factive = True

    def fire(self, query: np.ndarray) -> np.ndarray | None:
        """Ids whose key >= query[venue], removed from the index; None when nothing fires."""
        out = None
        if (self.top >= query).any():
            parts = []
            for v in np.flatnonzero(self.top >= query).tolist():
                keys = self.keys[v]
                lo = int(np.searchsorted(keys, query[v], "left"))
                parts.append(self.ids[v][lo:])
                self.keys[v], self.ids[v] = keys[:lo], self.ids[v][:lo]
                self.top[v] = keys[lo - 1] if lo else _NEG_INF
            out = parts[0] if len(parts) == 1 else np.concatenate(parts)
        if self.factive:
            hit = self.fkeys >= query[self.fven]
            if hit.any():
                rel = np.flatnonzero(hit)
                self.fkeys[rel] = np.nan
                ids = rel + self.flo
                out = ids if out is None else np.concatenate([out, ids])
        return out

    def merge(self, alive: np.ndarray) -> None:
        """Move the fresh keys into the sorted arrays and drop positions no longer alive."""
        rel = np.flatnonzero(self.fkeys > _NEG_INF)
        rel = rel[alive[rel + self.flo]] if len(rel) else rel
        if len(rel):
            fv, fk = self.fven[rel], self.fkeys[rel]
            order = np.lexsort((fk, fv))
            fv, fk, fi = fv[order], fk[order], rel[order] + self.flo
            bounds = np.searchsorted(fv, np.arange(self.V + 1))
        for v in range(self.V):
            keys, ids = self.keys[v], self.ids[v]
            live = alive[ids]
            if not live.all():
                keys, ids = keys[live], ids[live]
            if len(rel) and bounds[v + 1] > bounds[v]:
                nk, ni = fk[bounds[v]:bounds[v + 1]], fi[bounds[v]:bounds[v + 1]]
                pos = np.searchsorted(keys, nk, "right")
                keys, ids = np.insert(keys, pos, nk), np.insert(ids, pos, ni)
            self.keys[v], self.ids[v] = keys, ids
            self.top[v] = keys[-1] if len(keys) else _NEG_INF
        self.fkeys, self.fven, self.factive = np.empty(0), np.empty(0, np.int64), False

    def remap(self, new_id: np.ndarray) -> None:
        """After the pool was compacted: old id -> new id (-1 = gone). Call after :meth:`merge`."""
        for v in range(self.V):
            ids = new_id[self.ids[v]]
            keep = ids >= 0
            self.keys[v], self.ids[v] = self.keys[v][keep], ids[keep]
            self.top[v] = self.keys[v][-1] if len(self.keys[v]) else _NEG_INF


class Positions:
    """Open (and recently closed) positions as a struct of arrays, with their trigger indexes.

    Positions are *reserved* a block of steps ahead (what is known before they open: venue, side,
    leverage, planned close) in the order they will open, then *activated* when their order has
    filled (entry, size, liquidation price, exits). Ids are pool rows, valid until
    :meth:`compact`; ``pid`` is a serial number that stays with a position for ever.
    """

    COLUMNS = list(POSITION_DTYPE.names)

    def __init__(self, venues: int, capacity: int = 1 << 15, keep_closed: bool = True):
        self.V = venues
        #: closed positions go to :attr:`archive` at :meth:`compact` (False: they are dropped, so
        #: memory follows the open positions, not the length of the run)
        self.keep_closed = keep_closed
        self.n = 0              # rows in use (reserved included)
        self.n_valid = 0        # rows activated (a prefix: positions open in reservation order)
        self.next_pid = 0
        self.cap = capacity
        self.cols = {name: np.zeros(capacity, POSITION_DTYPE[name]) for name in self.COLUMNS}
        self.alive = np.zeros(capacity, bool)
        self.down = TriggerIndex(venues)
        self.up = TriggerIndex(venues)
        self.archive: list[np.ndarray] = []
        self.n_dead = 0

    def __getattr__(self, name):   # pool columns as attributes: self.entry, self.side, ...
        cols = self.__dict__.get("cols")
        if cols is not None and name in cols:
            return cols[name]
        raise AttributeError(name)

    @property
    def n_alive(self) -> int:
        return self.n_valid - self.n_dead

    def _grow(self, need: int) -> None:
        cap = self.cap
        while cap < need:
            cap *= 2
        for name, arr in self.cols.items():
            new = np.zeros(cap, arr.dtype)
            new[: self.n] = arr[: self.n]
            self.cols[name] = new
        alive = np.zeros(cap, bool)
        alive[: self.n] = self.alive[: self.n]
        self.alive = alive
        self.cap = cap

    def reserve(self, **columns) -> int:
        """Reserve rows for positions about to open (at least ``venue``); returns the first id.
        Call once per block, after :meth:`merge`: the fresh trigger slots are these rows."""
        k = len(columns["venue"])
        if self.n + k > self.cap:
            self._grow(self.n + k)
        lo, hi = self.n, self.n + k
        cols = self.cols
        for name, values in columns.items():
            cols[name][lo:hi] = values
        cols["pid"][lo:hi] = np.arange(self.next_pid, self.next_pid + k)
        cols["close_ms"][lo:hi] = -1
        cols["reason"][lo:hi] = OPEN
        cols["close_mark"][lo:hi] = np.nan
        self.next_pid += k
        self.n = hi
        venue = cols["venue"][lo:hi]
        self.down.reserve(lo, venue)
        self.up.reserve(lo, venue)
        return lo

    def activate(self, ids: np.ndarray, entry, size, liq_price, take_profit, stop_loss, open_ms) -> None:
        """Open reserved positions (the next ids in reservation order) and arm their triggers."""
        cols = self.cols
        cols["entry"][ids] = entry
        cols["size"][ids] = size
        cols["liq_price"][ids] = liq_price
        cols["take_profit"][ids] = take_profit
        cols["stop_loss"][ids] = stop_loss
        cols["open_ms"][ids] = open_ms
        self.alive[ids] = True
        self.n_valid = max(self.n_valid, int(ids[-1]) + 1)
        is_long = cols["side"][ids] > 0
        rel = ids - self.down.flo
        self.down.set(rel, np.where(is_long, np.fmax(liq_price, stop_loss), take_profit))
        self.up.set(rel, -np.where(is_long, take_profit, np.fmin(liq_price, stop_loss)))

    def fire(self, mark: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """Alive positions whose trigger the venue marks reached: (ids, fired-down flag)."""
        d = self.down.fire(mark)
        u = self.up.fire(-mark)
        if d is None and u is None:
            return None
        if d is not None and u is not None:
            ids = np.concatenate([d, u])
            down = np.zeros(len(ids), bool)
            down[: len(d)] = True
        elif d is not None:
            ids, down = d, np.ones(len(d), bool)
        else:
            ids, down = u, np.zeros(len(u), bool)
        live = self.alive[ids]
        if not live.all():
            ids, down = ids[live], down[live]
        return (ids, down) if len(ids) else None

    def close(self, ids: np.ndarray, time_ms, reason, mark=np.nan) -> None:
        self.alive[ids] = False
        self.cols["close_ms"][ids] = time_ms
        self.cols["reason"][ids] = reason
        self.cols["close_mark"][ids] = mark
        self.n_dead += len(ids)

    def merge(self) -> None:
        alive = self.alive[: max(self.n, 1)]
        self.down.merge(alive)
        self.up.merge(alive)

    def compact(self) -> None:
        """Move closed positions to the archive (or drop them, without ``keep_closed``) and
        renumber the pool (call after :meth:`merge`, with every reserved row activated)."""
        n = self.n
        alive = self.alive[:n]
        dead = ~alive
        if self.keep_closed and dead.any():
            rec = np.empty(int(dead.sum()), POSITION_DTYPE)
            for name in self.COLUMNS:
                rec[name] = self.cols[name][:n][dead]
            self.archive.append(rec)
        new_id = np.full(max(n, 1), -1, np.int64)
        keep = np.flatnonzero(alive)
        new_id[keep] = np.arange(len(keep))
        for name in self.COLUMNS:
            col = self.cols[name]
            col[: len(keep)] = col[keep]
        self.alive[: len(keep)] = True
        self.alive[len(keep): n] = False
        self.n = self.n_valid = len(keep)
        self.n_dead = 0
        self.down.remap(new_id)
        self.up.remap(new_id)

    def records(self, include_closed: bool = True) -> np.ndarray:
        """Positions as :data:`POSITION_DTYPE` rows, ordered by ``pid`` (reserved, not yet open
        ones left out; closed ones compacted away are missing without ``keep_closed``)."""
        n = self.n_valid
        cur = np.empty(n, POSITION_DTYPE)
        for name in self.COLUMNS:
            cur[name] = self.cols[name][:n]
        if not include_closed:
            return cur[self.alive[:n]]
        out = np.concatenate([*self.archive, cur]) if self.archive else cur
        return out[np.argsort(out["pid"], kind="stable")]
