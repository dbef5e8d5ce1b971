"""The saved window layouts as a JSON file that can only hold data (no Qt here).

``layouts.json`` in liqdesk's config folder (``$LIQDESK_CONFIG_DIR``, else the platform's user
config folder: ``~/.config/liqdesk`` on Linux, where QSettings kept ``liqdesk.conf``)::

    {"format": "liqdesk-layouts", "version": 1,
     "windows": {"main": {"geometry": "<base64>", "state": "<base64>"}},
     "layouts": {"trading": {"geometry": "<base64>", "state": "<base64>"}}}

``windows`` holds each chart window's last layout, ``layouts`` the named ones. The Qt geometry and
dock state blobs are opaque bytes to this module, kept as base64 strings. Reading checks every
type; a file that is not one of these (damaged, not JSON, another version, not a regular file,
over :data:`MAX_FILE_BYTES`) raises :class:`LayoutFileError` with a one-line reason. Writing
replaces the file atomically (:func:`liqdesk.store.atomic.atomic_file`).

Replaces QSettings, whose reader unpickled ``@Variant`` values (see :mod:`.qsettings_ini`); the
old file's byte arrays are migrated once by :func:`migrate_legacy`.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

from liqdesk.app.config_files import CONFIG_DIR_ENV, config_dir, load_versioned_json
from liqdesk.app.config_files import read_regular_file as _read_regular_file
from liqdesk.store.atomic import atomic_file

from .qsettings_ini import read_byte_arrays

FORMAT = "liqdesk-layouts"
VERSION = 1
FILE_NAME = "layouts.json"
#: QSettings("liqdesk", "liqdesk")'s file on Linux and the BSDs (macOS and Windows kept it in
#: CFPreferences and the registry: nothing liqdesk reads any more)
LEGACY_FILE_NAME = "liqdesk.conf"
#: a dock state is a few KB; anything this large is not a layouts file
MAX_FILE_BYTES = 4 << 20
#: the longest window or layout name kept
MAX_NAME_CHARS = 200
SECTIONS = ("windows", "layouts")
FIELDS = ("geometry", "state")
_LEGACY_KEY = re.compile(r"(windows|layouts)/([^/]+)/(geometry|state)")


class LayoutFileError(ValueError):
    """The layouts file cannot be used; the message is one line."""


@dataclass(frozen=True)
class Entry:
    """One window's or named layout's saved blobs; ``problem`` says why it cannot be used (its
    JSON is then kept as ``raw`` and written back unchanged)."""

    geometry: bytes | None = None
    state: bytes | None = None
    problem: str | None = None
    raw: object = None


@dataclass
class Layouts:
    """The file's content: entries by section (``windows``, ``layouts``) and name. What this
    liqdesk does not use (other top-level keys, entries under unusable names) is kept in
    ``other`` and ``unusable`` and written back as it was read, so that saving loses nothing."""

    windows: dict[str, Entry] = field(default_factory=dict)
    layouts: dict[str, Entry] = field(default_factory=dict)
    other: dict[str, object] = field(default_factory=dict)
    unusable: dict[str, dict[str, object]] = field(default_factory=dict)

    def section(self, name: str) -> dict[str, Entry]:
        return self.windows if name == "windows" else self.layouts


def default_path() -> Path:
    return config_dir() / FILE_NAME


def legacy_path() -> Path | None:
    """Where QSettings kept liqdesk's layouts as INI text, or None where it used no text file."""
    if os.environ.get(CONFIG_DIR_ENV) or sys.platform not in ("darwin", "win32"):
        return config_dir() / LEGACY_FILE_NAME
    return None


def valid_name(name: object) -> bool:
    return isinstance(name, str) and 0 < len(name) <= MAX_NAME_CHARS and name.isprintable()


def read_regular_file(path: Path, limit: int = MAX_FILE_BYTES) -> bytes:
    """``path``'s bytes; ``FileNotFoundError`` when absent, :class:`LayoutFileError` when it is
    not a regular file or is over ``limit`` bytes."""
    return _read_regular_file(path, limit, LayoutFileError, "a layouts file")


def _blob(value: object, what: str) -> bytes | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise LayoutFileError(f"its {what} is a {type(value).__name__}, not base64 text")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise LayoutFileError(f"its {what} is not base64 ({exc})") from None


