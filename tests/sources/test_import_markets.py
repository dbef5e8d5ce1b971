"""Which market an import keeps: never another market than the one asked for (spot, perpetual and
dated future of one pair are three markets), the perpetual with the most events by default, and
a one-line error that says what the input holds."""

from __future__ import annotations

import json

import pytest
import zstandard

from liqdesk.cli import main
from liqdesk.sources.importers import import_bytes, import_files
from liqdesk.sources.importers import report as R
from liqdesk.sources.importers.symbols import match_symbol, parse_user_symbol

from .importer_helpers import T0, bn_trade, lines


def okx_trade(inst: str, tid: int, t: int, px: str = "60000", sz: str = "1") -> dict:
    return {"arg": {"channel": "trades", "instId": inst},
            "data": [{"instId": inst, "tradeId": str(tid), "px": px, "sz": sz, "side": "buy", "ts": str(t)}]}


def okx_capture(spot: int = 0, swap: int = 0, future: int = 0) -> bytes:
    msgs = [okx_trade("BTC-USDT", i, T0 + i) for i in range(spot)]
    msgs += [okx_trade("BTC-USDT-SWAP", 1000 + i, T0 + i) for i in range(swap)]
    msgs += [okx_trade("BTC-USD-220527", 2000 + i, T0 + i, sz="3") for i in range(future)]
    return lines(*msgs)


# ------------------------------------------------------------------------------ --symbol

@pytest.mark.parametrize("spelling", ["BTC-USDT-SWAP", "btc-usdt-swap", "BTC/USDT:USDT", "BTCUSDT",
                                      "BTC-USDT-PERP", "BTCUSDT.P", "BTCUSDT_PERP"])
def test_spellings_of_the_perpetual_never_take_spot(spelling):
    # only spot and a dated future in the input: the perpetual is not there
    batches, rep = import_bytes(okx_capture(spot=7, future=2), symbol=spelling)
    assert batches == [] and not rep.usable and rep.symbol is None
    assert [m["symbol"] for m in rep.markets] == ["BTC/USDT", "BTC/USD:BTC-220527"]
    assert rep.markets[0]["ids"] == ["BTC-USDT"] and rep.markets[0]["trades"] == 7
    # with the perpetual there too, every spelling of it takes it
    batches, rep = import_bytes(okx_capture(spot=7, swap=3, future=2), symbol=spelling)
    assert rep.symbol == "BTC/USDT:USDT" and rep.events["trades"] == 3


@pytest.mark.parametrize(("spelling", "symbol", "trades"), [
    ("BTC-USDT", "BTC/USDT", 7), ("BTC/USDT", "BTC/USDT", 7),
    ("BTC-USD-220527", "BTC/USD:BTC-220527", 2), ("BTC/USD:BTC-220527", "BTC/USD:BTC-220527", 2),
])
def test_spot_and_futures_by_their_own_names(spelling, symbol, trades):
    batches, rep = import_bytes(okx_capture(spot=7, swap=3, future=2), symbol=spelling)
    assert rep.symbol == symbol and rep.events["trades"] == trades


def test_a_dated_future_is_not_the_perpetual():
    batches, rep = import_bytes(okx_capture(future=4), symbol="BTC-USD-SWAP")
    assert not rep.usable and rep.symbol is None
    batches, rep = import_bytes(okx_capture(swap=4), symbol="BTC-USDT-240927")
    assert not rep.usable and rep.symbol is None


def test_match_symbol_is_exact():
    seen = ["BTC/USDT", "BTC/USDT:USDT-240927"]
    assert match_symbol("BTC-USDT-SWAP", seen) is None
    assert match_symbol("BTCUSDT", seen) is None
    assert match_symbol("BTC-USDT", seen) == "BTC/USDT"
    assert match_symbol("BTCUSDT_240927", seen) == "BTC/USDT:USDT-240927"
    assert parse_user_symbol("BTCUSDT.P") == parse_user_symbol("BTC-USDT-SWAP") == "BTC/USDT:USDT"


def test_binance_perpetual_is_not_spot():
    msgs = [bn_trade(i, T0 + i, symbol="ETHUSDT") for i in range(3)]
    batches, rep = import_bytes(lines(*msgs), symbol="ETH/USDT")
    assert not rep.usable and rep.symbol is None and rep.markets[0]["ids"] == ["ETHUSDT"]


