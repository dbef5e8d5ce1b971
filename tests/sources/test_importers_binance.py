"""binance-ws and binance-csv importers on small hand-made inputs."""

from __future__ import annotations

import gzip
import io
import zipfile

import numpy as np
import pytest
import zstandard

from liqdesk.sources.importers import import_bytes, import_files
from liqdesk.sources.importers import report as R

from .importer_helpers import (
    T0,
    bn_agg,
    bn_book_ticker,
    bn_depth,
    bn_force,
    bn_mark,
    bn_trade,
    line,
    lines,
    merged,
)


def test_trades_with_ns_prefix_side_and_times():
    data = b"".join(line(bn_trade(100 + i, T0 + i * 10, maker=i % 2 == 0), prefix=f"{(T0 + i) * 10**6} ")
                    + b"\n" for i in range(10))
    batches, rep = import_bytes(data)
    ev = merged(batches)
    assert rep.formats["<memory>"] == "binance-ws"
    assert rep.symbol == "BTC/USDT:USDT" and rep.exchanges == ["binance"]
    assert len(ev.trades) == 10 and rep.events["trades"] == 10
    # is buyer maker -> the taker sold
    assert ev.trades["side"].tolist() == [-1 if i % 2 == 0 else 1 for i in range(10)]
    assert ev.trades["time_ms"][0] == T0 and ev.trades["time_ms"][-1] == T0 + 90
    assert ev.trades["price"][0] == pytest.approx(61800.10)
    assert not rep.skipped


def test_seconds_colon_prefix_and_connection_lines():
    data = (b"wss://fstream.binance.com/stream?streams=btcusdt@trade <-> 1626992740.17\n"
            b"wss://fstream.binance.com/stream <- 1626992740.2: {\"method\":\"SUBSCRIBE\"}\n"
            + line(bn_trade(1, T0), prefix="1626992741.06217: ") + b"\n")
    batches, rep = import_bytes(data)
    assert rep.events["trades"] == 1
    assert rep.skipped[R.CONTROL] == 2


def test_duplicate_trades_agg_and_liquidations_dropped():
    msgs = [bn_trade(1, T0), bn_trade(2, T0 + 1), bn_trade(1, T0), bn_trade(3, T0 + 2), bn_trade(2, T0 + 1),
            bn_force(T0 + 5, "SELL"), bn_force(T0 + 5, "SELL")]
    batches, rep = import_bytes(lines(*msgs))
    ev = merged(batches)
    assert len(ev.trades) == 3 and rep.skipped[R.DUPLICATE.format("trades")] == 2
    assert len(ev.liquidations) == 1 and rep.skipped[R.DUPLICATE.format("liquidations")] == 1


def test_agg_trades_used_alone_and_superseded_by_trade_stream():
    batches, rep = import_bytes(lines(bn_agg(7, T0), bn_agg(8, T0 + 1), bn_agg(7, T0)))
    assert rep.events["trades"] == 2 and rep.skipped[R.DUPLICATE.format("trades")] == 1
    batches, rep = import_bytes(lines(bn_agg(7, T0), bn_trade(70, T0), bn_agg(8, T0 + 1)))
    assert rep.events["trades"] == 1 and rep.skipped[R.SUPERSEDED_AGG] == 2


def test_force_order_side_price_and_size():
    msgs = [bn_force(T0, "SELL", price="60000", avg="59990", qty="0.5", filled="0.4"),
            bn_force(T0 + 1, "BUY", price="62000", avg="0", qty="0.3", filled="0"),
            bn_force(T0 + 2, "HOLD")]
    batches, rep = import_bytes(lines(*msgs))
    liq = merged(batches).liquidations
    assert liq["side"].tolist() == [1, -1]  # SELL: a long was liquidated; BUY: a short
    assert liq["price"].tolist() == [59990.0, 62000.0]  # average price when > 0, else price
    assert liq["size"].tolist() == [0.4, 0.3]  # filled quantity when > 0, else quantity
    assert liq["notional"][0] == pytest.approx(59990 * 0.4)
    assert rep.skipped[R.INVALID_ROWS.format("liquidations")] == 1


