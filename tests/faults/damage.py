"""Clean sessions and the damage done to copies of them (test data only).

Two clean sessions are written once from the same six-minute synthetic market (three exchanges,
trades, book snapshots, marks, open interest, funding, liquidations): ``closed.liqs`` (Parquet
files and ``index.json``, several row groups per busy kind) and ``crashed.liqs`` (the append logs
of a recording killed after its sixth flush, one log batch per kind and flush). Each
:class:`Damage` copies one of them and breaks the copy in one way; it returns what a careful
reader must leave out (:data:`SAME`: nothing; a :class:`Loss`: those rows; :data:`UNKNOWN`: it
depends on what the damaged bytes held).

A :class:`Loss` is turned into a *reference session*: the clean events minus what was lost,
written afresh. A command's output on the damaged copy must equal its output on the reference
(the valid part kept, nothing else changed) and say on stderr that something was left out.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.ipc as ipc
import pyarrow.parquet as pq

from liqdesk.core.events import EXCHANGE_ID, EventBatch, make_batch, records, slice_batch
from liqdesk.store import SessionWriter
from tests.store.util import several_row_groups
from tests.ui.helpers import synthetic_stream

MINUTES = 6
SEED = 4
SYMBOL = "BTCUSDT"
META = {"source": "faults-synthetic"}
#: one log batch per kind and flush in the crashed session: a minute of market each
FLUSH_MS = 60_000


def clean_stream() -> EventBatch:
    """The market every clean session holds: synthetic trades, marks, OI, book, liquidations, and
    a funding rate per exchange every 30 s (so that no kind is empty)."""
    base = synthetic_stream(hours=MINUTES / 60, seed=SEED, trades_per_s=20.0)
    start, end = base.time_span()
    times = np.arange(start, end, 30_000)
    funding = np.concatenate([
        records("funding", time_ms=times + 7 * eid, exchange=eid, rate=1e-4 * (1 + eid) * np.cos(times / 1e6))
        for eid in (EXCHANGE_ID[n] for n in ("binance", "bybit", "okx"))])
    funding = funding[np.argsort(funding["time_ms"], kind="stable")]
    return make_batch(trades=base.trades, marks=base.marks, open_interest=base.open_interest, book=base.book,
                      liquidations=base.liquidations, funding=funding)


def write_closed(path: Path, stream: EventBatch) -> Path:
    """``stream`` as a closed session at ``path``."""
    start, end = stream.time_span()
    with several_row_groups(), SessionWriter(path, SYMBOL, meta=META, fsync=False) as w:
        for t in range(start, end + 1, FLUSH_MS):
            w.write(slice_batch(stream, t, t + FLUSH_MS))
    return path


def write_crashed(path: Path, stream: EventBatch) -> Path:
    """``stream`` as the append logs of a recording killed after its last flush (one log batch
    per kind and minute), at ``path``."""
    start, end = stream.time_span()
    work = path.with_name(path.name + ".writing")
    w = SessionWriter(work, SYMBOL, meta=META, fsync=False, flush_interval_s=1.0)
    for t in range(start, end + 1, FLUSH_MS):
        w.write(slice_batch(stream, t, t + FLUSH_MS))
        w.flush()
    shutil.copytree(work, path)
    w.close()
    shutil.rmtree(work)
    return path


# ---------------------------------------------------------------------------- what must be lost

SAME = "same"        # a careful reader loses nothing: the output equals the clean session's
UNKNOWN = "unknown"  # it depends on what the damaged bytes held: equal, or stated


@dataclass(frozen=True)
class Loss:
    """Rows a careful reader must leave out: per kind, ``"all"``, a tuple of Parquet row-group
    numbers of the clean closed session, or ``("from", t)`` / ``("minute", i)`` for log batches of
    the crashed one (the minute ``[start + i * FLUSH_MS, start + (i + 1) * FLUSH_MS)``)."""

    kinds: tuple = ()  # ((kind, what), ...)
    no_events: bool = False

    def key(self) -> str:
        return "empty" if self.no_events else repr(self.kinds)


def reference_stream(stream: EventBatch, loss: Loss, clean_closed: Path) -> EventBatch:
    """``stream`` without what ``loss`` says is lost."""
    arrays = dict(stream.arrays())
    start = stream.time_span()[0]
    index = json.loads((clean_closed / "index.json").read_text())
    for kind, what in loss.kinds:
        arr = arrays[kind]
        if what == "all":
            arrays[kind] = arr[:0]
        elif what[0] == "from":
            arrays[kind] = arr[arr["time_ms"] < what[1]]
        elif what[0] == "minute":
            lo = start + what[1] * FLUSH_MS
            arrays[kind] = arr[(arr["time_ms"] < lo) | (arr["time_ms"] >= lo + FLUSH_MS)]
        else:  # row groups of the closed file, which holds the kind sorted by time (stable)
            groups = index["kinds"][kind]["row_groups"]
            order = np.argsort(arr["time_ms"], kind="stable")
            keep = np.ones(len(arr), bool)
            for g in what:
                lo = groups["row_offset"][g]
                keep[order[lo: lo + groups["rows"][g]]] = False
            arrays[kind] = arr[keep]
    return make_batch(**arrays)


# ---------------------------------------------------------------------------- byte surgery

def flip_bit(path: Path, offset: int, bit: int = 4) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 1 << bit
    path.write_bytes(bytes(data))


def footer_span(path: Path) -> tuple[int, int]:
    """(start, end) byte offsets of a Parquet file's footer (its thrift FileMetaData)."""
    data = path.read_bytes()
    length = int.from_bytes(data[-8:-4], "little")
    return len(data) - 8 - length, len(data) - 8


