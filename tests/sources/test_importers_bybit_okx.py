"""bybit-ws and okx-ws importers, the capture wrapper, detection and symbol names."""

from __future__ import annotations

import json

import pytest
import zstandard

from liqdesk.sources.importers import import_bytes
from liqdesk.sources.importers import report as R
from liqdesk.sources.importers.detect import detect_format
from liqdesk.sources.importers.symbols import match_symbol, okx_contract, parse_user_symbol

from .importer_helpers import T0, bn_trade, line, lines, merged


def by_trade(items, symbol="BTCUSDT"):
    return {"topic": f"publicTrade.{symbol}", "type": "snapshot", "ts": items[-1][0] + 1,
            "data": [{"T": t, "s": symbol, "S": s, "v": v, "p": p, "L": "PlusTick", "i": i, "BT": False}
                     for t, s, v, p, i in items]}


def by_book(kind, u, t, bids, asks, symbol="BTCUSDT"):
    return {"topic": f"orderbook.50.{symbol}", "type": kind, "ts": t,
            "data": {"s": symbol, "b": bids, "a": asks, "u": u, "seq": u * 10}, "cts": t - 1}


def by_ticker(kind, t, symbol="BTCUSDT", **fields):
    return {"topic": f"tickers.{symbol}", "type": kind, "data": {"symbol": symbol, **fields}, "cs": 1, "ts": t}


def test_bybit_trades_book_tickers_liquidations():
    msgs = [
        by_trade([(T0, "Buy", "0.5", "60000.5", "a-1"), (T0, "Sell", "0.25", "60000.0", "a-2")]),
        by_trade([(T0, "Buy", "0.5", "60000.5", "a-1")]),  # repeated
        by_book("snapshot", 100, T0 + 1, [["60000.0", "1.5"]], [["60000.5", "2"]]),
        by_book("delta", 101, T0 + 2, [["60000.0", "0"]], []),
        by_book("delta", 101, T0 + 2, [["60000.0", "0"]], []),  # repeated
        by_book("delta", 105, T0 + 3, [], [["60001.0", "1"]]),  # 102..104 missing
        by_ticker("snapshot", T0 + 10, markPrice="60000.2", openInterest="50000", openInterestValue="3000000000",
                  fundingRate="0.0001"),
        by_ticker("delta", T0 + 20, markPrice="60010.0", openInterestValue="3000500000"),
        by_ticker("delta", T0 + 30, openInterest="50010", openInterestValue="3001100000"),
        by_ticker("delta", T0 + 40, bid1Price="60000.0"),
        {"topic": "allLiquidation.BTCUSDT", "type": "snapshot", "ts": T0 + 50,
         "data": [{"T": T0 + 49, "s": "BTCUSDT", "S": "Buy", "v": "0.1", "p": "59000"},
                  {"T": T0 + 49, "s": "BTCUSDT", "S": "Sell", "v": "0.2", "p": "61000"}]},
        {"topic": "liquidation.BTCUSDT", "type": "snapshot", "ts": T0 + 60,
         "data": {"updatedTime": T0 + 60, "symbol": "BTCUSDT", "side": "Sell", "size": "0.3", "price": "61500"}},
        {"success": True, "ret_msg": "", "conn_id": "x", "op": "subscribe"},
        {"topic": "trade.BTCUSDT", "data": []},
    ]
    batches, rep = import_bytes(lines(*msgs))
    ev = merged(batches)
    assert rep.formats["<memory>"] == "bybit-ws" and rep.exchanges == ["bybit"]
    assert rep.symbol == "BTC/USDT:USDT"
    assert ev.trades["side"].tolist() == [1, -1] and rep.skipped[R.DUPLICATE.format("trades")] == 1
    assert ev.book["snapshot"].tolist() == [True, True, False, False]
    assert rep.skipped[R.DUPLICATE.format("book updates")] == 1
    assert [g[:2] for g in rep.gaps] == [(T0 + 2, T0 + 3)]
    assert ev.marks["price"].tolist() == [60000.2, 60010.0]
    # OI written when openInterest is in the message, with the last known value in USD
    assert ev.open_interest["oi_base"].tolist() == [50000.0, 50010.0]
    assert ev.open_interest["oi_notional"].tolist() == [3000000000.0, 3001100000.0]
    assert ev.funding["rate"].tolist() == [0.0001]
    # Bybit's side is the position's: Buy = a long was liquidated
    assert ev.liquidations["side"].tolist() == [1, -1, -1]
    assert rep.skipped[R.CONTROL] == 1 and rep.skipped[R.UNKNOWN_STREAM] == 1
    assert rep.skipped[R.NOT_IMPORTED.format("tickers without new mark, OI or funding")] == 1


def okx_msg(channel, data, inst="BTC-USDT-SWAP", **extra):
    return {"arg": {"channel": channel, "instId": inst}, "data": data, **extra}


