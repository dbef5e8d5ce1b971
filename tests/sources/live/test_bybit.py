"""Bybit v5 linear: the adapter (ccxt.pro) against the loopback emulator over real websockets, with and
without faults, and the adapter's book/ticker handlers on a real Bybit capture."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time

import numpy as np
import pytest

from liqdesk.core.events import EXCHANGE_ID, EventBatch, concat_batches
from liqdesk.sources.emulator.bybit import trade_uuid
from liqdesk.sources.emulator.server import EmulatorThread
from liqdesk.sources.live.adapter import BookGap
from liqdesk.sources.live.bybit import Adapter, exchange_class
from liqdesk.sources.live.contract import COMPLETE, LiveState
from liqdesk.sources.live.source import LiveSource

SYM = "BTC/USDT:USDT"
GID = EXCHANGE_ID["bybit"]


def emulator(faults: str | None = None, **kw) -> EmulatorThread:
    return EmulatorThread(venues=("bybit",), history_ms=kw.pop("history_ms", 10 * 60_000), speed=kw.pop("speed", 10),
                          faults=faults, **kw)


class Run:
    """What one adapter run produced, and the emulator's view of it."""

    def __init__(self, adapter: Adapter, batch: EventBatch, checks: list, probes: dict, emu: EmulatorThread):
        self.adapter, self.batch, self.checks, self.probes, self.emu = adapter, batch, checks, probes, emu
        self.venue = emu.server.venues["bybit"]
        self.pending_at_stop = False
        #: (state, {stream: state}) when the run stopped (see ``until_live``)
        self.final_state = None

    def sent(self, kind: str):
        return self.emu.call(self.emu.market.sent, "bybit", kind)

    def trade_window(self):
        """(ledger trades from the first to the last trade received, mask of those received)."""
        sent = self.sent("trades")
        got = set(self.adapter._seen_ids)
        ids = np.array([trade_uuid(i) for i in sent["id"].tolist()])
        mask = np.fromiter((i in got for i in ids), bool, len(ids))
        assert mask.any(), "no trade received"
        idx = np.flatnonzero(mask)
        lo, hi = idx[0], idx[-1] + 1
        assert int(mask.sum()) == len(got), "a received trade id is not in the emulator's ledger"
        return sent[lo:hi], mask[lo:hi]


def book_check(adapter: Adapter, emu: EmulatorThread):
    """(u, equal) comparing ccxt's book with the book the emulator published at that update id."""
    ex = adapter.exchange
    book = ex.orderbooks.get(SYM) if ex is not None and ex.orderbooks else None
    if book is None or book.get("nonce") is None:
        return None
    u = book["nonce"]
    bids = [(float(p), float(q)) for p, q, *_ in book["bids"]]
    asks = [(float(p), float(q)) for p, q, *_ in book["asks"]]
    view = emu.call(emu.server.venues["bybit"].book_views.get, u)
    return u, view is not None and bids == list(view[0]) and asks == list(view[1])


def run_adapter(emu: EmulatorThread, seconds: float, silence_s: float | None = None, probes_at=(),
                during=None, settle_s: float = 6.0, until_live: bool = False, **attrs) -> Run:
    """Run the adapter for ``seconds`` in this thread's event loop, sampling its book every 0.25 s;
    ``probes_at``: times (s) at which to copy its counts; ``during(adapter, t)`` may act meanwhile.
    Then, the emulator's faults calmed, wait (up to ``settle_s``) until no suspected trade hole
    is left to refill (and with ``until_live``, until every stream is live: a re-dial's backoff
    may still be running at ``seconds`` on a loaded machine); ``Run.final_state`` is the state
    then. ``attrs`` override adapter attributes."""
    adapter = Adapter(SYM, emu.url)
    # the emulator at 10x pushes the book every 0.1 s: a silence of 0.5 s is a stall (Bybit: 20 ms)
    adapter.silence_hole_s = 0.5
    if silence_s:
        adapter.silence_s = silence_s
    for k, v in attrs.items():
        setattr(adapter, k, v)
    batches, checks, probes = [], [], {}
    calmed, pending_at_stop, final_state = False, [], []

    async def main():
        task = asyncio.ensure_future(adapter.start())
        nonlocal calmed
        t0 = time.monotonic()
        pending = sorted(probes_at)
        while True:
            await asyncio.sleep(0.25)
            t = time.monotonic() - t0
            if (b := adapter.take_batch()) is not None:
                batches.append(b)
            if (c := book_check(adapter, emu)) is not None:
                checks.append(c)
            while pending and (t >= pending[0] or t >= seconds):
                probes[pending.pop(0)] = {"counts": dict(adapter.counts), "state": adapter.status().state,
                                          "streams": {n: s.state for n, s in adapter.streams_status.items()}}
            if t >= seconds and not calmed:
                # faults at a rate would otherwise keep opening holes while the last ones refill
                emu.call(emu.server.faults.calm)
                calmed = True
            settled = not adapter.trades_pending and (not until_live or adapter.status().state == LiveState.LIVE)
            if t >= seconds + settle_s or (t >= seconds and settled):
                pending_at_stop.append(adapter.trades_pending)
                final_state.append((adapter.status().state, {n: st.state for n, st in adapter.streams_status.items()}))
                break
            if during is not None:
                await during(adapter, t)
        await adapter.stop()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        if (b := adapter.take_batch()) is not None:
            batches.append(b)

    asyncio.run(main())
    run = Run(adapter, concat_batches(batches) if batches else EventBatch(), checks, probes, emu)
    run.pending_at_stop = bool(pending_at_stop and pending_at_stop[0])
    run.final_state = final_state[0] if final_state else None
    return run


