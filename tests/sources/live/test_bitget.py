"""The Bitget USDT-M adapter against the emulated Bitget, over real loopback websockets.

The emulator is pinned (seed and end of history) so that its simulated market has liquidations
from the first seconds after it goes live; everything the adapter emitted is compared with what
the emulator's ledger says it published (trades by id, count and content; marks; open interest;
funding; liquidations as they went on the wire, Bitget's sample) and its books with the emulator's
book.
"""

from __future__ import annotations

import asyncio
import json
import time
import zlib

import aiohttp
import numpy as np
import pytest

from liqdesk.core.events import EXCHANGE_ID, validate_array
from liqdesk.core.tiers import forget_fetched_tiers, load_tiers
from liqdesk.sources.emulator.bitget import checksum, market_trade_id, wire_trade_id
from liqdesk.sources.emulator.server import EmulatorThread
from liqdesk.sources.live import tiers as live_tiers
from liqdesk.sources.live.bitget import Adapter, exchange_class
from liqdesk.sources.live.contract import SAMPLED, LiveState
from liqdesk.sources.live.source import LiveSource

from . import harness
from .harness import AdapterRun, sort_rows

pytest.importorskip("ccxt.pro")

SYMBOL = "BTC/USDT:USDT"
#: a market (seed 164, history ending here) with long liquidations from 1 s after it goes live
PINNED = {"seed": 164, "now_ms": 1_796_000_000_000, "history_ms": 10 * 60_000}
BOOK_N = 25


def emulator(speed: float = 20, faults: str | None = None, **kw) -> EmulatorThread:
    args = {**PINNED, **kw}
    return EmulatorThread(venues=("bitget",), speed=speed, faults=faults, **args)


class Run(AdapterRun):
    adapter_cls = Adapter
    pending = "lost trades still not refetched"


def ledger(emu: EmulatorThread, kind: str):
    return harness.ledger(emu, "bitget", kind)


def venue(emu: EmulatorThread):
    return emu.server.venues["bitget"]



def in_force(times: np.ndarray, values: np.ndarray, at: np.ndarray) -> np.ndarray:
    """The value of a step series (``times`` sorted) in force at each of ``at`` (NaN before it)."""
    i = np.searchsorted(times, at, side="right") - 1
    out = np.where(i >= 0, values[np.clip(i, 0, None)], np.nan)
    return out


# ---------------------------------------------------------------------- checks
def check_trades(run: Run, emu: EmulatorThread) -> int:
    """Every trade between the first and the last the adapter saw, once, as published."""
    ids = np.array(sorted(market_trade_id(list(run.adapter._seen_ids)).tolist()), dtype=np.int64)
    assert len(ids) > 50
    sent = ledger(emu, "trades")
    window = sent[(sent["id"] >= ids[0]) & (sent["id"] <= ids[-1])]
    missing = sorted(set(window["id"].tolist()) - set(ids.tolist()))[:10]
    a = run.adapter
    assert np.array_equal(np.sort(window["id"]), ids), (
        f"trade ids differ: missing {missing}; holes {a._holes}; filled {a.trades_filled}; counts {a.counts}; "
        f"fill stream {a.streams_status.get('trade_fill')}")
    got = run.rows("trades")
    assert len(got) == len(window) == len(ids)
    assert (got["exchange"] == EXCHANGE_ID["bitget"]).all()
    f = ("time_ms", "price", "size", "side")
    a, b = sort_rows(got, f), sort_rows(window, f)
    for name in f:
        assert np.array_equal(a[name], b[name]), name
    assert np.isclose(got["size"].sum(), window["size"].sum(), rtol=1e-12, atol=0)
    return len(ids)


def check_marks(run: Run, emu: EmulatorThread, exact: bool) -> None:
    got = sort_rows(run.rows("marks"), ("time_ms",))
    assert len(got) > 5
    assert len(np.unique(got["time_ms"])) == len(got), "duplicate marks"
    sent = ledger(emu, "marks")
    # each mark the adapter emitted is the emulator's mark in force at its time
    assert np.array_equal(in_force(sent["time_ms"], sent["price"], got["time_ms"]), got["price"])
    if exact:
        window = sent[(sent["time_ms"] >= got["time_ms"].min()) & (sent["time_ms"] <= got["time_ms"].max())]
        assert set(window["time_ms"].tolist()) <= set(got["time_ms"].tolist()), "marks missed"


