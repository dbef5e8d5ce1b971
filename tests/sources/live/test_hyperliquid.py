"""The Hyperliquid adapter against the emulated Hyperliquid, over real loopback websockets.

The emulator is pinned (seed and end of history) so that its simulated market is the same each
run; everything the adapter emitted is compared with what the emulator's ledger says it published
(trades by id, count and content; marks, open interest and funding in order; its books with the
emulator's book). Hyperliquid publishes no liquidations: the adapter says so and emits none, while
the simulated market liquidates positions all the same.
"""

from __future__ import annotations

import asyncio
import bisect
import json
import time

import aiohttp
import numpy as np
import pytest

from liqdesk.core.events import EXCHANGE_ID, validate_array
from liqdesk.core.tiers import load_tiers
from liqdesk.sources.emulator import hyperliquid as emulated
from liqdesk.sources.emulator.server import EmulatorThread
from liqdesk.sources.live import hyperliquid as live
from liqdesk.sources.live.contract import ABSENT, LiveState
from liqdesk.sources.live.hyperliquid import Adapter
from liqdesk.sources.live.source import LiveSource

from . import harness
from .harness import AdapterRun, sort_rows

# ccxt.pro's import (a second or two) paid before any emulator starts its fault clock
live.exchange_class()

SYMBOL = "BTC/USDT:USDT"
HL_SYMBOL = "BTC/USDC:USDC"
#: a market (seed 12, history ending here) that liquidates positions 70-85 s after it goes live
PINNED = {"seed": 12, "now_ms": 1_796_000_000_000, "history_ms": 10 * 60_000}
BOOK_N = 20
#: how far (ms of market time) a context's stamp may be from its mark's time; after a reconnect,
#: a context that comes before the connection's first book or trade is stamped from that one, late
#: by the wall time between them times the emulator's speed
STAMP_MS = 1_500
STAMP_MS_RECONNECT = 5_000


def emulator(speed: float = 20, faults: str | None = None, **kw) -> EmulatorThread:
    return EmulatorThread(venues=("hyperliquid",), speed=speed, faults=faults, **{**PINNED, **kw})


class Run(AdapterRun):
    adapter_cls = Adapter
    defaults = {**AdapterRun.defaults, "silence_hole_s": 0.5, "check_every_s": 0.3}
    pending = "suspected trade holes still unchecked:"

    def pending_state(self) -> str:
        a = self.adapter
        return str((a.exchange.holes if a.exchange else None, a._checking, a.holes_checked,
                    {k: (s.state.value, s.messages, s.retries, s.error) for k, s in a.streams_status.items()}))


def ledger(emu: EmulatorThread, kind: str):
    return harness.ledger(emu, "hyperliquid", kind)


def venue(emu: EmulatorThread):
    return emu.server.venues["hyperliquid"]



# ---------------------------------------------------------------------- checks
def check_trades(run: Run, emu: EmulatorThread, exact: bool = True) -> tuple[int, int]:
    """Every trade between the first and the last id the adapter saw, once, as published; the
    ones it did not get (``exact=False``) inside a trade gap it recorded."""
    a = run.adapter
    ids = np.array(sorted(a._seen_ids), dtype=np.int64)
    assert len(ids) > 50
    got = run.rows("trades")
    assert len(got) == len(ids), "a trade was emitted twice"
    assert (got["exchange"] == EXCHANGE_ID["hyperliquid"]).all()
    sent = ledger(emu, "trades")
    window = sent[(sent["id"] >= ids[0]) & (sent["id"] <= ids[-1])]
    received = np.isin(window["id"], ids)
    assert np.isin(ids, window["id"]).all(), "a trade the emulator never published"
    f = ("time_ms", "price", "size", "side")
    x, y = sort_rows(got, f), sort_rows(window[received], f)
    for name in f:
        assert np.array_equal(x[name], y[name]), name
    missing = window[~received]
    gaps = [(s, e) for kind, s, e, _ in a.gaps if kind == "trades"]
    if exact:
        assert not len(missing), f"{len(missing)} trades missing; gaps {a.gaps}; counts {a.counts}"
    else:
        outside = [int(t) for t in missing["time_ms"] if not any(s <= t <= e for s, e in gaps)]
        assert not outside, f"trades lost outside any recorded gap at {outside[:5]}; gaps {a.gaps}"
    return len(ids), len(missing)