def _entry(value: object) -> Entry:
    if not isinstance(value, dict):
        return Entry(problem=f"it is a {type(value).__name__}, not an object", raw=value)
    try:
        return Entry(*(_blob(value.get(name), name) for name in FIELDS))
    except LayoutFileError as exc:
        return Entry(problem=str(exc), raw=value)


def parse(data: bytes) -> Layouts:
    """The layouts in a file's bytes. Raises :class:`LayoutFileError` when the file as a whole
    is unusable; an entry that is damaged on its own is kept with its ``problem``; a name that
    is not a short printable string is left out."""
    doc = load_versioned_json(data, FORMAT, VERSION, LayoutFileError, "a liqdesk layouts file")
    layouts = Layouts(other={k: v for k, v in doc.items() if k not in ("format", "version", *SECTIONS)})
    for section in SECTIONS:
        entries = doc.get(section, {})
        if not isinstance(entries, dict):
            raise LayoutFileError(f'its "{section}" is a {type(entries).__name__}, not an object')
        for name, value in entries.items():
            if valid_name(name):
                layouts.section(section)[name] = _entry(value)
            else:
                layouts.unusable.setdefault(section, {})[name] = value
    return layouts


def dumps(layouts: Layouts) -> bytes:
    def blobs(entry: Entry) -> object:
        if entry.problem is not None:
            return entry.raw
        return {name: base64.b64encode(blob).decode("ascii")
                for name, blob in zip(FIELDS, (entry.geometry, entry.state), strict=True) if blob is not None}

    doc: dict = {**layouts.other, "format": FORMAT, "version": VERSION}
    for section in SECTIONS:
        entries = dict(layouts.unusable.get(section, {}))
        entries.update((name, blobs(entry)) for name, entry in sorted(layouts.section(section).items()))
        doc[section] = entries
    return (json.dumps(doc, indent=1) + "\n").encode("utf-8")


def read(path: Path) -> Layouts:
    """The layouts saved at ``path`` (none when there is no file)."""
    try:
        data = read_regular_file(path)
    except FileNotFoundError:
        return Layouts()
    except OSError as exc:
        raise LayoutFileError(f"{path} cannot be read ({exc.strerror or exc})") from None
    try:
        return parse(data)
    except LayoutFileError as exc:
        raise LayoutFileError(f"{path} is unreadable: {exc}") from None


def write(path: Path, layouts: Layouts) -> None:
    """Replace ``path`` with ``layouts`` atomically (raises ``OSError``)."""
    data = dumps(layouts)
    with atomic_file(path, overwrite=True) as tmp:
        tmp.write_bytes(data)


def legacy_layouts(data: bytes) -> tuple[Layouts, int]:
    """The window and named layouts in an old QSettings INI file's bytes, and how many of its
    values were left out (anything but a byte array of a key liqdesk wrote)."""
    arrays, skipped = read_byte_arrays(data)
    found: dict[tuple[str, str], dict[str, bytes]] = {}
    for key, blob in arrays.items():
        match = _LEGACY_KEY.fullmatch(key)
        if match is None or not valid_name(match.group(2)):
            skipped += 1
            continue
        found.setdefault((match.group(1), match.group(2)), {})[match.group(3)] = blob
    layouts = Layouts()
    for (section, name), blobs in found.items():
        layouts.section(section)[name] = Entry(blobs.get("geometry"), blobs.get("state"))
    return layouts, skipped


def migrate_legacy(path: Path, legacy: Path | None) -> str | None:
    """Once, when ``path`` does not exist yet: copy the layouts liqdesk saved through QSettings in
    ``legacy`` into a new layouts file, reading only byte arrays from it as text (never through
    QSettings, which would unpickle a crafted ``@Variant``). The old file is left as it was; the
    new file's existence means the migration is done. Returns a one-line note for the user, or
    None when there was nothing to migrate."""
    if legacy is None or path.exists() or path.is_symlink():
        return None
    try:
        data = read_regular_file(legacy)
    except FileNotFoundError:
        return None
    except (OSError, LayoutFileError) as exc:
        return f"the old layouts in {legacy} were not migrated ({exc})"
    layouts, skipped = legacy_layouts(data)
    try:
        write(path, layouts)
    except OSError as exc:
        return f"the old layouts in {legacy} were not migrated: {path} cannot be written ({exc.strerror or exc})"
    n = len(layouts.windows) + len(layouts.layouts)
    note = f"{n} saved layout{'s' if n != 1 else ''} moved from {legacy} to {path}"
    if skipped:
        note += f" ({skipped} other value{'s' if skipped != 1 else ''} left out)"
    return note
