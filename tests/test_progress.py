"""The progress line of long commands (liqdesk/commands/progress.py): percent of the session's
span, events/s and elapsed time, rewritten in place on stderr when it is a terminal, and nothing
at all otherwise, so that ``--json`` output and pipes stay clean."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest

import liqdesk.commands.progress as progress_mod
from liqdesk.cli import main
from liqdesk.commands.progress import ENV, Progress, TrackedReader, wanted
from liqdesk.store import SessionReader

from .ui.helpers import write_session


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def ticks(step: float = 1.0):
    t = iter(range(0, 10_000))
    return lambda: next(t) * step


def test_line_percent_rate_elapsed_in_place():
    out = Tty()
    p = Progress("evaluate", stream=out, clock=ticks(1.5))  # t0 = 0, then 1.5 s, 3 s ...
    p(0.25, 3_000_000)
    p(0.5, 6_000_000)
    text = out.getvalue()
    assert text.startswith("\revaluate   25.0 %  2.0 M events/s  0:01")
    assert "\revaluate   50.0 %  2.0 M events/s  0:03" in text
    assert "\n" not in text
    p.close()
    assert out.getvalue().endswith("\r" + " " * len("evaluate   50.0 %  2.0 M events/s  0:03") + "\r")


def test_throttled_delayed_and_estimated():
    out = Tty()
    p = Progress("render", stream=out, total=1_000_000, interval_s=10, delay_s=2, clock=ticks())
    p(0.1)  # 1 s: within the delay
    assert out.getvalue() == ""
    p(0.5)  # 2 s: shown; the count estimated from the total
    p(0.6)  # 3 s: within the interval
    assert out.getvalue() == "\rrender   50.0 %  ~250.0 k events/s  0:02"
    assert Progress("x", stream=Tty()).line(1.0, None, 3725) == "x  100.0 %  1:02:05"


def test_nothing_when_not_a_terminal(monkeypatch):
    monkeypatch.delenv(ENV, raising=False)
    out = io.StringIO()  # not a terminal
    p = Progress("export", stream=out, interval_s=0)
    p(0.5, 10)
    p.close()
    assert out.getvalue() == "" and not wanted(out) and wanted(Tty())
    monkeypatch.setenv(ENV, "1")
    assert wanted(io.StringIO())
    monkeypatch.setenv(ENV, "0")
    assert not wanted(Tty())


@pytest.fixture(scope="module")
def sim_session(tmp_path_factory):
    """A session with liquidations and a simulator-style ground truth (so evaluate makes three
    passes over it)."""
    from liqdesk.core.events import slice_batch
    from liqdesk.store import SessionWriter

    from .ui.helpers import synthetic_stream

    stream = synthetic_stream(hours=0.5, seed=6)
    start, end = stream.time_span()
    marks = stream.marks
    rows = []
    for t in range(start - start % 60_000 + 60_000, end, 60_000):
        price = float(marks["price"][np.searchsorted(marks["time_ms"], t) - 1])
        rows += [(t, 1, int(price / 50) - 20, 1e5), (t, -1, int(price / 50) + 20, 1e5)]
    truth_map = np.array(rows, dtype=[("time_ms", "i8"), ("side", "i1"), ("bin", "i8"), ("notional", "f8")])
    out = tmp_path_factory.mktemp("progress") / "sim.liqs"
    with SessionWriter(out, "BTC/USDT:USDT", meta={"truth": {"bin_width": 50.0, "every_ms": 60_000}},
                       fsync=False) as w:
        for t in range(start, end + 1, 300_000):
            w.write(slice_batch(stream, t, t + 300_000))
        w.write_table("truth_map", truth_map)
        w.write_table("truth_liquidations", stream.liquidations)
    return out


def test_tracked_reader_counts_passes_and_events(sim_session):
    from liqdesk.app.analysis import evaluate, settings_for
    from liqdesk.app.truth import truth_metrics

    seen = []

    class Spy:
        def __call__(self, fraction, count=None):
            seen.append((fraction, count))

    reader = SessionReader(sim_session)
    tracked = TrackedReader(reader, Spy(), passes=3)
    settings = settings_for(tracked, window_columns=2, rows=64)
    evaluate(tracked, settings=settings)
    first_pass = len(seen)
    truth_metrics(tracked, settings=settings)
    fractions = [f for f, _ in seen]
    assert 0 < first_pass < len(seen)
    assert fractions == sorted(fractions) and 0 < fractions[0] and fractions[-1] <= 1
    assert fractions[first_pass - 1] <= 1 / 3 + 1e-9 < fractions[-1]  # three passes in one scale
    assert fractions[-1] > 0.9
    total = sum(sum(v.values()) for v in reader.counts().values())
    assert seen[first_pass - 1][1] <= total and seen[-1][1] > total  # events of every pass


def test_evaluate_json_clean_and_progress_only_when_forced(sim_session, capsys, monkeypatch):
    monkeypatch.delenv(ENV, raising=False)
    assert main(["evaluate", str(sim_session), "--json"]) == 0
    captured = capsys.readouterr()
    assert captured.err == "" and json.loads(captured.out)["events"] >= 0
    monkeypatch.setenv(ENV, "1")
    monkeypatch.setattr(progress_mod, "monotonic", ticks())  # every reading 1 s later
    assert main(["evaluate", str(sim_session), "--json"]) == 0
    captured = capsys.readouterr()
    json.loads(captured.out)  # stdout is the JSON alone
    err = captured.err
    assert err.startswith("\revaluate ") and " events/s  0:0" in err and "\n" not in err
    percents = [float(part.split(" %")[0].split()[-1]) for part in err.split("\r") if " %" in part]
    assert percents == sorted(percents) and percents[-1] > 90


@pytest.mark.parametrize("command", ["export", "render", "simulate"])
def test_other_commands_show_it_when_forced(command, sim_session, tmp_path, capsys, monkeypatch):
    if command == "render":
        pytest.importorskip("PySide6")
        monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")
    monkeypatch.setenv(ENV, "1")
    monkeypatch.setattr(progress_mod, "monotonic", ticks())
    args = {"export": ["export", str(sim_session), "--out", str(tmp_path / "g.csv"), "--rows", "32"],
            "render": ["render", str(sim_session), "--out", str(tmp_path / "r.png"), "--width", "400",
                       "--height", "300"],
            "simulate": ["simulate", "--hours", "0.1", "--out", str(tmp_path / "s.liqs")]}[command]
    assert main(args) == 0
    captured = capsys.readouterr()
    assert captured.err.startswith(f"\r{command} ") and " %" in captured.err and "events/s" in captured.err
    assert captured.err.endswith("\r") and "wrote " in captured.out
    if command == "simulate":
        assert main([*args[:-1], str(tmp_path / "q.liqs"), "--quiet"]) == 0
        assert capsys.readouterr().err == ""


def test_a_session_without_truth_is_one_pass(tmp_path, capsys, monkeypatch):
    path = write_session(tmp_path / "walk.liqs", hours=0.25, seed=4)
    monkeypatch.setenv(ENV, "1")
    monkeypatch.setattr(progress_mod, "monotonic", ticks())
    assert main(["evaluate", str(path)]) == 0
    err = capsys.readouterr().err
    percents = [float(part.split(" %")[0].split()[-1]) for part in err.split("\r") if " %" in part]
    assert percents and percents[-1] > 90


def test_evaluate_reads_a_simulated_session_once(sim_session):
    """The public feed, the baselines and the truth scores come from one pass over the session
    (three passes made a day's evaluate take 25 s), and agree with the separate truth scorer."""
    from liqdesk.app.analysis import evaluate, settings_for
    from liqdesk.app.truth import truth_metrics

    reader = SessionReader(sim_session)
    reads = []

    class Logged:
        def __getattr__(self, name):
            return getattr(reader, name)

        def read(self, start_ms=None, end_ms=None, kinds=None):
            if start_ms is not None and end_ms is not None:
                reads.append((start_ms, end_ms, tuple(kinds or ())))
            return reader.read(start_ms, end_ms, kinds=kinds)

    settings = settings_for(reader, window_columns=2, rows=64)
    out = evaluate(Logged(), settings=settings, truth=True)
    assert reads and all(b[0] >= a[1] for a, b in zip(reads, reads[1:]))   # never reads back
    assert all("book" not in kinds for _, _, kinds in reads)
    separate = truth_metrics(reader, settings=settings)
    for key in ("truth_lift", "truth_correlation", "truth_capture", "truth_snapshots"):
        assert out[key] == separate[key] or (np.isnan(out[key]) and np.isnan(separate[key]))