def check_contexts(run: Run, emu: EmulatorThread, exact: bool = True) -> None:
    """Marks in the order published, each stamped close to its time; open interest (base coin,
    notional at the mark) and funding as published."""
    marks = run.rows("marks")
    assert len(marks) > 5 and np.all(np.diff(marks["time_ms"]) >= 0)
    sent = ledger(emu, "marks")
    near = STAMP_MS if exact else STAMP_MS_RECONNECT
    # each mark is the next published one of its price stamped near its time (prices may repeat)
    at, j = [], -1
    for t, p in zip(marks["time_ms"].tolist(), marks["price"].tolist()):
        rest = np.nonzero((sent["price"][j + 1:] == p) & (np.abs(sent["time_ms"][j + 1:] - t) <= near))[0]
        assert len(rest), f"mark {p} stamped {t}: not published then, or out of order"
        j += 1 + int(rest[0])
        at.append(j)
    if exact:
        # every mark published, but an unchanged one (repeated at most every 0.9 s, after the
        # context sent on subscribing)
        missing = sorted(set(range(at[0], at[-1] + 1)) - set(at))
        assert all(sent["price"][k] == sent["price"][k - 1] for k in missing), "a mark published was not received"
        assert len(missing) <= len(at) // 4
    oi = run.rows("open_interest")
    assert len(oi) >= 2
    sent_oi = ledger(emu, "open_interest")
    by_value = {b: t for t, b in zip(sent_oi["time_ms"].tolist(), sent_oi["oi_base"].tolist())}
    history_oi = emu.market.venues["hyperliquid"].oi_history
    known = set(by_value) | {v[0] for v in history_oi.values()}
    assert set(oi["oi_base"].tolist()) <= known
    for t, b in zip(oi["time_ms"].tolist(), oi["oi_base"].tolist()):
        if b in by_value:          # stamped at a mark at or after the open interest's time
            assert t >= by_value[b] - near
    # notional at the mark of the same context: a mark published then
    for t, b, v in zip(oi["time_ms"].tolist(), oi["oi_base"].tolist(), oi["oi_notional"].tolist()):
        then = sent["price"][np.abs(sent["time_ms"] - t) <= near]
        assert np.isclose(then, v / b, rtol=1e-12, atol=0).any(), f"open interest at {t}: notional not at a mark"
    if exact:
        first = by_value.get(float(oi["oi_base"][1]))
        want = sent_oi["oi_base"][sent_oi["time_ms"] >= first].tolist()
        got = oi["oi_base"][1:].tolist()
        assert got == want[:len(got)] and len(want) - len(got) <= 1
    fund = run.rows("funding")
    assert len(fund) >= 1
    rates = set(ledger(emu, "funding")["rate"].tolist()) | {FIRST_RATE[id(emu)]}
    assert set(fund["rate"].tolist()) <= rates


def book_at(start, updates) -> tuple[list, list]:
    """The emulator's book after each published diff from ``start``: (times, books), a book being
    (bids high to low, asks low to high), top 20."""
    last_id, t0, bids, asks = start
    bids, asks = dict(bids), dict(asks)
    times = [t0]
    books = [(sorted(bids.items(), key=lambda x: -x[0])[:BOOK_N], sorted(asks.items())[:BOOK_N])]
    for bu in updates:
        if bu.last_id <= last_id:
            continue
        for side, levels in ((bids, bu.bids), (asks, bu.asks)):
            for p, q in levels:
                if q > 0:
                    side[p] = q
                else:
                    side.pop(p, None)
        times.append(bu.time_ms)
        books.append((sorted(bids.items(), key=lambda x: -x[0])[:BOOK_N], sorted(asks.items())[:BOOK_N]))
    return times, books


def check_books(run: Run, emu: EmulatorThread, start) -> int:
    """Every book the adapter emitted equals the emulator's book as it stood at that time (top 20;
    Hyperliquid pushes the book whether it changed or not)."""
    times, books = book_at(start, ledger(emu, "book"))
    book = run.rows("book")
    assert len(book)
    checked = 0
    for t in np.unique(book["time_ms"]):
        if t < times[0]:
            continue
        rows = book[book["time_ms"] == t]
        bid, ask = rows["side"] > 0, rows["side"] < 0
        bids = list(zip(rows["price"][bid].tolist(), rows["size"][bid].tolist()))
        asks = list(zip(rows["price"][ask].tolist(), rows["size"][ask].tolist()))
        tb, ta = books[bisect.bisect_right(times, int(t)) - 1]
        assert sorted(bids, key=lambda x: -x[0]) == tb and sorted(asks) == ta, f"book at {t} differs"
        assert len(bids) == len(asks) == BOOK_N
        checked += 1
    assert checked >= 2
    return checked


