"""Damaged compressed inputs: everything decoded before the damage is kept (to the byte), nothing
after it that may be wrong, and the damage is reported (where, how much) in the import summary
and in the session's recovery notes and metadata.

The expected figures come from plain zlib / zstandard fed one byte at a time, not from liqdesk.
"""

from __future__ import annotations

import gzip
import json
import zlib

import numpy as np
import pytest
import zstandard

from liqdesk.cli import main
from liqdesk.sources.importers import import_bytes, import_files
from liqdesk.sources.importers import report as R

from .importer_helpers import T0, bn_trade, lines, merged

N = 20_000


def _data(n: int = N) -> bytes:
    return lines(*[bn_trade(i, T0 + i, price=f"{60000 + (i * 7919) % 1000}.{i % 10}") for i in range(n)])


def _decode_bytewise(new, packed: bytes, errors, piece: int = 4096) -> tuple[bytes, int | None]:
    """What a decompressor gives fed one byte at a time, and the offset of the byte it fails on
    (fed a piece at a time until a piece fails, then that piece again byte by byte)."""
    d = new()
    out = []
    for p in range(0, len(packed), piece):
        try:
            out.append(d.decompress(packed[p:p + piece]))
        except errors:
            d = new()
            out = [d.decompress(packed[:p])] if p else []
            for i in range(p, min(p + piece, len(packed))):
                try:
                    out.append(d.decompress(packed[i:i + 1]))
                except errors:
                    return b"".join(out), i
    return b"".join(out), None


def _intact_lines(decoded: bytes, original: bytes) -> int:
    """Complete lines of ``decoded`` equal to the original's, from the start."""
    n = 0
    for a, b in zip(decoded.split(b"\n")[:-1], original.split(b"\n"), strict=False):
        if a != b:
            break
        n += 1
    return n


def _first_error(packed: bytes, start: int, step: int, width: int, decode, errors) -> tuple[bytes, int]:
    """The copy of ``packed`` with ``width`` bytes 0xff at the first offset (from ``start``, by
    ``step``) where the decompressor fails in the middle of the stream (not at the checksum)."""
    for off in range(start, len(packed), step):
        bad = bytearray(packed)
        bad[off:off + width] = b"\xff" * width
        try:
            decode(bytes(bad))
        except errors as exc:
            if "check" not in str(exc):
                return bytes(bad), off
    raise AssertionError("no corruption found that fails mid-stream")


def _trade_ids(batches) -> list[int]:
    ev = merged(batches)
    return (ev.trades["time_ms"] - T0).tolist()