def rows(arr, *fields):
    return sorted(zip(*(arr[f].tolist() for f in fields)))


def missing_runs(mask: np.ndarray) -> int:
    """How many separate stretches of the ledger were not received."""
    miss = (~mask).astype(np.int8)
    return int(((np.diff(np.concatenate([[0], miss])) == 1)).sum())


def assert_every_trade(run: Run) -> np.ndarray:
    """The adapter's trades are exactly the ledger's between the first and the last it received: by
    id, count, rows and sum, none twice, no trade gap recorded. Returns the window of the ledger."""
    a = run.adapter
    assert not run.pending_at_stop, f"suspected trade holes still waiting for their refill: {a.tape.holes}"
    sent, mask = run.trade_window()
    assert mask.all(), f"{int((~mask).sum())} trades lost in {missing_runs(mask)} stretches"
    got = run.batch.trades
    assert len(got) == len(sent) == len(a._seen_ids)
    assert rows(got, "time_ms", "side", "price", "size") == rows(sent, "time_ms", "side", "price", "size")
    assert got["size"].sum() == pytest.approx(sent["size"].sum(), rel=1e-12)
    assert not [g for g in a.gaps if g[0] == "trades"], a.gaps
    return sent


def assert_books(run: Run, min_checks: int = 5):
    assert len(run.checks) >= min_checks, f"too few book samples: {run.checks}"
    bad = [c for c in run.checks if not c[1]]
    assert not bad, f"ccxt's book differs from the emulator's at u={[u for u, _ in bad][:5]}"
    assert run.checks[-1][0] > run.checks[0][0]


def assert_states(run: Run, kinds, exact: bool, since_ms: int | None = None):
    """Marks/OI/funding: every ledger row between the first (or ``since_ms``) and the last emitted is
    emitted; with ``exact``, nothing else is emitted but the ticker snapshot's (one per subscription)."""
    for kind, fields in kinds:
        sent = run.sent(kind)
        got = getattr(run.batch, kind)
        assert len(got), f"no {kind} received"
        got_rows = set(rows(got, "time_ms", *fields))
        t0, t1 = max(int(got["time_ms"][0]), since_ms or 0), int(got["time_ms"][-1])
        inner = sent[(sent["time_ms"] > t0) & (sent["time_ms"] <= t1)]
        missing = set(rows(inner, "time_ms", *fields)) - got_rows
        assert not missing, f"{kind}: {len(missing)} published rows not received"
        if exact:
            extra = got_rows - set(rows(sent, "time_ms", *fields))
            assert len(extra) <= 1, f"{kind}: rows never published: {sorted(extra)[:3]}"


