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


_UNITS_MS = {"ms": 1, "s": 1000, "m": 60_000, "min": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}


def parse_duration(text: str) -> int:
    """``90s``, ``15m``, ``24h``, ``7d``, ``1w``, ``250ms`` or ``1h30m`` -> milliseconds (> 0).
    A bare number is seconds. ValueError with the accepted forms otherwise."""
    import re

    t = str(text).strip().lower().replace(" ", "")
    if re.fullmatch(r"\d+(\.\d+)?", t):
        ms = float(t) * 1000
    else:
        parts = re.findall(r"(\d+(?:\.\d+)?)(ms|min|s|m|h|d|w)", t)
        if not parts or "".join(n + u for n, u in parts) != t:
            raise ValueError(f"cannot read duration {text!r}: give e.g. 90s, 15m, 24h or 7d")
        ms = sum(float(n) * _UNITS_MS[u] for n, u in parts)
    if not ms >= 1:
        raise ValueError(f"duration {text!r} must be at least 1 ms")
    return int(round(ms))


def format_duration(ms: int | float) -> str:
    """A short human duration: ``45 s``, ``12 min``, ``3 h 20 min``, ``2 d 4 h``."""
    s = max(0.0, float(ms) / 1000.0)
    if s < 90:
        return f"{s:.0f} s"
    m = s / 60
    if m < 90:
        return f"{m:.0f} min"
    h, mins = divmod(int(round(m)), 60)
    if h < 48:
        return f"{h} h {mins} min" if mins else f"{h} h"
    d, hrs = divmod(h, 24)
    return f"{d} d {hrs} h" if hrs else f"{d} d"