def check_live_book(run: Run, emu: EmulatorThread, timeout: float = 8.0) -> None:
    harness.check_live_book(run, "hyperliquid", BOOK_N, ccxt_symbol=HL_SYMBOL, by="timestamp", timeout=timeout)


#: the funding rate in force when each emulator went live (the built history's last)
FIRST_RATE: dict[int, float] = {}


def start_book(emu: EmulatorThread):
    """The emulator's book now (and its funding rate then), before the adapter connects."""
    FIRST_RATE[id(emu)] = emu.call(lambda: emu.market.venues["hyperliquid"].funding_rate)
    return emu.call(emu.market.book_snapshot, "hyperliquid", 5000)


# ---------------------------------------------------------------------- tests
def test_adapter_receives_everything_the_emulator_published():
    with emulator(speed=20) as emu:
        start = start_book(emu)
        run = Run(emu)
        try:
            assert run.wait(6, until=lambda: len(run.rows("open_interest")) >= 3
                            and len(ledger(emu, "liquidations_all")) > 0, timeout=12)
            check_live_book(run, emu)
            status = run.adapter.status()
            assert status.state == LiveState.LIVE and status.liquidations == ABSENT
            assert status.line().startswith("hyperliquid live")
            assert "liquidations" not in status.streams
        finally:
            run.settle()
        n, _ = check_trades(run, emu)
        check_contexts(run, emu)
        check_books(run, emu, start)
        a = run.adapter
        assert a.market["symbol"] == HL_SYMBOL and a.market["contractSize"] == 1
        assert a.counts["malformed"] == 0
        # no fault was sent: nothing repeated, resynced or lost — unless the machine starved the loop
        # past a watchdog (a CI run once: one re-dial), whose re-read trades are dropped as duplicates
        # and whose unrecoverable hole is a recorded gap; check_trades above asserts that nothing was
        # lost outside a recorded gap either way
        if not (a.counts["stalls"] or a.counts["reconnects"]):
            assert a.counts["duplicates"] == a.counts["resyncs"] == a.counts["gaps"] == 0, dict(a.counts)
        assert n > 100
        # the simulated market liquidated positions on this venue; Hyperliquid publishes none
        assert len(ledger(emu, "liquidations_all")) and not len(run.rows("liquidations"))


def test_drop_refused_reconnect_short_stall_and_429_recover():
    # a 1 s stall (shorter than the 2.5 s watchdog), a drop at 3.5 s with new connections (and REST)
    # refused for 1.5 s, then REST answering 429 for 2 s: the check of the hole the outage left meets it
    with emulator(speed=10, faults="stall@1.5s:1s,drop@3.5s,refuse@3.5s:1.5s,http429@4.8s:2s") as emu:
        start = start_book(emu)
        run = Run(emu, silence_s=2.5, trade_silence_s=2.5)
        try:
            run.wait(7.5)
            assert run.wait(until=lambda: run.adapter.status().state == LiveState.LIVE, timeout=8)
            check_live_book(run, emu)
        finally:
            run.settle()
        fired = emu.server.faults.fired
        assert fired["stall"] == fired["drop"] == fired["refuse"] == fired["http429"] == 1
        a = run.adapter
        assert a.counts["stalls"] == 0, "a short stall must not trip the watchdog"
        assert sum(s.retries for s in a.streams_status.values()) >= 2      # the drop, the refusals
        assert a.streams_status["trade_check"].retries >= 1                 # the 429
        assert a.holes_checked >= 1                                         # the stall's, the outage's
        _, missing = check_trades(run, emu, exact=False)
        # the outage lost more trades than the 10 recentTrades gives back: a recorded gap
        assert missing > 0 and any(g[0] == "trades" for g in a.gaps)
        check_contexts(run, emu, exact=False)
        check_books(run, emu, start)
        assert a.counts["resyncs"] == 0              # full snapshots: nothing to resync


