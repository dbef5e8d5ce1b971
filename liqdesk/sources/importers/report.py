"""What an import found: events per kind, everything skipped (per reason), gaps, truncated inputs."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import NamedTuple

# Skip reasons, shared by every importer. Counts are lines or messages unless the name says rows.
GARBAGE = "garbage lines"  # not JSON / not a CSV row of the detected kind
MALFORMED = "malformed messages"  # JSON, but fields missing or of the wrong type
UNKNOWN_STREAM = "unknown streams"  # well-formed, but an event type / topic / channel we do not import
UNRECOGNIZED = "lines of unrecognized format"  # a whole input whose format could not be detected
OTHER_SYMBOLS = "mixed symbols"  # lines of symbols other than the imported one
CONTROL = "control messages"  # subscription acks, sent messages, connection records, capture headers
TRUNCATED_LINE = "truncated last line"  # the partial line at the break of a truncated input
NOT_IMPORTED = "{} (not imported)"  # known streams deliberately left out, e.g. bookTicker, kline
DUPLICATE = "duplicate {}"  # e.g. "duplicate trades", "duplicate book updates": exact repeats
#: the same id as an earlier event but other content (time, side, price or size): the first is kept
CONFLICTING = "conflicting duplicate {} (same id, other content; the first kept)"
INVALID_ROWS = "invalid rows ({})"  # rows that failed validation (NaN, <= 0, bad side, bad time)
UNKNOWN_CONTRACT = "unknown contract size"  # OKX contracts whose size in base currency is unknown
STALE_BOOK = "book diffs older than snapshot"
SUPERSEDED_AGG = "aggTrade rows (trade stream present)"
AMBIGUOUS_SNAPSHOT = "depth snapshots without symbol"
EMPTY = "messages without events"  # e.g. book updates with no level, empty trade lists
AFTER_DAMAGE = "lines after damaged data"  # read from a damaged input after its first bad line


class Gap(NamedTuple):
    """A span in which a stream lost data; ``gap[:2]`` is ``(start_ms, end_ms)``."""

    start_ms: int
    end_ms: int
    exchange: str
    kind: str
    reason: str


@dataclass
class Damage:
    """Where and why one input stopped being readable (a truncated or corrupt compressed file).

    ``kind``: ``truncated`` (the file ends inside the compressed stream: what decoded is right),
    ``corrupt`` (the decompressor failed at ``offset``), ``checksum`` (it decoded to the end but the
    checksum does not match: some data is wrong, the first line that does not decode shows where)
    or ``trailing`` (bytes after the end of the stream).
    """

    kind: str
    reason: str
    #: input (compressed) byte at which reading stopped, and the input's size
    offset: int
    size: int
    #: decompressed bytes read before the break
    decoded: int
    #: decompressed bytes the input declares beyond the break (gzip trailer, zstd frame header)
    lost_decoded: int | None = None
    # filled by the importer:
    lines_read: int = 0  # lines decoded from the input (non-empty)
    lines_dropped: int = 0  # of them, left out because they follow the damage
    first_bad_line: int | None = None  # 1-based line number where the damage shows
    first_bad_offset: int | None = None  # decompressed byte offset of that line

    def __str__(self) -> str:
        return self.reason

    @property
    def lost_lines(self) -> int | None:
        """About how many lines the unreadable part held (from the declared size)."""
        if not self.lost_decoded or not self.decoded or not self.lines_read:
            return None
        return round(self.lost_decoded * self.lines_read / self.decoded)

    def describe(self) -> str:
        """One clause: what broke, where, and what was lost."""
        kept = self.lines_read - self.lines_dropped
        if self.kind == "truncated":
            text = (f"{self.reason}: the file ends inside the compressed stream, after {self.decoded:,} "
                    f"decompressed bytes; what followed is not in the file")
        elif self.kind == "checksum":
            text = f"{self.reason}: data damaged somewhere before byte {self.offset:,} of {self.size:,}"
        else:
            text = f"{self.reason} at byte {self.offset:,} of {self.size:,}"
            if self.size > self.offset:
                text += f": {self.size - self.offset:,} bytes not readable"
        if self.lost_decoded:
            text += f" (about {self.lost_decoded:,} bytes decompressed"
            text += f", {self.lost_lines:,} lines)" if self.lost_lines else ")"
        if self.lines_dropped:
            text += (f"; dropped {self.lines_dropped:,} lines from line {self.first_bad_line:,} (decompressed byte "
                     f"{self.first_bad_offset:,}) on, where the damage shows")
        elif self.kind == "checksum":
            text += "; no line failed to decode, so none was left out, but a value may be wrong"
        return text + f"; kept {kept:,} lines before it"

    def as_dict(self) -> dict:
        return {"kind": self.kind, "reason": self.reason, "offset": self.offset, "size": self.size,
                "bytes_unreadable": max(0, self.size - self.offset), "decoded_bytes": self.decoded,
                "lost_decoded_bytes": self.lost_decoded, "lost_lines_estimate": self.lost_lines,
                "lines_read": self.lines_read, "lines_dropped": self.lines_dropped,
                "lines_kept": self.lines_read - self.lines_dropped, "first_bad_line": self.first_bad_line,
                "first_bad_offset": self.first_bad_offset, "description": self.describe()}


@dataclass
class ImportReport:
    """The outcome of :func:`liqdesk.sources.importers.import_files`."""

    files: list[str] = field(default_factory=list)
    #: file -> format it was read as (``None`` when it could not be detected)
    formats: dict[str, str | None] = field(default_factory=dict)
    #: the imported symbol (unified form, e.g. ``BTC/USDT:USDT``), None when nothing was found
    symbol: str | None = None
    #: exchanges the imported events come from
    exchanges: list[str] = field(default_factory=list)
    #: non-empty lines read, over all inputs
    lines: int = 0
    #: lines (messages) per symbol seen, before choosing one
    symbols: dict[str, int] = field(default_factory=dict)
    #: events kept per kind (the keys of liqdesk.core.events.KINDS)
    events: dict[str, int] = field(default_factory=dict)
    #: reason -> count of what was skipped
    skipped: Counter = field(default_factory=Counter)
    gaps: list[Gap] = field(default_factory=list)
    #: inputs that ended early (truncated or corrupt compression), with the reason
    truncated: dict[str, str] = field(default_factory=dict)
    #: the same inputs: where they broke and what was lost
    damage: dict[str, Damage] = field(default_factory=dict)
    #: (first, last) event time in ms, None when nothing was imported
    span_ms: tuple[int, int] | None = None
    #: every market seen, most active first (see :func:`.markets.market_table`)
    markets: list[dict] = field(default_factory=list)
    #: the ``--symbol`` asked for, None when the market was picked
    wanted: str | None = None
    #: why the imported market was chosen, e.g. "the perpetual with the most events"
    choice: str = ""

    def others(self) -> list[dict]:
        """The markets seen other than the imported one, most active first."""
        return [m for m in self.markets if m["symbol"] != self.symbol]

    def picked(self) -> str:
        """``picked BTC-USDT-SWAP (okx perpetual, 12 trades, 340 events): <why>; the input also
        holds ...`` when the market was chosen among several, else ""."""
        from .markets import describe, describe_all

        mine = [m for m in self.markets if m["symbol"] == self.symbol]
        if self.wanted or not mine or len(self.markets) < 2:
            return ""
        return f"picked {describe(mine[0])}: {self.choice}; the input also holds {describe_all(self.others())}"

    @property
    def usable(self) -> bool:
        """True when at least one event was imported."""
        return sum(self.events.values()) > 0

    @property
    def total_events(self) -> int:
        return sum(self.events.values())

    def summary(self) -> str:
        """One line: what was imported, what was skipped and why, gaps and truncated inputs."""
        fmts = sorted({f for f in self.formats.values() if f})
        head = (
            f"{self.symbol or 'no symbol'} ({', '.join(self.exchanges) or 'no exchange'}) from "
            f"{len(self.files)} file{'s' if len(self.files) != 1 else ''} "
            f"[{', '.join(fmts) or 'unrecognized'}], {self.lines:,} lines"
        )
        kinds = ", ".join(f"{n:,} {k}" for k, n in self.events.items() if n) or "no events"
        parts = [head, kinds]
        picked = self.picked()
        if picked:
            parts.append(picked)
        if self.skipped:
            parts.append(
                "skipped " + ", ".join(f"{n:,} {why}" for why, n in self.skipped.most_common() if n)
            )
        parts.append(f"{len(self.gaps)} gap{'s' if len(self.gaps) != 1 else ''}")
        if self.damage:
            parts.append("damaged input: " + ", ".join(f"{f}: {d.describe()}" for f, d in self.damage.items()))
        elif self.truncated:
            parts.append("truncated: " + ", ".join(f"{f} ({why})" for f, why in self.truncated.items()))
        return "; ".join(parts)

    def as_dict(self) -> dict:
        """JSON-ready form (for session metadata)."""
        return {
            "files": list(self.files),
            "formats": dict(self.formats),
            "symbol": self.symbol,
            "exchanges": list(self.exchanges),
            "lines": self.lines,
            "symbols": dict(self.symbols),
            "events": dict(self.events),
            "skipped": dict(self.skipped),
            "gaps": [g._asdict() for g in self.gaps],
            "truncated": dict(self.truncated),
            "damage": {f: d.as_dict() for f, d in self.damage.items()},
            "span_ms": list(self.span_ms) if self.span_ms else None,
            "markets": [dict(m) for m in self.markets],
            "choice": self.choice,
        }
