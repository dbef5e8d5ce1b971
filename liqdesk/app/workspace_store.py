"""The named workspaces as one JSON file that can only hold data (no Qt, no pickle).

``workspaces.json`` in liqdesk's config folder (``$LIQDESK_CONFIG_DIR``, else the platform's user
config folder, beside ``layouts.json``)::

    {"format": "liqdesk-workspaces", "version": 1, "last": "morning",
     "workspaces": {"morning": {"windows": [{"source": {...}, "view": {...}, ...}, ...]}}}

``last`` names the workspace last saved or opened, which liqdesk reopens on start. Each workspace
is checked field by field when it is opened (:func:`liqdesk.app.workspace.workspace_from_json`):
one damaged workspace does not spoil the others, and is written back as it was when another is
saved. A file that is not one of these as a whole (not JSON, another format or version, nested too
deeply, not a regular file, over :data:`MAX_FILE_BYTES`) raises :class:`WorkspaceFileError` with
a one-line reason; saving then first renames it aside (``workspaces.json.unreadable-<time>``) so
that nothing in it is lost. Every save replaces the file atomically.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from liqdesk.store.atomic import atomic_file

from .config_files import config_dir, load_versioned_json, read_regular_file, set_aside
from .workspace import Workspace, WorkspaceError, workspace_from_json, workspace_to_json

FORMAT = "liqdesk-workspaces"
VERSION = 1
FILE_NAME = "workspaces.json"
#: a workspace of 32 windows is well under 1 MB; anything larger is not a workspaces file
MAX_FILE_BYTES = 4 << 20
MAX_NAME_CHARS = 200
MAX_WORKSPACES = 256


class WorkspaceFileError(ValueError):
    """The workspaces file as a whole cannot be used; the message is one line."""


def valid_name(name: object) -> bool:
    """A workspace name: 1 to :data:`MAX_NAME_CHARS` printable characters, not only spaces."""
    return isinstance(name, str) and 0 < len(name) <= MAX_NAME_CHARS and name.isprintable() and bool(name.strip())


@dataclass
class Stored:
    """The file's content: each workspace's JSON (checked only when opened), the last one used,
    and the top-level keys this liqdesk does not know (written back unchanged)."""

    workspaces: dict[str, object] = field(default_factory=dict)
    last: str | None = None
    other: dict[str, object] = field(default_factory=dict)


def _read_bytes(path: Path) -> bytes:
    """``path``'s bytes; ``FileNotFoundError`` when absent; refused unless a regular file of at
    most :data:`MAX_FILE_BYTES`."""
    return read_regular_file(path, MAX_FILE_BYTES, WorkspaceFileError, "a workspaces file")


def parse(data: bytes) -> Stored:
    """The workspaces in a file's bytes; raises :class:`WorkspaceFileError` when unusable."""
    doc = load_versioned_json(data, FORMAT, VERSION, WorkspaceFileError, "a liqdesk workspaces file")
    entries = doc.get("workspaces", {})
    if not isinstance(entries, dict):
        raise WorkspaceFileError(f'its "workspaces" is a {type(entries).__name__}, not an object')
    if len(entries) > MAX_WORKSPACES:
        raise WorkspaceFileError(f"it holds {len(entries):,} workspaces, over the {MAX_WORKSPACES} allowed")
    last = doc.get("last")
    return Stored(workspaces=dict(entries), last=last if valid_name(last) and last in entries else None,
                  other={k: v for k, v in doc.items() if k not in ("format", "version", "last", "workspaces")})


def dumps(stored: Stored) -> bytes:
    doc = {**stored.other, "format": FORMAT, "version": VERSION, "last": stored.last,
           "workspaces": dict(sorted(stored.workspaces.items()))}
    return (json.dumps(doc, indent=1) + "\n").encode("utf-8")


class WorkspaceStore:
    """Named workspaces in ``path`` (the user's ``workspaces.json`` by default). Each call reads
    the file afresh; each change rewrites it atomically."""

    def __init__(self, path: str | os.PathLike | None = None):
        self.path = Path(path) if path is not None else config_dir() / FILE_NAME

    def read(self) -> Stored:
        try:
            data = _read_bytes(self.path)
        except FileNotFoundError:
            return Stored()
        except OSError as exc:
            raise WorkspaceFileError(f"{self.path} cannot be read ({exc.strerror or exc})") from None
        except WorkspaceFileError as exc:
            raise WorkspaceFileError(str(exc)) from None
        try:
            return parse(data)
        except WorkspaceFileError as exc:
            raise WorkspaceFileError(f"{self.path} is unreadable: {exc}") from None

    def names(self) -> list[str]:
        """The saved workspaces' names (none when the file is unreadable)."""
        try:
            return sorted(n for n in self.read().workspaces if valid_name(n))
        except WorkspaceFileError:
            return []

    def last(self) -> str | None:
        """The workspace last saved or opened, or None (also when the file is unreadable)."""
        try:
            return self.read().last
        except WorkspaceFileError:
            return None

    def load(self, name: str) -> Workspace:
        """The workspace ``name``; raises :class:`WorkspaceError` (one line) when it is absent or
        unusable, :class:`WorkspaceFileError` when the whole file is."""
        entries = self.read().workspaces
        if name not in entries or not valid_name(name):
            known = ", ".join(sorted(n for n in entries if valid_name(n))[:10]) or "none saved"
            raise WorkspaceError(f"no workspace named {name!r} ({known})")
        try:
            return workspace_from_json(entries[name])
        except WorkspaceError as exc:
            raise WorkspaceError(f"workspace {name!r} is unreadable: {exc}") from None

    def save(self, name: str, workspace: Workspace) -> str | None:
        """Save ``workspace`` as ``name`` (replacing one of that name) and make it the last used.
        Returns None, or a one-line note: not saved, or an unreadable file was set aside first."""
        if not valid_name(name):
            return f"a workspace name has 1 to {MAX_NAME_CHARS} printable characters"
        doc = workspace_to_json(workspace)
        try:
            workspace_from_json(doc)        # never write a workspace that could not be opened again
        except WorkspaceError as exc:
            return f"workspace {name!r} was not saved: {exc}"

        def change(s: Stored):
            s.workspaces[name] = doc
            s.last = name
        return self._change(change)

    def delete(self, name: str) -> str | None:
        """Forget the workspace ``name``. Returns None or a one-line note."""
        def change(s: Stored):
            s.workspaces.pop(name, None)
            if s.last == name:
                s.last = None
        return self._change(change)

    def set_last(self, name: str | None) -> str | None:
        """Remember ``name`` as the workspace to reopen on start."""
        def change(s: Stored):
            s.last = name if name in s.workspaces else None
        return self._change(change)

    def _change(self, change) -> str | None:
        note = None
        try:
            stored = self.read()
        except WorkspaceFileError as exc:
            try:
                aside = set_aside(self.path)
            except OSError as err:
                return f"the workspace was not saved: {exc} and cannot be moved aside ({err.strerror or err})"
            stored = Stored()
            note = f"{exc}; it was kept as {aside.name}"
        change(stored)
        try:
            with atomic_file(self.path, overwrite=True) as tmp:
                tmp.write_bytes(dumps(stored))
        except OSError as exc:
            return f"the workspaces were not saved to {self.path} ({exc.strerror or exc})"
        return note


