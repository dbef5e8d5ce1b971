"""liqdesk's config folder and the careful reading its JSON files share (no Qt).

Layouts (``ui/layout_file.py``), workspaces (``workspace_store.py``) and alert rules
(``alert_rules.py``) live in one folder and are read the same way: never blocking on something
that is not a regular file, never reading more than a limit, and a JSON document accepted only
with its own format name and version.
"""

from __future__ import annotations

import json
import os
import stat
import time
from pathlib import Path

CONFIG_DIR_ENV = "LIQDESK_CONFIG_DIR"


def config_dir() -> Path:
    """liqdesk's config folder: ``$LIQDESK_CONFIG_DIR`` when set (tests, portable installs), else
    the platform's user config folder (``~/.config/liqdesk`` on Linux)."""
    override = os.environ.get(CONFIG_DIR_ENV)
    if override:
        return Path(override).expanduser()
    from platformdirs import user_config_dir

    return Path(user_config_dir("liqdesk", appauthor=False))


def read_regular_file(path: Path, limit: int, error: type[Exception], what: str) -> bytes:
    """``path``'s bytes; ``FileNotFoundError`` when absent, ``error`` (one line) when it is not a
    regular file (a FIFO would block the reader forever) or is over ``limit`` bytes (``what``:
    "a layouts file" …, for the message)."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise error(f"{path} is not a regular file")
        if info.st_size > limit:
            raise error(f"{path} is {info.st_size:,} bytes, over the {limit:,} {what} may have")
        with os.fdopen(fd, "rb", closefd=False) as f:
            data = f.read(limit + 1)
    finally:
        os.close(fd)
    if len(data) > limit:
        raise error(f"{path} is over the {limit:,} bytes {what} may have")
    return data


def load_versioned_json(data: bytes, fmt: str, version: int, error: type[Exception], what: str) -> dict:
    """The JSON object in ``data`` whose ``format`` is ``fmt`` and ``version`` is ``version``;
    ``error`` with a one-line reason otherwise (``what``: "a liqdesk layouts file" …)."""
    try:
        doc = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise error("it is not UTF-8 text") from None
    except RecursionError:
        raise error("it is nested too deeply") from None
    except ValueError as exc:
        raise error(f"it is not JSON ({exc})") from None
    if not isinstance(doc, dict) or doc.get("format") != fmt:
        raise error(f"it is not {what}")
    found = doc.get("version")
    if type(found) is not int:
        raise error("it has no format version")
    if found != version:
        raise error(f"it has format version {found}; this liqdesk reads version {version}")
    return doc


def set_aside(path: Path) -> Path:
    """Rename an unreadable file out of the way (``NAME.unreadable-20250101-120000``, ``-2`` … when
    taken) so that saving a new one loses nothing. Returns the new name."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    aside = path.with_name(f"{path.name}.unreadable-{stamp}")
    n = 1
    while aside.exists() or aside.is_symlink():
        n += 1
        aside = path.with_name(f"{path.name}.unreadable-{stamp}-{n}")
    os.rename(path, aside)
    return aside