def test_okx_contract_sizes_trades_books_oi_liquidations():
    msgs = [
        {"event": "subscribe", "arg": {"channel": "trades", "instId": "BTC-USDT-SWAP"}},
        okx_msg("trades", [{"instId": "BTC-USDT-SWAP", "tradeId": "11", "px": "60000", "sz": "25",
                            "side": "sell", "ts": str(T0)}]),
        okx_msg("trades", [{"instId": "BTC-USDT-SWAP", "tradeId": "11", "px": "60000", "sz": "25",
                            "side": "sell", "ts": str(T0)}]),
        okx_msg("books", [{"asks": [["60001", "100", "0", "2"]], "bids": [["60000", "50", "0", "1"]],
                           "ts": str(T0 + 1), "checksum": 1, "seqId": 10, "prevSeqId": -1}],
                action="snapshot"),
        okx_msg("books", [{"asks": [], "bids": [["60000", "0", "0", "0"]], "ts": str(T0 + 2),
                           "checksum": 2, "seqId": 11, "prevSeqId": 10}], action="update"),
        okx_msg("books", [{"asks": [["60002", "1", "0", "1"]], "bids": [], "ts": str(T0 + 3),
                           "checksum": 3, "seqId": 15, "prevSeqId": 14}], action="update"),
        okx_msg("mark-price", [{"instType": "SWAP", "instId": "BTC-USDT-SWAP", "markPx": "60000.5",
                                "ts": str(T0 + 4)}]),
        okx_msg("open-interest", [{"instType": "SWAP", "instId": "BTC-USDT-SWAP", "oi": "200000",
                                   "oiCcy": "2000", "ts": str(T0 + 5)}]),
        okx_msg("funding-rate", [{"instType": "SWAP", "instId": "BTC-USDT-SWAP", "fundingRate": "0.0001",
                                  "fundingTime": str(T0 + 3_600_000), "ts": str(T0 + 6)}]),
        {"arg": {"channel": "liquidation-orders", "instType": "SWAP"},
         "data": [{"instId": "BTC-USDT-SWAP", "instFamily": "BTC-USDT", "instType": "SWAP",
                   "details": [{"bkLoss": "0", "bkPx": "59000", "ccy": "", "posSide": "long",
                                "side": "sell", "sz": "10", "ts": str(T0 + 7)},
                               {"bkLoss": "0", "bkPx": "61000", "ccy": "", "posSide": "net",
                                "side": "buy", "sz": "20", "ts": str(T0 + 8)}]},
                  {"instId": "XYZ-USDT-SWAP", "details": [{"bkPx": "1", "sz": "1", "side": "buy",
                                                           "ts": str(T0)}]}]},
        okx_msg("tickers", [{"instId": "BTC-USDT-SWAP", "last": "60000", "ts": str(T0)}]),
    ]
    batches, rep = import_bytes(lines(*msgs))
    ev = merged(batches)
    assert rep.formats["<memory>"] == "okx-ws" and rep.symbol == "BTC/USDT:USDT"
    # 25 contracts of 0.01 BTC
    assert ev.trades["size"].tolist() == [0.25] and ev.trades["side"].tolist() == [-1]
    assert rep.skipped[R.DUPLICATE.format("trades")] == 1
    assert ev.book["size"].tolist() == [0.5, 1.0, 0.0, 0.01]
    assert ev.book["snapshot"].tolist() == [True, True, False, False]
    assert [g[:2] for g in rep.gaps] == [(T0 + 2, T0 + 3)]
    assert ev.open_interest["oi_base"].tolist() == [2000.0]
    assert ev.open_interest["oi_notional"].tolist() == [2000.0 * 60000.5]
    assert ev.funding["rate"].tolist() == [0.0001]
    assert ev.liquidations["side"].tolist() == [1, -1]
    assert ev.liquidations["size"].tolist() == pytest.approx([0.1, 0.2])
    assert rep.skipped[R.UNKNOWN_CONTRACT] == 1
    assert rep.skipped[R.CONTROL] == 1


def test_okx_inverse_contracts_in_usd():
    msgs = [okx_msg("trades", [{"instId": "BTC-USD-SWAP", "tradeId": "1", "px": "50000", "sz": "10",
                                "side": "buy", "ts": str(T0)}], inst="BTC-USD-SWAP")]
    ev = merged(import_bytes(lines(*msgs))[0])
    assert ev.trades["size"].tolist() == pytest.approx([10 * 100 / 50000])


def wrap(*records) -> bytes:
    out = [json.dumps({"t": "header", "format": 2, "exchange": "BYBIT", "config": {}, "recorded": 1.0})]
    for conn, addr, msgs in records:
        out.append(json.dumps({"t": "connect", "conn": conn, "ts": 1.0, "addr": addr}))
        for m in msgs:
            out.append(json.dumps({"t": "recv", "conn": conn, "ts": 2.0, "data": json.dumps(m)}))
    return zstandard.ZstdCompressor().compress(("\n".join(out) + "\n").encode())


