import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from liqdesk.core.events import (
    TIME_TOLERANCE_MS,
    concat_batches,
    make_batch,
    records,
    slice_batch,
    validate_array,
)


def trades(n=5, **over):
    cols = dict(time_ms=np.arange(n) * 1000 + 1_700_000_000_000, exchange="binance", side=1,
                price=np.full(n, 60_000.0), size=np.full(n, 0.1))
    cols.update(over)
    return records("trades", **cols)


def test_valid_batch_is_sorted_read_only_and_checked():
    arr = trades()[::-1].copy()
    batch = make_batch(trades=arr)
    assert batch.checked
    assert np.all(np.diff(batch.trades["time_ms"]) >= 0)
    assert not batch.trades.flags.writeable
    assert len(batch) == 5 and batch.time_span() == (1_700_000_000_000, 1_700_000_004_000)


@pytest.mark.parametrize("field,value,count", [
    ("price", np.array([60_000, np.nan, -1, np.inf, 1.0]), 3),
    ("size", np.array([0.0, 1, 1, 1, 1]), 1),
    ("side", np.array([1, 0, 1, 2, -1]), 2),
    ("exchange", np.array([0, 1, 250, 251, 2]), 2),
])
def test_bad_rows_name_field_and_count(field, value, count):
    with pytest.raises(ValueError, match=rf"trades\.{field}: {count} rows?"):
        make_batch(trades=trades(**{field: value}))


def test_unknown_exchange_name():
    with pytest.raises(ValueError, match="unknown exchange 'ftx'"):
        records("trades", exchange="ftx", time_ms=[1], price=[1.0], size=[1.0], side=[1])


def test_time_backwards_beyond_tolerance():
    t = np.array([10_000, 20_000, 20_000 - TIME_TOLERANCE_MS - 1, 30_000, 20_000 - TIME_TOLERANCE_MS])
    with pytest.raises(ValueError, match=r"trades\.time_ms: 2 rows more than"):
        make_batch(trades=trades(time_ms=t))
    # within tolerance: accepted and sorted
    ok = make_batch(trades=trades(time_ms=np.array([10_000, 20_000, 17_000, 30_000, 40_000])))
    assert list(ok.trades["time_ms"]) == [10_000, 17_000, 20_000, 30_000, 40_000]
    with pytest.raises(ValueError, match="time_ms"):
        make_batch(last_time_ms=50_000, trades=trades(time_ms=np.arange(5) * 10))


def test_several_errors_reported_together_and_nothing_built():
    with pytest.raises(ValueError) as exc:
        make_batch(trades=trades(price=np.array([np.nan] * 5)),
                   marks=records("marks", time_ms=[1], exchange=0, price=[0.0]))
    assert "trades.price: 5 rows" in str(exc.value) and "marks.price: 1 row" in str(exc.value)


def test_open_interest_may_be_zero_but_not_negative():
    oi = records("open_interest", time_ms=[1, 2], exchange=0, oi_base=[0.0, -1.0], oi_notional=[0.0, 5.0])
    with pytest.raises(ValueError, match=r"open_interest\.oi_base: 1 row"):
        validate_array("open_interest", oi)


def test_slice_and_concat_round_trip():
    b = make_batch(trades=trades(10), marks=records("marks", time_ms=np.arange(10) * 1000 + 1_700_000_000_000,
                                                    exchange=1, price=np.full(10, 60_001.0)))
    parts = [slice_batch(b, None, 1_700_000_003_000), slice_batch(b, 1_700_000_003_000, 1_700_000_007_500),
             slice_batch(b, 1_700_000_007_500, None)]
    assert sum(len(p) for p in parts) == len(b)
    whole = concat_batches(parts)
    assert np.array_equal(whole.trades, b.trades) and np.array_equal(whole.marks, b.marks)
    assert whole.checked


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(-10, 10**13), st.integers(0, 6), st.sampled_from([1, -1, 0, 3]),
                          st.floats(allow_nan=True, allow_infinity=True), st.floats(allow_nan=True)),
                max_size=30))
def test_validation_never_crashes_and_accepts_only_clean_rows(rows):
    arr = np.array(rows, dtype=[("time_ms", "i8"), ("exchange", "u1"), ("side", "i1"), ("price", "f8"), ("size", "f8")])
    try:
        out = validate_array("trades", arr)
    except ValueError as exc:
        assert "trades." in str(exc)
        return
    assert np.all(out["price"] > 0) and np.all(np.isfinite(out["price"]))
    assert np.all(out["size"] > 0) and np.all(np.isfinite(out["size"]))
    assert set(np.unique(out["side"])) <= {1, -1}
