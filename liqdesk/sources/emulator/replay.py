"""Real exchange captures served by the emulator in place of its simulator (``liqdesk emulate
--replay FILE...``): :class:`ReplayFeed` stands beside :class:`~.market.MarketFeed` and the venue
modules send what it releases with :meth:`~.venue.VenueEmulator.publish_raw`.

**Inputs** (the captures of ``../shared/data/real``, see its ``SOURCES.md``), recognised from their
first line, plain, gzip or zstd:

- Binance USDⓈ-M combined-stream captures, one message a line: ``<receive time ns> <json>``
  (``{"stream": ..., "data": ...}``, a bare payload, or a bare REST depth answer);
- the capture wrapper ``*.v3.jsonl.zst`` (``{"t":"header","exchange":...}`` then ``connect``,
  ``send``, ``recv`` and ``http`` records) of ``BINANCE_FUTURES``, ``BYBIT`` (v5) and ``OKX`` (v5).
  Bybit: only the connections to ``/v5/public/linear``; OKX: ``/ws/v5/public`` and ``/business``.

One file per exchange; every file serves one market, the same for all: ``symbol`` when given (a
file that does not hold it is refused), else BTC/USDT:USDT when every file has it, else the
perpetual with the most messages that they all have. Only perpetuals are served (an OKX capture's
spot and dated futures are listed on start, not served).

**What is sent**: each data message of the served market **as captured** (the raw text; Binance's
combined-stream ``data`` part, wrapped again by the venue for combined connections), at its
captured receive time after the capture's first message, divided by ``speed``, to the clients
subscribed to its stream. Acknowledgements, pongs and other markets' messages of the recording are
not sent. A venue's replay starts :data:`START_GRACE_S` (wall) after its first websocket
subscription, so a client that loads markets and then subscribes sees the capture from its first
message. When a capture ends its venue stops publishing and keeps its connections open. There is
no loop: a second pass would repeat the trade ids and send book ids backwards, which a client
rightly drops as duplicates and treats as a gap.

**What is built from the capture** (the only things not sent as captured):

- the order book: the capture's REST snapshot (Binance; without one the book starts empty and
  holds only the levels the diffs touched) or its in-stream snapshot (Bybit, OKX), plus every diff
  published since, with the id of the last diff published (Binance ``lastUpdateId`` = its ``u``, or
  the captured snapshot's id before the stream reaches it; Bybit ``u``/``seq``; OKX ``seqId`` where
  the capture has seq ids), so the next diff chains onto it. It answers the REST book calls and
  is the snapshot a Bybit or OKX subscription gets when it joins after the capture's own;
- Bybit's ticker: the captured snapshot merged with the deltas since (sent on subscribe and by REST);
- 1-minute candles from the captured trades; mark, open interest and funding where the capture
  carries them (Bybit tickers, Binance ``markPrice``, OKX's channels), with 5-minute OI history;
- the exchange's instrument row from the capture's own REST answer where it has one (Bybit, OKX);
  Binance's listing is the venue module's, with the price step and lot read from the capture.

**Ledger**: :attr:`ReplayFeed.ledger` (per venue, the same kinds as the simulator's; trades in
:data:`REPLAY_TRADE_DTYPE` with the exchange's id as text and sizes as on the wire: contracts on
OKX) and :attr:`ReplayFeed.published` (messages per stream family, e.g. Binance ``trade``,
``depth``, ``bookTicker``); :meth:`ReplayFeed.summary` gives the counts.
"""

from __future__ import annotations

import math
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import parse_qs, urlsplit

import numpy as np

from liqdesk.core.events import EXCHANGE_ID, KINDS, records
from liqdesk.sources.importers.base import loads
from liqdesk.sources.importers.reader import line_chunks
from liqdesk.sources.importers.symbols import binance_symbol, bybit_symbol, okx_symbol

from .market import OI_HISTORY_MS, BookUpdate, MarketFeed, VenueState

#: a published trade: the exchange's id as text, its time, taker side (+1 buy), price, size as on the wire
REPLAY_TRADE_DTYPE = np.dtype([("id", "U64"), ("time_ms", "i8"), ("side", "i1"), ("price", "f8"),
                               ("size", "f8")])
#: wall seconds between a venue's first websocket subscription and its first replayed message
START_GRACE_S = 1.0
PREFERRED_SYMBOL = "BTC/USDT:USDT"
#: capture-wrapper exchange names -> liqdesk venue
WRAPPED = {"BINANCE_FUTURES": "binance", "BYBIT": "bybit", "OKX": "okx"}
_TIMED_LINE = re.compile(rb"^\s*(\d{9,})\s+([\[{].*)$", re.S)
_LEDGER_KINDS = ("trades", "marks", "open_interest", "funding", "liquidations_sampled", "liquidations_all", "book")


class CaptureError(ValueError):
    """A file the emulator cannot replay (one line, for ``liqdesk emulate``)."""


