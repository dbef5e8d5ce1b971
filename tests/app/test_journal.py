"""The session journal: every event kept in order, memory then disk, retention, rebuilds."""

from __future__ import annotations

import numpy as np
import pytest

from liqdesk.app.journal import MODEL_KINDS, Journal
from liqdesk.app.rebuild import rebuild_model
from liqdesk.core.events import KINDS, make_batch, records, slice_batch
from liqdesk.core.levels import LevelModel, ModelSettings
from liqdesk.core.synthetic import random_walk_stream

START = 1_700_000_000_000


def _stream(hours=1.0, seed=1, start_ms=START):
    s = random_walk_stream(hours=hours, trades_per_s=5.0, seed=seed, start_ms=start_ms)
    n = 500
    t = np.sort(np.random.default_rng(seed).integers(start_ms, start_ms + int(hours * 3_600_000), n))
    book = records("book", time_ms=t, exchange="binance", side=np.where(np.arange(n) % 2, 1, -1),
                   snapshot=False, price=60_000.0 + np.arange(n) % 7, size=1.0)
    return make_batch(trades=s.trades, marks=s.marks, open_interest=s.open_interest, book=book)


def _pieces(stream, step_ms=7_000):
    start, end = stream.time_span()
    return [slice_batch(stream, t, t + step_ms) for t in range(start, end + 1, step_ms)]


def _all_events(view, kinds=None):
    batches = list(view.iter_batches(kinds=kinds, merge_ms=600_000))
    return {k: np.concatenate([getattr(b, k) for b in batches]) for k in (kinds or KINDS)}


def test_snapshot_gives_back_every_event_in_order():
    stream = _stream()
    journal = Journal()
    for piece in _pieces(stream):
        journal.append(piece)
    got = _all_events(journal.snapshot())
    for kind in KINDS:
        assert np.array_equal(got[kind], getattr(stream, kind)), kind
    assert journal.events == len(stream)


def test_past_its_memory_limit_the_journal_spills_to_disk_and_reads_back_the_same(tmp_path):
    from liqdesk.store import SessionReader

    stream = _stream(hours=2.0)
    journal = Journal(memory_limit_bytes=200_000, spill_dir=tmp_path, segment_bytes=100_000)
    for piece in _pieces(stream):
        journal.append(piece)
        journal.wait_spilled()
    assert journal.disk_bytes > 0 and journal.memory_bytes < 400_000
    segments = sorted(tmp_path.glob("journal-*/segment-*.liqs"))
    assert segments and all(SessionReader(p).closed for p in segments)
    got = _all_events(journal.snapshot())
    for kind in KINDS:
        assert np.array_equal(got[kind], getattr(stream, kind)), kind
    journal.close()
    assert not list(tmp_path.glob("journal-*"))


def test_retention_forgets_old_events_and_their_disk_segments(tmp_path):
    stream = _stream(hours=3.0)
    journal = Journal(retention_ms=3_600_000, memory_limit_bytes=150_000, spill_dir=tmp_path, segment_bytes=60_000)
    for piece in _pieces(stream):
        journal.append(piece)
        journal.wait_spilled()
    view = journal.snapshot()
    newest = stream.time_span()[1]
    assert view.start_ms >= newest - 3_600_000 - 2 * 60_000     # (retention is kept per chunk of ~1 min)
    assert journal.forgotten_events > 0
    kept = _all_events(view)
    assert np.array_equal(kept["trades"], stream.trades[stream.trades["time_ms"] >= view.start_ms])
    remaining = sorted(tmp_path.glob("journal-*/segment-*.liqs"))
    from liqdesk.store import SessionReader

    assert all(SessionReader(p).end_ms >= newest - 3_600_000 - 120_000 for p in remaining)


def test_a_snapshot_stays_valid_while_the_journal_grows():
    stream = _stream()
    pieces = _pieces(stream)
    journal = Journal()
    for piece in pieces[:200]:
        journal.append(piece)
    view = journal.snapshot()
    for piece in pieces[200:]:
        journal.append(piece)
    got = _all_events(view, MODEL_KINDS)
    end = pieces[199].time_span()[1]
    assert np.array_equal(got["trades"], stream.trades[stream.trades["time_ms"] <= end])


@pytest.mark.parametrize("spill", [False, True])
def test_a_rebuild_from_the_journal_equals_one_pass_over_the_events(tmp_path, spill):
    stream = _stream(hours=1.5, seed=4)
    kw = dict(memory_limit_bytes=150_000, spill_dir=tmp_path, segment_bytes=80_000) if spill else {}
    journal = Journal(**kw)
    for piece in _pieces(stream, 3_000):
        journal.append(piece)
        journal.wait_spilled()
    settings = ModelSettings(column_ms=60_000, window_columns=120, rows=400, decay_half_life_s=3600.0)
    fractions = []
    rebuilt = rebuild_model(journal.snapshot(), settings, progress=fractions.append)
    direct = LevelModel(settings)
    for piece in _pieces(stream, 60_000):
        direct.ingest(piece)
    a, ca, oa = rebuilt.image(include_live=True)
    b, cb, ob = direct.image(include_live=True)
    assert oa == ob and np.array_equal(ca, cb) and np.array_equal(a, b)
    assert np.array_equal(rebuilt.swept(), direct.swept())
    # the position-age split too (issue 15): a rebuild from the journal ages positions as live did
    assert np.array_equal(rebuilt.age.stack, direct.age.stack) and rebuilt.age.step == direct.age.step
    assert np.array_equal(rebuilt.image(ages=("day",))[0], direct.image(ages=("day",))[0])
    assert rebuilt.age.buckets()[1].sum() > 0          # (some positions are more than an hour old)
    assert fractions and fractions[-1] == pytest.approx(1.0, abs=0.02)
    assert all(x <= y for x, y in zip(fractions, fractions[1:]))


def test_bad_journal_settings_are_refused_in_one_line():
    with pytest.raises(ValueError, match="retention"):
        Journal(retention_ms=0)
    with pytest.raises(ValueError, match="memory"):
        Journal(memory_limit_bytes=-1)
