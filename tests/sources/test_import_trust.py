"""Importers and crafted input: a trade copied under an existing id with other content neither
replaces the trade nor passes for a repeat."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from liqdesk.cli import main
from liqdesk.sources.importers import import_bytes
from liqdesk.sources.importers import report as R

from .importer_helpers import T0, bn_trade, lines, merged

REPEATS = R.DUPLICATE.format("trades")
CONFLICTING = R.CONFLICTING.format("trades")


def _rows(batches) -> list[tuple]:
    tr = merged(batches).trades
    return list(zip(tr["time_ms"].tolist(), tr["side"].tolist(), tr["price"].tolist(), tr["size"].tolist(),
                    strict=True))


def test_a_conflicting_copy_neither_replaces_the_trade_nor_counts_as_a_repeat():
    genuine = bn_trade(100, T0, price="61800.10")
    forged = bn_trade(100, T0 - 60_000, price="70000.00", qty="9.000")   # same id, earlier, other content
    data = lines(bn_trade(99, T0 - 10), genuine, forged, bn_trade(100, T0, price="61800.10"), bn_trade(101, T0 + 10))
    batches, rep = import_bytes(data)
    assert _rows(batches) == [(T0 - 10, 1, 61800.1, 0.01), (T0, 1, 61800.1, 0.01), (T0 + 10, 1, 61800.1, 0.01)]
    assert rep.skipped[REPEATS] == 1 and rep.skipped[CONFLICTING] == 1
    summary = rep.summary()
    assert "1 duplicate trades" in summary and "1 conflicting duplicate trades" in summary
    assert rep.as_dict()["skipped"] == {REPEATS: 1, CONFLICTING: 1}


@pytest.mark.parametrize("field", ["T", "p", "q", "m"])
def test_any_field_that_differs_makes_a_copy_conflicting(field):
    copy = bn_trade(7, T0)
    copy["data"][field] = {"T": T0 + 1, "p": "61800.11", "q": "0.011", "m": True}[field]
    batches, rep = import_bytes(lines(bn_trade(7, T0), copy))
    assert _rows(batches) == [(T0, 1, 61800.1, 0.01)]
    assert rep.skipped[CONFLICTING] == 1 and not rep.skipped[REPEATS]


def test_the_first_in_stream_order_is_kept_even_when_a_later_copy_is_earlier_in_time():
    """Stream order, not event time, decides: the copy seen first is the one kept."""
    first = bn_trade(5, T0 + 5_000, price="61000.00")
    later_but_earlier = bn_trade(5, T0, price="62000.00")
    batches, rep = import_bytes(lines(first, later_but_earlier))
    assert _rows(batches) == [(T0 + 5_000, 1, 61000.0, 0.01)]
    assert rep.skipped[CONFLICTING] == 1


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 40), copies=st.integers(0, 30))
def test_kept_trades_and_counts_match_a_stream_order_reference(seed, n, copies):
    rng = random.Random(seed)
    stream = [bn_trade(1000 + i, T0 + 100 * i, price=f"{61000 + i}.5", maker=bool(i % 2)) for i in range(n)]
    for _ in range(copies):
        copy = json.loads(json.dumps(rng.choice(stream)))
        if rng.random() < 0.5:
            field = rng.choice(["T", "p", "q", "m"])
            copy["data"][field] = {"T": copy["data"]["T"] + rng.choice([-1, 1]) * rng.randint(1, 10**6),
                                   "p": f"{rng.uniform(1, 1e5):.2f}", "q": f"{rng.uniform(0.001, 9):.3f}",
                                   "m": not copy["data"]["m"]}[field]
        stream.insert(rng.randrange(len(stream) + 1), copy)
    first: dict[int, dict] = {}
    repeats = conflicting = 0
    for msg in stream:                       # the reference, one trade at a time
        d = msg["data"]
        seen = first.setdefault(d["t"], d)
        if seen is not d:
            same = (seen["T"], float(seen["p"]), float(seen["q"]), seen["m"]) == \
                (d["T"], float(d["p"]), float(d["q"]), d["m"])
            repeats += same
            conflicting += not same
    batches, rep = import_bytes(lines(*stream))
    want = sorted((d["T"], -1 if d["m"] else 1, float(d["p"]), float(d["q"])) for d in first.values())
    assert sorted(_rows(batches)) == want
    assert rep.skipped[REPEATS] == repeats and rep.skipped[CONFLICTING] == conflicting


def test_the_session_meta_keeps_both_counts(tmp_path, capsys):
    from liqdesk.store import SessionReader

    capture = tmp_path / "capture.jsonl"
    capture.write_bytes(lines(bn_trade(1, T0), bn_trade(1, T0), bn_trade(1, T0, price="1.00"), bn_trade(2, T0 + 1)))
    out = tmp_path / "s.liqs"
    assert main(["import", str(capture), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "1 duplicate trades" in printed and "1 conflicting duplicate trades" in printed
    with SessionReader(out) as r:
        meta = r.meta["import"]
    assert meta["report"]["skipped"][REPEATS] == 1 and meta["report"]["skipped"][CONFLICTING] == 1
    assert "1 conflicting duplicate trades" in meta["summary"]


def test_many_trades_are_deduplicated_without_a_loop_per_trade():
    """A million trades with repeats and conflicting copies in about a second (vectorized)."""
    import time

    from liqdesk.sources.importers.collect import INTERNAL, _drop_duplicate_trades

    n = 1_000_000
    rng = np.random.default_rng(1)
    trades = np.zeros(n, INTERNAL["trades"])
    trades["id"] = rng.integers(0, n // 2, n)
    trades["time_ms"] = T0 + trades["id"]
    trades["price"] = 100.0 + (rng.random(n) < 0.01)        # 1% of copies differ in price
    trades["size"], trades["side"] = 1.0, 1
    rep = R.ImportReport()
    start = time.perf_counter()
    kept = _drop_duplicate_trades(trades, rep)
    assert time.perf_counter() - start < 5.0
    assert len(kept) == len(np.unique(trades["id"]))
    assert rep.skipped[REPEATS] + rep.skipped[CONFLICTING] == n - len(kept)
    assert rep.skipped[CONFLICTING] > 0
