"""Determinism, the stepping contract, impossible states, the speed figure."""

from __future__ import annotations

import math

import numpy as np
import pytest

from liqdesk.core.events import concat_batches
from liqdesk.sim import SimParams, SimulationError, Simulator
from liqdesk.sim.bench import measure_sim

HOUR = 3_600_000


def _run(params, chunks):
    sim = Simulator(params)
    parts = [sim.step(sim.start_ms + c) for c in chunks]
    return sim, concat_batches(parts)


def test_same_seed_same_events_however_stepped():
    params = SimParams(seed=5, hours=0.25)
    a_sim, a = _run(params, [15 * 60_000])
    uneven = sorted({int(x) for x in np.random.default_rng(1).integers(0, 15 * 60_000, 40)} | {15 * 60_000})
    b_sim, b = _run(params, uneven)
    for kind, arr in a.arrays().items():
        np.testing.assert_array_equal(arr, getattr(b, kind), err_msg=kind)
    np.testing.assert_array_equal(a_sim.truth_liquidations(), b_sim.truth_liquidations())
    for x, y in zip(a_sim.truth_map(), b_sim.truth_map()):
        np.testing.assert_array_equal(x, y)
    assert a_sim.positions().tobytes() == b_sim.positions().tobytes()
    c_sim, c = _run(SimParams(seed=6, hours=0.25), [15 * 60_000])
    assert not np.array_equal(a.trades, c.trades)


def test_step_contract():
    sim = Simulator(SimParams(seed=2, hours=0.01))     # 36 s
    start = sim.start_ms
    empty = sim.step(start + 999)
    assert len(empty) == 0 and sim.now == start
    b = sim.step(start + 10_500)
    assert sim.now == start + 10_000
    assert b.checked and not b.trades.flags.writeable
    assert b.marks["time_ms"].max() == start + 10_000 and b.trades["time_ms"].min() > start
    assert b.trades["time_ms"].max() <= start + 10_000
    assert set(b.marks["time_ms"].tolist()) == {start + 1000 * k for k in range(1, 11)}
    sim.step(start + HOUR)
    assert sim.finished and sim.now == start + 36_000
    assert len(sim.step(start + 2 * HOUR)) == 0


def test_impossible_states_stop_with_a_clear_message():
    sim = Simulator(SimParams(seed=3, hours=1))
    sim.step(sim.start_ms + 30_000)
    sim.v = math.nan
    with pytest.raises(SimulationError, match="impossible state .* mark price") as info:
        sim.step(sim.start_ms + 60_000)
    assert isinstance(info.value, ValueError) and "\n" not in str(info.value)

    sim = Simulator(SimParams(seed=3, hours=1))
    sim.step(sim.start_ms + 30_000)
    sim.books.ladder[0, 3] = -1.0
    with pytest.raises(SimulationError, match="impossible state .* negative, NaN or overflowing book size") as info:
        sim.step(sim.start_ms + 120_000)
    assert "\n" not in str(info.value)


def test_four_venues_each_with_its_own_rule():
    sim = Simulator(SimParams(seed=1, hours=0.25, venues=("binance", "bybit", "okx", "hyperliquid")))
    b = sim.step(sim.start_ms + HOUR)
    assert set(np.unique(b.marks["exchange"]).tolist()) == {0, 1, 2, 3}
    assert [t.rule for t in sim.tables] == ["binance", "bybit", "okx", "hyperliquid"]
    pos = sim.positions()
    assert pos[pos["venue"] == 3]["leverage"].max() <= 40.0


def test_measure_sim_reports_hours_per_minute():
    out = measure_sim(hours=0.1)
    assert out["sim_hours_per_minute"] > 0 and out["sim_bench_hours"] == 0.1
