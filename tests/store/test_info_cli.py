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
from tests.store.util import T0, random_batch, snapshot

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
