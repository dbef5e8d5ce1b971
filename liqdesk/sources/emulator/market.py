"""The emulator's market: the built-in simulator run in real time (times ``speed``), cut per venue
into what that exchange publishes, with the ids an exchange puts on its messages, and a ledger of
everything that was published, so tests can check that a client received all of it once.

What each venue gets per tick (:class:`VenueUpdate`):

- trades with a trade id (increasing per venue);
- order-book updates: the simulator's top-of-book snapshots (every second) turned into diffs, each
  with update ids ``first_id``/``last_id``/``prev_last_id`` (Binance's ``U``/``u``/``pu``, Bybit's
  ``u``, OKX's ``seqId``/``prevSeqId``); the current full book and its last id serve REST snapshots;
- mark price (every second), open interest (polled every 5 s), funding rate (every minute);
- liquidations: ``sampled`` (the latest per second, like Binance ``forceOrder``) and ``all``
  (every one, like Bybit ``allLiquidation``); each venue module publishes the one its exchange has.

History for REST backfills (1-minute candles with taker-buy volume, 5-minute open interest) is
built before the market goes live (``history_ms``, at full speed). Times are ms since the epoch;
prices in quote currency, sizes in base currency. No asyncio here: the server calls :meth:`tick`.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np

from liqdesk.core.events import EXCHANGES, KINDS, EventBatch
from liqdesk.sim import SimParams
from liqdesk.sources.sim import SimSource

#: Trade record as published: the normalized trade plus its venue trade id.
TRADE_WIRE_DTYPE = np.dtype([("id", "i8"), ("time_ms", "i8"), ("side", "i1"), ("price", "f8"), ("size", "f8")])
CANDLE_MS = 60_000
OI_HISTORY_MS = 300_000


@dataclass
class BookUpdate:
    """One diff of a venue's book: levels whose size changed (0 = removed)."""

    time_ms: int
    first_id: int
    last_id: int
    prev_last_id: int
    bids: list          # [(price, size)]
    asks: list


@dataclass
class VenueUpdate:
    """What one venue published in one tick (arrays may be empty)."""

    trades: np.ndarray                  # TRADE_WIRE_DTYPE
    book: list                          # [BookUpdate]
    marks: np.ndarray                   # MARK_DTYPE
    open_interest: np.ndarray           # OI_DTYPE
    funding: np.ndarray                 # FUNDING_DTYPE
    liquidations_sampled: np.ndarray    # LIQUIDATION_DTYPE
    liquidations_all: np.ndarray        # LIQUIDATION_DTYPE

    def __len__(self) -> int:
        return (len(self.trades) + len(self.book) + len(self.marks) + len(self.open_interest) + len(self.funding)
                + len(self.liquidations_sampled) + len(self.liquidations_all))


@dataclass
class VenueState:
    """A venue's running state: ids, the current book, the last mark/OI/funding, history."""

    name: str
    index: int
    next_trade_id: int = 5_000_000_001
    last_update_id: int = 1_000_000
    bids: dict = field(default_factory=dict)
    asks: dict = field(default_factory=dict)
    book_time_ms: int = 0
    mark: float = math.nan
    oi_base: float = math.nan
    oi_notional: float = math.nan
    oi_time_ms: int = 0
    funding_rate: float = 0.0
    #: 1-minute candles: [open_time, open, high, low, close, volume, taker_buy_volume, quote_volume, trades]
    candles: dict = field(default_factory=dict)
    #: 5-minute open interest: bucket start -> (oi_base, oi_notional)
    oi_history: dict = field(default_factory=dict)
    #: mark-price 1-minute candles: open_time -> [o, h, l, c]
    mark_candles: dict = field(default_factory=dict)