@dataclass
class RawMessage:
    """One captured message to send."""

    at_s: float          # receive time, seconds after the capture's first message sent
    stream: str          # Binance stream name, Bybit topic, OKX "channel:instId"
    family: str          # what it is, as the exchange names it: trade, depth, orderbook, books, tickers ...
    kind: str            # trades, book, ticker, marks, funding, open_interest, liquidations, other
    text: str            # as captured
    time_ms: int = 0     # exchange time (0: not read)
    parsed: object = None


@dataclass
class ReplayUpdate:
    """What one venue publishes in one tick."""

    messages: list

    def __len__(self) -> int:
        return len(self.messages)

    @property
    def newest_ms(self) -> int | None:
        times = [m.time_ms for m in self.messages if m.time_ms]
        return max(times) if times else None


class RawBook:
    """A book as captured: price -> the level as the exchange wrote it (a list of strings)."""

    def __init__(self):
        self.bids: dict[float, list] = {}
        self.asks: dict[float, list] = {}
        self.last_id: int | None = None     # Binance u, Bybit u, OKX seqId
        self.seq: int | None = None         # Bybit's cross sequence
        self.time_ms = 0
        self.cts = 0
        self.synced = False                 # has had a snapshot
        self.snapshot_id: int | None = None

    def reset(self, bids, asks) -> None:
        self.bids, self.asks = {}, {}
        self.apply(bids, asks)
        self.synced = True

    def apply(self, bids, asks) -> None:
        for side, levels in ((self.bids, bids), (self.asks, asks)):
            for level in levels:
                price = float(level[0])
                if float(level[1]) > 0:
                    side[price] = level
                else:
                    side.pop(price, None)

    def levels(self, depth: int | None = None) -> tuple[list, list]:
        """(bids high to low, asks low to high), raw levels."""
        bids = [self.bids[p] for p in sorted(self.bids, reverse=True)[:depth]]
        asks = [self.asks[p] for p in sorted(self.asks)[:depth]]
        return bids, asks


# ---------------------------------------------------------------------------------------------- files
@dataclass
class RawFile:
    path: Path
    venue: str
    records: list = field(default_factory=list)     # (receive s, conn, text)
    http: list = field(default_factory=list)        # (receive s, url, body)
    addrs: dict = field(default_factory=dict)       # conn -> websocket address
    unreadable: int = 0
    damage: str | None = None
    wrapped: bool = False                           # the *.v3.jsonl wrapper (else timed lines)


def read_file(path) -> RawFile:
    """The records of a capture file; :class:`CaptureError` (one line) when it is not one."""
    path = Path(path)
    if not path.is_file():
        raise CaptureError(f"{path}: no such capture file")
    damage: list = []
    out: RawFile | None = None
    try:
        for chunk in line_chunks(path, damage.append, lambda: None):
            for line in chunk:
                if not line.strip():
                    continue
                if out is None:
                    out = _start(path, line)
                _add(out, line)
    except CaptureError:
        raise
    except Exception as exc:  # noqa: BLE001 - any decoding failure is a bad file, said in one line
        raise CaptureError(f"{path.name}: cannot read it as a capture ({type(exc).__name__}: {exc})") from None
    if out is None:
        raise CaptureError(f"{path.name}: empty, nothing to replay")
    if damage:
        out.damage = (f"the file breaks off ({damage[0].kind}) after {damage[0].decoded:,} bytes; what came before "
                      "is replayed")
    return out


def _start(path: Path, line: bytes) -> RawFile:
    if line.lstrip().startswith(b"{") and b'"t"' in line[:64]:
        try:
            head = loads(line)
        except Exception:  # noqa: BLE001
            head = None
        if isinstance(head, dict) and head.get("t") == "header":
            exchange = str(head.get("exchange", ""))
            venue = WRAPPED.get(exchange)
            if venue is None:
                raise CaptureError(f"{path.name}: a capture of {exchange or 'an unnamed exchange'}; the emulator "
                                   f"replays {', '.join(WRAPPED)} captures")
            return RawFile(path, venue, wrapped=True)
    m = _TIMED_LINE.match(line)
    if m and (b'"stream"' in m.group(2)[:20] or b'"e"' in m.group(2)[:20] or b"lastUpdateId" in m.group(2)[:40]):
        return RawFile(path, "binance")
    raise CaptureError(f"{path.name}: not a capture the emulator can replay (expected Binance combined-stream lines "
                       "'<receive time ns> <json>' or a *.v3.jsonl capture wrapper of Binance futures, Bybit or OKX)")


def _add(raw: RawFile, line: bytes) -> None:
    if not raw.wrapped:
        m = _TIMED_LINE.match(line)
        if m is None:
            raw.unreadable += 1
            return
        raw.records.append((int(m.group(1)) / 1e9, "", m.group(2).rstrip().decode("utf-8", "replace")))
        return
    try:
        rec = loads(line)
        kind = rec["t"]
    except Exception:  # noqa: BLE001 - a broken line of the recording: counted, skipped
        raw.unreadable += 1
        return
    if kind == "recv" and isinstance(rec.get("data"), str):
        raw.records.append((float(rec["ts"]), str(rec.get("conn", "")), rec["data"]))
    elif kind == "connect":
        raw.addrs[str(rec.get("conn", ""))] = str(rec.get("addr", ""))
    elif kind == "http" and isinstance(rec.get("data"), str):
        raw.http.append((float(rec.get("ts", 0.0)), str(rec.get("url", "")), rec["data"]))