def test_capture_wrapper_markets_from_the_connection():
    spot = [by_trade([(T0, "Buy", "1", "60000", f"s{i}")]) for i in range(3)]
    linear = [by_trade([(T0, "Buy", "1", "60000", f"l{i}")]) for i in range(2)]
    data = wrap(("BYBIT.ws.1", "wss://stream.bybit.com/v5/public/spot", spot),
                ("BYBIT.ws.2", "wss://stream.bybit.com/v5/public/linear", linear))
    batches, rep = import_bytes(data)
    assert rep.formats["<memory>"] == "bybit-ws"
    # derivatives first, though spot has more lines
    assert rep.symbol == "BTC/USDT:USDT" and rep.events["trades"] == 2
    assert rep.symbols == {"BTC/USDT": 3, "BTC/USDT:USDT": 2}
    assert rep.skipped[R.CONTROL] == 3  # header and two connects
    batches, rep = import_bytes(data, symbol="BTC/USDT")
    assert rep.symbol == "BTC/USDT" and rep.events["trades"] == 3


def test_detect_format():
    assert detect_format([line(bn_trade(1, T0), prefix="1723161255030314667 ")]) == "binance-ws"
    assert detect_format([b'{"lastUpdateId":1,"E":1,"T":1,"bids":[],"asks":[]}']) == "binance-ws"
    assert detect_format([line(by_trade([(T0, "Buy", "1", "1", "x")]))]) == "bybit-ws"
    assert detect_format([line(okx_msg("trades", []))]) == "okx-ws"
    assert detect_format([b"wss://ws.okx.com:8443/ws/v5/public <-> 1652459224.53"]) == "okx-ws"
    assert detect_format([b"wss://www.bitmex.com/realtime <-> 1626993367.38",
                          b'1626993368.1: {"table":"trade","action":"insert","data":[]}']) is None
    assert detect_format([b'{"t":"header","format":2,"exchange":"DERIBIT"}']) is None
    assert detect_format([b"agg_trade_id,price,quantity,first_trade_id,last_trade_id,transact_time,"
                          b"is_buyer_maker"]) == "binance-csv"
    assert detect_format([b"1,2.5,3,1,1,1498793709153,true"]) == "binance-csv"
    assert detect_format([b"hello", b"{not json"]) is None


@pytest.mark.parametrize(("text", "unified"), [
    ("BTCUSDT", "BTC/USDT:USDT"), ("btcusdt", "BTC/USDT:USDT"), ("BTC/USDT:USDT", "BTC/USDT:USDT"),
    ("BTC-USDT-SWAP", "BTC/USDT:USDT"), ("BTC-USDT-PERP", "BTC/USDT:USDT"), ("BTC-USD-SWAP", "BTC/USD:BTC"),
    ("BTC-USDT", "BTC/USDT"), ("BTC-USD-220527", "BTC/USD:BTC-220527"), ("BTCUSD_PERP", "BTC/USD:BTC"),
])
def test_user_symbols(text, unified):
    assert parse_user_symbol(text) == unified


def test_symbol_matching_and_contracts():
    seen = ["BTC/USDT", "BTC/USDT:USDT-240927", "BTC/USDT:USDT"]
    assert match_symbol("BTC/USDT", seen) == "BTC/USDT"
    assert match_symbol("BTC-USDT-SWAP", seen) == "BTC/USDT:USDT"
    assert match_symbol("BTC/USDC", seen) is None
    assert okx_contract("ETH-USDT-SWAP") == (0.1, False)
    assert okx_contract("BTC-USD-220527") == (100.0, True)
    assert okx_contract("BTC-USDT") == (1.0, False)
    assert okx_contract("PEPE-USDT-SWAP") is None
    assert okx_contract("PEPE-USDT-SWAP", {"PEPE-USDT-SWAP": (10_000_000.0, "base")}) == (10_000_000.0, False)


def test_several_exchanges_in_one_import(tmp_path):
    from liqdesk.sources.importers import import_files

    a = tmp_path / "binance.jsonl"
    a.write_bytes(lines(bn_trade(1, T0), bn_trade(2, T0 + 5)))
    b = tmp_path / "okx.jsonl"
    b.write_bytes(lines(okx_msg("trades", [{"instId": "BTC-USDT-SWAP", "tradeId": "1", "px": "60000",
                                           "sz": "1", "side": "buy", "ts": str(T0 + 1)}])))
    batches, rep = import_files([a, b])
    ev = merged(batches)
    assert rep.exchanges == ["binance", "okx"] and rep.symbol == "BTC/USDT:USDT"
    assert ev.trades["exchange"].tolist() == [0, 2, 0]
