"""``liqdesk bench`` section ``startup``: the first seconds of a newcomer's ``liqdesk``.

``startup_ms``: from the process starting to the first painted frame that shows estimated
liquidation levels, for ``liqdesk`` with no arguments (the simulator, offscreen at 1920×1080),
read from the window's own startup trace (``LIQDESK_STARTUP_TRACE``), with
``startup_window_ms`` (first frame painted); all from the moment the bench started the process and ``startup_history_ms`` (the opening history is
built and the market runs in real time). Baseline, in the same run: a process that imports
PySide6 and pyqtgraph, shows a bare ``ImageItem`` of a grid the size of the window's and paints
it once (``startup_bare_ms``): what any pyqtgraph window costs on this machine.

With ``command`` (``liqdesk bench --only startup --startup-command dist/liqdesk/liqdesk``) another
liqdesk executable, the desktop bundle, is started the same way in the same run, interleaved with
the others: ``startup_command_ms``, ``startup_command_window_ms``, ``startup_command_history_ms``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

_BARE = r"""
import json, os, sys, time
t0 = float(os.environ["LIQDESK_LAUNCH_T"])
import numpy as np
import pyqtgraph as pg
from PySide6 import QtWidgets
app = QtWidgets.QApplication([])
class View(pg.PlotWidget):
    done = False
    def paintEvent(self, ev):
        super().paintEvent(ev)
        if not View.done:
            View.done = True
            print(json.dumps({"bare_ms": (time.time() - t0) * 1000.0}), flush=True)
            app.quit()
w = View()
w.resize(1920, 1080)
img = pg.ImageItem(np.random.default_rng(0).random((600, 1440)).astype(np.float32), axisOrder="row-major")
w.addItem(img)
w.show()
app.exec()
"""


def _env() -> dict:
    """The child's environment; ``LIQDESK_LAUNCH_T`` is the launch time on this clock, so both
    processes measure from the moment they were started (set just before each start)."""
    env = dict(os.environ)
    env["QT_QPA_PLATFORM"] = "offscreen"
    env["LIQDESK_LAUNCH_T"] = repr(time.time())
    return env


def _window_run(tmp: str, seconds: float, command: str | None = None) -> dict:
    """The window's startup trace for ``python -m liqdesk`` (or ``command``, another liqdesk)."""
    trace = Path(tmp) / "trace.json"
    trace.unlink(missing_ok=True)
    env = _env()
    env["LIQDESK_STARTUP_TRACE"] = str(trace)
    launcher = [command] if command else [sys.executable, "-m", "liqdesk"]
    cmd = [*launcher, "--screenshot", str(Path(tmp) / "shot.png"), "--quit-after", str(seconds)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=seconds + 120)
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"liqdesk window failed: {tail}")
    return json.loads(trace.read_text(encoding="utf-8"))


def _bare_run() -> float:
    proc = subprocess.run([sys.executable, "-c", _BARE], capture_output=True, text=True, env=_env(), timeout=120)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"bare pyqtgraph window failed: {tail}")
    return float(json.loads(lines[-1])["bare_ms"])


def measure_startup(quick: bool, command: str | None = None) -> dict:
    """Startup figures (ms, medians of 3 runs, 1 with ``quick``); ``command``: see the module doc."""
    runs = 1 if quick else 3
    window, bare, other = [], [], []
    with tempfile.TemporaryDirectory(prefix="liqdesk-bench-startup-") as tmp:
        for _ in range(runs):            # interleaved: all see the same machine load
            bare.append(_bare_run())
            window.append(_window_run(tmp, 25.0))
            if command:
                other.append(_window_run(tmp, 25.0, command))

    def med(key, traces=window):
        vals = [w[key] for w in traces if key in w]
        return round(float(np.median(vals)), 1) if vals else None

    out = {
        "startup_ms": med("first_heatmap_ms"),
        "startup_window_ms": med("window_shown_ms"),
        "startup_history_ms": med("history_complete_ms"),
        "startup_bare_ms": round(float(np.median(bare)), 1),
        "startup_runs": runs,
    }
    if command:
        out["startup_command"] = command
        out["startup_command_ms"] = med("first_heatmap_ms", other)
        out["startup_command_window_ms"] = med("window_shown_ms", other)
        out["startup_command_history_ms"] = med("history_complete_ms", other)
    if out["startup_ms"] is not None:
        out["startup_ratio"] = round(out["startup_ms"] / out["startup_bare_ms"], 2)
    return out
