"""Hypothesis: arbitrary valid batches round-trip through both forms of a session."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from liqdesk.core.events import EXCHANGES, KINDS, TIME_TOLERANCE_MS, concat_batches, make_batch
from liqdesk.store import SessionReader, SessionWriter
from tests.store.util import T0, assert_batches_equal

_pos = st.floats(min_value=1e-12, max_value=1e15, allow_nan=False, allow_infinity=False, allow_subnormal=False)
_nonneg = st.floats(min_value=0.0, max_value=1e15, allow_nan=False, allow_infinity=False)
_any = st.floats(min_value=-1e3, max_value=1e3, allow_nan=False, allow_infinity=False)
_side = st.sampled_from([-1, 1])

_FIELDS = {
    "trades": {"side": _side, "price": _pos, "size": _pos},
    "marks": {"price": _pos},
    "open_interest": {"oi_base": _nonneg, "oi_notional": _nonneg},
    "funding": {"rate": _any},
    "liquidations": {"side": _side, "price": _pos, "size": _pos, "notional": _pos},
    "book": {"side": _side, "snapshot": st.booleans(), "price": _pos, "size": _nonneg},
}


@st.composite
def kind_array(draw, kind: str, base: int):
    n = draw(st.integers(0, 12))
    rows = []
    for _ in range(n):
        row = {"time_ms": base + draw(st.integers(0, TIME_TOLERANCE_MS)),
               "exchange": draw(st.integers(0, len(EXCHANGES) - 1))}
        row.update({name: draw(strategy) for name, strategy in _FIELDS[kind].items()})
        rows.append(row)
    arr = np.zeros(n, dtype=KINDS[kind])
    for i, row in enumerate(rows):
        for name, value in row.items():
            arr[name][i] = value
    return arr


@st.composite
def batches(draw):
    count = draw(st.integers(1, 3))
    out = []
    for i in range(count):
        base = T0 + draw(st.integers(0, 3)) * 1_000 + i * 100
        kinds = draw(st.sets(st.sampled_from(list(KINDS)), min_size=1))
        out.append(make_batch(**{k: draw(kind_array(k, base)) for k in kinds}))
    return out


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batches())
def test_arbitrary_valid_batches_round_trip(written):
    tmp = Path(tempfile.mkdtemp(prefix="liqs-prop-"))
    try:
        want = concat_batches(written)
        path = tmp / "p.liqs"
        with SessionWriter(path, "BTCUSDT", fsync=False) as w:
            for b in written:
                w.write(b)
            w.flush()
            crashed = shutil.copytree(path, tmp / "c.liqs")
        for p in (path, crashed):
            r = SessionReader(p)
            assert_batches_equal(r.read(), want)
            if len(want):
                lo, hi = want.time_span()
                mid = (lo + hi) // 2
                assert_batches_equal(concat_batches([r.read(None, mid), r.read(mid, None)]), want)
                assert_batches_equal(concat_batches(list(r.iter_batches(777))), want)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