class MarketFeed:
    """The simulated market served by the emulator. ``venues``: liqdesk exchange names."""

    def __init__(self, venues=("binance", "bybit", "okx"), symbol: str = "BTC/USDT:USDT", seed: int = 0,
                 speed: float = 1.0, history_ms: int = 2 * 3_600_000, now_ms: int | None = None):
        now_ms = int(time.time() * 1000) if now_ms is None else int(now_ms)
        self.params = SimParams(venues=tuple(venues), symbol=symbol, seed=int(seed), book_every_ms=1000,
                                start_ms=(now_ms - int(history_ms)) // 1000 * 1000)
        self.source = SimSource(self.params, speed=speed, max_catch_up_ms=10_000)
        self.simulator = self.source.simulator
        self.venues = {name: VenueState(name, i) for i, name in enumerate(self.params.venues)}
        self._by_id = {EXCHANGES.index(name): st for name, st in self.venues.items()}
        self.history_ms = int(history_ms)
        self._liq_seen = 0
        self.live = False
        #: everything published, per venue and kind (numpy arrays), for tests and `liqdesk emulate`
        self.ledger: dict[str, dict[str, list]] = {n: {k: [] for k in ("trades", "marks", "open_interest",
                                                                        "funding", "liquidations_sampled",
                                                                        "liquidations_all", "book")}
                                                   for n in self.venues}

    @property
    def symbol(self) -> str:
        return self.params.symbol

    @property
    def now_ms(self) -> int:
        """Market time: where the published events have reached."""
        return int(self.source.clock_ms)

    # ------------------------------------------------------------------ history
    def build_history(self) -> None:
        """Simulate ``history_ms`` at full speed: candles, OI history and the book, nothing published."""
        if self.live:
            return
        for batch in self.source.fast_forward(self.params.start_ms + self.history_ms, 60_000):
            self._split(batch, publish=False)
        self._liq_seen = len(self.simulator.truth_liquidations())
        self.source.go_live(time.monotonic())
        self.live = True

    # ------------------------------------------------------------------ live
    def tick(self, now_wall_s: float | None = None) -> dict[str, VenueUpdate]:
        """The events published since the last tick, per venue (empty updates when none)."""
        if not self.live:
            self.build_history()
        batch = self.source.poll(time.monotonic() if now_wall_s is None else now_wall_s)
        if batch is None:
            batch = EventBatch(checked=True)
        return self._split(batch, publish=True)

    def _split(self, batch: EventBatch, publish: bool) -> dict[str, VenueUpdate]:
        out = {}
        all_liq = self.simulator.truth_liquidations_since(self._liq_seen) if publish else None
        if publish:
            self._liq_seen += len(all_liq)
        for gid, st in self._by_id.items():
            def mine(arr, gid=gid):
                return arr[arr["exchange"] == gid] if len(arr) else arr
            trades = mine(batch.trades)
            wire = np.empty(len(trades), TRADE_WIRE_DTYPE)
            wire["id"] = st.next_trade_id + np.arange(len(trades))
            st.next_trade_id += len(trades)
            for f in ("time_ms", "side", "price", "size"):
                wire[f] = trades[f]
            self._candles(st, trades)
            marks, oi, funding = mine(batch.marks), mine(batch.open_interest), mine(batch.funding)
            if len(marks):
                st.mark = float(marks["price"][-1])
                self._mark_candles(st, marks)
            if len(oi):
                st.oi_base, st.oi_notional = float(oi["oi_base"][-1]), float(oi["oi_notional"][-1])
                st.oi_time_ms = int(oi["time_ms"][-1])
                for row in oi:
                    st.oi_history[int(row["time_ms"]) // OI_HISTORY_MS * OI_HISTORY_MS] = (
                        float(row["oi_base"]), float(row["oi_notional"]))
            if len(funding):
                st.funding_rate = float(funding["rate"][-1])
            book = self._book(st, mine(batch.book))
            upd = VenueUpdate(wire, book, marks, oi, funding, mine(batch.liquidations),
                              mine(all_liq) if all_liq is not None else np.empty(0, KINDS["liquidations"]))
            if publish:
                self._record(st.name, upd)
            out[st.name] = upd
        return out

    def _record(self, name: str, upd: VenueUpdate) -> None:
        led = self.ledger[name]
        for kind in ("trades", "marks", "open_interest", "funding", "liquidations_sampled", "liquidations_all"):
            arr = getattr(upd, kind)
            if len(arr):
                led[kind].append(arr)
        if upd.book:
            led["book"].extend(upd.book)

    def _book(self, st: VenueState, rows: np.ndarray) -> list[BookUpdate]:
        """Turn the venue's book snapshots into diffs with update ids."""
        out = []
        if not len(rows):
            return out
        for t in np.unique(rows["time_ms"]):
            snap = rows[rows["time_ms"] == t]
            bids = {float(p): float(q) for p, q, s in zip(snap["price"], snap["size"], snap["side"]) if s > 0 and q > 0}
            asks = {float(p): float(q) for p, q, s in zip(snap["price"], snap["size"], snap["side"]) if s < 0 and q > 0}
            d_bids = _diff(st.bids, bids)
            d_asks = _diff(st.asks, asks)
            st.bids, st.asks, st.book_time_ms = bids, asks, int(t)
            if not d_bids and not d_asks:
                continue
            n_changes = len(d_bids) + len(d_asks)
            first = st.last_update_id + 1
            last = st.last_update_id + n_changes
            out.append(BookUpdate(int(t), first, last, st.last_update_id, d_bids, d_asks))
            st.last_update_id = last
        return out

    def _candles(self, st: VenueState, trades: np.ndarray) -> None:
        if not len(trades):
            return
        minute = trades["time_ms"] // CANDLE_MS * CANDLE_MS
        for m in np.unique(minute):
            tr = trades[minute == m]
            p, q = tr["price"], tr["size"]
            c = st.candles.get(int(m))
            buy = float(q[tr["side"] > 0].sum())
            if c is None:
                st.candles[int(m)] = [int(m), float(p[0]), float(p.max()), float(p.min()), float(p[-1]),
                                      float(q.sum()), buy, float(p @ q), len(tr)]
            else:
                c[2], c[3], c[4] = max(c[2], float(p.max())), min(c[3], float(p.min())), float(p[-1])
                c[5] += float(q.sum())
                c[6] += buy
                c[7] += float(p @ q)
                c[8] += len(tr)

    def _mark_candles(self, st: VenueState, marks: np.ndarray) -> None:
        minute = marks["time_ms"] // CANDLE_MS * CANDLE_MS
        for m, p in zip(minute.tolist(), marks["price"].tolist()):
            c = st.mark_candles.get(m)
            if c is None:
                st.mark_candles[m] = [p, p, p, p]
            else:
                c[1], c[2], c[3] = max(c[1], p), min(c[2], p), p

    # ------------------------------------------------------------------ REST views
    def book_snapshot(self, venue: str, depth: int = 1000) -> tuple[int, int, list, list]:
        """(last update id, time, bids high to low, asks low to high) of the venue's current book."""
        st = self.venues[venue]
        bids = sorted(st.bids.items(), key=lambda x: -x[0])[:depth]
        asks = sorted(st.asks.items())[:depth]
        return st.last_update_id, st.book_time_ms, bids, asks

    def candles(self, venue: str, since_ms: int | None, limit: int, until_ms: int | None = None) -> list[list]:
        """Closed and current 1-minute candles from ``since_ms`` (oldest first), at most ``limit``."""
        st = self.venues[venue]
        keys = sorted(st.candles)
        if since_ms is not None:
            keys = [k for k in keys if k >= since_ms // CANDLE_MS * CANDLE_MS]
        if until_ms is not None:
            keys = [k for k in keys if k <= until_ms]
        return [list(st.candles[k]) for k in (keys[:limit] if since_ms is not None else keys[-limit:])]

    def oi_history(self, venue: str, since_ms: int | None, limit: int, until_ms: int | None = None) -> list[tuple]:
        """(bucket start, oi_base, oi_notional) every 5 minutes, oldest first."""
        st = self.venues[venue]
        keys = sorted(st.oi_history)
        if since_ms is not None:
            keys = [k for k in keys if k >= since_ms]
        if until_ms is not None:
            keys = [k for k in keys if k <= until_ms]
        keys = keys[:limit] if since_ms is not None else keys[-limit:]
        return [(k, *st.oi_history[k]) for k in keys]

    def sent(self, venue: str, kind: str) -> np.ndarray | list:
        """Everything published of ``kind`` on ``venue`` so far (concatenated)."""
        parts = self.ledger[venue][kind]
        if kind == "book":
            return list(parts)
        if not parts:
            return np.empty(0, TRADE_WIRE_DTYPE if kind == "trades" else KINDS[
                "liquidations" if kind.startswith("liquidations") else kind])
        return np.concatenate(parts)


def _diff(old: dict, new: dict) -> list:
    changes = [(p, q) for p, q in new.items() if old.get(p) != q]
    changes += [(p, 0.0) for p in old if p not in new]
    return sorted(changes)
