"""Memory flat in the run's length: the simulator streams its truth out instead of keeping it,
with the same market and the same session files."""

from __future__ import annotations

import numpy as np
import pytest

from liqdesk.cli import main
from liqdesk.core.events import concat_batches
from liqdesk.sim import SimParams, Simulator
from liqdesk.sim.positions import CLOSED, Positions

CHUNK_MS = 15 * 60_000


def test_streaming_simulator_keeps_nothing_of_the_past_and_makes_the_same_market():
    params = SimParams(seed=3, hours=1.0)
    kept = Simulator(params)
    streamed = Simulator(params, keep_history=False)
    kept_parts, streamed_parts, liqs, maps = [], [], [], []
    while not kept.finished:
        kept_parts.append(kept.step(kept.now + CHUNK_MS))
        streamed_parts.append(streamed.step(streamed.now + CHUNK_MS))
        liq, tmap = streamed.drain_truth()
        liqs.append(liq)
        maps.append(tmap)
        # what stays behind after a drain is at most the open positions, never the run so far
        assert not streamed._truth_map and not streamed._truth_liq
        assert not streamed.pos.archive
    a, b = concat_batches(kept_parts), concat_batches(streamed_parts)
    for kind, arr in a.arrays().items():
        np.testing.assert_array_equal(arr, getattr(b, kind), err_msg=kind)
    np.testing.assert_array_equal(np.concatenate(liqs), kept.truth_liquidations())
    np.testing.assert_array_equal(np.concatenate(maps), kept.truth_map_table())
    # the open positions are the same ones
    assert streamed.positions(include_closed=False).tobytes() == kept.positions(include_closed=False).tobytes()


def test_pool_without_keep_closed_drops_closed_positions_at_compaction():
    """Memory follows the open positions: the closed ones are not archived for the whole run."""
    results = {}
    for keep in (True, False):
        pos = Positions(1, capacity=16, keep_closed=keep)
        for block in range(50):                       # 50 blocks of 100 opens, 90 of them closed
            lo = pos.reserve(venue=np.zeros(100, np.int64), exchange=np.ones(100, np.uint8),
                             side=np.ones(100, np.int64), leverage=np.full(100, 10.0),
                             planned_close_ms=np.full(100, 10**9))
            ids = np.arange(lo, lo + 100)
            price = np.full(100, 100.0)
            pos.activate(ids, price, np.ones(100), price * 0.9, price * 1.1, np.full(100, np.nan),
                         np.full(100, block))
            pos.close(ids[:90], block, CLOSED)
            pos.merge()
            pos.compact()
        results[keep] = pos
        assert pos.n == pos.n_alive == 500
    assert sum(len(a) for a in results[True].archive) == 4500
    assert results[False].archive == []
    assert results[False].records().tobytes() == results[True].records(include_closed=False).tobytes()


def test_simulate_command_drains_the_truth_every_chunk(tmp_path, monkeypatch):
    """The command's simulator holds at most one chunk of truth snapshots, whatever the hours."""
    held = []
    real_step = Simulator.step

    def step(self, until_ms):
        held.append(len(self._truth_map) + len(self.pos.archive))
        return real_step(self, until_ms)

    monkeypatch.setattr(Simulator, "step", step)
    assert main(["simulate", "--hours", "1", "--seed", "2", "--out", str(tmp_path / "s.liqs"), "--quiet"]) == 0
    assert len(held) == 4 and max(held) == 0


def test_simulate_session_matches_the_simulator_truth(tmp_path):
    """The spooled truth tables are the simulator's, row for row (content as well as layout)."""
    store = pytest.importorskip("liqdesk.store")
    out = tmp_path / "t.liqs"
    assert main(["simulate", "--hours", "0.5", "--seed", "4", "--out", str(out), "--quiet"]) == 0
    sim = Simulator(SimParams(seed=4, hours=0.5))
    while not sim.finished:
        sim.step(sim.now + CHUNK_MS)
    reader = store.SessionReader(out)
    try:
        tmap = reader.table("truth_map")
        liqs = reader.table("truth_liquidations")
        expected = sim.truth_map_table()
        assert tmap.num_rows == len(expected) > 0
        for name in expected.dtype.names:
            np.testing.assert_array_equal(tmap.column(name).to_numpy(), expected[name], err_msg=name)
        truth = sim.truth_liquidations()
        np.testing.assert_array_equal(liqs.column("notional").to_numpy(), truth["notional"])
        stats = reader.meta["sim_stats"]
        assert stats["truth_liquidations"] == len(truth)
        assert stats["truth_liquidation_notional"] == float(truth["notional"].sum())
    finally:
        reader.close()


def test_row_spool_gives_back_what_it_took_in_chunks(tmp_path):
    from liqdesk.store.spool import RowSpool

    dtype = np.dtype([("t", "i8"), ("x", "f8"), ("s", "i1")])
    rows = np.zeros(1000, dtype)
    rows["t"] = np.arange(1000)
    rows["x"] = np.linspace(0, 1, 1000)
    with RowSpool(dtype, tmp_path) as spool:
        spool.append(rows[:300])
        spool.append(rows[300:])
        spool.append(rows[:0])
        assert len(spool) == 1000
        chunks = list(spool.chunks(256))
        assert [len(c) for c in chunks] == [256, 256, 256, 232]
        np.testing.assert_array_equal(np.concatenate(chunks), rows)
        with pytest.raises(ValueError, match="cannot take"):
            spool.append(np.zeros(3, "f8"))
    assert list(tmp_path.iterdir()) == []
