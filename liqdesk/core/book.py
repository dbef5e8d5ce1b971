"""Order books per exchange, kept from :data:`~liqdesk.core.events.BOOK_DTYPE` rows.

Each side is a pair of sorted numpy arrays (price ascending, size in base currency). A batch of
rows is merged in one vectorized step: the last row per price wins, zero sizes delete. Snapshot
rows (``snapshot`` True, same time and exchange) replace that exchange's book; diffs before the
last snapshot in a batch are superseded by it. A book that has never had a snapshot is
``partial`` (not ``synced``): it holds only the levels its diffs have touched, so levels it never
saw are missing and its best bid can sit at or above its best ask (``crossed``). Such a book has
no meaningful spread: :meth:`OrderBooks.state` says so instead of computing one.
"""

from __future__ import annotations

import math
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
    partial: bool = True        # True until a snapshot has been applied
    time_ms: int = 0

    @property
    def synced(self) -> bool:
        """The book has had a snapshot (and the diffs since): it holds every level."""
        return not self.partial

    def best(self) -> tuple[float, float]:
        """(best bid, best ask), NaN for an empty side."""
        bid = float(self.bids.price[-1]) if len(self.bids.price) else float("nan")
        ask = float(self.asks.price[0]) if len(self.asks.price) else float("nan")
        return bid, ask

    @property
    def crossed(self) -> bool:
        """Best bid at or above best ask: impossible in a real book, so some of its levels are
        stale or missing (a partial book, or a missed diff)."""
        bid, ask = self.best()
        return bid >= ask


@dataclass(frozen=True)
class BookState:
    """What a ladder over some exchanges' books can honestly say (prices in quote currency).

    ``partial``/``crossed``: names of the books without a snapshot / with bid ≥ ask of their own;
    ``venues_crossed``: the best bid of one book at or above the best ask of another (each sound);
    ``spread``: best ask − best bid over the books, NaN when a side is empty or anything is crossed.
    """

    best_bid: float
    best_ask: float
    partial: tuple[str, ...]
    crossed: tuple[str, ...]
    venues_crossed: bool

    @property
    def spread(self) -> float:
        if self.crossed or self.venues_crossed:
            return math.nan
        return self.best_ask - self.best_bid


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
            book.time_ms = int(rows["time_ms"][rows["exchange"] == e][-1])

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

    def state(self, exchanges: list[int] | None = None) -> BookState:
        """The books of ``exchanges`` (ids, None = all) together: best bid and ask, which books are
        partial or crossed, whether the venues cross each other, and the spread when it means one."""
        chosen = [(e, b) for e, b in sorted(self.books.items()) if exchanges is None or e in exchanges]
        bests = [b.best() for _, b in chosen]
        bids = [x for x, _ in bests if not math.isnan(x)]
        asks = [a for _, a in bests if not math.isnan(a)]
        best_bid, best_ask = (max(bids) if bids else math.nan), (min(asks) if asks else math.nan)
        crossed = tuple(EXCHANGES[e] for e, b in chosen if b.crossed)
        return BookState(best_bid, best_ask,
                         partial=tuple(EXCHANGES[e] for e, b in chosen if b.partial),
                         crossed=crossed,
                         venues_crossed=not crossed and best_bid >= best_ask)

    def summary(self) -> dict[str, tuple[float, float, bool]]:
        """Per exchange name: (best bid, best ask, partial)."""
        return {EXCHANGES[e]: (*b.best(), b.partial) for e, b in self.books.items()}
