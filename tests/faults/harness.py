"""Running the session-reading commands in this process, guarded against hangs, and judging the
result of each (a cell of the matrix).

Commands run through :func:`liqdesk.cli.main` with stdout and stderr captured. A watchdog thread
marks a run that takes longer than :data:`TIMEOUT_S` as a hang and then keeps opening every FIFO
in the session folder for writing (and closing it), which ends a read blocked on one, so the run
returns and the next cell can start. The window's ``--replay`` path has no headless entry of its
own: :func:`run_replay` does what the window does without drawing (``liqdesk.main.build_session``,
then the session's feed thread and ``pump`` until the replay ends).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import math
import os
import stat
import sys
import threading
import time
import traceback
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass, field
from pathlib import Path

from tests.faults.damage import SAME, UNKNOWN, Damage, Loss

TIMEOUT_S = 8.0

OK = "ok"
ONE_LINE = "one-line error"
TRACEBACK = "traceback"
HANG = "hang"
SILENT = "silent difference"
LOST = "valid part lost"
STDOUT_ONLY = "stated on stdout only"
NOT_ONE_LINE = "error not on one line"
PASSING = (OK, ONE_LINE)


@dataclass
class Run:
    rc: int | None
    stdout: str
    stderr: str
    output: bytes | None = None      #: the command's result (file written, replayed state), normalized
    hung: bool = False
    exception: str | None = None
    messages: list[str] = field(default_factory=list)  #: status-bar messages (replay)
    files: list[str] = field(default_factory=list)     #: output files the command left

    @property
    def err_lines(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.strip()]

    @property
    def stated(self) -> bool:
        """Whether the run said, besides an error, that something was wrong or left out."""
        return (any(line.startswith("liqdesk: ") and not line.startswith("liqdesk: error:")
                    for line in self.err_lines)
                or any(m for m in self.messages))


def _unblock_fifos(folder: Path) -> None:
    for entry in list(folder.iterdir()) if folder.is_dir() else []:
        try:
            if stat.S_ISFIFO(entry.lstat().st_mode):
                fd = os.open(entry, os.O_WRONLY | os.O_NONBLOCK)
                os.close(fd)
        except OSError:
            pass


def guarded(fn, folder: Path, timeout_s: float = TIMEOUT_S) -> tuple[object, str, str, bool, str | None]:
    """``fn()`` with stdout/stderr captured and a hang watchdog: (result, out, err, hung, traceback)."""
    out, err = io.StringIO(), io.StringIO()
    done = threading.Event()
    hung: list[bool] = []

    def watchdog():
        if done.wait(timeout_s):
            return
        hung.append(True)
        while not done.wait(0.1):
            _unblock_fifos(folder)

    threading.Thread(target=watchdog, daemon=True, name="faults-watchdog").start()
    result, tb = None, None
    try:
        with redirect_stdout(out), redirect_stderr(err):
            result = fn()
    except SystemExit as exc:
        result = exc.code if isinstance(exc.code, int) else 2
    except BaseException:  # noqa: BLE001 - what escapes the command is what the matrix records
        tb = traceback.format_exc()
    finally:
        done.set()
    return result, out.getvalue(), err.getvalue(), bool(hung), tb


def _normalize(text: str, session: Path, *outputs: Path) -> str:
    """``text`` with the session's path and the output files' paths replaced by fixed names, so
    that runs on different copies compare equal."""
    for p in outputs:
        text = text.replace(str(p), f"<{p.name}>")
    return text.replace(str(session), "<SESSION>")


def argv_for(command: str, session: Path, work: Path) -> list[str]:
    s = str(session)
    return {
        "info": ["info", s],
        "info --verify": ["info", s, "--verify"],
        "export": ["export", s, "--out", str(work / "grid.csv")],
        "evaluate": ["evaluate", s],
        "render": ["render", s, "--out", str(work / "heatmap.png"), "--width", "400", "--height", "300"],
    }[command]


def run_command(command: str, session: Path, work: Path, extra: tuple[str, ...] = ()) -> Run:
    """One command on ``session``; files it writes go to ``work`` (created)."""
    if command == "replay":
        return run_replay(session, extra)
    from liqdesk.cli import main

    work.mkdir(parents=True, exist_ok=True)
    argv = argv_for(command, session, work) + list(extra)
    rc, out, err, hung, tb = guarded(lambda: main(argv), session)
    output, files = None, []
    for name in ("grid.csv", "heatmap.png"):
        f = work / name
        if f.is_file():
            output = f.read_bytes()
            files.append(name)
            f.unlink()
    out = _normalize(out, session, work / "grid.csv", work / "heatmap.png")
    if output is None:
        output = out.encode()
    else:
        output += b"\n--\n" + out.encode()
    return Run(rc, out, _normalize(err, session), output, hung, tb, files=files)


def run_replay(session: Path, extra: tuple[str, ...] = ()) -> Run:
    """What ``liqdesk --replay SESSION`` does, without the window: build the session as the
    command line does, start its feed thread, play as fast as possible and pump the engine until
    the replay ends. The output is a digest of the engine's heatmap, candles and event count."""
    from liqdesk.cli import _one_line
    from liqdesk.errors import UserError
    from liqdesk.main import build_session

    ns = argparse.Namespace(replay=str(session), speed=math.inf, exchanges=None, prior=None, live=False,
                            symbol=None, strict="--strict" in extra)
    holder: dict = {}

    def play() -> int:
        try:
            sess = build_session(ns)
        except (UserError, ValueError, OSError) as exc:
            print(f"liqdesk: error: {_one_line(exc)}", file=sys.stderr)
            return 2
        holder["session"] = sess
        sess.start()
        sess.play()
        deadline = time.monotonic() + TIMEOUT_S + 5
        idle_since = None
        try:
            while time.monotonic() < deadline:
                taken = sess.pump(0.05)
                finished = sess.source.finished and sess.inbox.queue.empty()
                errored = any(m.startswith("source error") for m in sess.messages)
                if taken or not (finished or errored):
                    idle_since = None
                    if not taken:
                        time.sleep(0.002)
                    continue
                # the worker puts its last batch just after the source says it finished
                idle_since = idle_since or time.monotonic()
                if time.monotonic() - idle_since > (0.05 if finished else 1.0):
                    break
                time.sleep(0.005)
            else:
                raise TimeoutError("replay did not end")
        finally:
            sess.stop()
        return 0

    rc, out, err, hung, tb = guarded(play, session)
    sess = holder.get("session")
    output, messages = None, []
    if sess is not None:
        engine = sess.engine
        img, cols, origin = engine.model.image()
        digest = hashlib.sha256()
        for arr in (img, cols, engine.candles.candles):
            digest.update(arr.tobytes())
        digest.update(repr((origin, engine.stats.events)).encode())
        output = digest.hexdigest().encode()
        messages = list(sess.messages)
    return Run(rc, _normalize(out, session), _normalize(err, session), output, hung, tb, messages)


