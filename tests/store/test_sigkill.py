"""A writer killed with SIGKILL mid-stream loses at most the last second."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from liqdesk.store import SessionReader

REPO = Path(__file__).resolve().parents[2]

CHILD = textwrap.dedent(
    """
    import sys, time
    import numpy as np
    from liqdesk.core.events import make_batch, records
    from liqdesk.store import SessionWriter

    T0 = 1_722_470_400_000
    w = SessionWriter(sys.argv[1], "BTCUSDT", meta={"test": "sigkill"})
    print("ready", flush=True)
    seq = 0
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ids = np.arange(seq, seq + 40)
        trades = records("trades", time_ms=T0 + ids, exchange=ids % 3, side=1, price=1.0 + ids, size=1.0)
        marks = records("marks", time_ms=T0 + ids[::8], exchange=0, price=1.0 + ids[::8])
        w.write(make_batch(trades=trades, marks=marks))
        seq += 40
        print(seq, flush=True)  # everything below seq has been handed to write()
        time.sleep(0.004)
    """
)


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_sigkill_loses_at_most_the_last_second(tmp_path):
    path = tmp_path / "killed.liqs"
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(path)], stdout=subprocess.PIPE, text=True,
                            env=env, cwd=str(REPO))
    reports: list[tuple[float, int]] = []  # (time the parent saw it, events handed so far)
    ready = threading.Event()

    def pump():
        for line in proc.stdout:
            line = line.strip()
            if line == "ready":
                ready.set()
            elif line.isdigit():
                reports.append((time.monotonic(), int(line)))

    thread = threading.Thread(target=pump, daemon=True)
    thread.start()
    try:
        assert ready.wait(30), "writer did not start"
        time.sleep(2.5)
        os.kill(proc.pid, signal.SIGKILL)
        killed_at = time.monotonic()
    finally:
        proc.wait(10)
        thread.join(5)
    assert proc.returncode == -signal.SIGKILL
    handed_early = max((n for t, n in reports if t <= killed_at - 1.2), default=0)
    handed_last = reports[-1][1]
    assert handed_early > 0

    reader = SessionReader(path)
    assert not reader.closed and reader.meta == {"test": "sigkill"}
    trades = reader.read().trades
    n = len(trades)
    assert handed_early <= n <= handed_last + 40, (handed_early, n, handed_last)
    ids = np.arange(n)
    assert np.array_equal(trades["time_ms"], 1_722_470_400_000 + ids)  # a prefix, nothing altered
    assert np.array_equal(trades["price"], 1.0 + ids)
    assert np.array_equal(trades["exchange"], ids % 3)
    # the recovery report, if any, only speaks of an incomplete tail
    for note in reader.recovery:
        assert "truncated" in note.reason
