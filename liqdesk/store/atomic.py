"""Writing an output file or a session directory so that a failure never leaves part of one.

The output is written under a temporary name beside the target (``.day.liqs.partial-1a2b3c4d``,
``.grid.partial-1a2b3c4d.csv``: hidden, same directory so the final rename is atomic, same
extension so writers that go by it still work) and renamed into place only once complete. On any
failure — an ``OSError`` such as a full disk, a ``KeyboardInterrupt``, an error while producing
the data — the temporary is removed and the target is left as it was: absent, or the previous
file or session untouched.

    with atomic_file("grid.csv", overwrite=True) as tmp:
        tmp.write_text(...)

    with atomic_dir("day.liqs") as tmp:
        SessionWriter(tmp, ...) ...

A process killed outright (SIGKILL, power cut) can leave a ``.NAME.partial-*`` beside the target;
the target itself is never partial.
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from liqdesk.store.convert import fsync_dir, fsync_file
from liqdesk.store.format import SESSION_FILE

PARTIAL = ".partial-"


def temp_path(target: Path, is_dir: bool = False, tag: str = PARTIAL) -> Path:
    """A free temporary name beside ``target``."""
    while True:
        token = secrets.token_hex(4)
        if is_dir:
            tmp = target.with_name(f".{target.name}{tag}{token}")
        else:
            tmp = target.with_name(f".{target.stem}{tag}{token}{target.suffix}")
        if not (tmp.exists() or tmp.is_symlink()):
            return tmp


def check_target(target: Path, overwrite: bool, is_dir: bool = False) -> None:
    """Raise ``FileExistsError`` when ``target`` may not be replaced: it exists and ``overwrite``
    is off, or it is not of the kind written (a directory for a file, a non-empty directory that
    is not a session for a session)."""
    if not (target.exists() or target.is_symlink()):
        return
    if is_dir and target.is_dir() and not target.is_symlink() and not any(target.iterdir()):
        return  # an empty directory made for the session
    if not overwrite:
        raise FileExistsError(f"{target} exists (use --overwrite to replace it)")
    if is_dir:
        if not target.is_dir() or target.is_symlink():
            raise FileExistsError(f"{target} exists and is not a session directory")
        if not (target / SESSION_FILE).is_file() and any(target.iterdir()):
            raise FileExistsError(f"{target} is a non-empty directory that is not a liqdesk session; "
                                  "refusing to replace it")
    elif target.is_dir():
        raise FileExistsError(f"{target} is a directory")


def one_line(exc: BaseException, tmp: Path, target: Path) -> str:
    """The error's text on one line, naming the target rather than the temporary."""
    text = str(exc) or type(exc).__name__
    if isinstance(exc, OSError) and exc.strerror:  # "No space left on device", not "[Errno 28] ..."
        text = exc.strerror
        if exc.filename and not str(exc.filename).startswith(str(tmp)):
            text += f": {exc.filename}"
    return " ".join(text.replace(str(tmp), str(target)).split())


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        try:
            path.unlink()
        except OSError:  # gone already, or cannot be removed: the error being raised matters more
            pass


@contextmanager
def atomic_file(target, *, overwrite: bool = False, fsync: bool = True) -> Iterator[Path]:
    """Yield a temporary path to write the file to; it becomes ``target`` when the block ends
    without an error, and is removed otherwise."""
    target = Path(target)
    check_target(target, overwrite)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(target)
    try:
        yield tmp
        if not tmp.is_file():
            raise OSError(f"nothing was written to {target}")
        if fsync:
            fsync_file(tmp)
        check_target(target, overwrite)  # something may have appeared meanwhile
        os.replace(tmp, target)
    except BaseException:
        _remove(tmp)
        raise
    if fsync:
        fsync_dir(target.parent)


@contextmanager
def atomic_dir(target, *, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary directory path (not created) to write a session to; it becomes
    ``target`` when the block ends without an error, and is removed otherwise. A session being
    replaced is moved aside first and removed once the new one is in place."""
    target = Path(target)
    check_target(target, overwrite, is_dir=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(target, is_dir=True)
    try:
        yield tmp
        if not tmp.is_dir():
            raise OSError(f"nothing was written to {target}")
        check_target(target, overwrite, is_dir=True)
        old = None
        if target.exists():
            old = temp_path(target, is_dir=True, tag=".old-")
            os.rename(target, old)
        try:
            os.rename(tmp, target)
        except BaseException:
            if old is not None:
                os.rename(old, target)
            raise
    except BaseException:
        _remove(tmp)
        raise
    fsync_dir(target.parent)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
