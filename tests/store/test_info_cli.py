"""``liqdesk info``: JSON keys, text output, and one-line errors without a traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from liqdesk.store import SessionWriter
from tests.store.util import T0, random_batch, several_row_groups, snapshot

REPO = Path(__file__).resolve().parents[2]
KEYS = ("trades", "book", "mark_price", "open_interest", "funding", "liquidations")


def _liqdesk(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run([sys.executable, "-m", "liqdesk", *args], capture_output=True, text=True,
                          env=env, cwd=str(REPO), timeout=60)


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    base = tmp_path_factory.mktemp("info")
    path = base / "s.liqs"
    rng = np.random.default_rng(8)
    want = random_batch(rng, T0, 500, exchanges=(0, 1))
    with SessionWriter(path, "BTCUSDT", meta={"sim": {"seed": 1}}) as w:
        w.write(want)
        w.add_gap("bybit", "marks", T0 + 10, T0 + 2_010, "reconnect")
        w.write_table("truth", {"a": [1, 2, 3]})
        w.flush()
        crashed = snapshot(path, base / "crashed.liqs")
    return path, crashed, want


def test_info_json_keys_and_counts(session):
    path, _, want = session
    res = _liqdesk("info", str(path), "--json")
    assert res.returncode == 0, res.stderr
    info = json.loads(res.stdout)
    for key in ("start_ms", "end_ms", "symbol", "gaps", "counts", "counts_total"):
        assert key in info
    assert set(info["counts"]) == set(KEYS)
    assert info["counts"]["mark_price"] == {
        name: int(np.count_nonzero(want.marks["exchange"] == i)) for i, name in enumerate(["binance", "bybit"])
    }
    assert info["counts_total"] == len(want)
    assert (info["start_ms"], info["end_ms"]) == want.time_span()
    assert info["gaps"] == [{"exchange": "bybit", "kind": "mark_price", "start_ms": T0 + 10,
                             "end_ms": T0 + 2_010, "reason": "reconnect"}]
    assert info["symbol"] == "BTCUSDT" and info["closed"] is True and info["recovery"] == []
    assert info["tables"] == {"truth": 3}


def test_info_text_and_crashed_session(session):
    _, crashed, want = session
    res = _liqdesk("info", str(crashed))
    assert res.returncode == 0, res.stderr
    out = res.stdout
    assert "NOT closed cleanly" in out and "mark_price" in out and "reconnect" in out
    assert f"{len(want):,}" in out


def test_info_recovery_notes(session, tmp_path):
    _, crashed, _ = session
    target = snapshot(crashed, tmp_path / "t.liqs")
    log = target / "trades.arrows"
    log.write_bytes(log.read_bytes()[:-5])
    res = _liqdesk("info", str(target), "--json")
    assert res.returncode == 0, res.stderr
    notes = json.loads(res.stdout)["recovery"]
    assert notes and notes[0]["name"] == "trades" and notes[0]["bytes_skipped"] > 0


@pytest.mark.parametrize("make", ["missing", "dir", "file", "bad_json"])
def test_info_on_non_session_is_one_line_error(tmp_path, make):
    target = tmp_path / "x"
    if make == "dir":
        target.mkdir()
    elif make == "file":
        target.write_text("hello")
    elif make == "bad_json":
        target.mkdir()
        (target / "session.json").write_text("{oops")
    res = _liqdesk("info", str(target))
    assert res.returncode == 2
    assert "Traceback" not in res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("liqdesk: error: ") and str(target) in lines[0]


# ------------------------------------------------------------------------------ issue 11: trust

def _info(capsys, *args: str) -> tuple[int, str, str]:
    """``liqdesk info ...`` in this process: (exit code, stdout, stderr); an exception escaping
    the command (a traceback for the user) fails the test."""
    from liqdesk.cli import main

    rc = main(["info", *args])
    out = capsys.readouterr()
    return rc, out.out, out.err


def _flip_trades_page(session, target, group: int = 1) -> int:
    """A copy of the closed session with one bit flipped in a data page of a trades row group
    (price column); returns that group's rows."""
    import pyarrow.parquet as pq

    snapshot(session, target)
    f = target / "trades.parquet"
    rg = pq.ParquetFile(str(f)).metadata.row_group(group)
    col = next(rg.column(c) for c in range(rg.num_columns) if rg.column(c).path_in_schema == "price")
    data = bytearray(f.read_bytes())
    data[col.data_page_offset + col.total_compressed_size // 2] ^= 0x10
    f.write_bytes(bytes(data))
    return rg.num_rows


@pytest.fixture(scope="module")
def big_session(tmp_path_factory):
    """Three minutes of 2,500 trades each, so trades.parquet has several row groups."""
    path = tmp_path_factory.mktemp("info-big") / "big.liqs"
    rng = np.random.default_rng(3)
    with several_row_groups(), SessionWriter(path, "BTCUSDT") as w:
        for i in range(3):
            w.write(random_batch(rng, T0 + i * 60_000, 2_500, span_ms=60_000, kinds=("trades", "marks")))
    return path


def test_info_says_how_deep_it_checked_and_verify_finds_a_damaged_page(big_session, tmp_path, capsys):
    """Before: info said "nothing skipped" over a damaged page and had no --verify."""
    target = tmp_path / "flip.liqs"
    lost = _flip_trades_page(big_session, target)
    rc, out, err = _info(capsys, str(target))
    assert rc == 0 and "nothing skipped" not in out and "--verify" in out  # it says pages were not read
    rc, out, err = _info(capsys, str(target), "--verify", "--json")
    info = json.loads(out)
    assert rc == 0 and info["checked"] == "pages"
    assert [n["name"] for n in info["recovery"]] == ["trades"] and "row group 1" in info["recovery"][0]["reason"]
    assert info["kind_totals"]["trades"] == 7_500 - lost
    assert err.startswith("liqdesk: warning: flip.liqs: trades.parquet: row group 1 is damaged")
    rc, out, err = _info(capsys, str(target), "--verify", "--strict")
    assert rc == 2 and out == "" and err.count("\n") == 1 and err.startswith("liqdesk: error: ")
    rc, out, err = _info(capsys, str(big_session), "--verify")
    assert rc == 0 and "recovery  nothing skipped" in out and err == ""


def test_info_counts_are_checked_against_the_data(big_session, tmp_path, capsys):
    """Before: per-exchange counts of a wrong index.json were printed as they were."""
    target = snapshot(big_session, tmp_path / "counts.liqs")
    index = json.loads((target / "index.json").read_text())
    counts = index["kinds"]["trades"]["counts"]
    want = dict(counts)
    counts["binance"] += counts.pop("okx")
    (target / "index.json").write_text(json.dumps(index))
    rc, out, err = _info(capsys, str(target), "--json")
    assert rc == 0 and json.loads(out)["counts"]["trades"] == want
    assert "events per exchange of trades disagree" in err


def test_info_on_a_malformed_gaps_entry_leaves_it_out_and_says_so(session, tmp_path, capsys):
    """Before: a gap without end_ms made ``liqdesk info`` fail with a KeyError traceback."""
    path, _, _ = session
    target = snapshot(path, tmp_path / "gaps.liqs")
    doc = json.loads((target / "session.json").read_text())
    doc["gaps"].append({"exchange": "binance", "kind": "trades", "start_ms": "soon"})
    (target / "session.json").write_text(json.dumps(doc))
    rc, out, err = _info(capsys, str(target))
    assert rc == 0 and "reconnect" in out  # the well-formed gap is still shown
    assert "1 malformed gaps entry left out" in err and "1 malformed gaps entry left out" in out
    rc, out, err = _info(capsys, str(target), "--strict")
    assert rc == 2 and err.count("\n") == 1 and "malformed gaps" in err