def test_mark_price_and_funding_on_change():
    msgs = [bn_mark(T0, rate="0.0001"), bn_mark(T0 + 1000, rate="0.0001"), bn_mark(T0 + 2000, rate="0.0002")]
    ev = merged(import_bytes(lines(*msgs))[0])
    assert len(ev.marks) == 3
    assert ev.funding["rate"].tolist() == [0.0001, 0.0002]
    assert ev.funding["time_ms"].tolist() == [T0, T0 + 2000]


def test_depth_gap_from_pu_and_repeated_update():
    msgs = [bn_depth(1, 10, 0, T0), bn_depth(11, 20, 10, T0 + 100), bn_depth(11, 20, 10, T0 + 100),
            bn_depth(31, 40, 30, T0 + 200), bn_depth(41, 50, 40, T0 + 300)]
    batches, rep = import_bytes(lines(*msgs))
    ev = merged(batches)
    assert rep.skipped[R.DUPLICATE.format("book updates")] == 1
    assert len(ev.book) == 8 and not ev.book["snapshot"].any()
    assert [g[:2] for g in rep.gaps] == [(T0 + 100, T0 + 200)]
    gap = rep.gaps[0]
    assert (gap.exchange, gap.kind) == ("binance", "book") and "pu 30" in gap.reason
    # bids +1 then asks -1, per message
    assert ev.book["side"][:2].tolist() == [1, -1]


def test_bare_rest_snapshot_goes_to_the_depth_stream_and_drops_stale_diffs():
    snap = {"lastUpdateId": 25, "E": T0 + 150, "T": T0 + 150,
            "bids": [["61799.00", "1.5"], ["61798.00", "2"]], "asks": [["61801.00", "1"]]}
    msgs = [bn_depth(1, 10, 0, T0), snap, bn_depth(11, 20, 10, T0 + 120), bn_depth(21, 30, 20, T0 + 200)]
    batches, rep = import_bytes(lines(*msgs, prefix="1723161255030314667 "))
    ev = merged(batches)
    assert rep.skipped[R.STALE_BOOK] == 1
    snap_rows = ev.book[ev.book["snapshot"]]
    assert len(snap_rows) == 3 and (snap_rows["time_ms"] == T0 + 150).all()
    assert snap_rows["side"].tolist() == [1, 1, -1]
    assert len(ev.book) == 2 + 3 + 2


def test_book_ticker_and_kline_counted_not_imported():
    kline = {"stream": "btcusdt@kline_1m", "data": {"e": "kline", "E": T0, "s": "BTCUSDT", "k": {}}}
    batches, rep = import_bytes(lines(bn_book_ticker(T0), bn_book_ticker(T0 + 1), kline, bn_trade(1, T0)))
    assert rep.skipped[R.NOT_IMPORTED.format("bookTicker")] == 2
    assert rep.skipped[R.NOT_IMPORTED.format("kline")] == 1
    assert rep.events["trades"] == 1


def test_fast_and_slow_depth_paths_agree():
    msgs = [bn_depth(1, 10, 0, T0, bids=[("1.5", "2"), ("1.4", "0")], asks=[]),
            bn_depth(11, 20, 10, T0 + 1, bids=[], asks=[("1.6", "3"), ("1.7", "4")])]
    fast = merged(import_bytes(lines(*msgs))[0]).book
    # the same messages, keys in another order: not the fast path's shape
    reordered = [{"data": m["data"], "stream": m["stream"]} for m in msgs]
    slow = merged(import_bytes(lines(*reordered))[0]).book
    assert fast.tolist() == slow.tolist()
    assert fast["price"].tolist() == [1.5, 1.4, 1.6, 1.7]
    assert fast["size"].tolist() == [2.0, 0.0, 3.0, 4.0]
    assert fast["side"].tolist() == [1, 1, -1, -1]


