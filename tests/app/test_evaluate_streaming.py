"""evaluate's comparison streams (issue 13, memory bounded by design): each liquidation is scored
with the baselines when its window is taken, each swept column once its horizon has passed, and
the baselines' tape keeps an hour. Its results are those of the whole-session pass it replaced
(``reference_comparison``), bit for bit, and what it keeps does not grow with the session."""

from __future__ import annotations

import math
from collections import deque

import numpy as np
import pytest

from liqdesk.app import analysis
from liqdesk.app.comparison import COLUMN_BATCH, ScoreOptions
from liqdesk.cli import main
from liqdesk.core.events import make_batch, records
from liqdesk.core.synthetic import random_walk_stream
from liqdesk.store import SessionReader, SessionWriter

from .reference_comparison import evaluate_whole
from .test_analysis import hand_session, hand_settings, two_venue_session  # noqa: F401 (fixtures)

pytestmark = pytest.mark.xdist_group("evaluate_streaming")   # one worker builds the sessions once


def _differences(old, new, path="") -> list:
    """Every place two results differ: keys, values (NaN equals NaN; floats bit for bit)."""
    if isinstance(old, dict):
        out = [(path, "keys", sorted(set(old) ^ set(new)))] if set(old) != set(new) else []
        return out + [d for k in old if k in new for d in _differences(old[k], new[k], f"{path}.{k}")]
    if isinstance(old, list | tuple):
        out = [(path, "length", len(old), len(new))] if len(old) != len(new) else []
        return out + [d for i, (a, b) in enumerate(zip(old, new, strict=False)) for d in _differences(a, b, f"{path}[{i}]")]
    if isinstance(old, float) and isinstance(new, float) and math.isnan(old) and math.isnan(new):
        return []
    return [] if old == new and type(old) is type(new) else [(path, old, new)]


@pytest.fixture(scope="module")
def sim_session(tmp_path_factory):
    """Ninety simulated minutes, three venues: long enough for the tape to drop its oldest seconds
    (it keeps an hour) and for batches of columns to be scored while the pass goes on."""
    out = tmp_path_factory.mktemp("stream") / "s.liqs"
    assert main(["simulate", "--hours", "1.5", "--seed", "1", "--out", str(out), "--quiet"]) == 0
    return out


@pytest.mark.parametrize("options", [ScoreOptions(resamples=100),
                                     ScoreOptions(horizon_ms=300_000, column_ms=30_000, gap_ms=20_000, resamples=50)],
                         ids=["default", "short-horizon"])
def test_streaming_matches_the_whole_session_pass_on_a_simulated_session(sim_session, options, monkeypatch):
    dropped = []
    drop_before = analysis.Comparison.__init__.__globals__["RollingTape"].drop_before

    def spy(tape, second):
        dropped.append(second)
        drop_before(tape, second)

    monkeypatch.setattr(analysis.Comparison.__init__.__globals__["RollingTape"], "drop_before", spy)
    with SessionReader(sim_session) as reader:
        new = analysis.evaluate(reader, options=options)
    with SessionReader(sim_session) as reader:
        old = evaluate_whole(reader, options=options)
    assert new["events"] > 20 and new["swept_columns"] > COLUMN_BATCH and len(new["venues"]) >= 2
    assert dropped                                   # the tape did forget seconds on the way
    assert _differences(old, new) == []


def test_streaming_matches_the_whole_session_pass_on_the_hand_sessions(hand_session, two_venue_session):  # noqa: F811
    with SessionReader(hand_session) as reader:
        settings = hand_settings(reader)
        pairs = [(analysis.evaluate(reader, settings=settings), evaluate_whole(reader, settings=settings))]
    opt = ScoreOptions(horizon_ms=300_000, column_ms=30_000, resamples=100)
    with SessionReader(two_venue_session) as reader:
        pairs.append((analysis.evaluate(reader, options=opt), evaluate_whole(reader, options=opt)))
        pairs.append((analysis.evaluate(reader, lead_s=10, top=0.2, band_pct=2, options=opt),
                      evaluate_whole(reader, lead_s=10, top=0.2, band_pct=2, options=opt)))
    for new, old in pairs:
        assert _differences(old, new) == []
    assert pairs[1][0]["swept_columns"] > 0


# ------------------------------------------------------------------------------- bounded state

def retained_bytes(obj) -> int:
    """Bytes of every numpy buffer reachable from ``obj`` (through attributes, lists, tuples,
    dicts, deques), each buffer once."""
    seen, total, stack = set(), 0, [obj]
    while stack:
        x = stack.pop()
        if isinstance(x, np.ndarray):
            while isinstance(x.base, np.ndarray):
                x = x.base
            if id(x) not in seen:
                seen.add(id(x))
                total += x.nbytes
            continue
        if id(x) in seen or isinstance(x, str | bytes | int | float | bool | type(None) | type):
            continue
        seen.add(id(x))
        if isinstance(x, dict):
            stack.extend(x.values())
        elif isinstance(x, list | tuple | deque | set):
            stack.extend(x)
        elif hasattr(x, "__dict__") and not callable(x):
            stack.extend(vars(x).values())
    return total


@pytest.fixture(scope="module")
def long_session(tmp_path_factory):
    """Six hours, one venue, few trades: a liquidation every 40 s a little under the price, so
    every column holds some and the look-ups never stop."""
    path = tmp_path_factory.mktemp("long") / "long.liqs"
    stream = random_walk_stream(hours=6, exchanges=("binance",), trades_per_s=2, oi_every_ms=30_000, seed=2)
    start, _ = stream.time_span()
    t = start + np.arange(120_000, 6 * 3_600_000 - 1_000, 40_000)
    near = np.searchsorted(stream.trades["time_ms"], t)
    price = stream.trades["price"][np.minimum(near, len(stream.trades) - 1)] * 0.998
    liq = records("liquidations", time_ms=t, exchange="binance", side=1, price=price, size=0.1, notional=price * 0.1)
    with SessionWriter(path, "BTCUSDT") as w:
        w.write(make_batch(trades=stream.trades, marks=stream.marks, open_interest=stream.open_interest, liquidations=liq))
    return path


def test_what_evaluate_keeps_does_not_grow_with_the_session(long_session, monkeypatch):
    samples = []            # (hours into the session, bytes kept, retained())
    start = {}

    class Watched(analysis.Comparison):
        def add_events(self, batch, bin_width, until_ms):
            super().add_events(batch, bin_width, until_ms)
            hours = (until_ms - start["ms"]) / 3_600_000
            samples.append((hours, retained_bytes(self), self.retained()))

    monkeypatch.setattr(analysis, "Comparison", Watched)
    options = ScoreOptions(resamples=20)
    with SessionReader(long_session) as reader:
        start["ms"] = reader.start_ms
        out = analysis.evaluate(reader, options=options)
    assert out["events"] > 500 and out["swept_columns"] > 300
    # past the first hour (the volume baseline's look-back) and a horizon, what is kept levels off
    middle = max(b for h, b, _ in samples if 1.5 <= h < 3)
    late = max(b for h, b, _ in samples if h >= 4.5)
    assert late <= 1.1 * middle, (middle, late)
    horizon_s = options.horizon_ms // 1000
    for _, _, kept in samples:
        assert kept["tape_seconds"] <= 3_600 + 600 + horizon_s + 120
        assert kept["open_columns"] <= options.horizon_ms // options.column_ms + COLUMN_BATCH + 2
        assert kept["swept_pending_pairs"] <= 4 * (options.horizon_ms // 40_000 + 1) ** 2 * COLUMN_BATCH
