"""Opening the files of a session safely: names taken from files, non-regular files, deep JSON.

A session's own files name other files (``session.json`` lists tables, ``index.json`` lists
tables and kinds), and a damaged or hostile session may hold anything in their place. Before the
reader opens a file:

- its name is checked (:func:`member_path`): a table name is ``a-z0-9_`` only (no separator, no
  ``..``), and the path must resolve inside the session folder (a symlink pointing out is refused);
- it must be a regular file (:func:`regular_size`): a FIFO would block the open forever, a device
  or socket is never session data;
- JSON documents are read with a size limit and their nesting is bounded (:func:`read_json`), so
  a crafted ``session.json`` gives a one-line error rather than a ``RecursionError``.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

#: Largest session.json / index.json read (bytes): far above any real one (meta and gaps included).
MAX_JSON_BYTES = 64 << 20
#: Deepest nesting accepted in session.json / index.json (liqdesk writes at most 5 or so).
MAX_JSON_DEPTH = 64

_KINDS_OF_FILE = {
    stat.S_IFIFO: "a FIFO",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFSOCK: "a socket",
    stat.S_IFDIR: "a directory",
}


class UnsafeFile(ValueError):
    """A session member that must not be opened; the message names it and says why, on one
    line; :attr:`reason` says why without the name."""

    def __init__(self, name: str, reason: str):
        super().__init__(f"{name} {reason}")
        self.reason = reason


def is_plain_name(name) -> bool:
    """A file stem a session may name: ``a-z``, ``0-9`` and ``_``, at most 64 characters."""
    return (isinstance(name, str) and 0 < len(name) <= 64 and name.isascii()
            and all(c.islower() or c.isdigit() or c == "_" for c in name))


def member_path(folder: Path, name: str, suffix: str) -> Path:
    """``folder / (name + suffix)`` for a name taken from a file; :class:`UnsafeFile` when the
    name is not a plain name or the path resolves outside ``folder`` (e.g. through a symlink)."""
    if not is_plain_name(name):
        raise UnsafeFile(repr(name), "is not a valid name in a session (a-z, 0-9 and _ only)")
    path = folder / f"{name}{suffix}"
    if path.is_symlink() or path.exists():
        inside = folder.resolve()
        target = path.resolve()
        if target.parent != inside and inside not in target.parents:
            raise UnsafeFile(path.name, f"resolves outside the session folder (to {target}): refused")
    return path


def regular_size(path: Path) -> int | None:
    """Size in bytes of the regular file at ``path``; None when there is none; :class:`UnsafeFile`
    when something else is there (a FIFO, a device, a directory...), which is never opened."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        if os.path.islink(path):
            raise UnsafeFile(Path(path).name, "is a broken symlink") from None
        return None
    if not stat.S_ISREG(st.st_mode):
        what = _KINDS_OF_FILE.get(stat.S_IFMT(st.st_mode), "not a regular file")
        raise UnsafeFile(Path(path).name, f"is {what}, not a regular file: refused")
    return st.st_size


def json_depth_exceeds(obj, limit: int) -> bool:
    """Whether ``obj`` nests lists/dicts deeper than ``limit`` (iterative: no recursion)."""
    stack = [(obj, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            value = value.values()
        elif not isinstance(value, list):
            continue
        if depth > limit:
            return True
        stack.extend((v, depth + 1) for v in value if isinstance(v, dict | list))
    return False


def read_json(path: Path, max_bytes: int = MAX_JSON_BYTES, max_depth: int = MAX_JSON_DEPTH):
    """The JSON document in the regular file ``path``. Raises ``FileNotFoundError`` when absent,
    :class:`UnsafeFile` when not a regular file, too large or nested too deeply, ``ValueError``
    (``json.JSONDecodeError``, ``UnicodeDecodeError``) when not JSON, ``OSError`` on I/O errors."""
    size = regular_size(path)
    if size is None:
        raise FileNotFoundError(2, "No such file or directory", str(path))
    if size > max_bytes:
        raise UnsafeFile(path.name, f"is {size:,} bytes, more than the {max_bytes:,} accepted")
    # O_NONBLOCK: should the file have been swapped for a FIFO since the check, the open returns
    # at once instead of waiting for a writer; fstat then refuses it.
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise UnsafeFile(path.name, "is not a regular file: refused")
        data = fh.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise UnsafeFile(path.name, f"is more than {max_bytes:,} bytes")
    try:
        doc = json.loads(data.decode("utf-8"))
    except RecursionError:
        raise UnsafeFile(path.name, f"is nested too deeply (more than {max_depth} levels)") from None
    if json_depth_exceeds(doc, max_depth):
        raise UnsafeFile(path.name, f"is nested too deeply (more than {max_depth} levels)")
    return doc
