"""Times as users type and read them: ms since the epoch, or ISO 8601 (UTC unless a zone is given)."""

from __future__ import annotations

from datetime import UTC, datetime


def parse_time(text: str) -> int:
    """``1723161255000`` (ms), ``1723161255`` (s) or ``2024-08-08T23:54:15[Z|+00:00]`` -> ms since epoch."""
    t = text.strip()
    if t.lstrip("-").isdigit():
        value = int(t)
        return value * 1000 if abs(value) < 10**11 else value
    try:
        dt = datetime.fromisoformat(t.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"cannot read time {text!r}: give ms since the epoch or ISO 8601 like "
                         "2024-08-08T23:55:00Z") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp() * 1000)


def format_time(ms: int | None, with_ms: bool = False) -> str:
    """ISO 8601 UTC text of a time in ms (``-`` for None)."""
    if ms is None:
        return "-"
    dt = datetime.fromtimestamp(ms / 1000, tz=UTC)
    return dt.isoformat(timespec="milliseconds" if with_ms else "seconds").replace("+00:00", "Z")
