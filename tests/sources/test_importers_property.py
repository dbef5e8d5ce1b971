"""Property tests: random bytes, broken JSON and JSON of the wrong shape never crash an importer,
and every line that held something is either imported or counted."""

from __future__ import annotations

import copy
import gzip
import json
import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from liqdesk.sources.importers import FORMATS, import_bytes

from .importer_helpers import T0, bn_agg, bn_depth, bn_force, bn_mark, bn_trade
from .test_importers_bybit_okx import by_book, by_ticker, by_trade, okx_msg

ALL_FORMATS = ["auto", *FORMATS]
SETTINGS = settings(max_examples=int(os.environ.get("LIQDESK_HYPOTHESIS_EXAMPLES", "60")), deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=12,
)

TEMPLATES = [
    bn_trade(1, T0), bn_agg(2, T0), bn_depth(1, 10, 0, T0), bn_force(T0, "SELL"), bn_mark(T0),
    {"lastUpdateId": 5, "E": T0, "T": T0, "bids": [["1", "2"]], "asks": [["3", "4"]]},
    by_trade([(T0, "Buy", "1", "60000", "x")]), by_book("snapshot", 1, T0, [["1", "2"]], [["3", "4"]]),
    by_ticker("snapshot", T0, markPrice="1", openInterest="2", openInterestValue="3", fundingRate="0.1"),
    {"topic": "allLiquidation.BTCUSDT", "ts": T0, "data": [{"T": T0, "s": "BTCUSDT", "S": "Buy", "v": "1",
                                                             "p": "2"}]},
    okx_msg("trades", [{"instId": "BTC-USDT-SWAP", "tradeId": "1", "px": "1", "sz": "1", "side": "buy",
                        "ts": str(T0)}]),
    okx_msg("books", [{"asks": [["1", "2", "0", "1"]], "bids": [], "ts": str(T0), "seqId": 1, "prevSeqId": -1}],
            action="snapshot"),
    okx_msg("open-interest", [{"instId": "BTC-USDT-SWAP", "oi": "1", "oiCcy": "1", "ts": str(T0)}]),
    {"arg": {"channel": "liquidation-orders", "instType": "SWAP"},
     "data": [{"instId": "BTC-USDT-SWAP", "details": [{"bkPx": "1", "sz": "1", "side": "buy", "posSide": "net",
                                                       "ts": str(T0)}]}]},
]


def paths(obj, prefix=()):
    """Every key path inside a JSON object."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield (*prefix, k)
            yield from paths(v, (*prefix, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield (*prefix, i)
            yield from paths(v, (*prefix, i))


def replaced(obj, path, value):
    out = copy.deepcopy(obj)
    cur = out
    for key in path[:-1]:
        cur = cur[key]
    cur[path[-1]] = value
    return out


def _check(data: bytes, fmt: str):
    batches, rep = import_bytes(data, fmt=fmt)
    assert not [k for k in rep.skipped if k.startswith("lines lost")], rep.skipped
    assert rep.total_events == sum(len(b) for b in batches)
    assert rep.summary()
    return batches, rep


@SETTINGS
@given(st.binary(max_size=2000), st.sampled_from(ALL_FORMATS))
def test_random_bytes(data, fmt):
    _check(data, fmt)


@SETTINGS
@given(st.binary(max_size=600), st.sampled_from(ALL_FORMATS))
def test_random_bytes_behind_compression_magic(data, fmt):
    _check(b"\x1f\x8b" + data, fmt)
    _check(b"\x28\xb5\x2f\xfd" + data, fmt)
    _check(b"PK\x03\x04" + data, fmt)
    _check(gzip.compress(data)[: max(1, len(data) // 2)], fmt)


@SETTINGS
@given(st.lists(st.text(max_size=80), max_size=20), st.sampled_from(ALL_FORMATS))
def test_text_lines(texts, fmt):
    data = "\n".join(texts).encode("utf-8", "surrogatepass")
    _check(data, fmt)


@SETTINGS
@given(st.sampled_from(TEMPLATES), st.data(), st.sampled_from(ALL_FORMATS), st.sampled_from(["", "123 ", "1.5: "]))
def test_wrong_types_are_counted(template, data, fmt, prefix):
    path = data.draw(st.sampled_from(list(paths(template))))
    value = data.draw(json_values)
    msg = replaced(template, path, value)
    line = (prefix + json.dumps(msg)).encode()
    batches, rep = _check(line + b"\n", fmt)
    assert rep.lines == 1
    # one line in: it gave events, or it was counted somewhere
    assert rep.total_events > 0 or sum(rep.skipped.values()) > 0, (msg, rep)


@SETTINGS
@given(st.sampled_from(TEMPLATES), st.integers(min_value=1, max_value=200), st.sampled_from(ALL_FORMATS))
def test_cut_json_lines_are_counted(template, cut, fmt):
    text = json.dumps(template).encode()
    line = text[: min(cut, len(text) - 1)]
    batches, rep = _check(line + b"\n", fmt)
    assert rep.total_events == 0
    assert rep.lines == 1 and sum(rep.skipped.values()) >= 1


@SETTINGS
@given(st.lists(st.sampled_from(TEMPLATES), min_size=1, max_size=12), st.sampled_from(ALL_FORMATS))
def test_valid_templates_every_line_accounted(msgs, fmt):
    data = b"".join(json.dumps(m).encode() + b"\n" for m in msgs)
    batches, rep = _check(data, fmt)
    assert rep.lines == len(msgs)


level_text = st.one_of(st.from_regex(r"\A[0-9]{1,6}(\.[0-9]{1,4})?\Z"), st.text(max_size=6))
levels_st = st.lists(st.lists(level_text, min_size=1, max_size=3), max_size=6)


@SETTINGS
@given(levels_st, levels_st)
def test_depth_fast_path_equals_the_plain_parser(bids, asks):
    msg = bn_depth(1, 10, 0, T0)
    msg["data"]["b"], msg["data"]["a"] = bids, asks
    fast_line = json.dumps(msg, separators=(",", ":")).encode()
    slow_line = json.dumps({"data": msg["data"], "stream": msg["stream"]}).encode()  # not the fast shape
    fast = _check(fast_line + b"\n", "binance-ws")
    slow = _check(slow_line + b"\n", "binance-ws")
    assert [b.book.tolist() for b in fast[0]] == [b.book.tolist() for b in slow[0]]
    assert fast[1].skipped == slow[1].skipped