# ---------------------------------------------------------------------------------------------- captures
class Capture:
    """One exchange's capture: which markets it holds, and, once :meth:`select` chose one, the
    messages to send and the state built from those sent so far."""

    venue = ""

    def __init__(self, raw: RawFile):
        self.path = raw.path
        self.name = raw.path.name
        self.raw = raw
        self.unreadable = raw.unreadable
        self.damage = raw.damage
        #: unified perpetual symbol -> exchange market id
        self.markets: dict[str, str] = {}
        #: messages per market id (every market the file holds)
        self.weight: Counter = Counter()
        self.symbol: str | None = None
        self.market_id: str | None = None
        self.instrument: dict | None = None
        self.messages: list[RawMessage] = []
        self.book = RawBook()
        self.book_stream: str | None = None
        self.ticker: dict | None = None          # Bybit: merged ticker
        self.ticker_meta: tuple[int, int] = (0, 0)  # (cs, ts) of the last ticker message
        self.has = Counter()                      # kinds the served market's messages carry
        self.pos = 0
        self.t0: float | None = None              # wall time (monotonic) of at_s = 0
        self.finished = False
        self.tick = 0.01
        self.lot = 0.001
        self.scan()

    # -- for subclasses
    def scan(self) -> None:
        """Fill :attr:`markets` and :attr:`weight` from ``self.raw``."""

    def build(self) -> None:
        """Fill :attr:`messages` (and the initial book) for :attr:`market_id`."""

    def size_base(self, price: float, size: float) -> float:
        """A size as on the wire -> base currency."""
        return size

    # -- common
    def describe(self) -> str:
        perps = ", ".join(self.markets) or "no perpetual"
        others = [m for m in self.weight if m not in self.markets.values()]
        return perps + (f" (also {', '.join(others)}: not served)" if others else "")

    def select(self, symbol: str) -> None:
        self.symbol = symbol
        self.market_id = self.markets[symbol]
        self.build()
        if not self.messages:
            raise CaptureError(f"{self.name}: no message of {symbol} to replay")
        first = self.messages[0].at_s
        for m in self.messages:
            m.at_s -= first
        for m in self.messages:
            self.has[m.kind] += 1
        self.raw = None             # the records are not needed any more

    @property
    def span_s(self) -> float:
        return self.messages[-1].at_s if self.messages else 0.0

    def due(self, capture_s: float) -> list[RawMessage]:
        msgs = self.messages
        i = self.pos
        j = i
        while j < len(msgs) and msgs[j].at_s <= capture_s:
            j += 1
        self.pos = j
        if j >= len(msgs):
            self.finished = True
        return msgs[i:j]

    def counts(self) -> Counter:
        return Counter(m.family for m in self.messages)

    def first_price(self) -> float:
        for m in self.messages:
            if m.kind == "trades" and m.parsed:
                return float(m.parsed[0][3])
        return math.nan


def _infer_step(values: list[str], default: float) -> float:
    """The smallest decimal step the strings use (``"61800.20"`` -> 0.1)."""
    dec = -1
    for v in values:
        if "." in v:
            frac = v.split(".", 1)[1].rstrip("0")
            dec = max(dec, len(frac))
        elif dec < 0:
            dec = 0
    return default if dec < 0 else 10.0 ** -dec


