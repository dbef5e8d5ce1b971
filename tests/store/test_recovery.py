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
from tests.store.util import T0, random_batch, several_row_groups, snapshot

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
    with several_row_groups(), SessionWriter(path, "BTCUSDT") as w:
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


# ------------------------------------------------------------------------------ issue 11: trust

def _open_guarded(path, timeout_s: float = 5.0):
    """SessionReader(path) with a hang guard: (reader or None, error or None, hung). A read blocked
    on a FIFO is released by opening the FIFO for writing, so the test ends either way."""
    import os
    import stat
    import threading

    box: dict = {}

    def run():
        try:
            box["reader"] = SessionReader(path)
        except Exception as exc:  # noqa: BLE001 - reported to the test
            box["error"] = exc

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(timeout_s)
    hung = t.is_alive()
    while t.is_alive():
        for entry in path.iterdir():
            if stat.S_ISFIFO(entry.lstat().st_mode):
                try:
                    os.close(os.open(entry, os.O_WRONLY | os.O_NONBLOCK))
                except OSError:
                    pass
        t.join(0.1)
    return box.get("reader"), box.get("error"), hung


def _trade_group_rows(path) -> np.ndarray:
    return np.asarray(json.loads((path / "index.json").read_text())["kinds"]["trades"]["row_groups"]["rows"])


