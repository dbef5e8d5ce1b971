"""Scenario presets: each runs, combines with seed, venues and an explicit prior, and has the
statistics it claims (short fixed-seed episodes; the 24 h figures are in liqdesk/sim/README.md)."""

from __future__ import annotations

import numpy as np
import pytest

from liqdesk.sim import SCENARIO_NAMES, SimParams, Simulator, venues_for
from liqdesk.sim.calibration import hourly_ranges, largest_fall
from liqdesk.sim.scenarios import MARKET_DEFAULTS, SCENARIOS


def _binance_marks(sim: Simulator) -> np.ndarray:
    """Run ``sim`` to its end; the Binance mark every second."""
    parts = []
    while not sim.finished:
        m = sim.step(sim.now + 3_600_000).marks
        parts.append(m["price"][m["exchange"] == sim.exchange_ids[0]])
    return np.concatenate(parts)


def test_a_preset_fills_only_what_is_not_given():
    p = SimParams(scenario="HighLev")
    assert p.scenario == "highlev" and p.leverage_prior == SCENARIOS["highlev"].values["leverage_prior"]
    assert p.volatility == MARKET_DEFAULTS["volatility"]           # a population preset keeps the market
    explicit = SimParams(scenario="highlev", leverage_prior="5:1,10:1", bias=0.4)
    assert explicit.leverage_prior == "5:1,10:1" and explicit.bias == 0.4
    calm = SimParams(scenario="calm")
    assert calm.volatility < MARKET_DEFAULTS["volatility"] and calm.leverage_prior == MARKET_DEFAULTS["leverage_prior"]
    default = SimParams()
    assert default.scenario is None
    assert {k: getattr(default, k) for k in MARKET_DEFAULTS} == MARKET_DEFAULTS
    assert SimParams(scenario="crash").to_meta()["scenario"] == "crash"


def test_an_unknown_scenario_names_the_known_ones():
    with pytest.raises(ValueError, match="unknown scenario 'storm'") as err:
        SimParams(scenario="storm")
    assert all(name in str(err.value) for name in SCENARIO_NAMES)
    assert "\n" not in str(err.value)


def test_every_preset_runs_with_a_seed_and_five_venues():
    for name in SCENARIO_NAMES:
        params = SimParams(scenario=name, seed=4, hours=0.05, venues=venues_for(5))
        a, b = Simulator(params), Simulator(params)
        ba, bb = a.step(a.end_ms), b.step(b.end_ms)
        assert len(ba.marks) == 180 * 5
        np.testing.assert_array_equal(ba.trades, bb.trades)          # same seed, same market


def _opened_leverage(scenario, venues=5, **kw):
    """Leverage of the positions opened in the first 15 simulated minutes, per venue (after each
    venue's cap; the warm start's survivors are left out: high leverage dies young)."""
    params = SimParams(scenario=scenario, seed=2, hours=0.25, venues=venues_for(venues), **kw)
    sim = Simulator(params)
    sim.step(sim.end_ms)
    pos = sim.positions()
    pos = pos[pos["open_ms"] >= params.start_ms]
    return {name: pos["leverage"][pos["venue"] == v] for v, name in enumerate(sim.venues)}


def test_lowlev_and_highlev_shift_the_leverage_of_opened_positions():
    default, low, high = _opened_leverage(None), _opened_leverage("lowlev"), _opened_leverage("highlev")
    for name in ("binance", "bybit", "okx"):
        d, lo, hi = default[name], low[name], high[name]
        assert len(lo) > 200 and len(hi) > 200
        assert np.median(lo) <= 10 < np.median(d) < 50 <= np.median(hi)
        assert lo.max() <= 30 and (lo <= 10).mean() > 0.6
        assert (hi >= 50).mean() > 0.5 > (d >= 50).mean()
    # above 100x where the venue allows it: Binance (150x under $300k for BTC); Bybit and OKX cap
    # at 100x, Hyperliquid at 40x
    assert (high["binance"] == 125).mean() > 0.05 and default["binance"].max() <= 100
    assert high["bybit"].max() == 100 and high["okx"].max() == 100 and high["hyperliquid"].max() == 40
    # an explicit prior overrides the preset's population
    mine = _opened_leverage("highlev", venues=1, leverage_prior="7:1")["binance"]
    assert len(mine) and np.all(mine == 7)


#: Seeds and span of the calm and trend comparisons with the default market (same seeds).
SEEDS, HOURS = (1, 2, 3), 1.5