def check_funding_and_oi(run: Run, emu: EmulatorThread, exact: bool = True) -> None:
    fund = run.rows("funding")
    assert len(fund) >= 1
    sent_f = ledger(emu, "funding")
    assert set(fund["rate"][1:].tolist()) <= set(sent_f["rate"].tolist())
    oi = sort_rows(run.rows("open_interest"), ("time_ms",))
    assert len(oi) >= 2
    sent = ledger(emu, "open_interest")
    # the open interest on each ticker is the one in force at its time (before the first one
    # published live, the history's); notional = size x mark
    oi = oi[oi["time_ms"] >= sent["time_ms"][0]]
    assert np.array_equal(in_force(sent["time_ms"], sent["oi_base"], oi["time_ms"]), oi["oi_base"])
    marks = ledger(emu, "marks")
    assert np.allclose(oi["oi_notional"], oi["oi_base"] * in_force(marks["time_ms"], marks["price"], oi["time_ms"]),
                       rtol=1e-12)
    if exact:
        # every change of the open interest inside the span was emitted, once
        window = sent[(sent["time_ms"] > oi["time_ms"].min()) & (sent["time_ms"] <= oi["time_ms"].max())]
        changes = window[np.concatenate([[True], np.diff(window["oi_base"]) != 0])] if len(window) else window
        got_changes = set(oi["time_ms"].tolist())
        assert set(changes["time_ms"].tolist()) <= got_changes


def check_liquidations(run: Run, emu: EmulatorThread, since_ms: int, exact: bool = True) -> np.ndarray:
    got = run.rows("liquidations")
    wire = venue(emu).liquidations_on_wire()
    wire = wire[wire["time_ms"] >= since_ms]
    expect = wire.copy()
    # on the wire: price and amount = price x size in USDT; the adapter's size is amount / price
    expect["size"] = (wire["price"] * wire["size"]) / wire["price"]
    f = ("time_ms", "price", "size", "side")
    if exact:
        assert len(got) == len(expect)
        a, b = sort_rows(got, f), sort_rows(expect, f)
        for name in f:
            assert np.array_equal(a[name], b[name]), name
    else:
        sent = {tuple(r) for r in expect[list(f)].tolist()}
        assert {tuple(r) for r in got[list(f)].tolist()} <= sent
    return got


def book_at(start, updates) -> dict:
    """The emulator's book after each published diff: time -> (bids, asks), from ``start``."""
    last_id, _, bids, asks = start
    bids, asks = dict(bids), dict(asks)
    out = {}
    for bu in updates:
        if bu.last_id <= last_id:
            continue
        for side, levels in ((bids, bu.bids), (asks, bu.asks)):
            for p, q in levels:
                if q > 0:
                    side[p] = q
                else:
                    side.pop(p, None)
        out[bu.time_ms] = (sorted(bids.items(), key=lambda x: -x[0])[:BOOK_N], sorted(asks.items())[:BOOK_N])
    return out


def check_books(run: Run, emu: EmulatorThread, start) -> int:
    """Every book the adapter emitted equals the emulator's book at that time (top 25)."""
    truth = book_at(start, ledger(emu, "book"))
    book = run.rows("book")
    assert len(book)
    checked = 0
    for t in np.unique(book["time_ms"]):
        if t not in truth:
            continue
        rows = book[book["time_ms"] == t]
        bids = list(zip(rows["price"][rows["side"] > 0].tolist(), rows["size"][rows["side"] > 0].tolist()))
        asks = list(zip(rows["price"][rows["side"] < 0].tolist(), rows["size"][rows["side"] < 0].tolist()))
        tb, ta = truth[int(t)]
        assert sorted(bids, key=lambda x: -x[0]) == tb and sorted(asks) == ta, f"book at {t} differs"
        checked += 1
    assert checked >= 2
    return checked


def check_live_book(run: Run, emu: EmulatorThread, timeout: float = 8.0) -> None:
    harness.check_live_book(run, "bitget", BOOK_N, by="timestamp", timeout=timeout)


def start_book(emu: EmulatorThread):
    return emu.call(emu.market.book_snapshot, "bitget", 5000)


