"""Peak memory of the headless commands against the session's length (``liqdesk bench``, section
``memory``).

Each command runs in its own child process (``python -m liqdesk ...``) and its peak resident set
is read from that child's own resource usage (``os.wait4``), so one command's peak never hides
another's. The figure is the ratio of a long session's peak to a short one's (48 h / 6 h, or
4 h / 1 h with ``--quick``): memory bounded by design means a ratio near 1 (target <= 1.2).

Commands: ``simulate`` (writes the two sessions), ``evaluate`` and ``export`` of each, and
``replay``: the session played as fast as possible into the level model, as the window does
without drawing (this module's ``replay`` entry point). ``import`` is not measured: there is no
capture of both lengths to import.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

#: target of issue 13: the long session's peak within this multiple of the short one's
RATIO_TARGET = 1.2
COMMANDS = ("simulate", "evaluate", "export", "replay")


def _child_peak_mb(args: list[str]) -> tuple[float, float]:
    """Run ``python -m liqdesk ARGS`` (or ``python -m liqdesk.app.memory_bench ARGS`` for the
    replay); return (its peak RSS in MB, wall seconds). RuntimeError with its last stderr line when
    it fails."""
    module = "liqdesk.app.memory_bench" if args[0] == "replay" else "liqdesk"
    with tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-m", module, *args], stdout=subprocess.DEVNULL, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)      # reaped here, not by Popen
        wall = time.perf_counter() - t0
        if proc.returncode != 0:
            err.seek(0)
            tail = (err.read().decode(errors="replace").strip().splitlines() or ["no output"])[-1]
            raise RuntimeError(f"memory bench: {' '.join(args[:2])} failed: {tail}")
    # ru_maxrss is in KiB on Linux, bytes on macOS
    peak = usage.ru_maxrss / (2**20 if sys.platform == "darwin" else 2**10)
    return round(peak, 1), round(wall, 1)


def _command_args(command: str, session: Path, hours: float, work: Path) -> list[str]:
    if command == "simulate":
        return ["simulate", "--hours", f"{hours:g}", "--seed", "5", "--out", str(session), "--quiet"]
    if command == "evaluate":
        return ["evaluate", str(session), "--json", "--resamples", "200"]
    if command == "export":
        return ["export", str(session), "--out", str(work / f"{session.stem}.npz")]
    return ["replay", str(session)]


def measure_memory(quick: bool, long_hours: float | None = None) -> dict:
    """``peak_rss_mb`` per command and session length, and the long/short ratio beside the target
    (``long_hours``: the long session instead of 48 h, 4 h with ``quick``)."""
    short, long = (1.0, 4.0) if quick else (6.0, 48.0)
    long = long_hours or long
    out: dict = {"memory_hours": [short, long], "memory_ratio_target": RATIO_TARGET}
    with tempfile.TemporaryDirectory(prefix="liqdesk-membench-") as tmp:
        work = Path(tmp)
        for command in COMMANDS:
            peaks = []
            for hours in (short, long):
                session = work / f"sim{hours:g}h.liqs"
                peak, wall = _child_peak_mb(_command_args(command, session, hours, work))
                out[f"peak_rss_mb_{command}_{hours:g}h"] = peak
                out[f"wall_s_{command}_{hours:g}h"] = wall
                peaks.append(peak)
            out[f"memory_ratio_{command}"] = round(peaks[1] / peaks[0], 3)
    out["memory_ratio_max"] = max(out[f"memory_ratio_{c}"] for c in COMMANDS)
    return out


def replay_session(path: str) -> int:
    """Play a session as fast as possible into the level model (default settings for it), as the
    window does without drawing; returns the number of events replayed."""
    from liqdesk.core.levels import LevelModel
    from liqdesk.sources.replay import ReplaySource
    from liqdesk.store import SessionReader

    from .analysis import settings_for

    reader = SessionReader(path)
    try:
        model = LevelModel(settings_for(reader))
        source = ReplaySource(reader, speed=float("inf"))
        source.play()
        source.poll(0.0)                 # the first poll starts the clock
        events = 0
        while not source.finished:
            batch = source.poll(1.0)
            if batch is not None:
                model.ingest(batch)
                events += len(batch)
        model.flush()
        return events
    finally:
        reader.close()


if __name__ == "__main__":   # python -m liqdesk.app.memory_bench replay SESSION
    if len(sys.argv) != 3 or sys.argv[1] != "replay":
        sys.exit("usage: python -m liqdesk.app.memory_bench replay SESSION")
    print(replay_session(sys.argv[2]))
