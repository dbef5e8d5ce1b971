"""End to end over real loopback websockets: the simulator-driven emulator (Binance, Bybit, OKX)
→ ``liqdesk record`` for five simulated minutes with every fault kind injected → the recording
holds what the emulator published (by content, no duplicates; a trade is missing only where it
was refilled too late for the release order or lies in a gap the exchange itself imposes), and
replaying it gives the model state of the live run."""

from __future__ import annotations

import threading

import numpy as np
import pytest

pytest.importorskip("ccxt.pro")

VENUES = ("binance", "bybit", "okx")
#: every fault kind at least once (each venue gets its own times so that something is always live)
FAULTS = ",".join([
    "drop.binance@4s", "drop.okx@9s",
    "stall.bybit@6s:3s",
    "gap@rate:0.01",
    "dup@rate:0.01",
    "malformed@rate:0.002", "truncated@rate:0.002",
    "http429.binance@3s:2s",
    "burst@12s:12",
    "refuse.binance@14s:2s",      # (refused at its next REST poll of open interest)
])
SPEED = 10.0
SECONDS = 30.0      # 5 simulated minutes at 10x


#: one worker records the five minutes once (pytest-xdist)
pytestmark = [pytest.mark.xdist_group("live_end_to_end"), pytest.mark.slow]


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    from liqdesk.app.chart_settings import settings_for_window
    from liqdesk.app.engine import Engine
    from liqdesk.app.session import Session
    from liqdesk.core.levels import ModelSettings
    from liqdesk.sources.emulator.server import EmulatorThread
    from liqdesk.sources.live.source import LiveSource

    path = tmp_path_factory.mktemp("e2e") / "live.liqs"
    with EmulatorThread(venues=VENUES, history_ms=10 * 60_000, speed=SPEED, faults=FAULTS, seed=5) as emu:
        source = LiveSource(VENUES, emulator=emu.url, backfill_ms=0)
        settings = settings_for_window(ModelSettings(exchanges=VENUES), "1h", 0.05)
        session = Session(Engine(settings), source, "live")
        session.start()
        session.start_recording(path)
        stop = threading.Event()
        deadline = threading.Timer(SECONDS, stop.set)
        deadline.start()
        while not stop.wait(0.05):
            session.pump(0.05)
        source.stop()
        session.pump(0.5)                       # what the source still held: ingested and recorded
        session.stop_recording().join(60)
        fired = dict(emu.server.faults.fired)
        sent = {v: {k: emu.call(emu.market.sent, v, k) for k in ("trades", "marks", "open_interest",
                                                                    "liquidations_sampled", "liquidations_all")}
                for v in VENUES}
        counts = {a.name: {**a.counts, "holes_refilled": a.holes_refilled, "trades_refilled": a.trades_refilled}
                  for a in source.adapters.values()}
        for a in source.adapters.values():
            counts[a.name]["trade_gaps"] = [(t0, t1) for kind, t0, t1, _ in a.gaps if kind == "trades"]
            counts[a.name]["open_holes"] = a.open_holes_since_ms
        session.stop()
    return path, session, sent, fired, counts


def test_every_fault_kind_fired(recorded):
    _, _, _, fired, _ = recorded
    for kind in ("drop", "stall", "gap", "dup", "malformed", "truncated", "http429", "burst", "refuse"):
        assert fired[kind] >= 1, f"fault {kind} never fired"


