"""The importers on every real capture in ../shared/data/real, with exact counts.

The expected figures were counted independently, with plain ``json`` and none of liqdesk's code
(every line decoded, duplicates by id, diffs older than a REST snapshot dropped, one symbol kept).
"""

from __future__ import annotations

import numpy as np
import pytest

from liqdesk.sources.importers import import_files
from liqdesk.sources.importers import report as R

from .importer_helpers import merged

# file -> (symbol, lines, events per kind, mixed-symbol lines, other skip reasons that must match)
EXPECTED = {
    "binance-usdm-ws/btcusdt_20240808.gz": (
        "BTC/USDT:USDT", 93_954, {"trades": 21_313, "book": 443_521 + 2_000}, 0,
        {R.NOT_IMPORTED.format("bookTicker"): 66_089}),
    "binance-usdm-ws/ethusdt_20240808.gz": (
        "ETH/USDT:USDT", 74_655, {"trades": 14_076, "book": 428_662 + 2_000}, 0,
        {R.NOT_IMPORTED.format("bookTicker"): 53_992}),
    "exchange-ws/BINANCE_FUTURES.v3.jsonl.zst": (
        "SUSHI/USDT:USDT", 1_542, {"trades": 40, "book": 6_007}, 916,
        {R.STALE_BOOK: 3, R.NOT_IMPORTED.format("bookTicker"): 305, R.NOT_IMPORTED.format("kline"): 22}),
    "exchange-ws/BINANCE_FUTURES.ws.1.0": (
        "SUSHI/USDT:USDT", 1_536, {"trades": 40, "book": 4_029}, 913,
        {R.NOT_IMPORTED.format("bookTicker"): 305}),
    # four linear perpetuals: the one with the most events (BTC: 7,284; ETH, the most lines: 4,531)
    "exchange-ws/BYBIT.v3.jsonl.zst": (
        "BTC/USDT:USDT", 3_256,
        {"trades": 56, "book": 7_180, "marks": 42, "open_interest": 5, "funding": 1}, 2_566, {}),
    # its only perpetual, UNI-USD-SWAP (its contract size is in the capture's instrument list)
    "exchange-ws/OKX.v3.jsonl.zst": (
        "UNI/USD:UNI", 440, {"trades": 1, "book": 942}, 297, {}),
    # no perpetual with a known contract size: the market with the most events, BTC-USDT spot
    "exchange-ws/OKX.ws.1.0": (
        "BTC/USDT", 414, {"trades": 69, "book": 4_968}, 106, {R.UNKNOWN_CONTRACT: 94}),
}
# captures of formats liqdesk does not import (Bybit v2, BitMEX, Deribit): every line counted
UNSUPPORTED = {
    "exchange-ws/BYBIT.ws.25.0": 3_359,
    "exchange-ws/BYBIT.ws.26.0": 1_103,
    "exchange-ws/BITMEX.ws.1.0": 2_124,
    "exchange-ws/DERIBIT.ws.1.0": 138,
}


#: folders of raw exchange captures (the others hold liquidation records and position snapshots,
#: which are scoring data, not importer input)
CAPTURE_DIRS = ("binance-usdm-ws", "exchange-ws")


def test_every_capture_is_covered(real_data):
    files = {str(p.relative_to(real_data)) for d in CAPTURE_DIRS for p in (real_data / d).rglob("*")
             if p.is_file() and p.suffix != ".md"}
    assert files == set(EXPECTED) | set(UNSUPPORTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_capture_exact_counts(real_data, name):
    symbol, n_lines, events, mixed, reasons = EXPECTED[name]
    batches, rep = import_files([real_data / name])
    assert rep.symbol == symbol
    assert rep.lines == n_lines
    assert {k: v for k, v in rep.events.items() if v} == events
    assert rep.skipped[R.OTHER_SYMBOLS] == mixed
    for reason, n in reasons.items():
        assert rep.skipped[reason] == n, reason
    assert not rep.truncated and not rep.gaps
    for bad in (R.GARBAGE, R.MALFORMED, R.UNKNOWN_STREAM):
        assert rep.skipped[bad] == 0, bad
    assert not any(k.startswith("lines lost") or k.startswith("invalid rows") for k in rep.skipped)


@pytest.mark.parametrize("name", sorted(UNSUPPORTED))
def test_unsupported_capture_counted_not_crashed(real_data, name):
    batches, rep = import_files([real_data / name])
    assert batches == [] and not rep.usable
    assert rep.lines == UNSUPPORTED[name] == rep.skipped[R.UNRECOGNIZED]


def test_btc_capture_trades_match_the_capture(real_data):
    batches, rep = import_files([real_data / "binance-usdm-ws/btcusdt_20240808.gz"])
    tr = merged(batches).trades
    assert len(tr) == 21_313
    # first and last at the capture's own trade times (field T)
    assert int(tr["time_ms"][0]) == 1_723_161_256_322
    assert int(tr["time_ms"][-1]) == 1_723_161_599_643
    assert int(np.count_nonzero(tr["side"] == 1)) == 9_616  # taker buys (m false)
    assert float(tr["size"].sum()) == pytest.approx(2_429.366, abs=1e-6)
    assert rep.span_ms[0] <= 1_723_161_256_322 and rep.span_ms[1] >= 1_723_161_599_643
    book = merged(batches).book
    snap = book[book["snapshot"]]
    assert len(snap) == 2_000 and len(np.unique(snap["time_ms"])) == 1
    assert int(snap["time_ms"][0]) == 1_723_161_256_493  # the REST snapshot's T
    # a snapshot of 1000 bids then 1000 asks, best first
    assert snap["side"][:1000].tolist() == [1] * 1000 and snap["side"][1000:].tolist() == [-1] * 1000
    assert snap["price"][0] == pytest.approx(61_800.20) and snap["price"][1000] > snap["price"][0]


def test_okx_inverse_sizes_in_base_currency(real_data):
    batches, rep = import_files([real_data / "exchange-ws/OKX.ws.1.0"], symbol="BTC-USD-220527")
    assert rep.symbol == "BTC/USD:BTC-220527" and rep.events["trades"] == 4 and rep.events["book"] == 2_354
    book = merged(batches).book
    first_ask = book[(book["side"] == -1) & book["snapshot"]][0]
    # 2 contracts of 100 USD at 30238.8
    assert first_ask["price"] == pytest.approx(30_238.8)
    assert first_ask["size"] == pytest.approx(2 * 100 / 30_238.8)


def test_several_captures_one_session(real_data):
    paths = [real_data / "binance-usdm-ws/btcusdt_20240808.gz", real_data / "binance-usdm-ws/ethusdt_20240808.gz"]
    batches, rep = import_files(paths, symbol="ETHUSDT")
    assert rep.symbol == "ETH/USDT:USDT" and rep.events["trades"] == 14_076
    assert rep.skipped[R.OTHER_SYMBOLS] == 93_954


def test_measure_import(real_data):
    from liqdesk.sources.importers.bench import measure_import

    out = measure_import(real_data / "binance-usdm-ws/btcusdt_20240808.gz", rounds=1)
    assert set(out) == {"import_lines_per_s", "import_baseline_lines_per_s", "import_ratio"}
    assert out["import_lines_per_s"] > 0 and out["import_baseline_lines_per_s"] > 0
    assert out["import_ratio"] == pytest.approx(out["import_lines_per_s"] / out["import_baseline_lines_per_s"],
                                                rel=1e-2)
