"""``liqdesk simulate`` writes a readable session; bad input exits 2 with one line."""

from __future__ import annotations

import numpy as np
import pytest

from liqdesk.cli import main


def test_simulate_writes_a_readable_session(tmp_path, capsys):
    store = pytest.importorskip("liqdesk.store", reason="the session store is not importable yet")
    out = tmp_path / "sim.liqs"
    assert main(["simulate", "--hours", "0.5", "--seed", "3", "--out", str(out), "--quiet"]) == 0
    assert "wrote" in capsys.readouterr().out
    reader = store.SessionReader(out)
    try:
        batch = reader.read()
        assert len(batch.trades) > 1000 and len(batch.marks) == 1800 * 3
        assert len(batch.open_interest) == 360 * 3
        assert len(batch.book) and len(batch.funding)
        meta = reader.meta
        assert meta["source"] == "sim" and meta["seed"] == 3
        assert meta["bin_width"] == 50.0 and meta["truth_every_ms"] == 60_000
        assert meta["sim"]["venues"] == ["binance", "bybit", "okx"]
        assert "truth_liquidations" in reader.tables and "truth_map" in reader.tables
        tmap = reader.table("truth_map")
        assert tmap.column_names == ["time_ms", "side", "bin", "notional"]
        assert len(np.unique(tmap.column("time_ms").to_numpy())) == 30
        liq = reader.table("truth_liquidations")
        assert liq.num_rows >= len(batch.liquidations)
    finally:
        reader.close()
    # same seed, same session
    again = tmp_path / "again.liqs"
    assert main(["simulate", "--hours", "0.5", "--seed", "3", "--out", str(again), "--quiet"]) == 0
    r2 = store.SessionReader(again)
    try:
        np.testing.assert_array_equal(r2.read().trades, batch.trades)
    finally:
        r2.close()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--hours", "-1"], "hours"),
        (["--hours", "1", "--leverage-prior", "5:0,10:0"], "weights must sum to a positive number"),
        (["--hours", "1", "--venues", "9"], "venue count"),
        (["--hours", "1", "--bias", "1.5"], "bias"),
        (["--hours", "abc"], "hours"),
        (["--hours", "1", "--scenario", "storm"], "unknown scenario 'storm'; expected one of calm, trend, crash, "
                                                  "lowlev, highlev"),
    ],
)
def test_bad_input_exits_2_with_one_line(tmp_path, capsys, args, message):
    try:
        code = main(["simulate", *args, "--out", str(tmp_path / "x.liqs"), "--quiet"])
    except SystemExit as exc:      # argparse's own errors
        code = exc.code
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("liqdesk: error:") and message in err
    assert "Traceback" not in err


def test_an_impossible_state_stops_the_run_and_says_so(tmp_path, capsys, monkeypatch):
    store = pytest.importorskip("liqdesk.store", reason="the session store is not importable yet")
    from liqdesk.sim import SimulationError, Simulator

    real_step = Simulator._step

    def step(self):
        if self.now - self.start_ms >= 20 * 60_000:
            raise SimulationError("simulator reached an impossible state at T: okx mark price is nan")
        real_step(self)

    monkeypatch.setattr(Simulator, "_step", step)
    out = tmp_path / "broken.liqs"
    assert main(["simulate", "--hours", "1", "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "impossible state" in err and "complete" in err
    reader = store.SessionReader(out)
    try:
        assert reader.meta["complete"] is False and "impossible state" in reader.meta["sim_error"]
        batch = reader.read()
        assert batch.marks["time_ms"].max() <= reader.meta["sim_stopped_ms"]
        assert "truth_map" not in reader.tables
    finally:
        reader.close()


def test_simulate_takes_its_market_from_the_symbol(tmp_path, capsys):
    store = pytest.importorskip("liqdesk.store", reason="the session store is not importable yet")
    from liqdesk.core.markets import market_profile
    from liqdesk.core.tiers import load_tiers

    out = tmp_path / "sol.liqs"
    assert main(["simulate", "--symbol", "SOL/USDT:USDT", "--hours", "0.2", "--venues", "4", "--out", str(out),
                 "--quiet"]) == 0
    said = capsys.readouterr().out
    assert "SOL/USDT:USDT: market as of 2025-12, start price 125.86" in said
    reader = store.SessionReader(out)
    try:
        batch, meta = reader.read(), reader.meta
        assert reader.symbol == "SOL/USDT:USDT"
    finally:
        reader.close()
    price = market_profile("SOL").price
    for kind in (batch.trades, batch.marks):
        assert len(kind) and np.all(np.abs(kind["price"] / price - 1) < 0.1)       # a SOL market, not 60,000
    # each venue used its own published table for SOL (Binance, Bybit, OKX, Hyperliquid)
    tiers = meta["tiers"]
    assert tiers["binance"] == {"symbol": "SOL/USDT:USDT", "approximate": False,
                                "as_of": load_tiers("binance", "SOL").as_of}
    assert tiers["hyperliquid"]["symbol"] == "SOL/USDC:USDC" and not tiers["hyperliquid"]["approximate"]
    assert {v for v, t in tiers.items() if t["approximate"]} == set()
    assert meta["sim"]["market"]["symbol"] == "SOL/USDT:USDT" and meta["sim"]["start_price"] == price


def test_simulate_an_unknown_symbol_and_all_five_venues(tmp_path, capsys):
    pytest.importorskip("liqdesk.store", reason="the session store is not importable yet")
    out = tmp_path / "foo.liqs"
    assert main(["simulate", "--symbol", "FOOUSDT", "--venues", "5", "--hours", "0.1", "--out", str(out),
                 "--quiet"]) == 0
    said = capsys.readouterr().out
    assert "approximate market (generic profile), start price 1" in said
    assert "approximate tiers (generic table) on binance, bybit, okx, hyperliquid, bitget" in said


def test_simulate_takes_a_scenario_and_an_explicit_prior_over_its_population(tmp_path, capsys):
    store = pytest.importorskip("liqdesk.store", reason="the session store is not importable yet")
    from liqdesk.sim.scenarios import SCENARIOS

    runs = {"preset": ["--scenario", "LowLev"], "mine": ["--scenario", "lowlev", "--leverage-prior", "125:1"]}
    for name, extra in runs.items():
        out = tmp_path / f"{name}.liqs"
        assert main(["simulate", "--hours", "0.05", "--seed", "2", "--venues", "5", "--out", str(out), "--quiet",
                     *extra]) == 0
        assert "scenario lowlev" in capsys.readouterr().out
        reader = store.SessionReader(out)
        try:
            meta = reader.meta
        finally:
            reader.close()
        assert meta["scenario"] == "lowlev" and meta["sim"]["scenario"] == "lowlev"
        assert len(meta["sim"]["venues"]) == 5
        want = SCENARIOS["lowlev"].values["leverage_prior"] if name == "preset" else "125:1"
        assert meta["sim"]["leverage_prior"] == want
