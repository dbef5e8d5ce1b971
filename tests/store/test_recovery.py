"""Truncated and corrupted files: the valid part comes back with a recovery report, or a clear
SessionError; never wrong numbers, never another exception."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pyarrow as pa
import pyarrow.ipc as ipc
import pytest

from liqdesk.core.events import make_batch, records
from liqdesk.store import SessionError, SessionReader, SessionWriter, repair_session
from tests.store.util import T0, random_batch, snapshot

BATCHES = 24
ROWS = 200


def _trades(i: int) -> np.ndarray:
    """Batch i: ROWS trades in [T0 + i*1000, T0 + i*1000 + 999], values unique to the batch."""
    k = np.arange(ROWS)
    return records("trades", time_ms=T0 + i * 1_000 + k * 4, exchange=k % 3, side=np.where(k % 2, 1, -1),
                   price=1_000.0 + i + k / 1_000, size=0.5 + k)


@pytest.fixture(scope="module")
def crashed_log(tmp_path_factory):
    """A crashed session holding only trades, one log batch per flush; its bytes and the
    (start, end) offset of every batch message in trades.arrows."""
    base = tmp_path_factory.mktemp("rec")
    path = base / "live.liqs"
    w = SessionWriter(path, "BTCUSDT", flush_interval_s=1.0)
    for i in range(BATCHES):
        w.write(make_batch(trades=_trades(i)))
        w.flush()
    crashed = snapshot(path, base / "crashed.liqs")
    w.close()
    data = (crashed / "trades.arrows").read_bytes()
    bounds = []
    with pa.OSFile(str(crashed / "trades.arrows")) as f:
        reader = ipc.open_stream(f)
        pos = f.tell()
        for _ in range(BATCHES):
            reader.read_next_batch()
            bounds.append((pos, f.tell()))
            pos = f.tell()
    return crashed, data, bounds


def _batch_ids(arr: np.ndarray) -> list[int]:
    """Which written batches the rows came from, checking each is complete and exact."""
    ids = sorted(set(((arr["time_ms"] - T0) // 1_000).tolist()))
    for i in ids:
        got = arr[(arr["time_ms"] - T0) // 1_000 == i]
        assert got.tobytes() == _trades(i).tobytes(), f"batch {i} came back altered"
    return ids


def _open(path):
    """(reader or None, SessionError or None); any other exception fails the test."""
    try:
        return SessionReader(path), None
    except SessionError as exc:
        assert "\n" not in str(exc) and str(path) in str(exc)
        return None, exc


def test_truncation_keeps_every_complete_batch(crashed_log, tmp_path):
    crashed, data, bounds = crashed_log
    target = snapshot(crashed, tmp_path / "t.liqs")
    log = target / "trades.arrows"
    ends = [e for _, e in bounds]
    rng = np.random.default_rng(3)
    cuts = {0, 1, 7, bounds[0][0], bounds[0][0] + 3, len(data) - 1, len(data) - 8}
    for s, e in bounds[:4] + bounds[-3:]:
        cuts |= {s, s + 4, s + 9, e - 1, e}
    cuts |= set(rng.integers(1, len(data), 30).tolist())
    for cut in sorted(cuts):
        log.write_bytes(data[:cut])
        complete = sum(1 for e in ends if e <= cut)
        reader, err = _open(target)
        if cut == 0:  # the log was created but nothing reached it: an empty recording
            assert err is None and reader.start_ms is None and not reader.recovery
            continue
        if complete == 0:
            assert err is not None and "nothing recoverable" in str(err), cut
            continue
        assert err is None, (cut, err)
        assert _batch_ids(reader.read().trades) == list(range(complete))
        assert not reader.closed
        last_end = max(e for e in ends if e <= cut)
        skipped = reader.recovery.bytes_skipped
        if cut == last_end:
            assert not reader.recovery  # cut exactly between batches: nothing to report
        else:
            assert skipped == cut - last_end, cut
            assert "truncated" in reader.recovery.summary()


def test_corruption_in_the_middle_loses_only_the_damaged_batches(crashed_log, tmp_path):
    crashed, data, bounds = crashed_log
    target = snapshot(crashed, tmp_path / "c.liqs")
    log = target / "trades.arrows"
    rng = np.random.default_rng(11)
    for trial in range(40):
        width = int(rng.integers(1, 24))
        at = int(rng.integers(0, len(data) - width))
        bad = bytearray(data)
        bad[at:at + width] = rng.integers(0, 256, width, dtype=np.uint8).tobytes()
        log.write_bytes(bytes(bad))
        reader, err = _open(target)
        untouched = [i for i, (s, e) in enumerate(bounds) if e <= at or s >= at + width]
        assert err is None, (trial, at, err)
        ids = _batch_ids(reader.read().trades)
        assert set(untouched) <= set(ids), (trial, at, width, sorted(set(untouched) - set(ids)))
        if len(ids) < BATCHES:
            assert reader.recovery and reader.recovery.bytes_skipped > 0


def test_corrupt_tail_and_garbage_file(crashed_log, tmp_path):
    crashed, data, bounds = crashed_log
    target = snapshot(crashed, tmp_path / "g.liqs")
    log = target / "trades.arrows"
    log.write_bytes(data[: bounds[-1][0]] + b"\x00garbage" * 50)
    reader, err = _open(target)
    assert err is None and _batch_ids(reader.read().trades) == list(range(BATCHES - 1))
    assert reader.recovery.for_name("trades")[0].bytes_skipped == 400
    log.write_bytes(b"this is not an arrow stream at all" * 10)
    reader, err = _open(target)
    assert reader is None and "nothing recoverable" in str(err)


def test_repair_keeps_recoverable_part(crashed_log, tmp_path):
    crashed, data, bounds = crashed_log
    target = snapshot(crashed, tmp_path / "rep.liqs")
    (target / "trades.arrows").write_bytes(data[: bounds[10][1] + 17])
    report = repair_session(target)
    assert report.bytes_skipped == 17
    r = SessionReader(target)
    assert r.closed and _batch_ids(r.read().trades) == list(range(11))
    assert r.recovery.bytes_skipped == 17  # the repair's report is kept in session.json
    assert (target / "trades.arrows.damaged").exists()


@pytest.fixture(scope="module")
def closed_session(tmp_path_factory):
    path = tmp_path_factory.mktemp("pq") / "closed.liqs"
    rng = np.random.default_rng(2)
    with SessionWriter(path, "BTCUSDT") as w:
        for i in range(6):
            w.write(random_batch(rng, T0 + i * 60_000, 3_000, span_ms=60_000, kinds=("trades", "marks")))
    r = SessionReader(path)
    return path, r.read()


def test_corrupt_parquet_gives_session_error_or_exact_data(closed_session, tmp_path):
    """Random bytes overwritten anywhere in a Parquet file: a one-line error, the file left out
    (said), the damaged row groups left out (said) and every other row exact, or exact data."""
    path, want = closed_session
    data = (path / "trades.parquet").read_bytes()
    rng = np.random.default_rng(4)
    outcomes = {"error": 0, "exact": 0, "left_out": 0, "groups_left_out": 0}
    for trial in range(40):
        target = tmp_path / f"p{trial}.liqs"
        shutil.copytree(path, target)
        width = int(rng.integers(1, 16))
        at = int(rng.integers(0, len(data) - width))
        bad = bytearray(data)
        bad[at:at + width] = rng.integers(0, 256, width, dtype=np.uint8).tobytes()
        (target / "trades.parquet").write_bytes(bytes(bad))
        reader, err = _open(target)
        if err is not None:
            outcomes["error"] += 1
            continue
        try:
            got = reader.read()
        except SessionError as exc:
            assert "\n" not in str(exc) and str(target) in str(exc)
            outcomes["error"] += 1
            continue
        assert got.marks.tobytes() == want.marks.tobytes()
        bad = getattr(reader._kinds["trades"], "bad", None)
        if reader.recovery.for_name("trades") and not len(got.trades):
            outcomes["left_out"] += 1  # footer unreadable: trades reported and left out
        elif bad:  # damaged row groups: said, left out, the rest exact
            src = reader._kinds["trades"]
            offsets = np.concatenate([[0], np.cumsum(src.group_rows)])
            keep = np.ones(len(want.trades), bool)
            for g in bad:
                keep[offsets[g]:offsets[g + 1]] = False
            assert len(reader.recovery.for_name("trades")) == len(bad)
            assert got.trades.tobytes() == want.trades[keep].tobytes(), (trial, at, width)
            outcomes["groups_left_out"] += 1
        else:
            assert got.trades.tobytes() == want.trades.tobytes(), (trial, at, width)
            outcomes["exact"] += 1
        shutil.rmtree(target)
    assert outcomes["error"] + outcomes["left_out"] + outcomes["groups_left_out"] > 0


def test_truncated_parquet(closed_session, tmp_path):
    path, want = closed_session
    target = snapshot(path, tmp_path / "tp.liqs")
    data = (path / "trades.parquet").read_bytes()
    (target / "trades.parquet").write_bytes(data[: len(data) // 2])
    reader, err = _open(target)
    assert err is None
    assert len(reader.read().trades) == 0 and reader.read().marks.tobytes() == want.marks.tobytes()
    assert "trades.parquet" in reader.recovery.summary()
    (target / "marks.parquet").write_bytes(b"")
    reader, err = _open(target)
    assert reader is None and "nothing recoverable" in str(err)


def test_damaged_header_uses_standard_schema(crashed_log, tmp_path):
    crashed, data, bounds = crashed_log
    target = snapshot(crashed, tmp_path / "h.liqs")
    bad = bytearray(data)
    bad[20:60] = b"\x00" * 40
    (target / "trades.arrows").write_bytes(bytes(bad))
    reader, err = _open(target)
    assert err is None and _batch_ids(reader.read().trades) == list(range(BATCHES))
    assert "standard trades schema" in reader.recovery.summary()


def test_session_json_with_wrong_shapes(tmp_path):
    path = tmp_path / "w.liqs"
    SessionWriter(path, "BTCUSDT").close()
    doc = json.loads((path / "session.json").read_text())
    for bad in ({**doc, "format": "other"}, {**doc, "format_version": "1"}, {**doc, "meta": []}, [1, 2]):
        (path / "session.json").write_text(json.dumps(bad))
        with pytest.raises(SessionError):
            SessionReader(path)