def _bybit_wrapped(spot: int, linear: int) -> bytes:
    def trade(i):
        return {"topic": "publicTrade.BTCUSDT", "type": "snapshot", "ts": T0 + i,
                "data": [{"T": T0 + i, "s": "BTCUSDT", "S": "Buy", "v": "1", "p": "60000", "i": f"x{i}"}]}

    out = [json.dumps({"t": "header", "format": 2, "exchange": "BYBIT", "config": {}, "recorded": 1.0})]
    for conn, market, n in (("c1", "spot", spot), ("c2", "linear", linear)):
        out.append(json.dumps({"t": "connect", "conn": conn, "ts": 1.0,
                               "addr": f"wss://stream.bybit.com/v5/public/{market}"}))
        out += [json.dumps({"t": "recv", "conn": conn, "ts": 2.0, "data": json.dumps(trade(i))}) for i in range(n)]
    return zstandard.ZstdCompressor().compress(("\n".join(out) + "\n").encode())


def test_bybit_spot_and_linear_share_a_name_not_a_market():
    data = _bybit_wrapped(spot=5, linear=2)
    assert import_bytes(data, symbol="BTCUSDT")[1].events["trades"] == 2
    assert import_bytes(data, symbol="BTC/USDT")[1].events["trades"] == 5
    rep = import_bytes(_bybit_wrapped(spot=5, linear=0), symbol="BTCUSDT")[1]
    assert not rep.usable and rep.symbol is None
    assert rep.markets[0]["kind"] == "spot" and rep.markets[0]["ids"] == ["BTCUSDT"]


# ------------------------------------------------------------------------------ no --symbol

def test_default_is_the_perpetual_with_the_most_events():
    # spot is the busiest, but a perpetual is there: the perpetual is imported
    batches, rep = import_bytes(okx_capture(spot=9, swap=2, future=4))
    assert rep.symbol == "BTC/USDT:USDT" and rep.events["trades"] == 2
    summary = rep.summary()
    assert "picked BTC-USDT-SWAP (okx perpetual, 2 trades" in summary
    assert "also holds BTC-USDT (okx spot, 9 trades" in summary and "BTC-USD-220527" in summary
    # two perpetuals: the one with more events
    msgs = [bn_trade(i, T0 + i) for i in range(2)] + [bn_trade(100 + i, T0 + i, symbol="ETHUSDT") for i in range(5)]
    assert import_bytes(lines(*msgs))[1].symbol == "ETH/USDT:USDT"


def test_default_without_a_perpetual_takes_the_busiest_market_and_says_so():
    batches, rep = import_bytes(okx_capture(spot=9, future=4))
    assert rep.symbol == "BTC/USDT" and rep.events["trades"] == 9
    assert "no perpetual had events" in rep.summary()
    assert rep.skipped[R.OTHER_SYMBOLS] == 4


def test_a_single_market_says_nothing_about_others():
    rep = import_bytes(okx_capture(swap=3))[1]
    assert rep.symbol == "BTC/USDT:USDT" and "also holds" not in rep.summary()


# ------------------------------------------------------------------------------ the command

def test_command_fails_with_what_the_input_holds(tmp_path, capsys):
    src = tmp_path / "okx.jsonl"
    src.write_bytes(okx_capture(spot=9, future=4))
    out = tmp_path / "x.liqs"
    assert main(["import", str(src), "--symbol", "BTC-USDT-SWAP", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("liqdesk: error: BTC-USDT-SWAP is not in the input")
    # instrument ids with trade counts, most active first
    assert err.index("BTC-USDT (okx spot, 9 trades") < err.index("BTC-USD-220527 (okx inverse future 220527, 4 trades")
    assert not out.exists()


@pytest.mark.parametrize("name", ["exchange-ws/OKX.ws.1.0", "exchange-ws/OKX.v3.jsonl.zst"])
def test_real_okx_capture_has_no_btc_swap(real_data, tmp_path, capsys, name):
    out = tmp_path / "x.liqs"
    assert main(["import", str(real_data / name), "--symbol", "BTC-USDT-SWAP", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "BTC-USDT-SWAP is not in the input" in err
    assert "BTC-USDT (okx spot, 69 trades" in err and "BTC-USD-220527 (okx inverse future 220527, 4 trades" in err
    assert not out.exists()


def test_real_okx_capture_default_pick(real_data):
    # the cryptofeed capture: its only perpetual (UNI-USD-SWAP) has no known contract size, so no
    # perpetual gave events and the busiest market (spot) is taken, and said to be
    rep = import_files([real_data / "exchange-ws/OKX.ws.1.0"])[1]
    assert rep.symbol == "BTC/USDT" and "no perpetual had events" in rep.picked()
    # the v3 capture recorded UNI-USD-SWAP's contract size: the perpetual is taken
    rep = import_files([real_data / "exchange-ws/OKX.v3.jsonl.zst"])[1]
    assert rep.symbol == "UNI/USD:UNI" and rep.picked().startswith("picked UNI-USD-SWAP (okx inverse perpetual")
    assert "BTC-USDT (okx spot, 69 trades" in rep.summary()
