"""``liqdesk emulate --replay``: real exchange captures served by the emulator, through the real
adapters over loopback websockets.

What the adapters receive is compared with the captures themselves, read here with plain ``json``
and none of liqdesk's replay code (trades: count, sum of sizes, unique ids; the Binance book with
the book liqdesk's importer builds from the same file). The captures are in ../shared/data/real;
the tests skip when it is absent.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import subprocess
import sys
import time

import aiohttp
import numpy as np
import pytest
import zstandard

from liqdesk.core.book import OrderBooks
from liqdesk.sources.emulator.server import EmulatorThread
from liqdesk.sources.importers import import_files
from liqdesk.sources.live.source import LiveSource

BINANCE = "binance-usdm-ws/btcusdt_20240808.gz"
BYBIT = "exchange-ws/BYBIT.v3.jsonl.zst"
OKX = "exchange-ws/OKX.v3.jsonl.zst"


# ---------------------------------------------------------------------- the captures, read plainly
def binance_capture(path):
    """(trades {id: size}, messages per stream family, last depth u)."""
    trades, families, last_u = {}, {}, None
    with gzip.open(path, "rt") as fh:
        for line in fh:
            msg = json.loads(line.split(" ", 1)[1])
            if "stream" not in msg:
                continue
            family = msg["stream"].split("@")[1]
            families[family] = families.get(family, 0) + 1
            d = msg["data"]
            if family == "trade":
                assert d["t"] not in trades
                trades[d["t"]] = float(d["q"])
            elif family == "depth":
                last_u = d["u"]
    return trades, families, last_u


def wrapped_records(path):
    with open(path, "rb") as fh:
        text = zstandard.ZstdDecompressor().stream_reader(fh).read().decode()
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def bybit_trades(path, symbol_id="BTCUSDT"):
    """Trades of the linear connection's ``publicTrade.{symbol_id}``: {id: (price, size)}."""
    recs = wrapped_records(path)
    linear = {r["conn"] for r in recs if r["t"] == "connect" and r["addr"].endswith("/v5/public/linear")}
    out = {}
    for r in recs:
        if r["t"] == "recv" and r["conn"] in linear:
            msg = json.loads(r["data"])
            if msg.get("topic") == f"publicTrade.{symbol_id}":
                for x in msg["data"]:
                    assert x["i"] not in out
                    out[x["i"]] = (float(x["p"]), float(x["v"]))
    return out


def okx_trades(path, inst="UNI-USD-SWAP"):
    out = {}
    for r in wrapped_records(path):
        if r["t"] == "recv" and r["data"].startswith("{"):
            msg = json.loads(r["data"])
            if msg.get("arg") == {"channel": "trades", "instId": inst} and "data" in msg:
                for x in msg["data"]:
                    out[x["tradeId"]] = (float(x["px"]), float(x["sz"]))
    return out


# ---------------------------------------------------------------------- helpers
def run_source(emu: EmulatorThread, venue: str, symbol: str, done, timeout: float = 30.0):
    """A LiveSource of one exchange against the emulator until ``done(adapter)``; returns the
    batches polled (per kind), the adapter and the ccxt book read on its loop at the end."""
    src = LiveSource((venue,), symbol=symbol, emulator=emu.url, backfill_ms=0).start()
    ad = src.adapters[venue]
    got: dict[str, list] = {}
    t0 = time.monotonic()

    def poll():
        batch = src.poll()
        if batch is not None:
            for kind, arr in batch.arrays().items():
                if len(arr):
                    got.setdefault(kind, []).append(arr)

    async def book():
        ob = ad.exchange.orderbooks.get(ad.symbol)
        return None if ob is None else (ob["nonce"], [tuple(x[:2]) for x in ob["bids"]],
                                        [tuple(x[:2]) for x in ob["asks"]])

    try:
        while not (emu.market.finished and done(ad)):
            assert time.monotonic() - t0 < timeout, (f"replay not received in {timeout} s: {emu.market.summary()}; "
                                                     f"adapter {ad.counts} {ad.error}")
            poll()
            time.sleep(0.05)
        time.sleep(0.3)         # the flusher's last batch
        poll()
        ob = asyncio.run_coroutine_threadsafe(book(), src.loop).result(10)
    finally:
        src.stop()
    return {k: np.concatenate(v) for k, v in got.items()}, ad, ob


