"""Write -> read round trips, ranges, chunked iteration, tables, meta and gaps."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from liqdesk.core.events import KINDS, EventBatch, concat_batches, slice_batch
from liqdesk.store import SessionError, SessionReader, SessionWriter, repair_session
from tests.store.util import T0, assert_batches_equal, random_batch, snapshot


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    """A closed session and a crashed copy of it (taken after a flush, before close), written as
    12 overlapping batches from several exchanges, plus what was written."""
    base = tmp_path_factory.mktemp("rt")
    rng = np.random.default_rng(5)
    batches = []
    path = base / "day.liqs"
    with SessionWriter(path, "BTCUSDT", meta={"model": {"half_life_s": 3600}}) as w:
        for i in range(12):
            # batches overlap in time (two sources interleaved) and use all five exchanges
            b = random_batch(rng, T0 + i * 7_000, 400, span_ms=15_000, exchanges=(0, 1, 2, 3, 4))
            batches.append(b)
            w.write(b)
        w.write_table("truth", np.array([(T0, 1.5), (T0 + 1, 2.5)], dtype=[("time_ms", "i8"), ("x", "f8")]))
        w.add_gap("binance", "book", T0 + 100, T0 + 200, "sequence gap")
        w.update_meta(tiers={"binance": [[0, 125, 0.004, 0]]}, count=np.int64(3))
        w.flush()
        crashed = snapshot(path, base / "crashed.liqs")
    return path, crashed, concat_batches(batches)


def test_round_trip_closed_is_bit_exact(recorded):
    path, _, want = recorded
    r = SessionReader(path)
    assert r.closed and not r.recovery
    assert_batches_equal(r.read(), want)
    assert r.symbol == "BTCUSDT"
    assert r.meta == {"model": {"half_life_s": 3600}, "tiers": {"binance": [[0, 125, 0.004, 0]]}, "count": 3}
    assert r.gaps == [{"exchange": "binance", "kind": "book", "start_ms": T0 + 100, "end_ms": T0 + 200,
                       "reason": "sequence gap"}]
    assert r.start_ms == min(a["time_ms"][0] for a in want.arrays().values())
    assert r.end_ms == max(a["time_ms"][-1] for a in want.arrays().values())
    files = sorted(p.name for p in path.iterdir())
    assert not [f for f in files if f.endswith(".arrows")]
    assert {f"{k}.parquet" for k in KINDS} <= set(files) and "index.json" in files


def test_round_trip_crashed_copy_is_bit_exact(recorded):
    _, crashed, want = recorded
    r = SessionReader(crashed)
    assert not r.closed and not r.recovery
    assert_batches_equal(r.read(), want)
    assert r.meta["count"] == 3 and len(r.gaps) == 1
    assert r.table("truth").column("x").to_pylist() == [1.5, 2.5]


def test_counts_per_kind_and_exchange(recorded):
    path, crashed, want = recorded
    for p in (path, crashed):
        counts = SessionReader(p).counts()
        assert set(counts) == set(KINDS)
        for kind, arr in want.arrays().items():
            ids, n = np.unique(arr["exchange"], return_counts=True)
            from liqdesk.core.events import EXCHANGES

            assert counts[kind] == {EXCHANGES[i]: int(c) for i, c in zip(ids, n, strict=True)}


def test_read_ranges_match_slices(recorded):
    path, crashed, want = recorded
    rng = np.random.default_rng(9)
    lo, hi = T0 - 1_000, T0 + 12 * 7_000 + 20_000
    for p in (path, crashed):
        r = SessionReader(p)
        for _ in range(40):
            a, b = sorted(rng.integers(lo, hi, 2).tolist())
            assert_batches_equal(r.read(a, b), slice_batch(want, a, b))
        assert_batches_equal(r.read(None, T0 + 5_000), slice_batch(want, None, T0 + 5_000))
        assert_batches_equal(r.read(T0 + 50_000, None), slice_batch(want, T0 + 50_000, None))
        assert len(r.read(hi, hi + 10)) == 0
        assert len(r.read(T0 + 10, T0 + 10)) == 0
        only = r.read(T0, T0 + 30_000, kinds=["trades", "mark_price"])
        assert_batches_equal(only, EventBatch(trades=slice_batch(want, T0, T0 + 30_000).trades,
                                              marks=slice_batch(want, T0, T0 + 30_000).marks))


@pytest.mark.parametrize("chunk_ms", [1, 97, 1_000, 60_000, 10**9])
def test_iter_batches_covers_every_event_once(recorded, chunk_ms):
    path, _, want = recorded
    r = SessionReader(path)
    chunks = list(r.iter_batches(chunk_ms))
    assert chunks and all(len(c) for c in chunks)
    origin = r.start_ms
    seen = set()
    for c in chunks:
        lo, hi = c.time_span()
        k = (lo - origin) // chunk_ms
        assert (hi - origin) // chunk_ms == k and k not in seen  # one chunk, in order, once
        seen.add(k)
    assert_batches_equal(concat_batches(chunks), want)


def test_iter_batches_with_bounds(recorded):
    path, crashed, want = recorded
    a, b = T0 + 3_333, T0 + 61_111
    for p in (path, crashed):
        chunks = list(SessionReader(p).iter_batches(5_000, a, b))
        assert_batches_equal(concat_batches(chunks), slice_batch(want, a, b))
        for c in chunks:
            lo, hi = c.time_span()
            assert (lo - a) // 5_000 == (hi - a) // 5_000


def test_parquet_files_are_plain_and_sorted(recorded):
    path, _, want = recorded
    t = pq.read_table(path / "trades.parquet")
    assert t.num_rows == len(want.trades)
    assert set(t.column("exchange").to_pylist()) == {"binance", "bybit", "okx", "hyperliquid", "bitget"}
    times = t.column("time_ms").to_numpy()
    assert np.all(times[1:] >= times[:-1])
    index = json.loads((path / "index.json").read_text())
    groups = index["kinds"]["trades"]["row_groups"]
    assert sum(groups["rows"]) == t.num_rows
    assert pq.ParquetFile(path / "trades.parquet").metadata.num_row_groups == len(groups["rows"])


def test_tables_structured_arrow_and_schema_checks(tmp_path):
    path = tmp_path / "t.liqs"
    with SessionWriter(path, "ETHUSDT") as w:
        w.write_table("truth", np.array([(1, 0.5)], dtype=[("a", "i8"), ("b", "f8")]))
        w.write_table("truth", pa.table({"a": [2, 3], "b": [1.5, 2.5]}))
        w.write_table("labels", {"name": ["x", "y"], "v": [None, 1]})
        with pytest.raises(ValueError, match="columns"):
            w.write_table("truth", pa.table({"z": [1]}))
        with pytest.raises(ValueError, match="reserved"):
            w.write_table("trades", pa.table({"a": [1]}))
        with pytest.raises(ValueError, match="bad table name"):
            w.write_table("../evil", pa.table({"a": [1]}))
        w.flush()
        crashed = snapshot(path, tmp_path / "c.liqs")
    for p in (path, crashed):
        r = SessionReader(p)
        assert r.tables == ["labels", "truth"]
        assert r.table("truth").to_pydict() == {"a": [1, 2, 3], "b": [0.5, 1.5, 2.5]}
        assert r.table("labels").to_pydict() == {"name": ["x", "y"], "v": [None, 1]}
        with pytest.raises(KeyError):
            r.table("nope")
        assert r.start_ms is None and len(r.read()) == 0


def test_existing_session_and_overwrite(tmp_path):
    path = tmp_path / "s.liqs"
    with SessionWriter(path, "BTCUSDT") as w:
        w.write(random_batch(np.random.default_rng(1), T0, 10))
    with pytest.raises(FileExistsError):
        SessionWriter(path, "BTCUSDT")
    with SessionWriter(path, "ETHUSDT", overwrite=True):
        pass
    r = SessionReader(path)
    assert r.symbol == "ETHUSDT" and r.start_ms is None
    other = tmp_path / "notasession"
    other.mkdir()
    (other / "precious.txt").write_text("keep me")
    with pytest.raises(FileExistsError):
        SessionWriter(other, "BTCUSDT", overwrite=True)
    assert (other / "precious.txt").read_text() == "keep me"


def test_writer_argument_errors(tmp_path):
    w = SessionWriter(tmp_path / "e.liqs", "BTCUSDT")
    with pytest.raises(ValueError):
        w.add_gap("nowhere", "trades", 1, 2, "x")
    with pytest.raises(ValueError):
        w.add_gap("binance", "trades", 5, 2, "x")
    with pytest.raises(TypeError):
        w.update_meta(bad=object())
    with pytest.raises(ValueError):
        w.update_meta(bad=float("nan"))
    with pytest.raises(TypeError):
        w.write({"trades": None})
    w.add_gap("all", "mark_price", 1, 2, "outage")
    w.close()
    w.close()  # idempotent
    with pytest.raises(ValueError, match="closed"):
        w.write(random_batch(np.random.default_rng(1), T0, 3))
    assert SessionReader(tmp_path / "e.liqs").gaps[0]["kind"] == "marks"


def test_repair_turns_crashed_into_closed(recorded, tmp_path):
    _, crashed, want = recorded
    copy = snapshot(crashed, tmp_path / "r.liqs")
    report = repair_session(copy)
    assert not report
    r = SessionReader(copy)
    assert r.closed and r.meta["count"] == 3
    assert_batches_equal(r.read(), want)
    assert r.table("truth").num_rows == 2
    assert not list(copy.glob("*.arrows"))


def test_index_missing_is_rebuilt(recorded, tmp_path):
    path, _, want = recorded
    copy = snapshot(path, tmp_path / "i.liqs")
    (copy / "index.json").write_text("{not json")
    r = SessionReader(copy)
    assert r.recovery and r.recovery.for_name("index")
    assert_batches_equal(r.read(), want)
    assert_batches_equal(r.read(T0 + 20_000, T0 + 30_000), slice_batch(want, T0 + 20_000, T0 + 30_000))


def test_not_a_session_and_wrong_version(tmp_path):
    with pytest.raises(SessionError, match="not found"):
        SessionReader(tmp_path / "missing.liqs")
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(SessionError, match="not a liqdesk session"):
        SessionReader(tmp_path / "file.txt")
    with pytest.raises(SessionError, match="session.json missing"):
        SessionReader(tmp_path)
    path = tmp_path / "v.liqs"
    SessionWriter(path, "BTCUSDT").close()
    doc = json.loads((path / "session.json").read_text())
    doc["format_version"] = 99
    (path / "session.json").write_text(json.dumps(doc))
    with pytest.raises(SessionError, match="version 99") as info:
        SessionReader(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)
    (path / "session.json").write_text("{")
    with pytest.raises(SessionError, match="unreadable"):
        SessionReader(path)


def test_small_row_groups_streaming_merge_and_cache(tmp_path, monkeypatch):
    """Many row groups (seeks across group edges, the group cache evicting) and the bounded-memory
    merge used for big logs, forced small here."""
    import liqdesk.store.convert as convert
    import liqdesk.store.kinds as kinds_mod

    monkeypatch.setattr(convert, "ROW_GROUP_MIN_ROWS", 16)
    monkeypatch.setattr(convert, "ROW_GROUP_MAX_ROWS", 64)
    monkeypatch.setattr(convert, "ROW_GROUP_SPAN_MS", 1_000)
    monkeypatch.setattr(convert, "_IN_MEMORY_BYTES", 0)
    monkeypatch.setattr(convert, "_MERGE_ROWS", 300)
    monkeypatch.setattr(kinds_mod, "CACHE_ROWS", 400)
    rng = np.random.default_rng(12)
    written = []
    path = tmp_path / "groups.liqs"
    with SessionWriter(path, "BTCUSDT", fsync=False) as w:
        for i in range(30):
            # overlapping in time, some batches far behind the others (two sources, one lagging)
            t0 = T0 + (i % 2) * 40_000 + (i // 2) * 3_000
            b = random_batch(rng, t0, 150, span_ms=4_000, kinds=("trades", "marks", "book", "funding"))
            written.append(b)
            w.write(b)
            w.flush()  # one log batch per write
    want = concat_batches(written)
    r = SessionReader(path)
    assert_batches_equal(r.read(), want)
    groups = json.loads((path / "index.json").read_text())["kinds"]["trades"]["row_groups"]
    assert len(groups["rows"]) > 20
    assert all(16 <= n <= 64 for n in groups["rows"][:-1])
    starts, ends = np.array(groups["start_ms"]), np.array(groups["end_ms"])
    assert np.all(starts <= ends) and np.all(ends[:-1] <= starts[1:])
    assert groups["row_offset"] == np.concatenate([[0], np.cumsum(groups["rows"])[:-1]]).tolist()
    lo, hi = want.time_span()
    edges = starts.tolist() + (ends + 1).tolist()
    for a, b in [(e, e + 1) for e in edges[:30]] + [tuple(sorted(rng.integers(lo - 10, hi + 10, 2)))
                                                    for _ in range(60)]:
        assert_batches_equal(r.read(a, b), slice_batch(want, a, b))
    assert_batches_equal(concat_batches(list(r.iter_batches(250))), want)
    assert_batches_equal(concat_batches(list(r.iter_batches(7, lo + 5_000, lo + 9_000))),
                         slice_batch(want, lo + 5_000, lo + 9_000))


def test_iter_batches_skips_long_pauses(tmp_path):
    rng = np.random.default_rng(13)
    path = tmp_path / "pause.liqs"
    bursts = [random_batch(rng, T0 + k * 7_200_000, 50, span_ms=2_000) for k in range(3)]  # 2 h apart
    with SessionWriter(path, "BTCUSDT", fsync=False) as w:
        for b in bursts:
            w.write(b)
        w.flush()
        crashed = snapshot(path, tmp_path / "pause-crashed.liqs")
    want = concat_batches(bursts)
    for p in (path, crashed):
        chunks = list(SessionReader(p).iter_batches(1_000))
        assert 3 <= len(chunks) <= 9
        assert_batches_equal(concat_batches(chunks), want)
