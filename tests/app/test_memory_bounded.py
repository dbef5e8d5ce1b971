"""evaluate in bounded memory: the baselines' price tape reduces complete seconds as it goes, the
truth map is read a row group at a time; the scores stay the same bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

from liqdesk.app import baselines
from liqdesk.app.baselines import PriceTape
from liqdesk.app.truth import TRUTH_MAP, MapAgreement
from liqdesk.cli import main
from liqdesk.core.events import slice_batch
from liqdesk.core.synthetic import random_walk_stream
from liqdesk.store import SessionReader


def _tape_rows(tape: PriceTape) -> int:
    return sum(len(s) for s in tape._sec) + sum(len(v[0]) for v in tape._vol)


def test_price_tape_keeps_seconds_not_events_and_finishes_the_same():
    stream = random_walk_stream(hours=0.5, seed=3, trades_per_s=40)
    start, end = stream.time_span()
    assert baselines.COMPACT_ROWS <= 1 << 22        # the default keeps a day's events out too
    small = PriceTape([0, 1, 2], compact_rows=5_000)
    whole = PriceTape([0, 1, 2], compact_rows=10**12)
    for lo in range(start, end + 1, 7_300):          # cuts inside seconds too
        part = slice_batch(stream, lo, lo + 7_300)
        small.add(part, 5.0)
        whole.add(part, 5.0)
    events = len(stream.trades) + len(stream.marks)
    assert _tape_rows(whole) > events
    # what is left is a few rows per second (low, high, a bin or two of volume) and the last batch
    assert _tape_rows(small) < _tape_rows(whole) / 4
    a = small.finish(start // 1000, end // 1000)
    b = whole.finish(start // 1000, end // 1000)
    for name in ("low", "high", "vol_sec", "vol_bin", "vol_notional"):
        assert getattr(a, name).tobytes() == getattr(b, name).tobytes(), name


@pytest.fixture(scope="module")
def sim_session(tmp_path_factory):
    out = tmp_path_factory.mktemp("truth") / "s.liqs"
    assert main(["simulate", "--hours", "0.5", "--seed", "8", "--out", str(out), "--quiet"]) == 0
    return out


def test_truth_map_is_read_a_row_group_at_a_time(sim_session, monkeypatch):
    reader = SessionReader(sim_session)
    try:
        whole = reader.table(TRUTH_MAP)

        def no_whole_table(name):
            raise AssertionError(f"{name} read whole")

        monkeypatch.setattr(reader, "table", no_whole_table)
        agreement = MapAgreement(reader, 5.0, 0.1)
        times = whole.column("time_ms").to_numpy()
        assert np.array_equal(agreement.times, np.unique(times))
        for t in agreement.times[::7].tolist():
            rows = agreement._snapshots.rows(t)
            sel = times == t
            for name in ("side", "bin", "notional"):
                assert np.array_equal(rows[name], whole.column(name).to_numpy()[sel]), name
    finally:
        reader.close()


def test_a_truth_map_out_of_time_order_across_row_groups_is_sorted_whole(tmp_path, monkeypatch):
    """Each row group in order but the second one earlier than the first: the snapshot times
    are read a group at a time, and the disorder between groups is still seen."""
    import liqdesk.store.convert as convert
    from liqdesk.store import SessionWriter

    monkeypatch.setattr(convert, "TABLE_ROW_GROUP_ROWS", 4)
    dtype = [("time_ms", "i8"), ("side", "i1"), ("bin", "i8"), ("notional", "f8")]
    late = [(t, 1, b, 1.0 + b) for t in (300, 400) for b in (1, 2)]
    early = [(t, -1, b, 2.0 + b) for t in (100, 200) for b in (3, 4)]
    stream = random_walk_stream(hours=0.05, seed=2, trades_per_s=2)
    path = tmp_path / "disorder.liqs"
    with SessionWriter(path, "BTC/USDT:USDT") as w:
        w.write(stream)
        w.write_table(TRUTH_MAP, np.array(late + early, dtype=dtype))
    reader = SessionReader(path)
    try:
        agreement = MapAgreement(reader, 5.0, 0.1)
        assert agreement.times.tolist() == [100, 200, 300, 400]
        rows = agreement._snapshots.rows(100)   # found although its group comes second in the file
        assert rows["bin"].tolist() == [3, 4] and rows["side"].tolist() == [-1, -1]
        assert agreement._snapshots.rows(300)["bin"].tolist() == [1, 2]
    finally:
        reader.close()