# ---------------------------------------------------------------------- Binance
def test_binance_capture_through_the_binance_adapter(real_data):
    """The BTC capture at 50x (a depth diff withheld once, 0.1 % of messages sent twice): every
    trade once, and ccxt's book (REST snapshot built from the capture + the diffs) is the
    importer's book of the same file at the same update id."""
    path = real_data / BINANCE
    trades, families, last_u = binance_capture(path)
    with EmulatorThread(replay=[path], speed=50, faults="gap@5s,dup@rate:0.001", seed=3) as emu:
        feed = emu.market
        assert feed.symbol == "BTC/USDT:USDT" and tuple(feed.captures) == ("binance",)
        got, ad, ob = run_source(emu, "binance", "BTC/USDT:USDT",
                                 lambda a: len(a._seen_ids) >= len(trades) and not a.trades_pending
                                 and (a.exchange.orderbooks.get(a.symbol) or {}).get("nonce") == last_u)
        # what the emulator says it published: every message of the capture, by stream
        summary = feed.summary()["binance"]
        assert summary["messages"] == families == {"trade": 21_313, "depth": 6_551, "bookTicker": 66_089}
        assert summary["finished"] and summary["events"]["trades"] == len(trades)
        assert emu.server.venues["binanceusdm"].replay_gaps == 1

        # a REST snapshot now: the capture's book after its last diff, with that diff's id
        async def depth():
            async with aiohttp.ClientSession() as s, s.get(f"{emu.url}/binanceusdm/fapi/v1/depth",
                                                           params={"symbol": "BTCUSDT", "limit": 1000}) as r:
                return await r.json()
        snap = asyncio.run(depth())
    # trades: each once, exactly the capture's
    tr = got["trades"]
    assert len(tr) == len(trades) == 21_313
    assert sorted(ad._seen_ids) == sorted(trades)
    assert tr["size"].sum() == pytest.approx(sum(trades.values()), rel=1e-12)
    assert ad.counts["duplicates"] > 0 and ad.counts["resyncs"] >= 1
    # the book: ccxt's (from the last REST snapshot, 1,000 levels a side, and the diffs since) against
    # the importer's: the same top 500 levels, and every level of ccxt's is the importer's
    nonce, bids, asks = ob
    assert nonce == last_u == snap["lastUpdateId"]
    batches, _ = import_files([path])
    books = OrderBooks()
    for b in batches:
        books.apply(b.book)
    (book,) = books.books.values()
    ib = list(zip(book.bids.price[::-1].tolist(), book.bids.size[::-1].tolist()))
    ia = list(zip(book.asks.price.tolist(), book.asks.size.tolist()))
    assert 900 < len(bids) <= 1000 and 900 < len(asks) <= 1000     # deletions since the snapshot thin it
    assert bids[:500] == ib[:500] and asks[:500] == ia[:500]
    ib_, ia_ = dict(ib), dict(ia)
    assert all(ib_.get(p) == q for p, q in bids) and all(ia_.get(p) == q for p, q in asks)
    assert [[float(p), float(q)] for p, q in snap["bids"][:500]] == [list(x) for x in ib[:500]]


