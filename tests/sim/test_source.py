"""SimSource: the non-blocking poll contract."""

from __future__ import annotations

import numpy as np
import pytest

from liqdesk.sim import SimParams
from liqdesk.sources.sim import SimSource


def test_poll_follows_the_wall_clock_times_speed():
    src = SimSource(SimParams(seed=4), speed=10.0)
    start = src.sim_time_ms
    assert src.state == "idle"
    assert src.poll(1000.0) is None and src.state == "running"
    b = src.poll(1001.0)                      # one wall second at 10x: ten simulated seconds
    assert b is not None and src.clock_ms == start + 10_000
    assert b.marks["time_ms"].max() == start + 10_000
    assert not b.trades.flags.writeable and not b.marks.flags.writeable
    half = src.poll(1001.05)                   # half a simulated second: only what happened in it
    if half is not None:
        assert half.time_span()[0] > start + 10_000 and half.time_span()[1] <= start + 10_500
    assert src.poll(1000.5) is None            # the wall clock going back is no time passing
    b2 = src.poll(1002.0)
    assert b2.marks["time_ms"].min() > b.marks["time_ms"].max()


def test_a_stalled_caller_catches_up_in_bounded_polls():
    src = SimSource(SimParams(seed=4), speed=1.0, max_catch_up_ms=30_000)
    src.poll(0.0)
    start = src.sim_time_ms
    b = src.poll(120.0)
    assert src.sim_time_ms == start + 30_000 and src.lag_ms == 90_000
    while src.lag_ms:
        assert src.poll(120.0) is not None
    assert src.clock_ms == start + 120_000 and src.sim_time_ms <= start + 121_000
    src.set_speed(4.0)
    src.poll(121.0)
    assert src.clock_ms == start + 124_000
    assert len(b.open_interest) and np.all(np.diff(b.marks["time_ms"]) >= 0)


def test_polls_never_raise():
    src = SimSource(SimParams(seed=4, hours=0.01), speed=100.0)
    for now in (0.0, float("nan"), "soon", None, 1.0, 5.0, 10.0):
        src.poll(now)
    assert src.state == "finished" and src.poll(20.0) is None
    broken = SimSource(SimParams(seed=4))
    broken.poll(0.0)
    broken.simulator.v = float("nan")
    assert broken.poll(5.0) is None
    assert broken.state == "error" and "mark price" in broken.error
    assert broken.poll(6.0) is None


def test_bad_speed():
    with pytest.raises(ValueError, match="speed"):
        SimSource(speed=0)
    with pytest.raises(ValueError, match="speed"):
        SimSource(speed=float("inf"))


def test_real_time_polls_deliver_sub_second_batches_of_the_same_stream():
    from liqdesk.core.events import concat_batches
    from liqdesk.sim import SimParams, Simulator
    from liqdesk.sources.sim import SimSource

    params = SimParams(seed=3)
    src = SimSource(params, speed=1.0)
    src.poll(100.0)
    batches = [src.poll(100.0 + 0.1 * i) for i in range(1, 51)]   # 5 s of 100 ms frames
    got = [b for b in batches if b is not None]
    assert len(got) > 15, "the view should move more often than once a second"
    stream = concat_batches(got)
    assert np.all(np.diff(stream.trades["time_ms"]) >= 0)
    whole = Simulator(params).step(Simulator(params).now + 5_000)
    n = len(stream.trades)
    assert n > 0 and np.array_equal(stream.trades, whole.trades[:n])


def test_back_to_1x_after_running_fast_is_1x_at_once():
    """Regression: after a fast warm-up whose wall-clock target ran ahead of the simulator,
    set_speed(1) re-anchored on that target and the market raced at 65-100x for minutes."""
    src = SimSource(SimParams(seed=4), speed=1000.0, max_catch_up_ms=15_000)
    src.poll(0.0)
    for i in range(1, 4):
        src.poll(float(i))          # 1,000 s of market time asked per second, 15 s given per poll
    assert src.lag_ms > 100_000
    src.set_speed(1.0, 3.0)
    assert src.lag_ms == 0
    reached = src.clock_ms
    src.poll(4.0)                    # one wall second later: one market second
    assert src.clock_ms == reached + 1_000 and src.lag_ms == 0


def test_fast_forward_builds_history_then_goes_live_at_1x():
    src = SimSource(SimParams(seed=4), speed=1.0)
    start = src.sim_time_ms
    batches = list(src.fast_forward(start + 180_000, chunk_ms=60_000))
    assert len(batches) == 3 and src.sim_time_ms == start + 180_000
    times = np.concatenate([b.marks["time_ms"] for b in batches])
    assert times.min() > start and times.max() == start + 180_000 and np.all(np.diff(times) >= 0)
    src.go_live(50.0)
    assert src.poll(50.0) is None and src.lag_ms == 0
    b = src.poll(52.0)
    assert b.marks["time_ms"].min() > start + 180_000 and src.clock_ms == start + 182_000
    with pytest.raises(RuntimeError):
        next(src.fast_forward(start + 300_000))