class BinanceCapture(Capture):
    venue = "binance"

    def scan(self) -> None:
        self._parts: list[tuple[float, str, str]] = []     # (receive s, stream name, data text)
        self._snapshots: dict[str, tuple[float, dict]] = {}
        bare: list[tuple[float, dict]] = []
        for recv_s, _conn, text in self.raw.records:
            if text.startswith('{"stream":"'):
                end = text.find('"', 11)
                cut = text.find(',"data":', end)
                if end < 0 or cut < 0:
                    self.unreadable += 1
                    continue
                self._parts.append((recv_s, text[11:end], text[cut + 8:text.rstrip().rfind("}")]))
            elif '"lastUpdateId"' in text[:40]:
                try:
                    bare.append((recv_s, loads(text)))
                except Exception:  # noqa: BLE001
                    self.unreadable += 1
            elif text.startswith("{"):
                try:
                    d = loads(text)
                    name = _binance_stream(d)
                except Exception:  # noqa: BLE001
                    name = None
                if name is None:
                    self.unreadable += 1
                    continue
                self._parts.append((recv_s, name, text))
            else:
                self.unreadable += 1
        for recv_s, url, body in self.raw.http:
            if "/depth" in url and "symbol=" in url:
                sym = parse_qs(urlsplit(url).query).get("symbol", [""])[0].upper()
                try:
                    d = loads(body)
                except Exception:  # noqa: BLE001
                    continue
                if isinstance(d, dict) and "lastUpdateId" in d:
                    self._snapshots.setdefault(sym, (recv_s, d))
        for _, name, _ in self._parts:
            sym, _, rest = name.partition("@")
            if not sym.startswith("!"):
                self.weight[sym.upper()] += 1
        depth_syms = {name.partition("@")[0].upper() for _, name, _ in self._parts if "@depth" in name}
        if bare and len(depth_syms) == 1:
            self._snapshots.setdefault(next(iter(depth_syms)), bare[0])
        for sym in self.weight:
            unified = binance_symbol(sym)
            if ":" in unified and "-" not in unified.split(":")[1]:
                self.markets[unified] = sym

    def build(self) -> None:
        low = self.market_id.lower() + "@"
        has_trade = any(name.startswith(low) and name.partition("@")[2] == "trade" for _, name, _ in self._parts)
        prices, sizes = [], []
        for recv_s, name, data in self._parts:
            if not (name.startswith(low) or name.startswith("!")):
                continue
            family = _binance_family(name)
            msg = RawMessage(recv_s, name, family, "other", data)
            try:
                if family in ("trade", "aggTrade") and (family == "trade" or not has_trade):
                    d = loads(data)
                    tid = d["t"] if family == "trade" else d["a"]
                    row = (int(tid), int(d["T"]), -1 if d["m"] else 1, float(d["p"]), float(d["q"]))
                    msg.kind, msg.time_ms, msg.parsed = "trades", row[1], [row]
                    if len(prices) < 5000:
                        prices.append(d["p"])
                        sizes.append(d["q"])
                elif family == "depth":
                    d = loads(data)
                    t = int(d.get("T") or d["E"])
                    msg.kind, msg.time_ms = "book", t
                    msg.parsed = BookUpdate(t, int(d["U"]), int(d["u"]), int(d.get("pu", int(d["U"]) - 1)),
                                            d["b"], d["a"])
                    if len(prices) < 5000:
                        prices += [lv[0] for lv in d["b"][:20]]
                elif family in ("markPrice", "markPrice@1s"):
                    d = loads(data)
                    msg.kind, msg.time_ms = "marks", int(d["E"])
                    msg.parsed = (int(d["E"]), float(d["p"]), d.get("r"))
                elif family == "forceOrder":
                    d = loads(data)
                    o = d["o"]
                    if o.get("s") == self.market_id:
                        price = float(o.get("ap") or 0) or float(o["p"])
                        size = float(o.get("z") or 0) or float(o["q"])
                        msg.kind, msg.time_ms = "liquidations", int(o["T"])
                        msg.parsed = [(int(o["T"]), 1 if o["S"] == "SELL" else -1, price, size)]
            except Exception:  # noqa: BLE001 - sent as captured all the same, not read into the state
                msg.kind = "other"
            self.messages.append(msg)
        self.tick = _infer_step(prices, 0.01)
        self.lot = _infer_step(sizes, 0.001)
        snap = self._snapshots.get(self.market_id)
        if snap is not None:
            d = snap[1]
            self.book.reset(d.get("bids", []), d.get("asks", []))
            self.book.last_id = self.book.snapshot_id = int(d["lastUpdateId"])
            self.book.time_ms = int(d.get("T") or d.get("E") or 0)
        else:
            first = next((m.parsed for m in self.messages if m.kind == "book"), None)
            if first is not None:
                self.book.last_id = first.prev_last_id
        self._parts = []
        self._snapshots = {}

    def describe_book(self) -> str:
        if self.book.snapshot_id is not None:
            return (f"REST snapshot lastUpdateId {self.book.snapshot_id} in the capture ({len(self.book.bids)} bids, "
                    f"{len(self.book.asks)} asks), then its diffs")
        return "no REST snapshot in the capture: the book holds only the levels the diffs touched"


def _binance_family(name: str) -> str:
    if name.startswith("!"):
        return name
    rest = name.partition("@")[2]
    if rest.startswith("depth"):
        return "depth"
    if rest.startswith("kline_"):
        return "kline"
    return rest


def _binance_stream(d) -> str | None:
    """The stream name of a bare Binance payload."""
    if not isinstance(d, dict) or not isinstance(d.get("e"), str):
        return None
    e = d["e"]
    sym = str(d.get("s") or (d.get("o") or {}).get("s") or "").lower()
    names = {"trade": "trade", "aggTrade": "aggTrade", "depthUpdate": "depth", "bookTicker": "bookTicker",
             "markPriceUpdate": "markPrice", "forceOrder": "forceOrder", "kline": "kline_1m"}
    return f"{sym}@{names[e]}" if sym and e in names else None


