"""Replay is deterministic: any speed, any seeks, same model state as one pass."""

import math

import numpy as np
import pytest

from liqdesk.app.engine import Engine
from liqdesk.core.levels import ModelSettings
from liqdesk.core.synthetic import random_walk_stream
from liqdesk.sources.replay import ReplaySource
from liqdesk.store import SessionReader, SessionWriter

SETTINGS = ModelSettings(column_ms=10_000, window_columns=200, rows=300)


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    path = tmp_path_factory.mktemp("replay") / "s.liqs"
    stream = random_walk_stream(hours=0.5, seed=11, trades_per_s=20, vol_per_sqrt_s=0.001)
    with SessionWriter(path, "BTC/USDT:USDT") as w:
        w.write(stream)
    return path, stream


def one_pass(stream):
    e = Engine(SETTINGS)
    e.ingest(stream)
    e.model.flush()
    return e


def same(a: Engine, b: Engine):
    ia, ca, oa = a.model.image()
    ib, cb, ob = b.model.image()
    assert oa == ob and np.array_equal(ca, cb) and np.array_equal(ia, ib)
    assert np.array_equal(a.model.swept(), b.model.swept())


@pytest.mark.parametrize("speed", [0.25, 7.0, 600.0, math.inf])
def test_replay_at_any_speed_equals_one_pass(session, speed):
    path, stream = session
    src = ReplaySource(SessionReader(path), speed=speed)
    e = Engine(SETTINGS)
    e.source = src
    src.play()
    wall = 0.0
    while not src.finished:
        e.pump(wall, budget_s=10)
        wall += 0.5 if speed < 1 else 3.0
        if speed < 1 and wall > 50:   # don't wait for 30 min of real time at 0.25x: jump to max speed
            src.set_speed(math.inf)
    e.model.flush()
    same(e, one_pass(stream))


def test_seeks_and_steps_equal_one_pass(session):
    path, stream = session
    src = ReplaySource(SessionReader(path), speed=60)
    e = Engine(SETTINGS)
    e.source = src
    start = src.start_ms
    for target in (start + 20 * 60_000, start + 5 * 60_000, start + 12 * 60_000 + 333):
        e.reset()
        for batch in src.seek(target):
            e.ingest(batch)
        assert src.cursor_ms == target
    for _ in range(7):
        e.ingest(src.step(SETTINGS.column_ms))
    src.play()
    wall = 0.0
    while not src.finished:
        e.pump(wall, budget_s=10)
        wall += 1.0
    e.model.flush()
    same(e, one_pass(stream))


def test_pause_stops_events(session):
    path, _ = session
    src = ReplaySource(SessionReader(path), speed=1)
    src.play()
    src.poll(0.0)
    assert len(src.poll(2.0)) > 0
    src.pause()
    assert src.poll(100.0) is None
    with pytest.raises(ValueError):
        src.set_speed(0)


def test_a_damaged_row_group_is_skipped_said_and_the_replay_goes_on(session, tmp_path):
    """Before: the first read over a bad page raised, and the replay stopped there."""
    import json
    import shutil

    import pyarrow.parquet as pq

    from liqdesk.app.session import Session
    from liqdesk.core.events import EventBatch, concat_batches

    path, stream = session
    target = tmp_path / "flip.liqs"
    shutil.copytree(path, target)
    f = target / "trades.parquet"
    rg = pq.ParquetFile(str(f)).metadata.row_group(1)
    col = next(rg.column(c) for c in range(rg.num_columns) if rg.column(c).path_in_schema == "size")
    data = bytearray(f.read_bytes())
    data[col.data_page_offset + col.total_compressed_size // 2] ^= 0x10
    f.write_bytes(bytes(data))
    rows = json.loads((target / "index.json").read_text())["kinds"]["trades"]["row_groups"]["rows"]
    assert len(rows) >= 3

    source = ReplaySource(SessionReader(target), speed=math.inf)
    engine = Engine(SETTINGS)
    got: list[EventBatch] = []
    engine.sinks.append(got.append)
    sess = Session(engine, source, "replay", threaded=False)
    sess.play()
    for _ in range(10_000):
        if source.finished:
            break
        sess.pump()  # polls the replay, and relays what the reader left out to the messages
    assert source.finished
    trades = concat_batches(got).trades
    want = stream.trades[np.argsort(stream.trades["time_ms"], kind="stable")]
    keep = np.ones(len(want), bool)
    keep[rows[0]:rows[0] + rows[1]] = False
    assert trades.tobytes() == want[keep].tobytes()
    assert any("left out of the replay: trades.parquet: row group 1 is damaged" in m for m in sess.messages)