#: calm and trend both compare with ``default_marks`` (4.5 simulated hours, ~7 s): one worker runs
#: both, so the default market is simulated once per run, not once per worker that gets one of them
DEFAULT_MARKET_GROUP = pytest.mark.xdist_group("sim_scenarios_default")


@pytest.fixture(scope="module")
def default_marks():
    return [_binance_marks(Simulator(SimParams(seed=seed, hours=HOURS))) for seed in SEEDS]


@pytest.mark.slow
@DEFAULT_MARKET_GROUP
def test_calm_has_smaller_ranges_than_the_default_market(default_marks):
    calm = [_binance_marks(Simulator(SimParams(scenario="calm", seed=seed, hours=HOURS))) for seed in SEEDS]
    calm = np.concatenate([hourly_ranges(p, 3.0) for p in calm])     # 20-minute ranges, percent
    default = np.concatenate([hourly_ranges(p, 3.0) for p in default_marks])
    assert np.median(calm) < 0.6 * np.median(default)
    assert np.median(calm) < 0.2


@pytest.mark.slow
@DEFAULT_MARKET_GROUP
def test_trend_moves_price_up_more_than_the_default_market(default_marks):
    trend = [_binance_marks(Simulator(SimParams(scenario="trend", seed=seed, hours=HOURS))) for seed in SEEDS]
    move = {k: np.array([p[-1] / p[0] - 1.0 for p in v]) * 100.0 for k, v in (("trend", trend),
                                                                             ("default", default_marks))}
    # 8 % a day is 0.5 % in 1.5 h; the default market's own moves are as large, seed by seed
    assert move["trend"].mean() > move["default"].mean() + 0.3
    assert move["trend"].mean() > 0.2


def test_crash_falls_several_percent_within_minutes_with_a_liquidation_burst():
    params = SimParams(scenario="crash", seed=5, hours=1.5)
    sim = Simulator(params)
    price = _binance_marks(sim)
    fall, at = largest_fall(price)                                   # within 15 minutes, percent
    assert fall > 4.0
    assert 3600 <= at <= 3600 + 20 * 60                              # the crash starts 1 h in
    liq = sim.truth_liquidations()
    t = (liq["time_ms"] - params.start_ms) / 1000.0
    crash = (t >= 3600) & (t < 3600 + 15 * 60)
    before = t < 3600
    # the crash's 15 minutes liquidate over 10 times a pre-crash quarter hour's average
    assert liq["notional"][crash].sum() > 10 * liq["notional"][before].sum() / 4
    assert (liq["side"][crash] > 0).mean() > 0.9                     # longs are the ones flushed
    # the same seed without the crash has no such fall
    calm_fall, _ = largest_fall(_binance_marks(Simulator(SimParams(seed=5, hours=1.5))))
    assert calm_fall < 2.0


def test_the_statistics_helpers_measure_what_they_say():
    from liqdesk.sim.calibration import covered_ranges, leverage_mix, liquidation_burst

    price = np.concatenate([np.full(1800, 100.0), np.linspace(100.0, 94.0, 600), np.full(1200, 94.0)])
    fall, at = largest_fall(price)
    assert fall == pytest.approx(6.0) and at == 2399
    assert hourly_ranges(price).tolist() == pytest.approx([6.0])
    t = np.arange(0, 3_600_000, 5_000)
    assert covered_ranges(t, 100.0 + (t >= 1_800_000), 1_800_000).tolist() == pytest.approx([0.0, 0.0])
    kept = (t < 600_000) | (t > 900_000)
    assert len(covered_ranges(t[kept], np.ones(kept.sum()), 1_800_000)) == 1   # the window with a hole is left out
    burst = liquidation_burst(np.array([0, 60_000, 1_000_000, 1_000_001]), np.array([1.0, 1.0, 50.0, 50.0]),
                              0, 4 * 900_000)
    assert burst == pytest.approx(100.0 / 1.0)
    mix = leverage_mix(np.array([5.0, 10.0, 50.0, 125.0]))
    assert mix["le10"] == 0.5 and mix["ge50"] == 0.5 and mix["gt100"] == 0.25 and mix["max"] == 125.0


def test_the_real_references_are_read_when_present(real_data):
    from liqdesk.sim.calibration import real_hyperliquid_leverage, real_ranges

    ranges = real_ranges(real_data)
    assert ranges is not None and len(ranges) >= 3 and 0.05 < np.median(ranges) < 1.0
    mix = real_hyperliquid_leverage(real_data)
    assert mix is not None and sum(mix.values()) == pytest.approx(1.0) and mix["100x"] < 0.01
