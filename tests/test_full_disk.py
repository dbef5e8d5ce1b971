"""Outputs are written whole or not at all: import, simulate and export write under a temporary
name beside the target and rename it into place once complete. A failure part-way — a full disk
(the lowest-level write made to raise ENOSPC after some bytes really were written), an interrupt,
an error in the data — leaves no target, no temporary, and a previous target as it was; the
error is one line, exit code 2.

Tests that check success use the real writing path (nothing mocked)."""

from __future__ import annotations

import errno
import os

import numpy as np
import pytest

from liqdesk.cli import main
from liqdesk.store import SessionReader
from liqdesk.store.atomic import atomic_dir, atomic_file

from .sources.importer_helpers import T0, bn_force, bn_trade, lines
from .ui.helpers import write_session

NO_SPACE = os.strerror(errno.ENOSPC)


class FullDisk:
    """A real file that takes ``room`` bytes, then fails as a full disk does (what fits of the
    last write is written)."""

    def __init__(self, fh, room: int) -> None:
        self._fh, self._room = fh, room

    def write(self, data) -> int:
        data = bytes(data)
        if len(data) > self._room:
            self._fh.write(data[: self._room])
            self._room = 0
            raise OSError(errno.ENOSPC, NO_SPACE)
        self._room -= len(data)
        return self._fh.write(data)

    def __getattr__(self, name):
        return getattr(self._fh, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._fh.close()


def full_disk_open(room: int):
    real_open = open

    def fake_open(path, mode="r", *args, **kw):
        fh = real_open(path, mode, *args, **kw)
        return FullDisk(fh, room) if "w" in mode else fh

    return fake_open


def _left(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("liqdesk: error: ") and "Traceback" not in err
    return err


@pytest.fixture(scope="module")
def small_session(tmp_path_factory):
    return write_session(tmp_path_factory.mktemp("fd") / "walk.liqs", hours=0.5, seed=5)


# ------------------------------------------------------------------------------ the helpers

def test_atomic_file_keeps_the_old_file_on_failure(tmp_path):
    target = tmp_path / "grid.csv"
    target.write_text("old")
    with pytest.raises(KeyboardInterrupt), atomic_file(target, overwrite=True) as tmp:
        assert tmp.parent == tmp_path and tmp.name.startswith(".grid.partial-") and tmp.suffix == ".csv"
        tmp.write_text("half")
        raise KeyboardInterrupt
    assert target.read_text() == "old" and _left(tmp_path) == ["grid.csv"]
    with atomic_file(target, overwrite=True) as tmp:
        tmp.write_text("new")
    assert target.read_text() == "new" and _left(tmp_path) == ["grid.csv"]
    with pytest.raises(FileExistsError), atomic_file(target):
        pass


def test_atomic_dir_replaces_a_session_only_when_complete(tmp_path, small_session):
    import shutil

    target = tmp_path / "s.liqs"
    shutil.copytree(small_session, target)
    with pytest.raises(OSError), atomic_dir(target, overwrite=True) as tmp:
        tmp.mkdir()
        (tmp / "session.json").write_text("{}")
        raise OSError(errno.ENOSPC, NO_SPACE)
    assert _left(tmp_path) == ["s.liqs"] and SessionReader(target).counts()["trades"]
    with atomic_dir(target, overwrite=True) as tmp:
        tmp.mkdir()
        (tmp / "session.json").write_text("{}")
    assert _left(tmp_path) == ["s.liqs"] and _left(target) == ["session.json"]
    empty = tmp_path / "empty.liqs"
    empty.mkdir()
    with atomic_dir(empty) as tmp:  # an empty directory needs no --overwrite
        tmp.mkdir()
        (tmp / "session.json").write_text("{}")
    assert _left(empty) == ["session.json"]
    other = tmp_path / "not-a-session"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="not a liqdesk session"), atomic_dir(other, overwrite=True):
        pass


# ------------------------------------------------------------------------------ import

def _capture(tmp_path, n: int = 2_000):
    path = tmp_path / "capture.jsonl"
    path.write_bytes(lines(*[bn_trade(i, T0 + i) for i in range(n)], bn_force(T0 + n, "SELL")))
    return path


def _fail_log_writes(monkeypatch, exc, after: int = 1):
    """The session's append logs fail after ``after`` real writes."""
    from liqdesk.store.log import LogWriter

    real = LogWriter.write
    calls = []

    def write(self, batch, crc):
        calls.append(1)
        if len(calls) > after:
            raise exc
        return real(self, batch, crc)

    monkeypatch.setattr(LogWriter, "write", write)
    return calls


def test_import_on_a_full_disk_leaves_nothing(tmp_path, monkeypatch, capsys):
    src = _capture(tmp_path)
    out = tmp_path / "s.liqs"
    calls = _fail_log_writes(monkeypatch, OSError(errno.ENOSPC, NO_SPACE))
    assert main(["import", str(src), "--out", str(out)]) == 2
    assert len(calls) >= 2  # it did write, then the disk was full
    err = _one_line_error(capsys)
    assert f"could not write {out}" in err and NO_SPACE in err and ".partial-" not in err
    assert _left(tmp_path) == ["capture.jsonl"]


def test_import_failing_over_an_existing_session_keeps_it(tmp_path, monkeypatch, capsys):
    src = _capture(tmp_path)
    out = tmp_path / "s.liqs"
    assert main(["import", str(src), "--out", str(out)]) == 0
    before = SessionReader(out).counts()
    _fail_log_writes(monkeypatch, OSError(errno.ENOSPC, NO_SPACE))
    assert main(["import", str(src), "--out", str(out), "--overwrite"]) == 2
    _one_line_error(capsys)
    assert _left(tmp_path) == ["capture.jsonl", "s.liqs"]
    assert SessionReader(out).counts() == before


@pytest.mark.parametrize(("exc", "code"), [(KeyboardInterrupt(), 130), (ValueError("bad batch"), 2)])
def test_import_interrupted_or_failing_leaves_nothing(tmp_path, monkeypatch, capsys, exc, code):
    from liqdesk.store import SessionWriter

    src = _capture(tmp_path)
    real = SessionWriter.write

    def write(self, batch):
        real(self, batch)
        raise exc

    monkeypatch.setattr(SessionWriter, "write", write)
    assert main(["import", str(src), "--out", str(tmp_path / "s.liqs")]) == code
    assert capsys.readouterr().err.count("\n") == 1
    assert _left(tmp_path) == ["capture.jsonl"]


def test_import_existing_target_refused_before_the_work(tmp_path, monkeypatch, capsys):
    import liqdesk.sources.importers as importers

    src = _capture(tmp_path)
    out = tmp_path / "s.liqs"
    out.mkdir()
    (out / "mine.txt").write_text("x")
    monkeypatch.setattr(importers, "import_files", lambda *a, **k: pytest.fail("imported first"))
    assert main(["import", str(src), "--out", str(out), "--overwrite"]) == 2
    assert "not a liqdesk session" in _one_line_error(capsys)
    assert _left(out) == ["mine.txt"]


# ------------------------------------------------------------------------------ simulate

def test_simulate_on_a_full_disk_leaves_nothing(tmp_path, monkeypatch, capsys):
    from liqdesk.store.convert import ParquetKindWriter

    real = ParquetKindWriter._write_group
    calls = []

    def write_group(self, group):  # the close fails after the first row groups are written
        calls.append(1)
        if len(calls) > 2:
            raise OSError(errno.ENOSPC, NO_SPACE)
        return real(self, group)

    monkeypatch.setattr(ParquetKindWriter, "_write_group", write_group)
    out = tmp_path / "sim.liqs"
    assert main(["simulate", "--hours", "0.1", "--out", str(out), "--quiet"]) == 2
    assert len(calls) == 3
    err = _one_line_error(capsys)
    assert f"could not write {out}" in err and NO_SPACE in err
    assert _left(tmp_path) == []


def test_simulate_writes_through_a_temporary(tmp_path, monkeypatch, capsys):
    import liqdesk.store.atomic as atomic

    seen = []
    real = atomic.temp_path
    monkeypatch.setattr(atomic, "temp_path", lambda *a, **k: seen.append(real(*a, **k)) or seen[-1])
    out = tmp_path / "sim.liqs"
    assert main(["simulate", "--hours", "0.05", "--out", str(out), "--quiet"]) == 0
    assert seen and seen[0].name.startswith(".sim.liqs.partial-") and not seen[0].exists()
    assert _left(tmp_path) == ["sim.liqs"] and SessionReader(out).closed


# ------------------------------------------------------------------------------ export

@pytest.mark.parametrize("ext", [".csv", ".parquet", ".npz"])
def test_export_on_a_full_disk_leaves_nothing(tmp_path, monkeypatch, capsys, small_session, ext):
    import liqdesk.commands.export as export

    out = tmp_path / f"grid{ext}"
    monkeypatch.setattr(export, "open", full_disk_open(room=3_000), raising=False)
    assert main(["export", str(small_session), "--out", str(out), "--rows", "64"]) == 2
    err = _one_line_error(capsys)
    assert f"could not write {out}: {NO_SPACE}; nothing was written there" in err
    assert _left(tmp_path) == []


def test_export_failing_over_an_existing_file_keeps_it(tmp_path, monkeypatch, capsys, small_session):
    import liqdesk.commands.export as export

    out = tmp_path / "grid.csv"
    assert main(["export", str(small_session), "--out", str(out), "--rows", "64"]) == 0
    good = out.read_bytes()
    assert len(good) > 3_000 and good.startswith(b"time_ms,price_low")
    capsys.readouterr()
    monkeypatch.setattr(export, "open", full_disk_open(room=3_000), raising=False)
    assert main(["export", str(small_session), "--out", str(out), "--rows", "64", "--overwrite"]) == 2
    assert "it is unchanged" in _one_line_error(capsys)
    assert out.read_bytes() == good and _left(tmp_path) == ["grid.csv"]


def test_export_writes_whole_files(tmp_path, small_session):
    import pyarrow.parquet as pq

    for ext in (".csv", ".parquet", ".npz"):
        assert main(["export", str(small_session), "--out", str(tmp_path / f"g{ext}"), "--rows", "64"]) == 0
    rows = (tmp_path / "g.csv").read_text().splitlines()
    table = pq.read_table(tmp_path / "g.parquet")
    assert len(rows) - 1 == table.num_rows > 0
    with np.load(tmp_path / "g.npz") as z:
        assert z["long_usd"].shape[0] == 64
    assert _left(tmp_path) == ["g.csv", "g.npz", "g.parquet"]