def assert_liquidations(run: Run, lag_ms: int = 8_000):
    """Every emitted liquidation was published (long = +1); every one published while subscribed
    (with the 500 ms push lag) was received, once."""
    sent = run.sent("liquidations_all")
    got = run.batch.liquidations
    got_rows = rows(got, "time_ms", "side", "price", "size")
    assert len(got_rows) == len(set(got_rows)), "a liquidation was emitted twice"
    assert set(got_rows) <= set(rows(sent, "time_ms", "side", "price", "size"))
    trades = run.batch.trades
    lo, hi = int(trades["time_ms"][0]) + 2_000, int(trades["time_ms"][-1]) - lag_ms
    inner = sent[(sent["time_ms"] >= lo) & (sent["time_ms"] <= hi)]
    assert set(rows(inner, "time_ms", "side", "price", "size")) <= set(got_rows)
    assert np.allclose(got["notional"], got["price"] * got["size"])


# ---------------------------------------------------------------------------------------------


def test_clean_feed_equals_the_ledger_and_backfill():
    backfill = {}

    async def during(adapter, t):
        if t > 3.5 and not backfill and adapter.market is not None:      # (markets may load late under load)
            now = emu.market.now_ms
            backfill["span"] = (now - 10 * 60_000, now)
            backfill["batch"] = await adapter.backfill(*backfill["span"])

    with emulator() as emu:
        run = run_adapter(emu, 6.0, during=during, probes_at=(5.5,))
        a = run.adapter
        assert a.liquidations == COMPLETE
        # trades: exactly the ledger between the first and the last received, by id, count and rows
        sent, mask = run.trade_window()
        assert mask.all(), f"{int((~mask).sum())} trades lost"
        assert a.counts["duplicates"] == 0
        got = run.batch.trades
        assert len(got) == len(sent) == len(a._seen_ids) > 50
        assert rows(got, "time_ms", "side", "price", "size") == rows(sent, "time_ms", "side", "price", "size")
        assert got["size"].sum() == pytest.approx(sent["size"].sum(), rel=1e-12)
        assert set(np.unique(got["exchange"]).tolist()) == {GID}
        # marks, open interest, funding from the ticker stream; every change once
        assert_states(run, [("marks", ("price",)), ("open_interest", ("oi_base", "oi_notional")),
                            ("funding", ("rate",))], exact=True)
        assert_liquidations(run)
        assert_books(run)
        assert len(run.batch.book) and set(np.unique(run.batch.book["side"]).tolist()) == {-1, 1}
        assert a.counts["gaps"] == a.counts["resyncs"] == a.counts["malformed"] == 0
        assert a.counts["stalls"] == a.counts["reconnects"] == 0
        assert run.probes[5.5]["state"] == LiveState.LIVE
        # backfill: closed 1-minute candles as trades that rebuild them, 5-minute OI, marks per minute
        since, until = backfill["span"]
        bf = backfill["batch"]
        candles = emu.call(lambda: {k: list(v) for k, v in emu.market.venues["bybit"].candles.items()})
        closed = {k: c for k, c in candles.items() if k >= since and k + 60_000 <= until and c[5] > 0}
        tr = bf.trades
        assert len(np.unique(tr["time_ms"] // 60_000)) == len(closed) > 5
        assert tr["size"].sum() == pytest.approx(sum(c[5] for c in closed.values()), rel=1e-9)
        assert np.all(np.diff(tr["time_ms"]) >= 0)
        assert since <= tr["time_ms"].min() and tr["time_ms"].max() < until
        for k, c in sorted(closed.items())[:5]:
            mine = tr[(tr["time_ms"] >= k) & (tr["time_ms"] < k + 60_000)]
            assert mine["price"][0] == c[1] and mine["price"][-1] == c[4]
            assert mine["price"].max() == c[2] and mine["price"].min() == c[3]
        buy = tr[tr["side"] == 1]
        sell = tr[tr["side"] == -1]
        assert np.array_equal(buy["size"], sell["size"])          # Bybit: no taker split, half and half
        marks = emu.call(lambda: dict(emu.market.venues["bybit"].mark_candles))
        want = {k + 59_999: v[3] for k, v in marks.items() if k >= since and k + 60_000 <= until}
        assert dict(zip(bf.marks["time_ms"].tolist(), bf.marks["price"].tolist())) == want
        oi_hist = emu.call(lambda: dict(emu.market.venues["bybit"].oi_history))
        want_oi = {k: v[0] for k, v in oi_hist.items() if since <= k and k + 300_000 <= until}   # closed buckets
        got_oi = dict(zip(bf.open_interest["time_ms"].tolist(), bf.open_interest["oi_base"].tolist()))
        assert {k: v for k, v in got_oi.items() if k + 300_000 <= until} == want_oi
        assert len(want_oi) >= 1 and np.all(np.diff(bf.open_interest["time_ms"]) == 300_000)
        assert np.all(bf.open_interest["oi_notional"] > 0)


def test_gap_dup_burst():
    # (the burst at 4 s: a loaded machine may take 2 s to subscribe)
    with emulator("gap@2s,gap@4s,gap@rate:0.03,dup@rate:0.03,burst@4s:12") as emu:
        run = run_adapter(emu, 6.0)
        a = run.adapter
        fired = emu.server.faults.fired
        assert fired["gap"] >= 2 and fired["dup"] >= 1 and fired["burst"] == 1
        # gaps: every one found and answered by a resync (two gaps inside one resync count once)
        assert 1 <= a.counts["resyncs"] <= run.venue.gaps_made
        assert a.counts["reconnects"] == 0        # resynced by unsubscribe + subscribe on the same connection
        assert all("u jumped" in reason or "before any snapshot" in reason for _, _, _, reason in a.gaps)
        assert_books(run)                         # never a book that differs from the published one
        # duplicates dropped (trades by id, book deltas by u, ticker rows by content); nothing lost
        assert a.counts["duplicates"] >= 1
        sent, mask = run.trade_window()
        assert mask.all()
        got = run.batch.trades
        assert rows(got, "time_ms", "side", "price", "size") == rows(sent, "time_ms", "side", "price", "size")
        assert_states(run, [("marks", ("price",)), ("open_interest", ("oi_base", "oi_notional"))], exact=True)
        # the burst: all 12 of one frame received once (ccxt's watch returns only the first)
        assert run.venue.bursts_sent == 1
        assert_liquidations(run)
        liq = run.batch.liquidations
        times, counts = np.unique(liq["time_ms"], return_counts=True)
        assert len(counts) and counts.max() >= 12, (len(run.sent("liquidations_all")), run.adapter.streams_status["liquidations"], len(run.batch.trades), run.adapter.counts)


def test_malformed_and_truncated_frames():
    with emulator("malformed@rate:0.03,truncated@rate:0.03") as emu:
        run = run_adapter(emu, 6.0, probes_at=(5.8,))
        a = run.adapter
        fired = emu.server.faults.fired["malformed"] + emu.server.faults.fired["truncated"]
        assert fired >= 4
        # counted, skipped; the connection goes on (ccxt alone would stop reading it)
        assert 1 <= a.counts["malformed"] <= fired
        # a broken frame that may have held trades opens a suspected hole: refilled from recent-trade
        assert a.holes_refilled >= 1
        assert_every_trade(run)
        assert_books(run)
        got = run.batch.trades
        trades_late = got[got["time_ms"] > int(got["time_ms"][-1]) - 10_000]
        assert len(trades_late), "the trade stream did not go on"
        assert run.probes[5.8]["state"] == LiveState.LIVE, run.probes[5.8]


def test_stalls_shorter_and_longer_than_the_watchdog():
    with emulator("stall@2s:1s,stall@4s:3500ms") as emu:
        run = run_adapter(emu, 10.0, silence_s=2.0, probes_at=(3.8,), until_live=True)
        a = run.adapter
        # the short stall: no watchdog, the book deltas lost meanwhile (a gap, then a resync), and the
        # silence taken as a suspected trade hole
        assert run.probes[3.8]["counts"]["stalls"] == 0
        # (counted at the end: under load the resync's new snapshot may land after the long stall
        # began; a re-dial's fresh snapshot is not a resync, so this one is the short stall's)
        assert a.counts["resyncs"] >= 1 and [g for g in a.gaps if g[0] == "book"]
        # the long one: silence taken as a dead connection, dropped and re-dialed, streams live again
        assert a.counts["stalls"] >= 1 and a.counts["reconnects"] >= 1
        assert run.final_state[0] == LiveState.LIVE, run.final_state
        # the trades of both stalls (the emulator sent nothing meanwhile) refilled from recent-trade
        assert a.holes_refilled >= 2 and a.trades_refilled > 20
        assert_every_trade(run)
        assert a.counts["duplicates"] == 0
        assert_books(run)
        # after the recovery (the first mark after the stream's longest silence: under load the re-dial
        # may land a few seconds after the stall ends), every mark again, and for a while
        marks = np.sort(run.batch.marks["time_ms"])
        recovered = int(marks[np.argmax(np.diff(marks)) + 1])
        assert int(marks[-1]) - recovered >= 5_000, "the mark stream did not go on after the recovery"
        assert_states(run, [("marks", ("price",))], exact=False, since_ms=recovered)


def test_hole_older_than_recent_trades_is_a_recorded_gap():
    """Bybit serves only its last 1,000 trades: a hole reaching further back is lost, and recorded.
    (Here the adapter asks for the last 40, so a 2-second stall at 10x is longer than that.)"""
    with emulator("stall@3s:2s") as emu:
        run = run_adapter(emu, 8.0, recent_trades=40)
        a = run.adapter
        gaps = [g for g in a.gaps if g[0] == "trades"]
        assert len(gaps) == 1, a.gaps
        _, start, end, reason = gaps[0]
        assert "no message for" in reason and "last 40" in reason
        sent, mask = run.trade_window()
        lost = sent[~mask]
        assert len(lost) > 10
        # what was lost lies inside the recorded span; the newest 40 of the hole were refilled
        assert start <= int(lost["time_ms"].min()) and int(lost["time_ms"].max()) <= end
        assert (sent["time_ms"][mask] > start).sum() and a.trades_refilled >= 1
        assert mask[sent["time_ms"] > end].all()
        got = run.batch.trades
        assert len(got) == len(a._seen_ids) == int(mask.sum()) and a.counts["duplicates"] == 0
        assert set(rows(got, "time_ms", "side", "price", "size")) <= set(rows(sent, "time_ms", "side", "price", "size"))


def test_drop_refused_reconnects_and_http429():
    backfill = {}

    async def during(adapter, t):
        if t > 6.2 and not backfill:
            assert adapter.market is not None
            venue = emu.server.venues["bybit"]
            before = venue.rate_limited
            now = emu.market.now_ms
            backfill["batch"] = await adapter.backfill(now - 10 * 60_000, now)     # answered 429 first
            backfill["429"] = venue.rate_limited - before

    faults = "http429@1ms:1s,drop@3s,refuse@3s:1500ms,http429@6s:1500ms"
    with emulator(faults) as emu:
        run = run_adapter(emu, 9.0, during=during, until_live=True)
        a = run.adapter
        fired = emu.server.faults.fired
        assert fired["http429"] == 2 and fired["drop"] == 1 and fired["refuse"] == 1
        # markets loaded once the 429s stopped; the backfill waited out its 429 and came back whole
        assert backfill["429"] >= 1
        assert backfill["batch"] is not None and len(backfill["batch"].trades) > 10
        assert run.venue.rate_limited >= 2
        # every stream live again by itself (a CI run under load: the liquidation stream's backoff
        # was still running at 8.9 s, so this waits for it within the settling time)
        assert run.final_state[0] == LiveState.LIVE, run.final_state
        # the drop: every stream re-dialed through the refused handshakes, by itself
        assert sum(s.retries for s in a.streams_status.values()) >= 3
        assert all(s.messages > 0 for n, s in a.streams_status.items() if n != "liquidations")
        # the trades sent while there was no connection: refilled from recent-trade
        assert a.holes_refilled >= 1 and a.trades_refilled >= 1
        assert_every_trade(run)
        assert a.counts["duplicates"] == 0
        assert_books(run)


def test_live_source_polls_batches():
    with emulator() as emu:
        src = LiveSource(exchanges=("bybit",), symbol=SYM, emulator=emu.url, backfill_ms=10 * 60_000).start()
        try:
            got = []
            t0 = time.monotonic()
            while time.monotonic() - t0 < 4.0:
                b = src.poll()
                if b is not None:
                    got.append(b)
                time.sleep(0.05)
            statuses = src.statuses()
            line = src.state()
        finally:
            src.stop()
    assert got, "no batch from poll()"
    merged = concat_batches(got)
    assert len(merged.trades) > 50 and len(merged.marks) and len(merged.book) and len(merged.open_interest)
    assert src.backfill_span is not None and src.backfill_span[0] < src.backfill_span[1]
    assert statuses[0].exchange == "bybit" and statuses[0].liquidations == COMPLETE
    assert statuses[0].state == LiveState.LIVE, line
    assert "bybit live" in line


def test_emulator_websocket_protocol():
    """Acks, pong, snapshot-then-delta with u + 1, errors, unsubscribe: as Bybit's public linear stream."""
    import aiohttp

    async def main(url):
        async with aiohttp.ClientSession() as http, http.ws_connect(url) as ws:
            async def recv(pred, timeout=5.0):
                async def first():
                    while True:
                        msg = json.loads((await ws.receive()).data)
                        if pred(msg):
                            return msg
                return await asyncio.wait_for(first(), timeout)

            await ws.send_str(json.dumps({"op": "ping", "req_id": "7"}))
            pong = await recv(lambda m: m.get("op") == "ping")
            assert pong["success"] is True and pong["ret_msg"] == "pong" and pong["req_id"] == "7" and pong["conn_id"]
            await ws.send_str(json.dumps({"op": "subscribe", "req_id": 8, "args": ["orderbook.50.BTCUSDT",
                                                                                  "tickers.BTCUSDT"]}))
            ack = await recv(lambda m: m.get("op") == "subscribe")
            assert ack["success"] is True and ack["req_id"] == "8"
            snap = await recv(lambda m: m.get("topic") == "orderbook.50.BTCUSDT")
            assert snap["type"] == "snapshot" and snap["data"]["s"] == "BTCUSDT"
            bids = [float(p) for p, _ in snap["data"]["b"]]
            assert bids == sorted(bids, reverse=True) and len(bids) <= 50
            tick = await recv(lambda m: m.get("topic") == "tickers.BTCUSDT")
            assert tick["type"] == "snapshot" and {"markPrice", "openInterest", "openInterestValue", "fundingRate",
                                                   "nextFundingTime"} <= set(tick["data"])
            u = snap["data"]["u"]
            for _ in range(3):
                delta = await recv(lambda m: m.get("topic") == "orderbook.50.BTCUSDT")
                assert delta["type"] == "delta" and delta["data"]["u"] == u + 1 and delta["data"]["seq"] > snap["data"]["seq"]
                u += 1
            await ws.send_str(json.dumps({"op": "subscribe", "req_id": "9", "args": ["tickers.BTCUSDT"]}))
            again = await recv(lambda m: m.get("op") == "subscribe")
            assert again["success"] is False and "already subscribed" in again["ret_msg"]
            await ws.send_str(json.dumps({"op": "subscribe", "req_id": "10", "args": ["orderbook.7.BTCUSDT"]}))
            bad = await recv(lambda m: m.get("op") == "subscribe")
            assert bad["success"] is False and bad["req_id"] == "10"
            await ws.send_str(json.dumps({"op": "unsubscribe", "req_id": "11", "args": ["orderbook.50.BTCUSDT"]}))
            assert (await recv(lambda m: m.get("op") == "unsubscribe"))["success"] is True
            delta = await recv(lambda m: "topic" in m)
            assert delta["topic"] == "tickers.BTCUSDT"
            with pytest.raises(TimeoutError):          # no book after the unsubscription
                await recv(lambda m: m.get("topic") == "orderbook.50.BTCUSDT", timeout=1.0)

    with emulator() as emu:
        asyncio.run(main(emu.url.replace("http://", "ws://") + "/bybit/v5/public/linear"))


def test_emulator_recent_trade_serves_the_ledger():
    """GET /v5/market/recent-trade: the newest ``limit`` trades published, newest first, in Bybit's
    fields, ``execId`` the websocket's ``i`` (trades nobody received included)."""
    import aiohttp

    async def get(url, **params):
        async with aiohttp.ClientSession() as http, http.get(url, params=params) as r:
            return await r.json()

    with emulator() as emu:
        time.sleep(1.0)
        url = emu.url + "/bybit/v5/market/recent-trade"
        ans = asyncio.run(get(url, category="linear", symbol="BTCUSDT", limit="7"))
        sent = emu.call(emu.market.sent, "bybit", "trades")
        bad = asyncio.run(get(url, category="linear", symbol="ETHUSDT"))
        default = asyncio.run(get(url, category="linear", symbol="BTCUSDT"))
    assert ans["retCode"] == 0 and ans["result"]["category"] == "linear"
    got = ans["result"]["list"]
    assert len(got) == 7
    newest = sent[::-1]
    n = next(i for i in range(len(newest)) if trade_uuid(int(newest["id"][i])) == got[0]["execId"])
    assert n <= 3          # (a tick may have published between the call and the ledger read)
    for row, want in zip(got, newest[n:n + 7]):
        assert row["execId"] == trade_uuid(int(want["id"])) and row["symbol"] == "BTCUSDT"
        assert float(row["price"]) == want["price"] and float(row["size"]) == want["size"]
        assert row["side"] == ("Buy" if want["side"] > 0 else "Sell") and int(row["time"]) == want["time_ms"]
        assert row["isBlockTrade"] is False
    times = [int(r["time"]) for r in got]
    assert times == sorted(times, reverse=True)
    assert bad["retCode"] == 10001
    assert min(500, len(sent)) <= len(default["result"]["list"]) <= 500      # Bybit's default limit


# ------------------------------------------------------------------ a real Bybit capture


def _capture(real_data):
    zstd = pytest.importorskip("zstandard")
    path = real_data / "exchange-ws" / "BYBIT.v3.jsonl.zst"
    if not path.exists():
        pytest.skip(f"{path} not found")
    with path.open("rb") as fh:
        text = zstd.ZstdDecompressor().stream_reader(fh).read().decode()
    out = []
    for line in text.splitlines():
        rec = json.loads(line)
        if rec.get("t") == "recv" and rec.get("conn") == "BYBIT.ws.2":       # the linear connection
            out.append(json.loads(rec["data"]))
    return out


def _exchange():
    ex = exchange_class()({"options": {"fetchMarkets": {"types": ["linear"]}}})
    ex.set_markets([{"id": "BTCUSDT", "symbol": SYM, "base": "BTC", "quote": "USDT", "settle": "USDT",
                     "baseId": "BTC", "quoteId": "USDT", "settleId": "USDT", "type": "swap", "spot": False,
                     "margin": None, "swap": True, "future": False, "option": False, "active": True,
                     "contract": True, "linear": True, "inverse": False, "contractSize": 1.0,
                     "precision": {"amount": 0.001, "price": 0.1}, "limits": {}, "info": {}}])
    return ex


def test_real_capture_book_continuity_and_ticker(real_data):
    messages = _capture(real_data)
    book = [m for m in messages if m.get("topic") == "orderbook.200.BTCUSDT"]
    tickers = [m for m in messages if m.get("topic") == "tickers.BTCUSDT"]
    assert book[0]["type"] == "snapshot" and len(book) > 100 and len(tickers) > 50

    async def main():
        ex = _exchange()
        counts = {}
        ex.liqdesk_count = lambda k: counts.__setitem__(k, counts.get(k, 0) + 1)
        client = ex.client("wss://stream.bybit.com/v5/public/linear")
        # the real stream: continuous u, applied, nothing rejected
        for m in book:
            ex.handle_message(client, m)
        assert "orderbook:" + SYM not in client.rejections
        assert ex.orderbooks[SYM]["nonce"] == book[-1]["data"]["u"]
        ob = ex.orderbooks[SYM]
        assert ob["bids"][0][0] < ob["asks"][0][0]
        # a repeated delta is dropped, a missing one is a gap
        ex.handle_message(client, book[-1])
        assert counts == {"duplicates": 1}
        ex.handle_message(client, book[0])                 # snapshot: start again
        ex.handle_message(client, book[1])
        ex.handle_message(client, book[3])                 # book[2] lost
        err = client.rejections.get("orderbook:" + SYM)
        assert isinstance(err, BookGap) and "jumped" in str(err)
        assert ex.orderbooks[SYM]["nonce"] == book[1]["data"]["u"]
        # tickers: every markPrice / openInterest / fundingRate field once, at its message's time
        adapter = Adapter(SYM)
        adapter.exchange, adapter.market = ex, ex.market(SYM)
        for m in tickers:
            ex.handle_message(client, m)
        adapter._drain_tickers()
        batch = adapter.take_batch()
        want_marks = {(m["ts"], float(m["data"]["markPrice"])) for m in tickers if "markPrice" in m["data"]}
        assert set(zip(batch.marks["time_ms"].tolist(), batch.marks["price"].tolist())) == want_marks
        want_oi = {(m["ts"], float(m["data"]["openInterest"])) for m in tickers if "openInterest" in m["data"]}
        assert set(zip(batch.open_interest["time_ms"].tolist(), batch.open_interest["oi_base"].tolist())) == want_oi
        assert len(want_oi) >= 1 and np.all(batch.open_interest["oi_notional"] > 1e9)   # BTC: billions of USDT
        assert len(batch.funding) >= 1
        await ex.close()

    asyncio.run(main())