class BybitCapture(Capture):
    venue = "bybit"

    def scan(self) -> None:
        linear = {c for c, a in self.raw.addrs.items() if urlsplit(a).path.rstrip("/").endswith("/v5/public/linear")}
        self._rows: list[tuple[float, str, str, dict]] = []
        for recv_s, conn, text in self.raw.records:
            if self.raw.addrs and conn not in linear:
                continue
            try:
                d = loads(text)
            except Exception:  # noqa: BLE001
                self.unreadable += 1
                continue
            topic = d.get("topic") if isinstance(d, dict) else None
            if not isinstance(topic, str) or "data" not in d:
                continue            # acknowledgements, pongs
            self._rows.append((recv_s, topic, text, d))
            self.weight[topic.rsplit(".", 1)[-1]] += 1
        self._instruments: dict[str, dict] = {}
        for _, url, body in self.raw.http:
            if "instruments-info" in url and "category=linear" in url:
                try:
                    rows = loads(body)["result"]["list"]
                except Exception:  # noqa: BLE001
                    continue
                for row in rows:
                    if isinstance(row, dict) and "symbol" in row:
                        self._instruments[row["symbol"]] = row
        for sym in self.weight:
            row = self._instruments.get(sym)
            if row is not None:
                if row.get("contractType") == "LinearPerpetual":
                    self.markets[f"{row['baseCoin']}/{row['quoteCoin']}:{row['settleCoin']}"] = sym
            elif sym.endswith(("USDT", "USDC")):
                self.markets[bybit_symbol(sym)] = sym

    def build(self) -> None:
        sym = self.market_id
        self.instrument = self._instruments.get(sym)
        prices, sizes = [], []
        for recv_s, topic, text, d in self._rows:
            if topic.rsplit(".", 1)[-1] != sym:
                continue
            family = topic.split(".", 1)[0]
            msg = RawMessage(recv_s, topic, family, "other", text, int(d.get("ts") or 0))
            data = d["data"]
            try:
                if family == "publicTrade":
                    msg.kind = "trades"
                    msg.parsed = [(str(x["i"]), int(x["T"]), 1 if x["S"] == "Buy" else -1, float(x["p"]), float(x["v"]))
                                  for x in data]
                    prices += [x["p"] for x in data[:50]]
                    sizes += [x["v"] for x in data[:50]]
                elif family == "orderbook":
                    msg.kind = "book"
                    self.book_stream = topic
                    msg.parsed = SimpleNamespace(snapshot=d.get("type") == "snapshot", bids=data["b"], asks=data["a"],
                                                 u=int(data["u"]), seq=int(data.get("seq") or 0),
                                                 cts=int(d.get("cts") or 0))
                elif family == "tickers":
                    msg.kind = "ticker"
                    msg.parsed = SimpleNamespace(snapshot=d.get("type") == "snapshot", data=data,
                                                 cs=int(d.get("cs") or 0))
                elif family == "allLiquidation":
                    msg.kind = "liquidations"
                    msg.parsed = [(int(x["T"]), 1 if x["S"] == "Buy" else -1, float(x["p"]), float(x["v"]))
                                  for x in data]
            except Exception:  # noqa: BLE001
                msg.kind = "other"
            self.messages.append(msg)
        if self.instrument is not None:
            self.tick = float(self.instrument.get("priceFilter", {}).get("tickSize") or _infer_step(prices, 0.01))
            self.lot = float(self.instrument.get("lotSizeFilter", {}).get("qtyStep") or _infer_step(sizes, 0.001))
        else:
            self.tick, self.lot = _infer_step(prices, 0.01), _infer_step(sizes, 0.001)
        self._rows = []

    def describe_book(self) -> str:
        n = sum(1 for m in self.messages if m.kind == "book" and m.parsed.snapshot)
        return f"{self.book_stream or 'no book'}: {n} snapshot(s) in the stream, then deltas"


