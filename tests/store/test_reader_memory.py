"""What a reader holds between reads: a pass in time order keeps only the row group it is in, and
a kind that is never read never has its file's footer loaded (its metadata grows with the
session's length)."""

from __future__ import annotations

import numpy as np
import pytest

from liqdesk.core.events import EventBatch, concat_batches
from liqdesk.store import SessionReader, SessionWriter
from tests.store.util import T0, assert_batches_equal, random_batch


def only(batch: EventBatch, kinds: list[str]) -> EventBatch:
    return EventBatch(**{k: getattr(batch, k) for k in kinds})


@pytest.fixture
def many_groups(tmp_path, monkeypatch):
    """A closed session of 30 one-second flushes cut into row groups of 16-64 rows."""
    import liqdesk.store.convert as convert

    monkeypatch.setattr(convert, "ROW_GROUP_MIN_ROWS", 16)
    monkeypatch.setattr(convert, "ROW_GROUP_MAX_ROWS", 64)
    monkeypatch.setattr(convert, "ROW_GROUP_SPAN_MS", 1_000)
    rng = np.random.default_rng(3)
    path = tmp_path / "groups.liqs"
    written = []
    with SessionWriter(path, "BTCUSDT", fsync=False) as w:
        for i in range(30):
            b = random_batch(rng, T0 + i * 2_000, 150, span_ms=2_000, kinds=("trades", "marks", "book"))
            written.append(b)
            w.write(b)
            w.flush()
    return path, concat_batches(written)


def test_a_pass_in_time_order_keeps_only_the_group_it_is_in(many_groups, monkeypatch):
    import liqdesk.store.kinds as kinds_mod

    path, want = many_groups
    monkeypatch.setattr(kinds_mod, "CACHE_ROWS", 10_000)    # the default would keep the whole file
    reader = SessionReader(path)
    lo, hi = want.time_span()
    # the default cache keeps what was read
    for t in range(lo, hi + 1, 700):
        reader.read(t, t + 700, kinds=["trades"])
    assert reader._kinds["trades"]._cache_rows == len(want.trades)

    reader = SessionReader(path)
    reader.read_in_time_order()
    parts, held = [], []
    for t in range(lo, hi + 1, 700):
        parts.append(reader.read(t, t + 700, kinds=["trades", "marks"]))
        held.append(max(reader._kinds[k]._cache_rows for k in ("trades", "marks")))
    got = concat_batches(parts)
    assert_batches_equal(got, only(want, ["trades", "marks"]))
    # at most the groups of one read (each <= 64 rows; a 700 ms read cuts through a few)
    assert max(held) <= 4 * 64 < len(want.trades)


def test_a_kind_never_read_never_loads_its_footer(many_groups):
    path, want = many_groups
    reader = SessionReader(path)
    assert all(k._pf is None for k in reader._kinds.values() if hasattr(k, "_pf"))
    assert_batches_equal(reader.read(kinds=["trades"]), only(want, ["trades"]))
    assert reader._kinds["trades"]._pf is not None
    assert reader._kinds["book"]._pf is None
    assert_batches_equal(reader.read(kinds=["book"]), only(want, ["book"]))
    reader.close()


def test_a_file_gone_before_its_first_read_is_reported_not_raised(many_groups):
    path, want = many_groups
    reader = SessionReader(path)
    (path / "book.parquet").unlink()
    got = reader.read()                  # no exception: the other kinds whole, the book's loss said
    assert_batches_equal(only(got, ["trades", "marks"]), only(want, ["trades", "marks"]))
    assert len(got.book) == 0 and reader.recovery.for_name("book")


def test_a_replay_holds_only_the_group_it_plays(many_groups, monkeypatch):
    import math

    import liqdesk.store.kinds as kinds_mod
    from liqdesk.sources.replay import ReplaySource

    path, want = many_groups
    monkeypatch.setattr(kinds_mod, "CACHE_ROWS", 10_000)
    source = ReplaySource(SessionReader(path), speed=math.inf)
    source.play()
    source.poll(0.0)
    parts, held = [], []
    while not source.finished:
        parts.append(source.step(700))
        held.append(max(k._cache_rows for k in source.reader._kinds.values() if hasattr(k, "_cache_rows")))
    assert_batches_equal(concat_batches(parts), want)
    assert max(held) <= 4 * 64 < len(want.book)


def test_small_reads_in_time_order_decode_each_group_once(tmp_path, monkeypatch):
    """A replay reads a frame's worth of session time at a time (here 250 ms), far less than a row group
    (16,384 rows or more by default): the group it is in must stay decoded until it leaves it."""
    rng = np.random.default_rng(9)
    path = tmp_path / "default_groups.liqs"
    written = [random_batch(rng, T0 + i * 120_000, 8_000, span_ms=120_000, kinds=("trades",)) for i in range(6)]
    with SessionWriter(path, "BTCUSDT", fsync=False) as w:
        for b in written:
            w.write(b)
    want = concat_batches(written)
    reader = SessionReader(path)
    reader.read_in_time_order()
    trades = reader._kinds["trades"]
    assert len(trades.starts) >= 3
    decoded: list[int] = []
    real = trades._decode

    def counting(groups):
        decoded.extend(groups)
        return real(groups)

    monkeypatch.setattr(trades, "_decode", counting)
    lo, hi = want.time_span()
    parts = [reader.read(t, t + 250, kinds=["trades"]) for t in range(lo, hi + 1, 250)]
    assert_batches_equal(concat_batches(parts), only(want, ["trades"]))
    assert len(decoded) == len(set(decoded)) == len(trades.starts)