def test_stall_longer_than_the_watchdog_reconnects():
    with emulator(speed=10, faults="stall@3s:3s") as emu:
        start = start_book(emu)
        run = Run(emu, silence_s=1.5, trade_silence_s=1.5)
        try:
            assert run.wait(until=lambda: run.adapter.status().state == LiveState.LIVE, timeout=8)
            assert run.wait(until=lambda: run.adapter.counts["stalls"] >= 1, timeout=8)
            assert run.adapter.status().state in (LiveState.STALE, LiveState.BACKOFF, LiveState.CONNECTING)
            assert run.wait(2, until=lambda: run.adapter.status().state == LiveState.LIVE, timeout=12)
            check_live_book(run, emu)
        finally:
            run.settle()
        a = run.adapter
        assert a.counts["stalls"] >= 1 and a.counts["reconnects"] >= 1
        check_trades(run, emu, exact=False)
        assert any(g[0] == "trades" for g in a.gaps)
        check_contexts(run, emu, exact=False)
        check_books(run, emu, start)


def test_gap_dup_malformed_truncated_and_burst():
    # the losing faults several times in the first 5 s; duplicates at random all along
    # (from 2.5 s, once the adapter is reading trades)
    spec = ",".join(["dup@rate:0.08", *(f"gap@{t}s" for t in (2.5, 3.5, 4.5, 6)),
                     *(f"malformed@{t}s" for t in (2.6, 3.7, 4.8, 5.9)), *(f"truncated@{t}s" for t in (2.8, 4.1, 5.4)),
                     "burst@2.7s:15"])
    with emulator(speed=20, faults=spec) as emu:
        start = start_book(emu)
        run = Run(emu, check_every_s=0.05)
        fired = emu.server.faults.fired
        try:
            assert run.wait(until=lambda: len(run.rows("trades")) > 0, timeout=8)
            assert emu.server.faults.fired["malformed"] == 0
            run.wait(7, until=lambda: run.adapter.counts["malformed"] >= fired["malformed"] + fired["truncated"],
                     timeout=12)
            check_live_book(run, emu)
        finally:
            run.settle()
        a, v = run.adapter, venue(emu)
        assert (fired["gap"], fired["malformed"], fired["truncated"], fired["burst"]) == (4, 4, 3, 1)
        assert v.gaps_sent == 4 and a.counts["resyncs"] == 0      # a lost snapshot is made good by the next
        # repeated frames: their trades dropped by id (a frame holds several), counted per trade
        assert fired["dup"] >= 1 and a.counts["duplicates"] >= 1
        # each broken frame is counted once and skipped, the socket never dropped for it
        assert a.counts["malformed"] == fired["malformed"] + fired["truncated"]
        assert a.counts["reconnects"] == 0 and sum(s.retries for s in a.streams_status.values()) == 0
        # a broken frame that may have held trades (what is left of it names no other channel) opened
        # a hole, checked against recentTrades: the trades it still held were recovered, the rest is
        # a recorded gap (whether any broken frame held trades depends on the timing: check_trades
        # below is what says none was lost outside a recorded gap)
        trade_gaps = [g for g in a.gaps if g[0] == "trades"]
        assert a.holes_checked >= 1 and len(trade_gaps) <= a.holes_checked <= fired["malformed"] + fired["truncated"]
        check_trades(run, emu, exact=False)
        check_contexts(run, emu, exact=False)
        check_books(run, emu, start)
        # the burst: the trades of several ticks in one frame, all read
        assert v.bursts_sent == 1 and v.largest_trades_frame >= 15