# ---------------------------------------------------------------------- Bybit
def test_bybit_capture_through_the_bybit_adapter(real_data):
    """The Bybit v5 capture (four linear perpetuals and two spot markets): BTCUSDT's linear
    streams; trades, marks, open interest and funding of the tickers, and the book."""
    path = real_data / BYBIT
    trades = bybit_trades(path)
    with EmulatorThread(replay=[path], speed=20) as emu:
        feed = emu.market
        cap = feed.captures["bybit"]
        assert feed.symbol == "BTC/USDT:USDT"
        assert set(cap.markets) == {"BTC/USDT:USDT", "ETH/USDT:USDT", "SOL/USDT:USDT", "DOGE/USDT:USDT"}
        got, ad, ob = run_source(emu, "bybit", "BTC/USDT:USDT", lambda a: len(a._seen_ids) >= len(trades))
        summary = feed.summary()["bybit"]
        # a late subscriber gets a snapshot built from the capture, with the last delta's ids
        async def late():
            async with aiohttp.ClientSession() as s, s.ws_connect(f"{emu.url}/bybit/v5/public/linear") as ws:
                await ws.send_json({"op": "subscribe", "args": ["orderbook.50.BTCUSDT", "tickers.BTCUSDT"]})
                msgs = [json.loads((await ws.receive(timeout=5)).data) for _ in range(3)]
                return {m.get("topic", "ack"): m for m in msgs}
        late_msgs = asyncio.run(late())
    assert len(trades) == 56
    tr = got["trades"]
    assert len(tr) == len(trades) and set(ad._seen_ids) == set(trades)
    assert tr["size"].sum() == pytest.approx(sum(v for _, v in trades.values()), rel=1e-12)
    assert sorted(tr["price"].tolist()) == sorted(p for p, _ in trades.values())
    assert summary["messages"] == {"orderbook": 414, "tickers": 185, "publicTrade": 16, "kline": 22}
    for kind in ("marks", "open_interest", "funding"):
        sent = feed.sent("bybit", kind)
        assert len(sent) and len(got[kind]) == len(sent), kind
        assert got[kind]["time_ms"].tolist() == sent["time_ms"].tolist(), kind
    nonce, bids, asks = ob
    cb, ca = cap.book.levels()
    assert nonce == cap.book.last_id
    assert bids == [(float(p), float(q)) for p, q in cb] and asks == [(float(p), float(q)) for p, q in ca]
    snap = late_msgs["orderbook.200.BTCUSDT"]
    assert snap["type"] == "snapshot" and snap["data"]["u"] == nonce
    assert snap["data"]["b"] == cb and snap["data"]["a"] == ca
    assert late_msgs["tickers.BTCUSDT"]["data"] == cap.ticker


# ---------------------------------------------------------------------- OKX
def test_okx_capture_through_the_okx_adapter(real_data):
    """The OKX v5 capture (BTC-USDT spot, a dated future and one swap): its only perpetual, the
    inverse UNI-USD-SWAP, listed with the capture's own instrument row (contract value 10 USD)."""
    path = real_data / OKX
    trades = okx_trades(path)
    with EmulatorThread(replay=[path], speed=20) as emu:
        feed = emu.market
        cap = feed.captures["okx"]
        assert feed.symbol == "UNI/USD:UNI" and set(cap.markets) == {"UNI/USD:UNI"}
        got, ad, ob = run_source(emu, "okx", "UNI/USD:UNI", lambda a: len(a._seen_ids) >= len(trades))
        summary = feed.summary()["okx"]
    assert len(trades) == 1 and set(ad._seen_ids) == set(trades)
    tr = got["trades"]
    cs = ad.market["contractSize"]
    assert cs == 10 and ad.market["inverse"]
    assert len(tr) == 1 and tr["price"][0] == trades[next(iter(trades))][0]
    assert tr["size"][0] / cs == trades[next(iter(trades))][1]        # contracts as captured
    assert summary["messages"] == {"books": 93, "trades": 1, "tickers": 1}
    nonce, bids, asks = ob
    cb, ca = cap.book.levels()
    assert bids == [(float(x[0]), float(x[1])) for x in cb] and asks == [(float(x[0]), float(x[1])) for x in ca]


# ---------------------------------------------------------------------- the command
def emulate(*args, timeout=60):
    return subprocess.run([sys.executable, "-m", "liqdesk", "emulate", *args], capture_output=True, text=True,
                          timeout=timeout)


def test_emulate_replay_command(real_data, tmp_path):
    ledger = tmp_path / "ledger.json"
    r = emulate("--replay", str(real_data / OKX), "--duration", "5s", "--ledger", str(ledger))
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[0].startswith("listening on http://127.0.0.1:")
    assert "serving UNI/USD:UNI" in r.stderr and "BTC-USDT: not served" in r.stderr
    assert json.loads(ledger.read_text())["okx"]["symbol"] == "UNI/USD:UNI"
    bad = tmp_path / "bad.gz"
    bad.write_bytes(gzip.compress(b'{"hello": "world"}\n'))
    for args in (("--replay", str(bad)), ("--replay", str(real_data / OKX), "--symbol", "BTC/USDT:USDT")):
        r = emulate(*args, "--duration", "5s")
        assert r.returncode == 2 and r.stdout == ""
        assert len(r.stderr.strip().splitlines()) == 1 and r.stderr.startswith("liqdesk: error: "), r.stderr
