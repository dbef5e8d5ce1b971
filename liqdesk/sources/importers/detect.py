"""``--format auto``: the format of an input from its first lines (never from its name)."""

from __future__ import annotations

import json
from collections import Counter

from .binance_csv import sniff

#: Capture-wrapper header ``exchange`` -> format
WRAPPER_EXCHANGES = {"BINANCE_FUTURES": "binance-ws", "BYBIT": "bybit-ws", "OKX": "okx-ws", "OKEX": "okx-ws"}
_BINANCE_EVENTS = {"trade", "aggTrade", "depthUpdate", "bookTicker", "markPriceUpdate", "forceOrder",
                   "kline", "continuous_kline", "24hrTicker", "24hrMiniTicker"}
_UNSUPPORTED = "unsupported"


def _url_format(url: str) -> str:
    url = url.lower()
    if "fstream" in url or "dstream" in url or "binance" in url and "futures" in url:
        return "binance-ws"
    if "bybit" in url:
        return "bybit-ws" if "/v5/" in url else _UNSUPPORTED  # v2 "/realtime" topics differ
    if "okx" in url or "okex" in url:
        return "okx-ws" if "/v5/" in url else _UNSUPPORTED
    return _UNSUPPORTED


def classify(msg) -> str | None:
    """The format one decoded message belongs to, ``"unsupported"``, or None when it tells nothing."""
    if type(msg) is not dict:
        return None
    t = msg.get("t")
    if type(t) is str and ("conn" in msg or "format" in msg):
        if t == "header":
            return WRAPPER_EXCHANGES.get(str(msg.get("exchange", "")).upper(), _UNSUPPORTED)
        if t == "connect" and type(msg.get("addr")) is str:
            return _url_format(msg["addr"])
        if t == "recv" and type(msg.get("data")) is str:
            try:
                return classify(json.loads(msg["data"]))
            except ValueError:
                return None
        return None
    stream = msg.get("stream")
    if type(stream) is str and "@" in stream:
        return "binance-ws"
    if msg.get("e") in _BINANCE_EVENTS or ("lastUpdateId" in msg and "bids" in msg):
        return "binance-ws"
    topic = msg.get("topic")
    if type(topic) is str:
        head = topic.split(".", 1)[0]
        if head in ("publicTrade", "orderbook", "tickers", "allLiquidation", "liquidation", "kline"):
            return "bybit-ws"
        return None
    arg = msg.get("arg")
    if type(arg) is dict and "channel" in arg:
        return "okx-ws"
    if "jsonrpc" in msg or "table" in msg:  # Deribit, BitMEX
        return _UNSUPPORTED
    return None


def detect_format(lines: list[bytes]) -> str | None:
    """``binance-ws``, ``binance-csv``, ``bybit-ws``, ``okx-ws``, or None (unknown / unsupported)."""
    votes: Counter = Counter()
    for line in lines:
        s = line.strip()
        if not s:
            continue
        i = s.find(b"{")
        if i < 0:
            if b"<->" in s:
                votes[_url_format(s.split(b" ", 1)[0].decode("utf-8", "replace"))] += 1
            else:
                found = sniff(s)
                if found:
                    return "binance-csv"
            continue
        prefix = s[:i]
        if b"<-" in prefix:
            continue
        if i == 0 and b"," in s and sniff(s):
            return "binance-csv"
        try:
            msg = json.loads(s[i:])
        except (ValueError, RecursionError):
            continue
        f = classify(msg)
        if f == _UNSUPPORTED and type(msg) is dict and msg.get("t") == "header":
            return None
        if f:
            votes[f] += 1
    if not votes:
        return None
    best = votes.most_common(1)[0][0]
    return None if best == _UNSUPPORTED else best