def test_backfill_candles_as_trades_and_marks(monkeypatch):
    # small pages on both sides, so that the adapter has to page through the candles
    monkeypatch.setattr(emulated, "CANDLES_PER_ANSWER", 25)
    monkeypatch.setattr(live, "CANDLES_PER_CALL", 25)
    with emulator(speed=1, history_ms=90 * 60_000) as emu:
        a = Adapter(SYMBOL, emulator=emu.url)
        until = emu.market.now_ms
        since = until - 60 * 60_000
        calls = []
        v = venue(emu)
        original = v._candles
        v._candles = lambda body: calls.append(body["req"]) or original(body)

        async def go():
            a.exchange = a.create_exchange()
            try:
                await a.exchange.load_markets()
                a.market = a.exchange.market(a.market_symbol())
                return await a.backfill(since, until)
            finally:
                await a.exchange.close()

        batch = asyncio.run(go())
    assert len(calls) >= 3 and all(c["interval"] == "1m" and c["coin"] == "BTC" for c in calls)
    st = emu.market.venues["hyperliquid"]
    candles = [c for t, c in sorted(st.candles.items()) if since <= t and t + 60_000 <= until]
    tr = batch.trades
    assert batch.checked and len(tr) and np.all(np.diff(tr["time_ms"]) >= 0)
    validate_array("trades", tr)
    assert since <= tr["time_ms"].min() and tr["time_ms"].max() < until
    # per candle: trades at its open, extremes and close; no taker split, so half buys, half sells
    assert np.isclose(tr["size"].sum(), sum(c[5] for c in candles), rtol=1e-9)
    assert np.isclose(tr["size"][tr["side"] > 0].sum(), tr["size"][tr["side"] < 0].sum(), rtol=1e-9)
    for c in candles:
        mine = tr[(tr["time_ms"] >= c[0]) & (tr["time_ms"] < c[0] + 60_000)]
        assert mine["price"][0] == c[1] and mine["price"][-1] == c[4]
        assert mine["price"].max() == c[2] and mine["price"].min() == c[3]
    assert len(np.unique(tr["time_ms"] // 60_000)) == len(candles) >= 55
    marks = batch.marks
    assert marks["time_ms"].tolist() == [c[0] + 59_999 for c in candles]
    assert marks["price"].tolist() == [c[4] for c in candles]
    # Hyperliquid has no open-interest history
    assert not len(batch.open_interest) and not len(batch.liquidations)


def test_live_source_with_hyperliquid_produces_batches():
    with EmulatorThread(venues=("hyperliquid",), speed=10, history_ms=20 * 60_000) as emu:
        src = LiveSource(("hyperliquid",), emulator=emu.url, backfill_ms=15 * 60_000)
        src.start()
        try:
            kinds, t0, backfilled = set(), time.monotonic(), None
            while time.monotonic() - t0 < 15 and not {"trades", "marks", "book", "open_interest", "funding"} <= kinds:
                batch = src.poll()
                if batch is not None:
                    if backfilled is None:
                        backfilled = batch
                    kinds |= {k for k, arr in batch.arrays().items() if len(arr)}
                time.sleep(0.05)
            assert {"trades", "marks", "book", "open_interest", "funding"} <= kinds
            assert "liquidations" not in kinds
            assert src.backfill_span is not None and src.backfill_span[1] - src.backfill_span[0] >= 10 * 60_000
            assert backfilled.trades["time_ms"].min() < backfilled.trades["time_ms"].max() - 10 * 60_000
            assert "hyperliquid live" in src.state()
            assert src.tier_notes["hyperliquid"] == "shipped table"
            assert src.statuses()[0].liquidations == ABSENT
        finally:
            src.stop()


def test_emulated_protocol_and_documented_shapes():
    """Hyperliquid's own rules: POST /info by type, subscription acks and errors, ping/pong, the
    documented field names and JSON types of trades, l2Book and activeAssetCtx; meta with
    Hyperliquid's BTC szDecimals/maxLeverage and liqdesk's shipped margin tiers."""
    with emulator(speed=10) as emu:
        base = f"{emu.url}/hyperliquid"
        ws_url = "ws" + base[4:] + "/ws"

        async def go():
            async with aiohttp.ClientSession() as s:
                async with s.post(f"{base}/info", json={"type": "meta"}) as r:
                    meta = await r.json()
                async with s.post(f"{base}/info", json={"type": "metaAndAssetCtxs"}) as r:
                    meta_ctxs = await r.json()
                async with s.post(f"{base}/info", json={"type": "l2Book", "coin": "BTC"}) as r:
                    book = await r.json()
                async with s.post(f"{base}/info", json={"type": "recentTrades", "coin": "BTC"}) as r:
                    recent = await r.json()
                async with s.post(f"{base}/info", json={"type": "candleSnapshot", "req": {
                        "coin": "BTC", "interval": "5m", "startTime": 0, "endTime": emu.market.now_ms}}) as r:
                    candles = await r.json()
                async with s.post(f"{base}/info", json={"type": "clearinghouseState", "user": "0x0"}) as r:
                    assert r.status == 422
                async with s.post(f"{base}/info", data="not json") as r:
                    assert r.status == 422
                got = {}
                async with s.ws_connect(ws_url) as ws:
                    for sub in ({"type": "trades", "coin": "BTC"}, {"type": "l2Book", "coin": "BTC"},
                                {"type": "activeAssetCtx", "coin": "BTC"}):
                        await ws.send_str(json.dumps({"method": "subscribe", "subscription": sub}))
                    await ws.send_str(json.dumps({"method": "subscribe", "subscription": {"type": "trades", "coin": "BTC"}}))
                    await ws.send_str(json.dumps({"method": "subscribe", "subscription": {"type": "trades", "coin": "ETH"}}))
                    await ws.send_str(json.dumps({"method": "ping"}))
                    acks, errors, pongs = [], [], 0
                    while len(got) < 3 or pongs < 1 or len(errors) < 2:
                        msg = json.loads((await ws.receive(timeout=5)).data)
                        ch = msg["channel"]
                        if ch == "subscriptionResponse":
                            acks.append(msg["data"])
                        elif ch == "error":
                            errors.append(msg["data"])
                        elif ch == "pong":
                            pongs += 1
                        else:
                            got.setdefault(ch, msg)
                    await ws.send_str(json.dumps({"method": "unsubscribe", "subscription": {"type": "trades", "coin": "BTC"}}))
                    while True:
                        msg = json.loads((await ws.receive(timeout=5)).data)
                        if msg["channel"] == "subscriptionResponse":
                            assert msg["data"] == {"method": "unsubscribe", "subscription": {"type": "trades", "coin": "BTC"}}
                            break
                async with s.ws_connect(base.replace("http", "ws") + "/other") as ws:
                    assert (await ws.receive(timeout=5)).type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
            return meta, meta_ctxs, book, recent, candles, got, acks, errors

        meta, meta_ctxs, book, recent, candles, got, acks, errors = asyncio.run(go())
    # meta: Hyperliquid's BTC entry; margin tiers from the shipped table
    assert meta["universe"] == [{"szDecimals": 5, "name": "BTC", "maxLeverage": 40, "marginTableId": 56}]
    table = load_tiers("hyperliquid", SYMBOL)
    table_id, spec = meta["marginTables"][0]
    assert table_id == 56 and spec["description"] == "tiered 40x"
    assert [(float(t["lowerBound"]), t["maxLeverage"]) for t in spec["marginTiers"]] == list(
        zip(table.floor.tolist(), table.max_leverage.astype(int).tolist()))
    assert meta["collateralToken"] == 0 and meta_ctxs[0] == meta and len(meta_ctxs[1]) == 1
    # the acks echo the subscription; a second subscription and an unknown coin are refused
    assert {"method": "subscribe", "subscription": {"type": "trades", "coin": "BTC"}} in acks
    assert {"method": "subscribe", "subscription": {"type": "l2Book", "coin": "BTC", "nSigFigs": None,
                                                     "mantissa": None}} in acks
    assert any(e.startswith("Already subscribed") for e in errors) and any("ETH" in e for e in errors)
    # documented shapes (hyperliquid docs, websocket subscriptions: WsTrade, WsBook, WsLevel, ctx)
    trade = got["trades"]["data"][0]
    assert list(trade) == ["coin", "side", "px", "sz", "hash", "time", "tid", "users"]
    assert trade["side"] in ("A", "B") and isinstance(trade["px"], str) and isinstance(trade["sz"], str)
    assert isinstance(trade["time"], int) and isinstance(trade["tid"], int) and len(trade["hash"]) == 66
    assert len(trade["users"]) == 2 and all(len(u) == 42 and u.startswith("0x") for u in trade["users"])
    wsbook = got["l2Book"]["data"]
    assert set(wsbook) == {"coin", "levels", "time"} and isinstance(wsbook["time"], int)
    for levels in (wsbook["levels"], book["levels"]):
        assert len(levels) == 2 and len(levels[0]) == len(levels[1]) == BOOK_N
        lvl = levels[0][0]
        assert set(lvl) == {"px", "sz", "n"} and isinstance(lvl["px"], str) and isinstance(lvl["n"], int)
        assert float(levels[0][0]["px"]) > float(levels[0][1]["px"]) and float(levels[1][0]["px"]) < float(levels[1][1]["px"])
    ctx = got["activeAssetCtx"]["data"]
    assert ctx["coin"] == "BTC" and list(ctx["ctx"]) == ["funding", "openInterest", "prevDayPx", "dayNtlVlm", "premium",
                                                         "oraclePx", "markPx", "midPx", "impactPxs", "dayBaseVlm"]
    assert all(isinstance(ctx["ctx"][k], str) for k in ("funding", "openInterest", "markPx"))
    assert 1 <= len(recent) <= 10 and list(recent[0]) == list(trade)
    assert candles and set(candles[0]) == {"t", "T", "s", "i", "o", "c", "h", "l", "v", "n"}
    assert all(c["i"] == "5m" and c["t"] % 300_000 == 0 and c["T"] == c["t"] + 299_999 for c in candles)


@pytest.mark.parametrize("count", [100_000])
def test_fuzz_broken_frames_are_counted_and_never_stop_the_reader(count):
    """Frames that are not JSON (real-shaped messages cut short, garbage) and well-formed ones with
    nonsense fields, fed to the reader of a ccxt client: none escapes, each broken frame is counted
    once and opens a suspected trade hole, and a good trade after them is still read."""
    rng = np.random.default_rng(7)
    trade = ('{"channel":"trades","data":[{"coin":"BTC","side":"B","px":"88542.0","sz":"0.00635","hash":"0x'
             + "ab" * 32 + '","time":1796000000001,"tid":5000003246,"users":["0x' + "1" * 40 + '","0x' + "2" * 40 + '"]}]}')
    book = ('{"channel":"l2Book","data":{"coin":"BTC","time":1796000000000,"levels":[[{"px":"88540.0","sz":"0.5","n":2}],'
            '[{"px":"88541.0","sz":"0.25","n":1}]]}}')
    ctx = ('{"channel":"activeAssetCtx","data":{"coin":"BTC","ctx":{"funding":"0.0000125","openInterest":"88.9",'
           '"prevDayPx":"88000.0","dayNtlVlm":"1.0","premium":"0.0","oraclePx":"88540.0","markPx":"88540.0",'
           '"midPx":"88540.5","impactPxs":["88540.0","88541.0"],"dayBaseVlm":"1.0"}}}')
    real = [trade, book, ctx]
    broken = []
    for i in range(count):
        text = real[i % 3]
        if i % 10 == 9:
            broken.append("{" + "".join(map(chr, rng.integers(32, 127, 30))))
        else:
            broken.append(text[: int(rng.integers(2, len(text) - 1))])
    weird = []
    for i in range(2_000):
        msg = json.loads(real[i % 3])
        data = msg["data"][0] if isinstance(msg["data"], list) else msg["data"]
        key = list(data)[int(rng.integers(0, len(data)))]
        data[key] = [None, "x", -1, {"a": 1}, [], 1e308][i % 6]
        weird.append(json.dumps(msg))

    a = Adapter(SYMBOL, emulator="http://127.0.0.1:9")

    async def go():
        ex = a.create_exchange()
        ex.set_markets([{"id": "0", "symbol": HL_SYMBOL, "base": "BTC", "quote": "USDC", "settle": "USDC",
                         "baseId": "0", "baseName": "BTC", "quoteId": "USDC", "settleId": "USDC", "type": "swap",
                         "spot": False, "swap": True, "future": False, "option": False, "contract": True,
                         "linear": True, "inverse": False, "contractSize": 1.0, "active": True,
                         "precision": {"amount": 0.00001, "price": 1.0}, "limits": {}, "info": {}}])
        client = ex.client(ex.urls["api"]["ws"]["public"])
        try:
            client.handle_text_or_binary_message(trade)
            assert ex.tape_last == (5000003246, 1796000000001) and not ex.holes
            for text in broken:
                client.handle_text_or_binary_message(text)
            assert a.counts["malformed"] == len(broken)
            # one hole: later broken frames, no trade read since, add nothing to it
            assert len(ex.holes) == 1 and ex.holes[0]["since_tid"] == 5000003246
            for text in weird:
                client.handle_text_or_binary_message(text)
            assert len(broken) <= a.counts["malformed"] <= len(broken) + len(weird)
            later = trade.replace("5000003246", "5000003247").replace("1796000000001", "1796000000002")
            client.handle_text_or_binary_message(later)
            cached = ex.trades[HL_SYMBOL]
            assert cached[-1]["id"] == "5000003247" and cached[-1]["side"] == "buy"
            assert ex.holes[0]["first_after"] is not None
        finally:
            await ex.close()

    asyncio.run(go())