def test_the_recording_holds_what_the_emulator_sent_once(recorded):
    from liqdesk.core.events import EXCHANGE_ID
    from liqdesk.store import SessionReader

    path, _, sent, _, counts = recorded
    batch = SessionReader(path).read()
    for venue in VENUES:
        gid = EXCHANGE_ID[venue]
        got = batch.trades[batch.trades["exchange"] == gid]
        out = sent[venue]["trades"]
        assert len(got) > 100, venue
        # the recording spans part of what was sent: compare within its span, by content
        key_got = {(round(float(p), 8), round(float(q), 10), int(s)) for p, q, s in zip(got["price"], got["size"], got["side"])}
        key_sent = [(round(float(p), 8), round(float(q), 10), int(s)) for p, q, s in zip(out["price"], out["size"], out["side"])]
        assert key_got <= set(key_sent), f"{venue}: recorded trades the emulator never sent"
        multiset_got = {}
        for k in zip(got["price"].round(8), got["size"].round(10), got["side"]):
            multiset_got[k] = multiset_got.get(k, 0) + 1
        multiset_sent = {}
        for k in zip(out["price"].round(8), out["size"].round(10), out["side"]):
            multiset_sent[k] = multiset_sent.get(k, 0) + 1
        dups = sum(max(0, n - multiset_sent.get(k, 0)) for k, n in multiset_got.items())
        assert dups == 0, f"{venue}: {dups} duplicated trades recorded"
        # losses: every trade sent in the recorded span is recorded, except
        # - trades refilled by REST (Binance: trade-id holes from /fapi/v1/trades; Bybit, OKX: the
        #   socket's suspected holes from recent-trade / trades + history-trades) that reach LiveSource
        #   more than LATE_MS (4 s of market time) after newer trades were released: dropped there and
        #   counted "late" (per exchange; its late marks and open interest count too). At the
        #   emulator's 10x a refill 0.5 s (wall) after a hole arrives 5 s of market time late, and
        #   Bybit's 3 s stall is 30 s of market time: all of its trades refilled, all of them late;
        # - trades inside a trade gap the adapter recorded (older than what the exchange serves);
        # - trades after a hole still waiting for (or in) its refill when the recording stopped.
        # (the first and last recorded milliseconds are left out: trades sharing them may have gone
        # by before the recording began or after it stopped)
        t0, t1 = int(got["time_ms"].min()), int(got["time_ms"].max())
        in_span = out[(out["time_ms"] > t0) & (out["time_ms"] < t1)]
        left = dict(multiset_got)
        missing = 0
        for k in zip(in_span["price"].round(8), in_span["size"].round(10), in_span["side"]):
            if left.get(k, 0) > 0:
                left[k] -= 1
            else:
                missing += 1
        gaps = counts[venue]["trade_gaps"]
        in_gaps = int(sum(((in_span["time_ms"] >= a) & (in_span["time_ms"] <= b)).sum() for a, b in gaps))
        open_holes = counts[venue]["open_holes"]
        pending = int((in_span["time_ms"] >= min(open_holes)).sum()) if open_holes else 0
        assert missing <= counts[venue]["late"] + in_gaps + pending, (
            f"{venue}: {missing} of {len(in_span)} trades not recorded; {counts[venue]['late']} late, "
            f"{in_gaps} in recorded gaps, {pending} after a hole still open at the stop")
        assert float(got["size"].sum()) <= float(out["size"].sum()) + 1e-6
    # Bybit's stall and OKX's dropped connection were taken as trade holes and refilled by REST
    assert counts["bybit"]["holes_refilled"] >= 1 and counts["bybit"]["trades_refilled"] > 0
    assert counts["okx"]["holes_refilled"] >= 1
    # the duplicated messages were seen and dropped, the broken ones counted
    assert sum(c["duplicates"] for c in counts.values()) > 0
    assert sum(c["malformed"] for c in counts.values()) > 0


def test_live_and_replay_agree(recorded):
    from liqdesk.app.analysis import run_model
    from liqdesk.store import SessionReader

    path, session, _, _, _ = recorded
    live = session.engine.model
    replayed = run_model(SessionReader(path), live.settings, chunk_ms=300_000, until_ms=live.watermark + 1)
    a, ca, _ = live.image(include_live=True)
    b, cb, _ = replayed.image(include_live=True)
    assert np.array_equal(ca, cb)
    assert np.array_equal(a, b), "live and replay must give the same model, bit for bit"
