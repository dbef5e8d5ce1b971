"""Builders of small exchange messages for the importer tests (plain json, no liqdesk code)."""

from __future__ import annotations

import json

import numpy as np

from liqdesk.core.events import concat_batches

T0 = 1_723_161_256_000  # 2024-08-08, ms


def line(obj, prefix: str = "") -> bytes:
    return (prefix + json.dumps(obj, separators=(",", ":"))).encode()


def lines(*objs, prefix: str = "") -> bytes:
    return b"\n".join(line(o, prefix) for o in objs) + b"\n"


def bn_trade(tid: int, t: int, price: str = "61800.10", qty: str = "0.010", maker: bool = False,
             symbol: str = "BTCUSDT") -> dict:
    return {"stream": f"{symbol.lower()}@trade",
            "data": {"e": "trade", "E": t + 1, "T": t, "s": symbol, "t": tid, "p": price, "q": qty,
                     "X": "MARKET", "m": maker}}


def bn_agg(aid: int, t: int, price: str = "61800.10", qty: str = "0.010", maker: bool = False,
           symbol: str = "BTCUSDT") -> dict:
    return {"stream": f"{symbol.lower()}@aggTrade",
            "data": {"e": "aggTrade", "E": t + 1, "a": aid, "s": symbol, "p": price, "q": qty, "f": aid,
                     "l": aid, "T": t, "m": maker}}


def bn_depth(u_first: int, u: int, pu: int, t: int, bids=(("61800.00", "1.000"),),
             asks=(("61800.10", "2.000"),), symbol: str = "BTCUSDT") -> dict:
    return {"stream": f"{symbol.lower()}@depth@0ms",
            "data": {"e": "depthUpdate", "E": t + 1, "T": t, "s": symbol, "U": u_first, "u": u, "pu": pu,
                     "b": [list(x) for x in bids], "a": [list(x) for x in asks]}}


def bn_force(t: int, side: str, price: str = "60000", avg: str = "59990", qty: str = "0.5",
             filled: str = "0.5", symbol: str = "BTCUSDT") -> dict:
    return {"stream": f"{symbol.lower()}@forceOrder",
            "data": {"e": "forceOrder", "E": t + 2,
                     "o": {"s": symbol, "S": side, "o": "LIMIT", "f": "IOC", "q": qty, "p": price,
                           "ap": avg, "X": "FILLED", "l": filled, "z": filled, "T": t}}}


def bn_mark(t: int, price: str = "61790.5", rate: str = "0.00010000", symbol: str = "BTCUSDT") -> dict:
    return {"stream": f"{symbol.lower()}@markPrice@1s",
            "data": {"e": "markPriceUpdate", "E": t, "s": symbol, "p": price, "i": price, "P": price,
                     "r": rate, "T": t + 3_600_000}}


def bn_book_ticker(t: int, symbol: str = "BTCUSDT") -> dict:
    return {"stream": f"{symbol.lower()}@bookTicker",
            "data": {"e": "bookTicker", "u": 1, "s": symbol, "b": "61800.00", "B": "1", "a": "61800.10",
                     "A": "2", "T": t, "E": t}}


def merged(batches):
    """All events of a list of batches as one batch."""
    return concat_batches(list(batches))


def side_counts(arr) -> dict[int, int]:
    values, counts = np.unique(arr["side"], return_counts=True)
    return dict(zip(values.tolist(), counts.tolist(), strict=True))