def test_mixed_symbols_most_frequent_and_explicit():
    msgs = [bn_trade(i, T0 + i) for i in range(5)] + [bn_trade(100 + i, T0 + i, symbol="ETHUSDT")
                                                      for i in range(3)]
    batches, rep = import_bytes(lines(*msgs))
    assert rep.symbol == "BTC/USDT:USDT" and rep.events["trades"] == 5
    assert rep.skipped[R.OTHER_SYMBOLS] == 3
    assert rep.symbols == {"BTC/USDT:USDT": 5, "ETH/USDT:USDT": 3}
    for spelling in ("ETHUSDT", "ethusdt", "ETH/USDT:USDT", "ETH-USDT-SWAP", "ETHUSDT.P"):
        batches, rep = import_bytes(lines(*msgs), symbol=spelling)
        assert rep.symbol == "ETH/USDT:USDT" and rep.events["trades"] == 3
        assert rep.skipped[R.OTHER_SYMBOLS] == 5
    for other in ("SOLUSDT", "ETH/USDT", "ETH-USDT"):  # not there; ETH spot is not the ETH perpetual
        batches, rep = import_bytes(lines(*msgs), symbol=other)
        assert batches == [] and not rep.usable and rep.symbol is None


def test_garbage_malformed_unknown_are_counted():
    data = (line(bn_trade(1, T0)) + b"\n"
            + b"not json at all\n"
            + b'{"stream":"btcusdt@trade","data":{"e":"trade","T":1}}\n'  # fields missing
            + b'{"stream":"btcusdt@trade","data":{"e":"trade","E":1,"T":"x","s":"BTCUSDT","t":2,'
              b'"p":"1","q":"1","m":true}}\n'  # wrong type of time
            + b'{"stream":"btcusdt@fancy","data":{"e":"fancy","s":"BTCUSDT"}}\n'
            + b'{"result":null,"id":1}\n'
            + b"\n   \n"
            + b'[1,2,3]\n')
    batches, rep = import_bytes(data, fmt="binance-ws")
    assert rep.events["trades"] == 1
    assert rep.skipped[R.GARBAGE] == 2  # not JSON, and a JSON array instead of an object
    assert rep.skipped[R.MALFORMED] == 1
    assert rep.skipped[R.INVALID_ROWS.format("trades")] == 1
    assert rep.skipped[R.UNKNOWN_STREAM] == 1
    assert rep.skipped[R.CONTROL] == 1
    assert rep.lines == 7
    assert "1 trades" in rep.summary() and "\n" not in rep.summary()


def _trade_lines(n: int) -> bytes:
    return lines(*[bn_trade(i, T0 + i) for i in range(n)])