# ---------------------------------------------------------------------- tests
def test_adapter_receives_everything_the_emulator_published():
    with emulator(speed=20) as emu:
        start = start_book(emu)
        run = Run(emu, silence_s=5.0, trade_silence_s=5.0)
        try:
            assert run.wait(6.0, until=lambda: len(run.rows("liquidations")) >= 5, timeout=12)
            check_live_book(run, emu)
            status = run.adapter.status()
            assert status.state == LiveState.LIVE and status.liquidations == SAMPLED
            assert status.line().startswith("bitget live")
            # trades, book and ticker share one ccxt client; the liquidation topic has the UTA one
            urls = run.call(lambda: list(run.adapter.exchange.clients))
            assert sorted(u.rsplit("/bitget", 1)[1] for u in urls) == ["/v2/ws/public", "/v3/ws/public"]
        finally:
            run.settle()
        n = check_trades(run, emu)
        check_marks(run, emu, exact=True)
        check_funding_and_oi(run, emu)
        # every liquidation the emulator sent to a subscriber, once
        got = check_liquidations(run, emu, since_ms=0)
        assert len(got) >= 5 and set(got["side"].tolist()) <= {-1, 1}
        # Bitget's sample: at most one long and one short per second
        keys = list(zip((got["time_ms"] // 1000).tolist(), got["side"].tolist()))
        assert len(keys) == len(set(keys))
        assert len(got) < len(ledger(emu, "liquidations_all"))
        check_books(run, emu, start)
        counts = run.adapter.counts
        assert counts["duplicates"] == counts["malformed"] == counts["resyncs"] == 0
        assert run.adapter.fill_calls == 0 and n > 300


def test_drop_refused_reconnect_429_and_short_stall_recover_without_losing_trades():
    # stall 1 s (shorter than the 2.5 s watchdog); drop at 3.5 s with new connections refused
    # 1 s; REST answers 429 (Retry-After 1) from 4.5 s to 7 s, when the lost trades are fetched
    with emulator(speed=10, faults="stall@1.5s:1s,drop@3.5s,refuse@3.5s:1s,http429@4.5s:2.5s") as emu:
        start = start_book(emu)
        run = Run(emu, silence_s=2.5, trade_silence_s=2.5)
        try:
            run.wait(8.5)
            assert run.wait(until=lambda: run.adapter.status().state == LiveState.LIVE, timeout=8)
            check_live_book(run, emu)
        finally:
            run.settle()
        fired = emu.server.faults.fired
        assert fired["stall"] == fired["drop"] == fired["refuse"] == fired["http429"] == 1
        a = run.adapter
        assert a.counts["stalls"] == 0, "a short stall must not trip the watchdog"
        assert a.counts["resyncs"] >= 1                      # diffs missed in the stall: checksum
        assert sum(s.retries for s in a.streams_status.values()) >= 1   # the drop, the refusals
        assert a.trades_filled > 0 and a.fill_calls >= 1     # the lost trades came from REST
        assert a.streams_status["trade_fill"].retries >= 1   # ... after the 429s
        check_trades(run, emu)
        check_marks(run, emu, exact=False)
        check_funding_and_oi(run, emu, exact=False)
        check_books(run, emu, start)
        check_liquidations(run, emu, 0, exact=False)


def test_stall_longer_than_the_watchdog_reconnects():
    with emulator(speed=10, faults="stall@2s:3s") as emu:
        start = start_book(emu)
        run = Run(emu, silence_s=1.5, trade_silence_s=1.5)
        try:
            run.wait(3.5)
            assert run.adapter.status().state in (LiveState.STALE, LiveState.BACKOFF)
            assert run.wait(5, until=lambda: run.adapter.status().state == LiveState.LIVE, timeout=12)
            check_live_book(run, emu)
        finally:
            run.settle()
        a = run.adapter
        assert a.counts["stalls"] >= 1 and a.counts["reconnects"] >= 1
        assert a.trades_filled > 0
        check_trades(run, emu)
        check_marks(run, emu, exact=False)
        check_books(run, emu, start)


def test_gap_dup_malformed_truncated_and_burst():
    # the losing faults several times in the first 5 s (then none, so the end state can be
    # compared); duplicates at random all along
    spec = ",".join(["dup@rate:0.02", *(f"gap@{t}s" for t in (1, 2, 3, 4.5)),
                     *(f"malformed@{t}s" for t in (1.1, 2.2, 3.3, 4.4)), *(f"truncated@{t}s" for t in (1.3, 2.6, 3.9)),
                     "burst@2.3s:12"])
    with emulator(speed=20, faults=spec) as emu:
        start = start_book(emu)
        run = Run(emu)
        fired = emu.server.faults.fired
        try:
            run.wait(7, until=lambda: run.adapter.counts["malformed"] >= fired["malformed"] + fired["truncated"]
                     and len(run.rows("liquidations")) >= 8, timeout=12)
            check_live_book(run, emu)
        finally:
            run.settle()
        a = run.adapter
        assert (fired["gap"], fired["malformed"], fired["truncated"], fired["burst"]) == (4, 4, 3, 1)
        assert venue(emu).gaps_sent == fired["gap"]
        # each withheld diff broke the next diff's checksum: ccxt's ChecksumError, a resync
        assert a.counts["resyncs"] >= 1 and a.counts["gaps"] >= 1 and a.exchange.book_resyncs >= 1
        assert a.counts["resyncs"] <= a.exchange.book_resyncs
        assert 1 <= a.counts["duplicates"] + a.counts["liquidations_deduped"]
        # each broken frame is counted once and skipped; the sockets were never dropped for it
        assert a.counts["malformed"] == fired["malformed"] + fired["truncated"]
        assert a.counts["reconnects"] == 0
        check_trades(run, emu)
        check_marks(run, emu, exact=False)
        check_books(run, emu, start)
        # the burst: the complete feed in one frame; the watch resolved fewer times than rows read
        got = check_liquidations(run, emu, 0, exact=False)
        assert len(got) >= 8
        # every row the watch returned was kept, and the cache cursor read the rest of a burst
        # (fewer returned than read when frames arrived while no watch was pending; as many when
        # the loop happened to be waiting on each: timing, not a fault)
        assert a.streams_status["liquidations"].messages <= len(got)
        keys = list(zip((got["time_ms"] // 1000).tolist(), got["side"].tolist()))
        assert len(keys) > len(set(keys)), "the burst carried several liquidations of one second and side"


def test_resync_goes_on_when_the_unsubscribe_acknowledgement_is_lost():
    """A resync unsubscribes and waits for Bitget's acknowledgement; when it never comes the
    adapter forgets the book itself and subscribes again, without dropping the connection."""
    with emulator(speed=20, faults="gap@1s,gap@2.5s") as emu:
        v = venue(emu)
        send = v.send
        lost = []

        def send_but_unsubscribe_acks(client, payload):
            if isinstance(payload, dict) and payload.get("event") == "unsubscribe":
                lost.append(payload)
                return
            send(client, payload)

        v.send = send_but_unsubscribe_acks
        start = start_book(emu)
        run = Run(emu, silence_s=3.0, trade_silence_s=3.0)
        try:
            run.wait(4.5)
            check_live_book(run, emu)
        finally:
            run.settle()
        a = run.adapter
        assert emu.server.faults.fired["gap"] == 2 and len(lost) >= 1
        assert a.counts["resyncs"] >= 1 and a.counts["reconnects"] == a.counts["stalls"] == 0
        check_books(run, emu, start)
        check_trades(run, emu)


def test_backfill_candles_and_marks_no_open_interest_history():
    with emulator(speed=1, history_ms=90 * 60_000) as emu:
        a = Adapter(SYMBOL, emulator=emu.url)
        until = emu.market.now_ms
        since = until - 60 * 60_000

        async def go():
            a.exchange = a.create_exchange()
            try:
                await a.exchange.load_markets()
                a.market = a.exchange.market(SYMBOL)
                return await a.backfill(since, until)
            finally:
                await a.exchange.close()

        batch = asyncio.run(go())
    st = emu.market.venues["bitget"]
    candles = [c for t, c in sorted(st.candles.items()) if since <= t and t + 60_000 <= until]
    tr = batch.trades
    assert batch.checked and len(tr) and np.all(np.diff(tr["time_ms"]) >= 0)
    validate_array("trades", tr)
    assert since <= tr["time_ms"].min() and tr["time_ms"].max() < until
    # per candle: trades at its open, extremes and close that rebuild it; no taker split on
    # Bitget's candles: taker buys and sells half and half
    assert np.isclose(tr["size"].sum(), sum(c[5] for c in candles), rtol=1e-9)
    assert np.isclose(tr["size"][tr["side"] > 0].sum(), tr["size"][tr["side"] < 0].sum(), rtol=1e-12)
    for c in candles[:5]:
        mine = tr[(tr["time_ms"] >= c[0]) & (tr["time_ms"] < c[0] + 60_000)]
        assert mine["price"][0] == c[1] and mine["price"][-1] == c[4]
        assert mine["price"].max() == c[2] and mine["price"].min() == c[3]
        assert np.isclose(mine["size"].sum(), c[5], rtol=1e-12)
    assert len(np.unique(tr["time_ms"] // 60_000)) == len(candles) >= 55
    marks = batch.marks
    assert len(marks) >= 55 and np.all(np.diff(marks["time_ms"]) > 0)
    assert np.isclose(marks["price"][-1], st.mark_candles[int(marks["time_ms"][-1]) - 59_999][3])
    # Bitget publishes no open-interest history
    assert len(batch.open_interest) == 0
    assert a.exchange.has["fetchOpenInterestHistory"] is False


def test_leverage_tiers_are_refreshed_from_the_emulated_exchange(tmp_path, monkeypatch):
    monkeypatch.setattr(live_tiers, "cache_dir", lambda: tmp_path)
    shipped = load_tiers("bitget", SYMBOL)
    with emulator(speed=5) as emu:
        a = Adapter(SYMBOL, emulator=emu.url)

        async def go():
            a.exchange = a.create_exchange()
            try:
                await a.exchange.load_markets()
                a.market = a.exchange.market(SYMBOL)
                return await live_tiers.refresh_tiers(a)
            finally:
                await a.exchange.close()

        try:
            note = asyncio.run(go())
            fetched = load_tiers("bitget", SYMBOL)
            assert note.startswith("fetched") and f"{len(shipped.floor)} tiers" in note
            assert fetched is not shipped and "fetch_market_leverage_tiers" in fetched.source
            for name in ("floor", "cap", "max_leverage", "mmr"):
                assert np.array_equal(getattr(fetched, name), getattr(shipped, name)), name
            assert fetched.rule == shipped.rule and fetched.basis == "notional" and not fetched.cum.any()
            assert list(tmp_path.glob("bitget-*.json")), "the fetched table is cached on disk"
        finally:
            forget_fetched_tiers()


def test_live_source_with_bitget_produces_batches(tmp_path, monkeypatch):
    monkeypatch.setattr(live_tiers, "cache_dir", lambda: tmp_path)
    with EmulatorThread(venues=("bitget",), speed=10, history_ms=20 * 60_000) as emu:
        src = LiveSource(("bitget",), emulator=emu.url, backfill_ms=15 * 60_000)
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
            assert src.backfill_span is not None and src.backfill_span[1] - src.backfill_span[0] >= 10 * 60_000
            assert backfilled.trades["time_ms"].min() < backfilled.trades["time_ms"].max() - 10 * 60_000
            assert src.tier_notes["bitget"].startswith("fetched")
            assert "bitget live" in src.state()
        finally:
            src.stop()
            forget_fetched_tiers()


def test_emulated_websocket_and_rest_protocol():
    """Bitget's own rules: subscribe/unsubscribe acks, errors for what does not exist, text
    ping/pong, snapshots on subscribe, the UTA liquidation topic, REST envelopes and errors."""
    with emulator(speed=10) as emu:
        base = f"{emu.url}/bitget"
        ws_base = "ws" + base[4:]
        arg = {"instType": "USDT-FUTURES", "channel": "books", "instId": "BTCUSDT"}

        async def go():
            async with aiohttp.ClientSession() as s:
                async with s.ws_connect(f"{ws_base}/v2/ws/public") as ws:
                    await ws.send_str("ping")
                    assert (await ws.receive(timeout=5)).data == "pong"
                    await ws.send_str(json.dumps({"op": "subscribe", "args": [arg]}))
                    assert json.loads((await ws.receive(timeout=5)).data) == {"event": "subscribe", "arg": arg}
                    snap = json.loads((await ws.receive(timeout=5)).data)
                    assert snap["action"] == "snapshot" and snap["arg"] == arg
                    book = snap["data"][0]
                    bids, asks = book["bids"], book["asks"]
                    assert book["checksum"] == checksum([tuple(x) for x in bids[:25]], [tuple(x) for x in asks[:25]])
                    assert all(isinstance(x, str) for lv in bids + asks for x in lv) and isinstance(book["seq"], int)
                    while True:     # diffs, each checksummed over the book after it
                        msg = json.loads((await ws.receive(timeout=5)).data)
                        if msg.get("action") != "update":
                            continue
                        d = msg["data"][0]
                        book_b = {p: q for p, q in bids}
                        book_a = {p: q for p, q in asks}
                        for side, levels in ((book_b, d["bids"]), (book_a, d["asks"])):
                            for p, q in levels:
                                if q == "0":
                                    side.pop(p, None)
                                else:
                                    side[p] = q
                        bids = sorted(book_b.items(), key=lambda x: -float(x[0]))
                        asks = sorted(book_a.items(), key=lambda x: float(x[0]))
                        assert d["checksum"] == checksum(bids[:25], asks[:25]) and d["seq"] > book["seq"]
                        break
                    bad = {"instType": "USDT-FUTURES", "channel": "books", "instId": "ETHUSDT"}
                    await ws.send_str(json.dumps({"op": "subscribe", "args": [bad]}))
                    while True:
                        msg = json.loads((await ws.receive(timeout=5)).data)
                        if msg.get("event") == "error":
                            assert msg["code"] == 30001 and "doesn't exist" in msg["msg"]
                            break
                    await ws.send_str(json.dumps({"op": "unsubscribe", "args": [arg]}))
                    while True:
                        msg = json.loads((await ws.receive(timeout=5)).data)
                        if msg.get("event") == "unsubscribe":
                            assert msg["arg"] == arg
                            break
                    trade_arg = {"instType": "USDT-FUTURES", "channel": "trade", "instId": "BTCUSDT"}
                    await ws.send_str(json.dumps({"op": "subscribe", "args": [trade_arg]}))
                    while True:
                        msg = json.loads((await ws.receive(timeout=5)).data)
                        if msg.get("arg") == trade_arg and "data" in msg:
                            assert msg["action"] == "snapshot" and 1 <= len(msg["data"]) <= 50
                            times = [int(t["ts"]) for t in msg["data"]]
                            assert times == sorted(times, reverse=True)      # newest first
                            assert set(msg["data"][0]) == {"ts", "price", "size", "side", "tradeId"}
                            break
                async with s.ws_connect(f"{ws_base}/v3/ws/public") as ws:
                    liq = {"instType": "usdt-futures", "topic": "liquidation"}
                    await ws.send_str(json.dumps({"op": "subscribe", "args": [liq]}))
                    ack = json.loads((await ws.receive(timeout=5)).data)
                    assert ack["event"] == "subscribe" and ack["arg"] == liq and ack["connId"]
                async with s.ws_connect(f"{ws_base}/v2/ws/private") as ws:
                    assert (await ws.receive(timeout=5)).type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
                q = {"symbol": "BTCUSDT", "productType": "USDT-FUTURES"}
                async with s.get(f"{base}/api/v2/mix/market/open-interest", params=q) as r:
                    body = await r.json()
                    assert body["code"] == "00000" and body["data"]["openInterestList"][0]["symbol"] == "BTCUSDT"
                async with s.get(f"{base}/api/v2/mix/market/open-interest", params={**q, "symbol": "ETHUSDT"}) as r:
                    assert r.status == 400 and (await r.json())["code"] == "40034"
                async with s.get(f"{base}/api/v2/mix/market/ticker", params={"symbol": "BTCUSDT"}) as r:
                    assert r.status == 400 and (await r.json())["code"] == "40019"
                async with s.get(f"{base}/api/v2/mix/market/contracts", params={"productType": "COIN-FUTURES"}) as r:
                    assert (await r.json())["data"] == []
                async with s.get(f"{base}/api/v2/mix/market/fills-history",
                                 params={**q, "startTime": "0", "endTime": str(10 * 86_400_000)}) as r:
                    assert r.status == 400 and (await r.json())["code"] == "40020"

        asyncio.run(go())


#: push examples of Bitget's API documentation (contract websocket public channels, and the UTA
#: liquidation channel): the emulator's pushes must have their fields and JSON types
DOC_PUSHES = {
    "trade": {"action": "snapshot", "arg": {"instType": "USDT-FUTURES", "channel": "trade", "instId": "BTCUSDT"},
              "data": [{"ts": "1695716760565", "price": "27000.5", "size": "0.001", "side": "buy",
                        "tradeId": "1111111111"}], "ts": 1695716761589},
    "ticker": {"action": "snapshot", "arg": {"instType": "USDT-FUTURES", "channel": "ticker", "instId": "BTCUSDT"},
               "data": [{"instId": "BTCUSDT", "lastPr": "27000.5", "bidPr": "27000", "askPr": "27000.5",
                         "bidSz": "2.71", "askSz": "8.76", "open24h": "27000.5", "high24h": "30668.5",
                         "low24h": "26999.0", "change24h": "-0.00002", "fundingRate": "0.000010",
                         "nextFundingTime": "1695722400000", "markPrice": "27000.0", "indexPrice": "25702.4",
                         "holdingAmount": "929.502", "baseVolume": "368.900", "quoteVolume": "10152429.961",
                         "openUtc": "27000.5", "symbolType": 1, "symbol": "BTCUSDT", "deliveryPrice": "0",
                         "ts": "1695715383021"}], "ts": 1695715383039},
    "books": {"action": "snapshot", "arg": {"instType": "USDT-FUTURES", "channel": "books", "instId": "BTCUSDT"},
              "data": [{"asks": [["27000.5", "8.760"]], "bids": [["27000.0", "2.710"]], "checksum": 0, "seq": 123,
                        "ts": "1695716059516"}], "ts": 1695716059516},
    "liquidation": {"data": [{"symbol": "BTCUSDT", "side": "buy", "price": "89000", "amount": "37.722858",
                              "ts": "1736371332162"}], "arg": {"instType": "usdt-futures", "topic": "liquidation"},
                    "action": "update", "ts": 1736371332162},
}


def _shape(msg: dict) -> tuple:
    item = msg["data"][0]
    return ({k: type(v) for k, v in msg.items()}, {k: type(v) for k, v in item.items()})


def test_emulated_pushes_have_the_documented_shape():
    with emulator(speed=20) as emu:
        ws_base = "ws" + emu.url[4:] + "/bitget"

        async def first(path: str, args: list[dict], want: set[str]) -> dict:
            got = {}
            async with aiohttp.ClientSession() as s, s.ws_connect(f"{ws_base}{path}") as ws:
                await ws.send_str(json.dumps({"op": "subscribe", "args": args}))
                while not want <= set(got):
                    msg = json.loads((await ws.receive(timeout=10)).data)
                    if "data" in msg:
                        got.setdefault(msg["arg"].get("channel") or msg["arg"].get("topic"), msg)
            return got

        async def go():
            v2 = [{"instType": "USDT-FUTURES", "channel": c, "instId": "BTCUSDT"} for c in ("trade", "ticker", "books")]
            return {**await first("/v2/ws/public", v2, {"trade", "ticker", "books"}),
                    **await first("/v3/ws/public", [{"instType": "usdt-futures", "topic": "liquidation"}],
                                  {"liquidation"})}

        ours = asyncio.run(go())
    for name, doc in DOC_PUSHES.items():
        assert _shape(ours[name]) == _shape(doc), name
        assert ours[name]["arg"] == doc["arg"], name
    assert all(isinstance(x, str) for lv in ours["books"]["data"][0]["bids"] for x in lv)


def test_checksum_is_bitgets_and_ccxts():
    """The emulator's checksum is the one Bitget documents (its own example strings) and the one
    ccxt computes."""
    import ccxt

    payload = "43231.1:4:43232.8:9:43231:6:43232.9:8"
    c = zlib.crc32(payload.encode())
    assert checksum([("43231.1", "4"), ("43231", "6")], [("43232.8", "9"), ("43232.9", "8")]) == \
        (c - (1 << 32) if c >= (1 << 31) else c) == ccxt.Exchange.crc32(payload, True)
    # fewer than 25 levels on one side: the missing levels are left out
    assert checksum([("3366.1", "7")], [("3366.8", "9"), ("3368", "8"), ("3372", "8")]) == \
        ccxt.Exchange.crc32("3366.1:7:3366.8:9:3368:8:3372:8", True)


def _bare_exchange(adapter: Adapter):
    ex = adapter.create_exchange()
    ex.set_markets([{"id": "BTCUSDT", "symbol": SYMBOL, "base": "BTC", "quote": "USDT", "settle": "USDT",
                     "baseId": "BTC", "quoteId": "USDT", "settleId": "USDT", "type": "swap", "spot": False,
                     "swap": True, "future": False, "option": False, "contract": True, "linear": True,
                     "inverse": False, "contractSize": 1.0, "active": True,
                     "precision": {"amount": 1e-8, "price": 0.1}, "limits": {}, "info": {}}])
    return ex


def test_liquidation_topic_is_parsed_with_bitgets_side_convention():
    """``buy`` is a liquidated long, ``sell`` a liquidated short; the amount is USDT; several in
    one push are all read through the adapter's cursor, once."""
    a = Adapter(SYMBOL, emulator="http://127.0.0.1:9")

    async def go():
        ex = a.exchange = _bare_exchange(a)
        a.market = ex.market(SYMBOL)
        client = ex.client(ex.urls["api"]["ws"]["utaPublic"])
        try:
            push = {"data": [{"symbol": "BTCUSDT", "side": "buy", "price": "89000", "amount": "37.722858",
                              "ts": "1736371332162"},
                             {"symbol": "BTCUSDT", "side": "sell", "price": "90000", "amount": "90000", "ts": "1736371332170"},
                             {"symbol": "ETHUSDT", "side": "sell", "price": "3000", "amount": "300", "ts": "1736371332171"}],
                    "arg": {"instType": "usdt-futures", "topic": "liquidation"}, "action": "update", "ts": 1736371332162}
            client.handle_text_or_binary_message(json.dumps(push))
            rows = a.read_liquidations()
            assert rows == [(1736371332162, 1, 89000.0, 37.722858 / 89000.0), (1736371332170, -1, 90000.0, 1.0)]
            assert a.read_liquidations() == []           # the cursor: nothing read twice
            assert ex.liquidations[0]["side"] == "sell"  # ccxt's unified side: the liquidation order's
            assert ex.liquidations[0]["contracts"] == pytest.approx(37.722858 / 89000.0)
        finally:
            await ex.close()

    asyncio.run(go())


def test_fuzz_broken_frames_are_counted_and_never_stop_the_reader():
    """100,000 frames that are not JSON (real messages cut short, garbage) and 2,000 well-formed
    ones with nonsense fields, fed to the reader of a ccxt client: none escapes, each broken frame
    is counted once, and a good trade after them is still read."""
    rng = np.random.default_rng(7)
    trade = ('{"action":"update","arg":{"instType":"USDT-FUTURES","channel":"trade","instId":"BTCUSDT"},'
             '"data":[{"ts":"1695716760565","price":"27000.5","size":"0.001","side":"buy","tradeId":"'
             + str(wire_trade_id(5)) + '"}],"ts":1695716761589}')
    ticker = ('{"action":"snapshot","arg":{"instType":"USDT-FUTURES","channel":"ticker","instId":"BTCUSDT"},'
              '"data":[{"instId":"BTCUSDT","lastPr":"27000.5","markPrice":"27000.0","indexPrice":"27000.0",'
              '"holdingAmount":"929.502","fundingRate":"0.0001","ts":"1695715383021"}],"ts":1695715383039}')
    book = ('{"action":"update","arg":{"instType":"USDT-FUTURES","channel":"books","instId":"BTCUSDT"},'
            '"data":[{"asks":[["27000.5","8.76"]],"bids":[["27000","2.71"]],"checksum":12,"seq":5,'
            '"ts":"1695716059516"}],"ts":1695716059516}')
    liq = ('{"data":[{"symbol":"BTCUSDT","side":"buy","price":"89000","amount":"37.7","ts":"1736371332162"}],'
           '"arg":{"instType":"usdt-futures","topic":"liquidation"},"action":"update","ts":1736371332162}')
    real = [trade, ticker, book, liq]
    broken = []
    for i in range(100_000):
        text = real[i % 4]
        if i % 10 == 9:
            broken.append("{" + "".join(map(chr, rng.integers(32, 127, 30))))
        else:
            broken.append(text[: int(rng.integers(2, len(text) - 1))])
    weird = []
    for i in range(2_000):
        msg = json.loads(real[i % 4])
        item = msg["data"][0]
        key = list(item)[int(rng.integers(0, len(item)))]
        item[key] = [None, "x", -1, {"a": 1}, [], 1e308][i % 6]
        weird.append(json.dumps(msg))

    a = Adapter(SYMBOL, emulator="http://127.0.0.1:9")

    async def go():
        ex = a.exchange = _bare_exchange(a)
        a.market = ex.market(SYMBOL)
        client = ex.client(ex.urls["api"]["ws"]["public"])
        try:
            for text in broken:
                client.handle_text_or_binary_message(text)
            assert a.counts["malformed"] == len(broken)
            for text in weird:
                client.handle_text_or_binary_message(text)
            assert len(broken) <= a.counts["malformed"] <= len(broken) + len(weird)
            client.handle_text_or_binary_message(trade)
            cached = ex.trades[SYMBOL]
            assert cached[-1]["id"] == str(wire_trade_id(5)) and cached[-1]["side"] == "buy"
        finally:
            await ex.close()

    asyncio.run(go())


def test_only_usdt_futures_markets_are_loaded():
    """ccxt would ask for spot, margin and six futures product types and the coin list; the
    adapter's exchange asks only for the USDT-M contracts."""
    with emulator(speed=5) as emu:
        ex = Adapter(SYMBOL, emulator=emu.url).create_exchange()
        seen = []
        real = ex.fetch

        async def spy(url, *args, **kwargs):
            seen.append(url)
            return await real(url, *args, **kwargs)

        ex.fetch = spy

        async def go():
            try:
                await ex.load_markets()
            finally:
                await ex.close()

        asyncio.run(go())
    assert len(seen) == 1 and "/api/v2/mix/market/contracts?productType=USDT-FUTURES" in seen[0]
    assert list(ex.markets) == [SYMBOL] and isinstance(ex, exchange_class())
    m = ex.market(SYMBOL)
    assert m["precision"]["price"] == emu.market.simulator.tick and m["contractSize"] == 1