def test_gzip_corrupt_in_the_middle_keeps_every_line_before_the_break():
    data = _data()
    packed = gzip.compress(data, mtime=0)
    bad, _ = _first_error(packed, len(packed) // 2, 97, 16, lambda b: zlib.decompress(b, 31), zlib.error)
    decoded, fail_at = _decode_bytewise(lambda: zlib.decompressobj(31), bad, zlib.error)
    assert fail_at is not None and fail_at < len(bad) - 8  # in the middle, not at the trailer
    intact = _intact_lines(decoded, data)
    assert intact > N // 3

    batches, rep = import_bytes(bad)
    ids = _trade_ids(batches)
    # every trade of the intact lines, in order, and nothing after them
    assert ids == list(range(intact))
    d = rep.damage["<memory>"]
    assert d.kind == "corrupt" and d.offset == fail_at and d.size == len(bad)
    assert d.decoded == len(decoded)
    # the gzip trailer says how much was lost: the truth, give or take the garbage decoded
    assert d.lost_decoded == pytest.approx(len(data) - len(decoded), abs=2_000)
    assert d.lost_lines == pytest.approx(N - intact, rel=0.05)
    summary = rep.summary()
    assert f"at byte {fail_at:,} of {len(bad):,}: {len(bad) - fail_at:,} bytes not readable" in summary
    assert "\n" not in summary


def test_gzip_checksum_mismatch_drops_what_follows_the_first_bad_line():
    # stored (uncompressed) deflate blocks: a damaged byte changes exactly that byte of output,
    # and only the checksum at the end tells. Line 1000 no longer decodes; line 1500 still does,
    # with a wrong price: nothing from line 1000 on may be imported.
    data = _data(3_000)
    rows = data.split(b"\n")
    packed = bytearray(gzip.compress(data, compresslevel=0, mtime=0))
    at_bad = packed.find(rows[999])
    packed[at_bad] = ord("X")  # '{' -> 'X': not JSON any more
    at_wrong = packed.find(rows[1499]) + rows[1499].index(b'"p":"') + 5
    packed[at_wrong] = ord("1")  # 6xxxx -> 1xxxx: valid JSON, wrong price
    batches, rep = import_bytes(bytes(packed))
    assert _trade_ids(batches) == list(range(999))
    assert float(merged(batches).trades["price"].min()) >= 60_000
    d = rep.damage["<memory>"]
    assert d.kind == "checksum" and d.first_bad_line == 1000
    assert d.first_bad_offset == sum(len(r) + 1 for r in rows[:999])
    assert d.lines_dropped == 3_000 - 999 and rep.skipped[R.AFTER_DAMAGE] == 3_000 - 999
    assert rep.skipped[R.GARBAGE] == 0  # the bad line is counted with those after it, not twice
    assert "dropped 2,001 lines from line 1,000" in rep.summary()


def test_gzip_checksum_mismatch_without_a_bad_line_keeps_all_and_says_so():
    data = _data(500)
    packed = bytearray(gzip.compress(data, mtime=0))
    packed[-8] ^= 0xFF  # the CRC-32 in the trailer
    batches, rep = import_bytes(bytes(packed))
    assert _trade_ids(batches) == list(range(500))
    assert rep.damage["<memory>"].kind == "checksum"
    assert "a value may be wrong" in rep.summary()


def test_zstd_corrupt_in_the_middle_keeps_every_line_before_the_break():
    data = _data()
    packed = zstandard.ZstdCompressor(level=3, write_checksum=True).compress(data)
    dctx = zstandard.ZstdDecompressor()
    bad, _ = _first_error(packed, len(packed) // 2, 31, 8, lambda b: dctx.decompressobj().decompress(b),
                          zstandard.ZstdError)
    decoded, fail_at = _decode_bytewise(dctx.decompressobj, bad, zstandard.ZstdError)
    assert fail_at is not None
    intact = _intact_lines(decoded, data)
    assert intact > N // 4
    batches, rep = import_bytes(bad)
    assert _trade_ids(batches) == list(range(intact))
    d = rep.damage["<memory>"]
    assert d.kind == "corrupt" and d.offset == fail_at and d.decoded == len(decoded)
    assert d.lost_decoded == len(data) - len(decoded)  # the frame header states the size


@pytest.mark.parametrize("compress", ["gzip", "zstd"])
def test_truncated_input_keeps_all_complete_lines(compress):
    data = _data(5_000)
    if compress == "gzip":
        packed = gzip.compress(data, mtime=0)
        new, errors = (lambda: zlib.decompressobj(31)), zlib.error
    else:
        packed = zstandard.ZstdCompressor().compress(data)
        new, errors = zstandard.ZstdDecompressor().decompressobj, zstandard.ZstdError
    cut = packed[: len(packed) * 3 // 5]
    decoded, _ = _decode_bytewise(new, cut, errors)
    batches, rep = import_bytes(cut)
    assert _trade_ids(batches) == list(range(decoded.count(b"\n")))
    d = rep.damage["<memory>"]
    assert d.kind == "truncated" and d.decoded == len(decoded) and d.offset == len(cut)
    assert f"truncated {compress}: the file ends inside the compressed stream" in rep.summary()


def test_cli_writes_the_session_and_records_the_damage(tmp_path, capsys):
    from liqdesk.store import SessionReader

    data = _data()
    packed = gzip.compress(data, mtime=0)
    bad, _ = _first_error(packed, len(packed) // 2, 97, 16, lambda b: zlib.decompress(b, 31), zlib.error)
    src = tmp_path / "damaged.jsonl.gz"
    src.write_bytes(bad)
    out = tmp_path / "s.liqs"
    assert main(["import", str(src), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert printed.count("\n") == 1 and "damaged input: " in printed and "bytes not readable" in printed
    with SessionReader(out) as r:
        kept = r.counts()["trades"]["binance"]
        assert kept > N // 3
        notes = [n for n in r.recovery if n.file == "damaged.jsonl.gz"]
        assert len(notes) == 1 and "bytes not readable" in notes[0].reason
        assert notes[0].bytes_skipped > 0
        damage = r.meta["import"]["report"]["damage"][str(src)]
        assert damage["kind"] == "corrupt" and damage["bytes_unreadable"] == notes[0].bytes_skipped
        assert damage["lines_kept"] == kept and damage["lost_lines_estimate"] > 0
    json.dumps(damage)  # plain JSON


def test_real_capture_damaged_in_the_middle(real_data, tmp_path):
    """Bytes overwritten in the middle of the real BTC capture: the trades kept are exactly those
    of the lines that decode intact, and none of what the damaged stream decodes after them."""
    src = real_data / "binance-usdm-ws/btcusdt_20240808.gz"
    packed = src.read_bytes()
    original = zlib.decompress(packed, 31)
    bad = bytearray(packed)
    mid = len(bad) // 2
    bad[mid:mid + 256] = bytes((i * 37 + 11) % 256 for i in range(256))
    path = tmp_path / "damaged.gz"
    path.write_bytes(bad)
    decoded, fail_at = _decode_bytewise(lambda: zlib.decompressobj(31), bytes(bad), zlib.error)
    intact = _intact_lines(decoded, original)
    good_trade_ids = [json.loads(ln[ln.index(b"{"):])["data"]["t"] for ln in original.split(b"\n")[:intact]
                      if b"@trade" in ln]
    batches, rep = import_files([path])
    trades = merged(batches).trades
    assert len(trades) == len(good_trade_ids) > 5_000
    full = merged(import_files([src])[0]).trades
    # the same trades as the undamaged file's first ones
    assert np.array_equal(trades, full[: len(trades)])
    d = rep.damage[str(path)]
    assert d.kind in ("corrupt", "checksum") and d.first_bad_line == intact + 1