class OkxCapture(Capture):
    venue = "okx"
    BOOK_CHANNELS = ("books", "books-l2-tbt", "books50-l2-tbt", "books5", "bbo-tbt")

    def scan(self) -> None:
        public = {c for c, a in self.raw.addrs.items()
                  if urlsplit(a).path.rstrip("/").endswith(("/ws/v5/public", "/ws/v5/business"))}
        self._rows: list[tuple[float, dict, str, dict]] = []
        for recv_s, conn, text in self.raw.records:
            if self.raw.addrs and conn not in public:
                continue
            try:
                d = loads(text)
            except Exception:  # noqa: BLE001 - OKX's plain-text "pong" and broken lines
                if text.strip() != "pong":
                    self.unreadable += 1
                continue
            if not isinstance(d, dict) or "event" in d or not isinstance(d.get("arg"), dict) or "data" not in d:
                continue
            self._rows.append((recv_s, d["arg"], text, d))
            inst = d["arg"].get("instId")
            if inst:
                self.weight[inst] += 1
        self._instruments: dict[str, dict] = {}
        for _, url, body in self.raw.http:
            if "/public/instruments" in url and "instType=SWAP" in url:
                try:
                    rows = loads(body)["data"]
                except Exception:  # noqa: BLE001
                    continue
                for row in rows:
                    if isinstance(row, dict) and "instId" in row:
                        self._instruments[row["instId"]] = row
        for inst in self.weight:
            if inst.endswith("-SWAP"):
                row = self._instruments.get(inst)
                if row is not None and row.get("ctType") in ("linear", "inverse"):
                    base, quote = inst.split("-")[:2]
                    self.markets[f"{base}/{quote}:{row.get('settleCcy') or (quote if row['ctType'] == 'linear' else base)}"] = inst
                else:
                    self.markets[okx_symbol(inst)] = inst

    @property
    def ct_val(self) -> float:
        try:
            return float((self.instrument or {}).get("ctVal") or 1.0)
        except ValueError:
            return 1.0

    @property
    def inverse(self) -> bool:
        return (self.instrument or {}).get("ctType") == "inverse"

    def size_base(self, price: float, size: float) -> float:
        base = size * self.ct_val
        return base / price if self.inverse else base

    def build(self) -> None:
        inst = self.market_id
        self.instrument = self._instruments.get(inst)
        prices, sizes = [], []
        for recv_s, arg, text, d in self._rows:
            channel = str(arg.get("channel", ""))
            if arg.get("instId") != inst and not (channel == "liquidation-orders" and arg.get("instType") == "SWAP"):
                continue
            stream = f"{channel}:{arg.get('instId') or arg.get('instType')}"
            msg = RawMessage(recv_s, stream, channel, "other", text)
            data = d["data"]
            try:
                first = data[0] if data else {}
                msg.time_ms = int(first.get("ts") or 0)
                if channel == "trades":
                    msg.kind = "trades"
                    msg.parsed = [(str(x["tradeId"]), int(x["ts"]), 1 if x["side"] == "buy" else -1, float(x["px"]),
                                   float(x["sz"])) for x in data]
                    prices += [x["px"] for x in data]
                    sizes += [x["sz"] for x in data]
                elif channel in self.BOOK_CHANNELS:
                    msg.kind = "book"
                    self.book_stream = stream
                    msg.parsed = SimpleNamespace(
                        snapshot=d.get("action", "snapshot") == "snapshot" or channel in ("books5", "bbo-tbt"),
                        bids=first.get("bids", []), asks=first.get("asks", []),
                        seq=_int_or_none(first.get("seqId")), prev=_int_or_none(first.get("prevSeqId")))
                elif channel == "mark-price":
                    msg.kind = "marks"
                    msg.parsed = [(int(x["ts"]), float(x["markPx"])) for x in data]
                elif channel == "funding-rate":
                    msg.kind = "funding"
                    msg.parsed = [(int(x["ts"]), float(x["fundingRate"])) for x in data]
                elif channel == "open-interest":
                    msg.kind = "open_interest"
                    msg.parsed = [(int(x["ts"]), float(x["oiCcy"])) for x in data]
                elif channel == "liquidation-orders":
                    msg.kind = "liquidations"
                    rows = []
                    for item in data:
                        if item.get("instId") != inst:
                            continue
                        for x in item.get("details", []):
                            pos = x.get("posSide")
                            side = (1 if pos == "long" else -1) if pos in ("long", "short") else \
                                (1 if x["side"] == "sell" else -1)
                            rows.append((int(x["ts"]), side, float(x["bkPx"]), float(x["sz"])))
                    msg.parsed = rows
                elif channel == "tickers":
                    msg.kind = "ticker"
            except Exception:  # noqa: BLE001
                msg.kind = "other"
            self.messages.append(msg)
        if self.instrument is not None:
            self.tick = float(self.instrument.get("tickSz") or _infer_step(prices, 0.01))
            self.lot = float(self.instrument.get("lotSz") or _infer_step(sizes, 1.0))
        self._rows = []

    def describe_book(self) -> str:
        snaps = [m for m in self.messages if m.kind == "book" and m.parsed.snapshot]
        seq = any(m.parsed.seq is not None for m in self.messages if m.kind == "book")
        return (f"{self.book_stream or 'no book'}: {len(snaps)} snapshot(s) in the stream, then updates "
                f"({'with' if seq else 'without'} seqId/prevSeqId)")


def _int_or_none(v) -> int | None:
    try:
        return int(v)
    except (TypeError, ValueError):
        return None


CAPTURES = {"binance": BinanceCapture, "bybit": BybitCapture, "okx": OkxCapture}


def load_capture(path) -> Capture:
    raw = read_file(path)
    cap = CAPTURES[raw.venue](raw)
    if not cap.weight:
        raise CaptureError(f"{cap.name}: no market data in it to replay")
    return cap


def choose_symbol(captures: list[Capture], symbol: str | None) -> str:
    """The one market every capture serves (see the module docstring)."""
    if symbol is not None:
        for c in captures:
            if symbol not in c.markets:
                raise CaptureError(f"{c.name} holds {c.describe()}; not {symbol}")
        return symbol
    common = set.intersection(*(set(c.markets) for c in captures))
    if not common:
        raise CaptureError("the captures share no perpetual to serve: "
                           + "; ".join(f"{c.name} holds {c.describe()}" for c in captures))
    if PREFERRED_SYMBOL in common:
        return PREFERRED_SYMBOL
    return max(sorted(common), key=lambda s: sum(c.weight[c.markets[s]] for c in captures))