def column_chunk(path: Path, group: int, column: str) -> tuple[int, int]:
    """(start, end) byte offsets of one column chunk of one row group."""
    meta = pq.ParquetFile(str(path)).metadata
    rg = meta.row_group(group)
    for c in range(rg.num_columns):
        col = rg.column(c)
        if col.path_in_schema == column:
            start = col.dictionary_page_offset or col.data_page_offset
            return start, start + col.total_compressed_size
    raise KeyError(column)


def groups_touching(path: Path, lo: int, hi: int) -> tuple[int, ...]:
    """Row groups with a column chunk overlapping bytes [lo, hi)."""
    meta = pq.ParquetFile(str(path)).metadata
    hit = []
    for g in range(meta.num_row_groups):
        rg = meta.row_group(g)
        for c in range(rg.num_columns):
            col = rg.column(c)
            start = col.dictionary_page_offset or col.data_page_offset
            if start < hi and lo < start + col.total_compressed_size:
                hit.append(g)
                break
    return tuple(hit)


def log_batches(path: Path) -> list[tuple[int, int]]:
    """(start, end) offsets of every record-batch message in an intact append log."""
    bounds = []
    with pa.OSFile(str(path)) as f:
        reader = ipc.open_stream(f)
        pos = f.tell()
        while True:
            try:
                reader.read_next_batch()
            except StopIteration:
                break
            bounds.append((pos, f.tell()))
            pos = f.tell()
    return bounds


def make_fifo(path: Path) -> None:
    path.unlink(missing_ok=True)
    os.mkfifo(path)


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def edit_json(path: Path, fn: Callable[[dict], None]) -> None:
    doc = json.loads(path.read_text())
    fn(doc)
    path.write_text(json.dumps(doc))


def outside_table_log(folder: Path) -> Path:
    """A valid three-row table log at ``folder/outside.arrows`` (what ``../outside`` names)."""
    work = folder / "maker.liqs"
    w = SessionWriter(work, SYMBOL, fsync=False)
    w.write_table("outside", {"secret": [1, 2, 3]})
    w.flush()
    shutil.copy(work / "outside.arrows", folder / "outside.arrows")
    w.close()
    shutil.copy(work / "outside.parquet", folder / "outside.parquet")
    shutil.rmtree(work)
    return folder / "outside.arrows"


