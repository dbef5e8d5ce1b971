"""``session.json``: reading it and checking every entry the reader uses.

The document is read through :func:`liqdesk.store.paths.read_json` (regular file only, size and
nesting bounded). What makes the session unusable (no format name, another format version, no
symbol, a meta that is not an object) is a :class:`SessionError`; a malformed entry of a list
(a gap, a table name, a stored recovery note) is left out with a :class:`RecoveryNote` saying so,
so the rest of the session is still read.
"""

from __future__ import annotations

from pathlib import Path

from liqdesk.core.events import EXCHANGES, KINDS
from liqdesk.store.format import (
    FORMAT_NAME,
    FORMAT_VERSION,
    KIND_ALIASES,
    SESSION_FILE,
    RecoveryNote,
    SessionError,
    check_table_name,
)
from liqdesk.store.paths import UnsafeFile, read_json


def session_error(path: Path, text: str) -> SessionError:
    return SessionError(f"{path}: {' '.join(text.split())}")


def load_session_doc(path: Path) -> dict:
    """The parsed and checked ``session.json`` of ``path``; :class:`SessionError` otherwise."""
    if not path.exists():
        raise session_error(path, "no such session (path not found)")
    if not path.is_dir():
        raise session_error(path, "not a liqdesk session (expected a NAME.liqs directory holding session.json)")
    try:
        doc = read_json(path / SESSION_FILE)
    except FileNotFoundError:
        raise session_error(path, f"not a liqdesk session ({SESSION_FILE} missing)") from None
    except UnsafeFile as exc:
        raise session_error(path, str(exc)) from None
    except (OSError, ValueError) as exc:
        raise session_error(path, f"{SESSION_FILE} is unreadable ({exc})") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT_NAME:
        raise session_error(path, f"not a liqdesk session ({SESSION_FILE} does not name the {FORMAT_NAME} format)")
    version = doc.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise session_error(path, f"{SESSION_FILE} has no valid format_version")
    if version != FORMAT_VERSION:
        newer = " (written by a newer liqdesk; upgrade to read it)" if version > FORMAT_VERSION else ""
        raise session_error(path, f"session format version {version} is not supported; this liqdesk reads version "
                                  f"{FORMAT_VERSION}{newer}")
    if not isinstance(doc.get("symbol"), str):
        raise session_error(path, f"{SESSION_FILE} has no symbol")
    if not isinstance(doc.get("meta", {}), dict):
        raise session_error(path, f"{SESSION_FILE} has a malformed meta entry (not an object)")
    return doc


def _int_ms(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def gap_problem(gap) -> str | None:
    """Why ``gap`` is not a gap as :meth:`SessionWriter.add_gap` writes it, or None."""
    if not isinstance(gap, dict):
        return "not an object"
    exchange, kind = gap.get("exchange"), gap.get("kind")
    if exchange != "all" and exchange not in EXCHANGES:
        return f"unknown exchange {exchange!r}"
    if kind != "all" and kind not in KINDS and kind not in KIND_ALIASES:
        return f"unknown kind {kind!r}"
    start, end = gap.get("start_ms"), gap.get("end_ms")
    if not (_int_ms(start) and _int_ms(end)):
        return "start_ms and end_ms must be integers (ms)"
    if end < start:
        return "it ends before it starts"
    if not isinstance(gap.get("reason", ""), str):
        return "its reason is not text"
    return None


def checked_gaps(doc: dict) -> tuple[list[dict], list[RecoveryNote]]:
    """The well-formed gaps of ``doc`` (copies) and a note on what was left out."""
    raw = doc.get("gaps", [])
    if not isinstance(raw, list):
        return [], [RecoveryNote("gaps", SESSION_FILE, "the gaps entry is not a list; left out")]
    gaps, bad = [], []
    for i, gap in enumerate(raw):
        problem = gap_problem(gap)
        if problem is None:
            gaps.append({"exchange": gap["exchange"], "kind": gap["kind"], "start_ms": gap["start_ms"],
                         "end_ms": gap["end_ms"], "reason": gap.get("reason", "")})
        else:
            bad.append(f"#{i}: {problem}")
    if not bad:
        return gaps, []
    shown = "; ".join(bad[:3]) + (f"; and {len(bad) - 3} more" if len(bad) > 3 else "")
    return gaps, [RecoveryNote("gaps", SESSION_FILE, f"{len(bad)} malformed gaps entr{'ies' if len(bad) > 1 else 'y'} "
                                                     f"left out ({shown})")]


def stored_notes(doc: dict) -> tuple[list[RecoveryNote], list[RecoveryNote]]:
    """The recovery notes a repair or an import stored in ``doc``, and a note on malformed ones."""
    raw = doc.get("recovery") or []
    notes, bad = [], 0
    for item in raw if isinstance(raw, list) else [raw]:
        try:
            note = RecoveryNote(**item)
            ok = (all(isinstance(getattr(note, f), str) for f in ("name", "file", "reason"))
                  and all(_int_ms(getattr(note, f)) and getattr(note, f) >= 0 for f in
                          ("bytes_skipped", "batches_skipped", "batches_recovered", "rows_recovered")))
        except TypeError:
            ok = False
        if ok:
            notes.append(note)
        else:
            bad += 1
    extra = [RecoveryNote("recovery", SESSION_FILE, f"{bad} malformed recovery note{'s' if bad > 1 else ''} "
                                                    "left out")] if bad else []
    return notes, extra


def table_name_problem(name) -> str | None:
    """Why ``name`` (taken from a file) cannot be an extra table of a session, or None."""
    try:
        check_table_name(name)
    except ValueError as exc:
        return str(exc)
    return None