# ---------------------------------------------------------------------------------------------- feed
class ReplayFeed(MarketFeed):
    """The captures of ``files`` (one per exchange) as the emulator's market. ``symbol``: the market
    to serve (None: chosen, see the module docstring); ``venues``: when given, the exchanges of the
    files must be exactly these. Reads every file at once: :class:`CaptureError` (a ``ValueError``)
    names a file that cannot be replayed."""

    replay = True

    def __init__(self, files, symbol: str | None = None, speed: float = 1.0, venues=None,
                 grace_s: float = START_GRACE_S):
        files = list(files)
        if not files:
            raise CaptureError("no capture to replay")
        caps = [load_capture(f) for f in files]
        by_venue: dict[str, Capture] = {}
        for c in caps:
            if c.venue in by_venue:
                raise CaptureError(f"two captures of {c.venue} ({by_venue[c.venue].name}, {c.name}): "
                                   "replay one file per exchange")
            by_venue[c.venue] = c
        if venues is not None and set(venues) != set(by_venue):
            raise CaptureError(f"--exchanges {','.join(venues)} but the captures are of {','.join(by_venue)}")
        chosen = choose_symbol(caps, symbol)
        for c in caps:
            c.select(chosen)
        self.captures = by_venue
        self.speed = float(speed)
        self.grace_s = float(grace_s)
        start_price = next((p for p in (c.first_price() for c in caps) if math.isfinite(p)), 1.0)
        self.params = SimpleNamespace(venues=tuple(by_venue), symbol=chosen, seed=0, start_price=start_price)
        self.venues = {name: VenueState(name, EXCHANGE_ID[name]) for name in by_venue}
        self.history_ms = 0
        self.live = False
        self.ledger = {n: {k: [] for k in _LEDGER_KINDS} for n in by_venue}
        #: messages published per venue and stream family
        self.published: dict[str, Counter] = {n: Counter() for n in by_venue}
        self._newest_ms: int | None = None
        self._first_ms = min((m.time_ms for c in caps for m in c.messages if m.time_ms), default=0)

    # -------------------------------------------------------------- MarketFeed's interface
    @property
    def now_ms(self) -> int:
        """The capture's time: the newest exchange time published (the first one before that)."""
        return self._newest_ms if self._newest_ms is not None else self._first_ms

    def build_history(self) -> None:
        self.live = True

    def capture(self, venue: str) -> Capture:
        return self.captures[venue]

    @property
    def finished(self) -> bool:
        return all(c.finished for c in self.captures.values())

    def tick(self, now_wall_s: float | None = None, subscribed=()) -> dict[str, ReplayUpdate]:
        """The messages due now, per venue. A venue in ``subscribed`` (it has a subscribed
        websocket client) that has not started starts ``grace_s`` from now."""
        now = time.monotonic() if now_wall_s is None else now_wall_s
        out = {}
        for name, cap in self.captures.items():
            if cap.t0 is None:
                if name in subscribed:
                    cap.t0 = now + self.grace_s
                continue
            if cap.finished or now < cap.t0:
                continue
            msgs = cap.due((now - cap.t0) * self.speed)
            if msgs:
                self._apply(name, cap, msgs)
                out[name] = ReplayUpdate(msgs)
        return out

    def start(self, venue: str, now_wall_s: float | None = None) -> None:
        """Start a venue's replay now (without waiting for a subscription)."""
        cap = self.captures[venue]
        if cap.t0 is None:
            cap.t0 = time.monotonic() if now_wall_s is None else now_wall_s

    # -------------------------------------------------------------- state and ledger
    def _apply(self, name: str, cap: Capture, msgs: list[RawMessage]) -> None:
        st = self.venues[name]
        led = self.ledger[name]
        gid = EXCHANGE_ID[name]
        trades, marks, oi, funding, liqs = [], [], [], [], []
        for m in msgs:
            self.published[name][m.family] += 1
            if m.time_ms:
                self._newest_ms = m.time_ms if self._newest_ms is None else max(self._newest_ms, m.time_ms)
            p = m.parsed
            if p is None:
                continue
            if m.kind == "trades":
                trades += p
            elif m.kind == "book":
                led["book"].append(self._book(cap, m))
            elif m.kind == "ticker" and name == "bybit":
                self._bybit_ticker(cap, m, marks, oi, funding)
            elif m.kind == "marks":
                if name == "binance":
                    t, price, rate = p
                    marks.append((t, price))
                    if rate not in (None, ""):
                        funding.append((t, float(rate)))
                else:
                    marks += p
            elif m.kind == "funding":
                funding += p
            elif m.kind == "open_interest":
                mark = st.mark if math.isfinite(st.mark) else math.nan
                oi += [(t, b, b * mark) for t, b in p]
            elif m.kind == "liquidations":
                liqs += p
        if trades:
            arr = np.array([(str(r[0]), *r[1:]) for r in trades], dtype=REPLAY_TRADE_DTYPE)
            led["trades"].append(arr)
            base = np.array([cap.size_base(r[3], r[4]) for r in trades], dtype=float)
            MarketFeed._candles(self, st, records("trades", time_ms=arr["time_ms"], exchange=gid, side=arr["side"],
                                                  price=arr["price"], size=base))
        if marks:
            t, price = zip(*marks)
            arr = records("marks", time_ms=t, exchange=gid, price=price)
            led["marks"].append(arr)
            st.mark = float(price[-1])
            MarketFeed._mark_candles(self, st, arr)
        if oi:
            t, b, v = zip(*oi)
            led["open_interest"].append(records("open_interest", time_ms=t, exchange=gid, oi_base=b, oi_notional=v))
            st.oi_base, st.oi_notional, st.oi_time_ms = float(b[-1]), float(v[-1]), int(t[-1])
            for ti, bi, vi in oi:
                st.oi_history[int(ti) // OI_HISTORY_MS * OI_HISTORY_MS] = (float(bi), float(vi))
        if funding:
            t, r = zip(*funding)
            led["funding"].append(records("funding", time_ms=t, exchange=gid, rate=r))
            st.funding_rate = float(r[-1])
        if liqs:
            t, side, price, size = zip(*liqs)
            base = [cap.size_base(p_, q_) for p_, q_ in zip(price, size)]
            kind = "liquidations_all" if name == "bybit" else "liquidations_sampled"
            led[kind].append(records("liquidations", time_ms=t, exchange=gid, side=side, price=price, size=base,
                                     notional=np.asarray(price) * np.asarray(base)))

    def _book(self, cap: Capture, m: RawMessage) -> BookUpdate:
        """Apply a published book message to the capture's book; its ledger entry."""
        book, p = cap.book, m.parsed
        if isinstance(p, BookUpdate):           # Binance diff
            if book.last_id is None or p.last_id > book.last_id:
                book.apply(p.bids, p.asks)
                book.last_id, book.time_ms = p.last_id, p.time_ms
            return p
        if cap.venue == "bybit":
            if p.snapshot:
                book.reset(p.bids, p.asks)
            else:
                book.apply(p.bids, p.asks)
            prev = book.last_id
            book.last_id, book.seq, book.time_ms, book.cts = p.u, p.seq, m.time_ms, p.cts
            return BookUpdate(m.time_ms, p.u, p.u, prev if prev is not None else -1, p.bids, p.asks)
        # okx
        if p.snapshot:
            book.reset(p.bids, p.asks)
        else:
            book.apply(p.bids, p.asks)
        book.last_id, book.time_ms = p.seq, m.time_ms
        seq = p.seq if p.seq is not None else -1
        return BookUpdate(m.time_ms, seq, seq, p.prev if p.prev is not None else -1, p.bids, p.asks)

    def _bybit_ticker(self, cap: Capture, m: RawMessage, marks: list, oi: list, funding: list) -> None:
        p = m.parsed
        if p.snapshot or cap.ticker is None:
            cap.ticker = dict(p.data)
        else:
            cap.ticker.update(p.data)
        cap.ticker_meta = (p.cs, m.time_ms)
        d, t = p.data, m.time_ms
        mark = _float(d.get("markPrice"))
        if mark is not None:
            marks.append((t, mark))
        b = _float(d.get("openInterest"))
        if b is not None:
            v = _float(d.get("openInterestValue"))
            if v is None:
                v = b * (_float(cap.ticker.get("markPrice")) or math.nan)
            oi.append((t, b, v))
        rate = _float(d.get("fundingRate"))
        if rate is not None:
            funding.append((t, rate))

    # -------------------------------------------------------------- REST views
    def book_snapshot(self, venue: str, depth: int = 1000) -> tuple[int, int, list, list]:
        """(id, time, bids high to low, asks low to high) of the capture's book as published so far;
        sizes as floats (as on the wire)."""
        book = self.captures[venue].book
        bids, asks = book.levels(depth)
        return (book.last_id if book.last_id is not None else 0, book.time_ms,
                [(float(x[0]), float(x[1])) for x in bids], [(float(x[0]), float(x[1])) for x in asks])

    def sent(self, venue: str, kind: str) -> np.ndarray | list:
        parts = self.ledger[venue][kind]
        if kind == "book":
            return list(parts)
        if not parts:
            return np.empty(0, REPLAY_TRADE_DTYPE if kind == "trades" else KINDS[
                "liquidations" if kind.startswith("liquidations") else kind])
        return np.concatenate(parts)

    def summary(self) -> dict:
        """Per venue: the symbol, messages published per stream family, events per ledger kind,
        and whether the capture was replayed to its end."""
        out = {}
        for name, cap in self.captures.items():
            led = self.ledger[name]
            out[name] = {"file": cap.name, "symbol": cap.symbol, "finished": cap.finished,
                         "messages": dict(self.published[name]),
                         "events": {k: (len(v) if k == "book" else int(sum(len(a) for a in v))) for k, v in led.items()}}
        return out

    def describe(self, venue: str) -> str:
        """One line about a venue's capture, for ``liqdesk emulate``."""
        cap = self.captures[venue]
        counts = ", ".join(f"{k} {n:,}" for k, n in cap.counts().most_common())
        extra = []
        if cap.unreadable:
            extra.append(f"{cap.unreadable:,} unreadable lines skipped")
        if cap.damage:
            extra.append(cap.damage)
        return (f"{venue}: {cap.name} holds {cap.describe()}; serving {cap.symbol}: {len(cap.messages):,} messages "
                f"over {cap.span_s:.0f} s ({counts}); book: {cap.describe_book()}"
                + (f"; {'; '.join(extra)}" if extra else ""))


def _float(v) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


__all__ = ["REPLAY_TRADE_DTYPE", "START_GRACE_S", "CaptureError", "RawMessage", "ReplayFeed", "ReplayUpdate",
           "load_capture"]