# ---------------------------------------------------------------------------- the damages

@dataclass(frozen=True)
class Damage:
    name: str
    label: str           #: the row heading of the matrix
    base: str            #: "closed" or "crashed"
    apply: Callable[[Path], object]  #: breaks the copy at the path; returns SAME, UNKNOWN or a Loss
    page_level: bool = False  #: only a reader of the data pages can see it (info without --verify cannot)
    notes: dict = field(default_factory=dict)


def _truncate(p: Path):
    f = p / "trades.parquet"
    data = f.read_bytes()
    f.write_bytes(data[: len(data) * 6 // 10])
    return Loss((("trades", "all"),))


def _page_flip(p: Path):
    lo, hi = column_chunk(p / "trades.parquet", 2, "price")
    flip_bit(p / "trades.parquet", (lo + hi) // 2)
    return Loss((("trades", (2,)),))


def _footer_flip(where: float):
    def apply(p: Path):
        lo, hi = footer_span(p / "trades.parquet")
        flip_bit(p / "trades.parquet", lo + int((hi - lo) * where))
        return UNKNOWN
    return apply


def _zeroed(p: Path):
    f = p / "trades.parquet"
    data = bytearray(f.read_bytes())
    lo = (len(data) * 45 // 100) // 4096 * 4096
    data[lo: lo + 4096] = bytes(4096)
    f.write_bytes(bytes(data))
    return Loss((("trades", groups_touching(f, lo, lo + 4096)),))


def _missing(p: Path):
    (p / "open_interest.parquet").unlink()
    return Loss((("open_interest", "all"),))


def _swapped(p: Path):
    a, b, tmp = p / "marks.parquet", p / "funding.parquet", p / "swap.tmp"
    a.rename(tmp)
    b.rename(a)
    tmp.rename(b)
    return Loss((("marks", "all"), ("funding", "all")))


def _index_times(p: Path):
    def squeeze(doc):
        groups = doc["kinds"]["trades"]["row_groups"]
        t0 = groups["start_ms"][0]
        groups["start_ms"] = [t0 + (t - t0) // 2 for t in groups["start_ms"]]
        groups["end_ms"] = [t0 + (t - t0) // 2 for t in groups["end_ms"]]
        doc["kinds"]["trades"]["end_ms"] = groups["end_ms"][-1]
    edit_json(p / "index.json", squeeze)
    return SAME


def _index_rows(p: Path):
    def shift(doc):
        groups = doc["kinds"]["trades"]["row_groups"]
        groups["rows"][0] += 100
        groups["rows"][1] -= 100
        groups["row_offset"][1] += 100
    edit_json(p / "index.json", shift)
    return SAME


def _index_counts(p: Path):
    def move(doc):
        counts = doc["kinds"]["trades"]["counts"]
        counts["binance"] += counts.pop("okx")
    edit_json(p / "index.json", move)
    return SAME


def _nested_deep(p: Path):
    doc = json.loads((p / "session.json").read_text())
    text = json.dumps(doc)
    (p / "session.json").write_text(text[:-1] + ', "deep": ' + nested(100_000) + "}")
    return UNKNOWN


def _nested_500(p: Path):
    doc = json.loads((p / "session.json").read_text())
    text = json.dumps(doc)
    # inside meta: info --json prints meta back
    text = text.replace('"meta": {', '"meta": {"deep": ' + nested(500) + ", ", 1)
    (p / "session.json").write_text(text)
    return UNKNOWN


def _table_outside_logs(p: Path):
    outside_table_log(p.parent)
    edit_json(p / "session.json", lambda doc: doc.__setitem__("tables", ["../outside"]))
    return SAME


def _table_outside_index(p: Path):
    outside_table_log(p.parent)
    edit_json(p / "index.json", lambda doc: doc["tables"].__setitem__("../outside",
                                                                       {"file": "../outside.parquet", "rows": 3}))
    return SAME


def _gaps(p: Path):
    edit_json(p / "session.json", lambda doc: doc.__setitem__(
        "gaps", [{"exchange": "binance", "kind": "trades", "start_ms": "soon"}]))
    return SAME


def _log_twice(p: Path):
    f = p / "trades.arrows"
    data = f.read_bytes()
    f.write_bytes(data + data)
    return SAME


def _log_truncated(p: Path):
    f = p / "trades.arrows"
    bounds = log_batches(f)
    last = bounds[-1]
    f.write_bytes(f.read_bytes()[: (last[0] + last[1]) // 2])
    return Loss((("trades", ("minute", len(bounds) - 1)),))


def _log_flip(p: Path):
    f = p / "trades.arrows"
    lo, hi = log_batches(f)[3]
    flip_bit(f, hi - (hi - lo) // 3)
    return Loss((("trades", ("minute", 3)),))


def _no_events(p: Path):
    for f in p.iterdir():
        if f.name != "session.json":
            f.unlink()
    edit_json(p / "session.json", lambda doc: doc.__setitem__("tables", []))
    return Loss(no_events=True)


def _fifo(name: str, loss):
    def apply(p: Path):
        make_fifo(p / name)
        return loss
    return apply


DAMAGES: dict[str, Damage] = {d.name: d for d in [
    Damage("parquet_truncated", "trades.parquet truncated to 60 %", "closed", _truncate),
    Damage("parquet_page_flip", "bit flip in a data page (trades, row group 2)", "closed", _page_flip,
           page_level=True),
    Damage("parquet_footer_flip_head", "bit flip at the start of the Parquet footer (trades)", "closed",
           _footer_flip(0.0)),
    Damage("parquet_footer_flip_middle", "bit flip in the middle of the Parquet footer (trades)", "closed",
           _footer_flip(0.5)),
    Damage("parquet_zeroed_block", "4 KiB zeroed block inside trades.parquet", "closed", _zeroed, page_level=True),
    Damage("kind_file_missing", "open_interest.parquet missing", "closed", _missing),
    Damage("files_swapped", "marks.parquet and funding.parquet swapped", "closed", _swapped),
    Damage("index_wrong_times", "index.json: trades row-group times wrong (well-formed)", "closed", _index_times),
    Damage("index_wrong_rows", "index.json: trades row-group row counts wrong", "closed", _index_rows),
    Damage("index_wrong_counts", "index.json: trades per-exchange counts wrong", "closed", _index_counts),
    Damage("session_nested_deep", "session.json nested 100,000 deep", "closed", _nested_deep),
    Damage("session_nested_500", "session.json meta nested 500 deep", "closed", _nested_500),
    Damage("table_outside_session", "session.json lists table \"../outside\" (crashed)", "crashed",
           _table_outside_logs),
    Damage("table_outside_index", "index.json lists table \"../outside\" (closed)", "closed", _table_outside_index),
    Damage("gaps_malformed", "malformed gaps entry in session.json", "closed", _gaps),
    Damage("log_appended_to_itself", "trades.arrows appended to itself", "crashed", _log_twice),
    Damage("log_truncated", "trades.arrows cut inside its last batch", "crashed", _log_truncated),
    Damage("log_bit_flip", "bit flip inside a trades.arrows batch", "crashed", _log_flip),
    Damage("no_events", "recording killed before its first flush", "crashed", _no_events),
    Damage("fifo_parquet", "FIFO in place of trades.parquet", "closed", _fifo("trades.parquet",
                                                                             Loss((("trades", "all"),)))),
    Damage("fifo_index", "FIFO in place of index.json", "closed", _fifo("index.json", SAME)),
    Damage("fifo_session_json", "FIFO in place of session.json", "closed", _fifo("session.json", UNKNOWN)),
    Damage("fifo_log", "FIFO in place of trades.arrows", "crashed", _fifo("trades.arrows",
                                                                         Loss((("trades", "all"),)))),
]}