@pytest.mark.parametrize("compress", ["gzip", "zstd"])
def test_truncated_compressed_input_keeps_the_prefix(compress):
    data = _trade_lines(2000)
    packed = gzip.compress(data) if compress == "gzip" else zstandard.ZstdCompressor().compress(data)
    full, rep_full = import_bytes(packed)
    assert rep_full.events["trades"] == 2000 and not rep_full.truncated
    cut = packed[: len(packed) * 2 // 3]
    batches, rep = import_bytes(cut)
    n = rep.events["trades"]
    assert 0 < n < 2000
    assert rep.truncated["<memory>"].startswith(f"truncated {compress}")
    assert rep.skipped[R.TRUNCATED_LINE] <= 1
    # the prefix is exactly the first n trades
    ev = merged(batches)
    assert ev.trades["time_ms"].tolist() == [T0 + i for i in range(n)]


def test_corrupt_gzip_keeps_what_decoded():
    packed = bytearray(gzip.compress(_trade_lines(3000), compresslevel=1))
    packed[len(packed) // 2: len(packed) // 2 + 40] = b"\xff" * 40
    batches, rep = import_bytes(bytes(packed))
    assert rep.truncated and 0 <= rep.events["trades"] < 3000


def test_multi_member_gzip_and_zip_and_files(tmp_path):
    data = gzip.compress(_trade_lines(5)) + gzip.compress(lines(*[bn_trade(10 + i, T0 + 10 + i)
                                                                   for i in range(5)]))
    assert import_bytes(data)[1].events["trades"] == 10
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("a.jsonl", _trade_lines(4))
    assert import_bytes(buf.getvalue())[1].events["trades"] == 4
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl.gz"
    a.write_bytes(_trade_lines(3))
    b.write_bytes(gzip.compress(lines(*[bn_trade(3 + i, T0 + 3 + i) for i in range(3)])))
    seen = []
    batches, rep = import_files([a, b], progress=lambda done, total: seen.append((done, total)))
    assert rep.events["trades"] == 6 and rep.files == [str(a), str(b)]
    assert seen and seen[-1][0] == seen[-1][1] == a.stat().st_size + b.stat().st_size


# ---------------------------------------------------------------------------------------------
# binance-csv

AGG_HEADER = b"agg_trade_id,price,quantity,first_trade_id,last_trade_id,transact_time,is_buyer_maker\n"
AGG_ROWS = (b"26129,0.01633102,4.70443515,27781,27781,1498793709153,true\n"
            b"26130,0.01633103,1.0,27782,27782,1498793709154,false\n"
            b"26130,0.01633103,1.0,27782,27782,1498793709154,false\n"
            b"26132,0.01633104,2.0,27784,27784,1498793709160,False\n")


@pytest.mark.parametrize("header", [True, False])
def test_csv_agg_trades_with_and_without_header(header, tmp_path):
    path = tmp_path / "BTCUSDT-aggTrades-2024-08-08.csv"
    path.write_bytes((AGG_HEADER if header else b"") + AGG_ROWS)
    batches, rep = import_files([path])
    assert rep.formats[str(path)] == "binance-csv"
    assert rep.symbol == "BTC/USDT:USDT"
    tr = merged(batches).trades
    assert tr["side"].tolist() == [-1, 1, 1]  # is_buyer_maker true: the taker sold
    assert tr["time_ms"].tolist() == [1498793709153, 1498793709154, 1498793709160]
    assert rep.skipped[R.DUPLICATE.format("trades")] == 1
    assert [g[:2] for g in rep.gaps] == [(1498793709154, 1498793709160)]  # id 26131 is missing


def test_csv_trades_microseconds_and_zip(tmp_path):
    rows = (b"id,price,qty,quote_qty,time,is_buyer_maker\n"
            b"1,100.5,2,201,1723161256000123,false\n"
            b"2,100.6,1,100.6,1723161256001456,true\n"
            b"broken,row\n")
    path = tmp_path / "ETHUSDT-trades-2024-08-08.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("ETHUSDT-trades-2024-08-08.csv", rows)
    batches, rep = import_files([path])
    tr = merged(batches).trades
    assert rep.symbol == "ETH/USDT:USDT"
    assert tr["time_ms"].tolist() == [1723161256000, 1723161256001]
    assert tr["side"].tolist() == [1, -1]
    assert rep.skipped[R.GARBAGE] == 1


def test_csv_metrics_and_book_depth(tmp_path):
    metrics = tmp_path / "BTCUSDT-metrics-2024-08-08.csv"
    metrics.write_bytes(
        b"create_time,symbol,sum_open_interest,sum_open_interest_value,count_toptrader_long_short_ratio,"
        b"sum_toptrader_long_short_ratio,count_long_short_ratio,sum_taker_long_short_vol_ratio\n"
        b"2024-08-08 00:00:00,BTCUSDT,80000.5,4600000000.1,1.2,1.1,1.3,0.9\n"
        b"2024-08-08 00:05:00,BTCUSDT,80010.0,4601000000.0,1.2,1.1,1.3,0.9\n")
    depth = tmp_path / "BTCUSDT-bookDepth-2024-08-08.csv"
    depth.write_bytes(b"2024-08-08 00:00:07,-2,30,1770000\n2024-08-08 00:00:07,-1,10,595000\n"
                      b"2024-08-08 00:00:07,1,5,300500\n2024-08-08 00:00:07,2,25,1514500\n")
    batches, rep = import_files([metrics, depth])
    ev = merged(batches)
    assert ev.open_interest["oi_base"].tolist() == [80000.5, 80010.0]
    assert ev.open_interest["time_ms"][0] == 1723075200000
    book = ev.book
    assert book["snapshot"].all() and (book["time_ms"] == 1723075207000).all()
    assert book["side"].tolist() == [1, 1, -1, -1]
    # each band: its notional over its depth
    assert book["price"].tolist() == pytest.approx([59500.0, 58750.0, 60100.0, 60700.0])
    assert book["size"].tolist() == [10.0, 20.0, 5.0, 20.0]


def test_csv_liquidation_snapshot(tmp_path):
    path = tmp_path / "BTCUSDT-liquidationSnapshot-2023-01-01.csv"
    path.write_bytes(
        b"time,side,order_type,time_in_force,original_quantity,price,average_price,order_status,"
        b"last_fill_quantity,accumulated_fill_quantity\n"
        b"1672531200000,SELL,LIMIT,IOC,0.5,16500,16510,FILLED,0.5,0.5\n"
        b"1672531201000,BUY,LIMIT,IOC,0.2,16600,0,FILLED,0.1,0\n")
    liq = merged(import_files([path])[0]).liquidations
    assert liq["side"].tolist() == [1, -1]
    assert liq["price"].tolist() == [16510.0, 16600.0]
    assert liq["size"].tolist() == [0.5, 0.2]


def test_unrecognized_input_is_counted():
    batches, rep = import_bytes(b"hello\nworld\n\n")
    assert batches == [] and not rep.usable
    assert rep.formats["<memory>"] is None and rep.skipped[R.UNRECOGNIZED] == 2


def test_batches_are_time_sorted_and_cut_at_time_boundaries(monkeypatch):
    from liqdesk.sources.importers import collect

    monkeypatch.setattr(collect, "BATCH_EVENTS", 7)
    msgs = [bn_trade(i, T0 + i // 3) for i in range(40)]
    batches, rep = import_bytes(lines(*msgs))
    assert len(batches) > 3 and sum(len(b) for b in batches) == 40
    last = -1
    for b in batches:
        t = b.trades["time_ms"]
        assert np.all(np.diff(t) >= 0) and t[0] > last
        last = t[-1]


def test_overlapping_captures_of_one_depth_stream(tmp_path):
    chain = [bn_depth(10 * i + 1, 10 * i + 10, 10 * i, T0 + 100 * i) for i in range(1, 9)]
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    a.write_bytes(lines(*chain[:5]))
    b.write_bytes(lines(*chain[3:]))  # starts inside a's range
    batches, rep = import_files([a, b])
    assert rep.events["book"] == 2 * 8 and not rep.gaps
    assert rep.skipped[R.DUPLICATE.format("book updates")] == 2
    batches, rep = import_files([a, a, b])
    assert rep.events["book"] == 2 * 8 and not rep.gaps


def test_works_without_orjson(tmp_path):
    import subprocess
    import sys

    path = tmp_path / "c.jsonl"
    path.write_bytes(lines(bn_trade(1, T0), bn_depth(1, 10, 0, T0), bn_force(T0, "BUY")) + b"{broken\n")
    code = ("import sys; sys.modules['orjson'] = None\n"
            "from liqdesk.sources.importers import import_files, base\n"
            "assert base.loads.__module__ == 'json'\n"
            f"b, r = import_files([{str(path)!r}])\n"
            "print(r.events['trades'], r.events['book'], r.events['liquidations'], r.skipped['garbage lines'])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["1", "2", "1", "1"]


def test_a_broken_copy_does_not_hide_the_good_one():
    bad = bn_trade(5, T0, price="-1")
    batches, rep = import_bytes(lines(bad, bn_trade(5, T0)))
    assert rep.events["trades"] == 1 and merged(batches).trades["price"][0] > 0
    assert rep.skipped[R.INVALID_ROWS.format("trades")] == 1 and not rep.skipped[R.DUPLICATE.format("trades")]