def test_bit_flip_in_a_data_page_skips_that_row_group_and_reads_on(closed_session, tmp_path):
    """Before: one bad page made every read covering it a SessionError (export and replay stopped)."""
    import pyarrow.parquet as pq

    path, want = closed_session
    target = snapshot(path, tmp_path / "flip.liqs")
    meta = pq.ParquetFile(str(target / "trades.parquet")).metadata
    assert meta.num_row_groups >= 3
    col = next(meta.row_group(1).column(c) for c in range(meta.row_group(1).num_columns)
               if meta.row_group(1).column(c).path_in_schema == "price")
    data = bytearray((target / "trades.parquet").read_bytes())
    data[col.data_page_offset + col.total_compressed_size // 2] ^= 0x10
    (target / "trades.parquet").write_bytes(bytes(data))
    reader, err = _open(target)
    assert err is None
    rows = _trade_group_rows(target)
    keep = np.ones(len(want.trades), bool)
    keep[rows[0]:rows[0] + rows[1]] = False
    got = np.concatenate([b.trades for b in reader.iter_batches(60_000)])
    assert got.tobytes() == want.trades[keep].tobytes()
    assert reader.read().marks.tobytes() == want.marks.tobytes()
    notes = reader.recovery.for_name("trades")
    assert len(notes) == 1 and "row group 1" in notes[0].reason and f"{rows[1]:,} events" in notes[0].reason


def test_wrong_but_well_formed_index_is_checked_and_rebuilt(closed_session, tmp_path):
    """Before: row-group times that disagree with the Parquet statistics were trusted and reads by
    time silently dropped trades."""
    path, want = closed_session
    target = snapshot(path, tmp_path / "idx.liqs")
    index = json.loads((target / "index.json").read_text())
    groups = index["kinds"]["trades"]["row_groups"]
    t0 = groups["start_ms"][0]
    groups["start_ms"] = [t0 + (t - t0) // 2 for t in groups["start_ms"]]
    groups["end_ms"] = [t0 + (t - t0) // 2 for t in groups["end_ms"]]
    index["kinds"]["trades"]["end_ms"] = groups["end_ms"][-1]
    (target / "index.json").write_text(json.dumps(index))
    reader, err = _open(target)
    assert err is None
    got = np.concatenate([b.trades for b in reader.iter_batches(60_000)])
    assert got.tobytes() == want.trades.tobytes()
    assert "statistics" in reader.recovery.summary() and reader.recovery.for_name("index")


def test_a_log_appended_to_itself_is_read_once(crashed_log, tmp_path):
    """Before: every batch came back twice (12,490 duplicate rows in the issue's case)."""
    crashed, data, bounds = crashed_log
    target = snapshot(crashed, tmp_path / "twice.liqs")
    (target / "trades.arrows").write_bytes(data + data)
    reader, err = _open(target)
    assert err is None
    assert _batch_ids(reader.read().trades) == list(range(BATCHES))
    assert len(reader.read().trades) == BATCHES * ROWS
    assert f"{BATCHES} batches ({BATCHES * ROWS:,} rows) repeat" in reader.recovery.summary()


@pytest.mark.parametrize("name", ["trades.parquet", "index.json", "trades.arrows"])
def test_a_fifo_in_place_of_a_session_file_is_refused(closed_session, crashed_log, tmp_path, name):
    """Before: opening the FIFO blocked every command forever (or, for a log, read it as empty
    without a word)."""
    import os

    source = crashed_log[0] if name.endswith(".arrows") else closed_session[0]
    target = snapshot(source, tmp_path / "fifo.liqs")
    (target / name).unlink()
    os.mkfifo(target / name)
    reader, err, hung = _open_guarded(target)
    assert not hung, f"reading {name} as a FIFO hung"
    assert err is None
    assert "FIFO" in reader.recovery.summary() and "refused" in reader.recovery.summary()
    if name == "index.json":  # rebuilt from the Parquet files: nothing lost
        assert reader.read().trades.tobytes() == closed_session[1].trades.tobytes()
    else:
        assert len(reader.read().trades) == 0


def test_names_taken_from_files_stay_inside_the_session(closed_session, tmp_path):
    """Before: a table "../outside" listed in session.json or index.json was opened outside the
    session folder; a symlink pointing out was followed."""
    import os

    folder = tmp_path / "box"
    folder.mkdir()
    maker = folder / "maker.liqs"
    w = SessionWriter(maker, "BTCUSDT")
    w.write_table("outside", {"secret": [1, 2, 3]})
    w.flush()
    crashed = snapshot(maker, folder / "crashed.liqs")
    (crashed / "outside.arrows").rename(folder / "outside.arrows")
    w.close()
    (maker / "outside.parquet").rename(folder / "outside.parquet")
    doc = json.loads((crashed / "session.json").read_text())
    doc["tables"] = ["../outside"]
    (crashed / "session.json").write_text(json.dumps(doc))
    reader, err = _open(crashed)
    assert err is None and reader.tables == []
    assert "'../outside'" in reader.recovery.summary()

    closed = snapshot(closed_session[0], folder / "closed.liqs")
    index = json.loads((closed / "index.json").read_text())
    index["tables"]["../outside"] = {"file": "../outside.parquet", "rows": 3}
    (closed / "index.json").write_text(json.dumps(index))
    os.symlink(folder / "outside.parquet", closed / "linked.parquet")
    reader, err = _open(closed)
    assert err is None and reader.tables == []
    summary = reader.recovery.summary()
    assert "'../outside'" in summary and "linked.parquet: resolves outside the session folder" in summary
    with pytest.raises(ValueError):
        reader.table("../outside")


def test_deeply_nested_session_json_is_a_one_line_error(tmp_path):
    """Before: json.loads raised RecursionError through every command."""
    path = tmp_path / "deep.liqs"
    SessionWriter(path, "BTCUSDT").close()
    text = (path / "session.json").read_text().rstrip()
    for depth in (100_000, 500):
        (path / "session.json").write_text(text[:-1] + ', "deep": ' + "[" * depth + "]" * depth + "}")
        reader, err = _open(path)
        assert reader is None and "nested too deeply" in str(err)


def test_malformed_gaps_entries_are_left_out_and_said(tmp_path):
    """Before: a gap without end_ms was kept (and ``liqdesk info`` failed on it with a KeyError)."""
    path = tmp_path / "gaps.liqs"
    with SessionWriter(path, "BTCUSDT") as w:
        w.write(random_batch(np.random.default_rng(1), T0, 50))
        w.add_gap("binance", "trades", T0, T0 + 10, "reconnect")
    doc = json.loads((path / "session.json").read_text())
    doc["gaps"] += [{"exchange": "binance", "kind": "trades", "start_ms": "soon"}, "not a gap",
                    {"exchange": "binance", "kind": "trades", "start_ms": 5, "end_ms": 1, "reason": ""}]
    (path / "session.json").write_text(json.dumps(doc))
    reader, err = _open(path)
    assert err is None
    assert reader.gaps == [{"exchange": "binance", "kind": "trades", "start_ms": T0, "end_ms": T0 + 10,
                            "reason": "reconnect"}]
    note = reader.recovery.for_name("gaps")[0]
    assert "3 malformed gaps entries left out" in note.reason


def test_a_recording_killed_before_its_first_flush_says_it_holds_nothing(tmp_path):
    """Before: an empty, unclosed session read as a session with nothing to say about it."""
    path = tmp_path / "early.liqs"
    w = SessionWriter(path, "BTCUSDT")
    target = snapshot(path, tmp_path / "killed.liqs")
    w.close()
    reader, err = _open(target)
    assert err is None and reader.start_ms is None
    assert "before its first flush" in reader.recovery.summary()
