"""Order books per exchange, kept from :data:`~liqdesk.core.events.BOOK_DTYPE` rows.

Each side is a pair of sorted numpy arrays (price ascending, size in base currency). A batch of
rows is merged in one vectorized step: the last row per price wins, zero sizes delete. Snapshot
rows (``snapshot`` True, same time and exchange) replace that exchange's book; diffs before the
last snapshot in a batch are superseded by it. A book that has never had a snapshot is
``partial``: it holds only the levels its diffs have touched.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .events import EXCHANGES


@dataclass
class SideBook:
    """One side of one exchange's book: ``price`` ascending (quote), ``size`` (base)."""

    price: np.ndarray = field(default_factory=lambda: np.empty(0))
    size: np.ndarray = field(default_factory=lambda: np.empty(0))

    def merge(self, price: np.ndarray, size: np.ndarray) -> None:
        """Apply updates in order (a later update of the same price wins; size 0 deletes)."""
        if not len(price):
            return
        p = np.concatenate([self.price, price])
        s = np.concatenate([self.size, size])
        seq = np.arange(len(p))
        order = np.lexsort((seq, p))
        p, s = p[order], s[order]
        last = np.ones(len(p), bool)
        last[:-1] = p[1:] != p[:-1]
        keep = last & (s > 0)
        self.price, self.size = p[keep], s[keep]


@dataclass
class ExchangeBook:
    bids: SideBook = field(default_factory=SideBook)
    asks: SideBook = field(default_factory=SideBook)
    partial: bool = True
    time_ms: int = 0

    def best(self) -> tuple[float, float]:
        """(best bid, best ask), NaN for an empty side."""
        bid = float(self.bids.price[-1]) if len(self.bids.price) else float("nan")
        ask = float(self.asks.price[0]) if len(self.asks.price) else float("nan")
        return bid, ask


class OrderBooks:
    """The books of every exchange of a stream, by exchange id."""

    def __init__(self):
        self.books: dict[int, ExchangeBook] = {}

    def apply(self, rows: np.ndarray) -> None:
        """Apply a time-sorted array of book rows."""
        if not len(rows):
            return
        for e in np.unique(rows["exchange"]):
            mine = rows[rows["exchange"] == e]
            book = self.books.setdefault(int(e), ExchangeBook())
            snaps = np.flatnonzero(mine["snapshot"])
            if len(snaps):
                t_snap = mine["time_ms"][snaps[-1]]
                in_snap = mine["snapshot"] & (mine["time_ms"] == t_snap)
                first = int(np.flatnonzero(in_snap)[0])
                snap = mine[in_snap]
                book.bids, book.asks = SideBook(), SideBook()
                book.bids.merge(snap["price"][snap["side"] > 0], snap["size"][snap["side"] > 0])
                book.asks.merge(snap["price"][snap["side"] < 0], snap["size"][snap["side"] < 0])
                book.partial = False
                after = np.arange(len(mine)) > first
                mine = mine[after & ~in_snap]
            bid = mine["side"] > 0
            book.bids.merge(mine["price"][bid], mine["size"][bid])
            book.asks.merge(mine["price"][~bid], mine["size"][~bid])
            book.time_ms = int(rows["time_ms"][-1])

    def ladder(self, exchanges: list[int] | None, centre: float, tick: float, rows: int) -> tuple[np.ndarray, ...]:
        """Bid and ask sizes (base) summed over ``exchanges`` on a ladder of ``rows`` price rows of
        ``tick`` around ``centre``: returns (row lower edges, bid sizes, ask sizes), top row first."""
        top = (np.floor(centre / tick) + rows // 2) * tick
        edges = top - np.arange(rows) * tick
        bids, asks = np.zeros(rows), np.zeros(rows)
        for e, book in self.books.items():
            if exchanges is not None and e not in exchanges:
                continue
            for side, out in ((book.bids, bids), (book.asks, asks)):
                idx = np.ceil((top - side.price) / tick).astype(np.int64)   # row i: [top - i·tick, + tick)
                ok = (idx >= 0) & (idx < rows)
                np.add.at(out, idx[ok], side.size[ok])
        return edges, bids, asks

    def summary(self) -> dict[str, tuple[float, float, bool]]:
        """Per exchange name: (best bid, best ask, partial)."""
        return {EXCHANGES[e]: (*b.best(), b.partial) for e, b in self.books.items()}
