"""One bit flipped in a Parquet footer, at many places: the reader gives exactly the clean events,
or leaves out what it could not read and says so (the rest exact). Never an error (the other
kinds are intact, so the session is readable), never different events without a word."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from liqdesk.store import SessionError, SessionReader
from tests.faults.damage import clean_stream, flip_bit, footer_span, write_closed

STEP = 53  # bytes between flipped places: about 70 places over the footer


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    path = write_closed(tmp_path_factory.mktemp("footer") / "clean.liqs", clean_stream())
    return path, SessionReader(path).read()


def _readable_trades(reader, want: np.ndarray, clean_path) -> np.ndarray:
    """``want`` without the row groups (as the clean file has them) the reader reported damaged."""
    rows = json.loads((clean_path / "index.json").read_text())["kinds"]["trades"]["row_groups"]["rows"]
    offsets = np.concatenate([[0], np.cumsum(rows)])
    keep = np.ones(len(want), bool)
    for g in getattr(reader._kinds["trades"], "bad", {}):
        keep[offsets[g]:offsets[g + 1]] = False
    return want[keep]


def test_bit_flips_across_the_footer(clean, tmp_path):
    path, want = clean
    lo, hi = footer_span(path / "trades.parquet")
    outcomes = {"exact": 0, "exact, said": 0, "groups left out": 0, "file left out": 0}
    for at in [*range(lo, hi, STEP), hi, hi + 4]:  # ... and the footer length, the closing magic
        target = tmp_path / f"f{at}.liqs"
        shutil.copytree(path, target)
        flip_bit(target / "trades.parquet", at)
        try:
            reader = SessionReader(target)
            got = reader.read()
        except SessionError as exc:
            pytest.fail(f"flip at footer byte {at - lo}: {exc}")
        for kind in ("marks", "book", "open_interest", "funding", "liquidations"):
            assert getattr(got, kind).tobytes() == getattr(want, kind).tobytes(), (at, kind)
        said = bool(reader.recovery.for_name("trades") or reader.recovery.for_name("index"))
        if got.trades.tobytes() == want.trades.tobytes():
            outcomes["exact, said" if said else "exact"] += 1
        elif not len(got.trades):
            assert reader.recovery.for_name("trades"), at
            outcomes["file left out"] += 1
        else:
            assert reader.recovery.for_name("trades"), at
            assert got.trades.tobytes() == _readable_trades(reader, want.trades, path).tobytes(), at
            outcomes["groups left out"] += 1
        shutil.rmtree(target)
    assert outcomes["file left out"] and outcomes["exact"] and outcomes["groups left out"], outcomes