# ------------------------------------------------------------------------------ judging a cell

def _says_recovered(stdout: str) -> bool:
    return "recovery  nothing skipped" not in stdout and "recovery" in stdout


def judge(command: str, damage: Damage, loss, run: Run, clean: Run, reference: Run | None) -> str:
    """The cell: :data:`OK` (exit 0, the valid part in the output, an omission stated) or
    :data:`ONE_LINE` pass; anything else is the failure it shows."""
    if run.hung:
        return HANG
    if run.exception or "Traceback" in run.stderr:
        return TRACEBACK
    if run.rc != 0:
        lines = run.err_lines
        if run.rc == 2 and len(lines) == 1 and lines[0].startswith("liqdesk: error: "):
            return ONE_LINE
        return NOT_ONE_LINE
    lossy = isinstance(loss, Loss)
    if command.startswith("info"):
        if run.stated:
            return OK
        if not lossy and run.output == clean.output:
            return OK
        if lossy and damage.page_level and command == "info" and "--verify" in run.stdout \
                and "nothing skipped" not in run.stdout:
            return OK  # says how deep it looked: pages not read
        return STDOUT_ONLY if _says_recovered(run.stdout) else SILENT
    if loss == UNKNOWN:
        return OK if run.output == clean.output or run.stated else SILENT
    if loss == SAME:
        expected = clean
    elif reference is None or reference.rc != 0:
        return OK if run.stated else SILENT   # nothing valid to compare with (no events at all)
    else:
        expected = reference
    if run.output == expected.output:
        return OK if (loss == SAME or run.stated) else SILENT
    return LOST if run.stated else SILENT


# ------------------------------------------------------------------------------ the environment

COMMANDS = ("info", "info --verify", "export", "evaluate", "render", "replay")


class FaultEnv:
    """The clean sessions (written once under ``root``), damaged copies of them, and the runs on
    the clean and reference sessions that cells are judged against (each made once, on demand)."""

    def __init__(self, root: Path):
        from tests.faults.damage import clean_stream, write_closed, write_crashed

        self.root = Path(root)
        self.stream = clean_stream()
        self.clean = {"closed": write_closed(self.root / "clean" / "closed.liqs", self.stream),
                      "crashed": write_crashed(self.root / "clean" / "crashed.liqs", self.stream)}
        self._runs: dict = {}
        self._refs: dict = {}

    def damaged(self, damage: Damage, folder: Path) -> tuple[Path, object]:
        """A copy of ``damage``'s clean session in ``folder``, damaged; and what must be lost."""
        import shutil

        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{damage.name}.liqs"
        shutil.copytree(self.clean[damage.base], path)
        return path, damage.apply(path)

    def _run(self, key, command: str, session: Path, extra=()) -> Run:
        if key not in self._runs:
            self._runs[key] = run_command(command, session, self.root / "work" / "clean", tuple(extra))
        return self._runs[key]

    def clean_run(self, command: str, base: str) -> Run:
        run = self._run(("clean", command, base), command, self.clean[base])
        if run.rc != 0 or run.hung or run.exception:
            raise AssertionError(f"{command} fails on the clean {base} session: {run.stderr or run.exception}")
        return run

    def reference_run(self, command: str, loss) -> Run | None:
        """The command on the clean events minus ``loss`` (None when nothing is lost)."""
        from tests.faults.damage import reference_stream, write_closed

        if not isinstance(loss, Loss):
            return None
        key = loss.key()
        if key not in self._refs:
            path = self.root / "refs" / f"ref{len(self._refs)}.liqs"
            if loss.no_events:
                from liqdesk.store import SessionWriter
                from tests.faults.damage import META, SYMBOL

                with SessionWriter(path, SYMBOL, meta=META, fsync=False):
                    pass
            else:
                write_closed(path, reference_stream(self.stream, loss, self.clean["closed"]))
            self._refs[key] = path
        return self._run(("ref", command, key), command, self._refs[key])

    def judge(self, command: str, damage: Damage, loss, run: Run) -> str:
        return judge(command, damage, loss, run, self.clean_run(command, damage.base),
                     self.reference_run(command, loss))
