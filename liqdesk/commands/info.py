"""``liqdesk info SESSION [--json] [--verify] [--strict]``: span, event counts, gaps and recovery
notes of a session, checked against the data.

What ``info`` reports it has checked: by default the footers and statistics of every Parquet file
against ``index.json``, and the time and exchange of every event (so the span and the counts are
those of readable events); ``--verify`` reads every page of every file as well (each page's
checksum), which finds damage in the other columns. The ``checked`` line says which was done.
What could not be read is listed under ``recovery`` and said on stderr."""

from __future__ import annotations

import argparse
import json

from liqdesk.commands import Omissions, add_strict

HELP = "show a recorded session: time span, events per kind and exchange, gaps, recovery notes"

#: Event kinds as ``info`` names them (the batch field ``marks`` is shown as ``mark_price``).
INFO_KINDS = {
    "trades": "trades",
    "book": "book",
    "mark_price": "marks",
    "open_interest": "open_interest",
    "funding": "funding",
    "liquidations": "liquidations",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("session", metavar="SESSION", help="session directory (NAME.liqs)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    parser.add_argument("--verify", action="store_true",
                        help="read every page of every file (checks each page's checksum; slower)")
    add_strict(parser)


#: what the ``checked`` line says for each depth of :meth:`SessionReader.verify`
CHECKED = {
    "counts": "footers, statistics and index; time and exchange of every event (other columns' pages not read: "
              "--verify reads them)",
    "pages": "every page of every file (--verify)",
    "logs": "every batch of every append log, against its checksum",
}


def session_info(path, verify: bool = False, omissions=None) -> dict:
    """Everything ``liqdesk info`` prints, as a JSON-ready dict. The data is read to check what is
    reported (``verify``: every page); ``omissions`` (an :class:`Omissions` maker) is called with
    the reader to say what was left out."""
    from liqdesk.store import SessionReader
    from liqdesk.store.format import utc_text

    with SessionReader(path) as reader:
        said = omissions(reader) if omissions else None
        if said:
            said.check()
        reader.verify(full=verify)
        if said:
            said.say()
        counts = reader.counts()
        info_counts = {name: dict(counts[kind]) for name, kind in INFO_KINDS.items()}
        kind_totals = {name: sum(c.values()) for name, c in info_counts.items()}
        start, end = reader.start_ms, reader.end_ms
        gaps = []
        for gap in reader.gaps:
            gap = dict(gap)
            if gap.get("kind") == "marks":
                gap["kind"] = "mark_price"
            gaps.append(gap)
        return {
            "path": str(reader.path),
            "symbol": reader.symbol,
            "closed": reader.closed,
            "format_version": reader.format_version,
            "liqdesk_version": reader.liqdesk_version,
            "created_ms": reader.created_ms,
            "start_ms": start,
            "end_ms": end,
            "start_utc": utc_text(start),
            "end_utc": utc_text(end),
            "duration_ms": None if start is None else end - start,
            "counts": info_counts,
            "kind_totals": kind_totals,
            "counts_total": sum(kind_totals.values()),
            "gaps": gaps,
            "recovery": reader.recovery.to_list(),
            "checked": reader.checked,
            "tables": {name: reader.table_rows(name) for name in reader.tables},
            "meta": reader.meta,
        }


def _format_text(info: dict) -> str:
    from liqdesk.core.events import EXCHANGES
    from liqdesk.store.format import duration_text, utc_text

    lines = [f"session   {info['path']}"]
    if info["closed"]:
        lines.append("state     closed cleanly")
    else:
        lines.append("state     NOT closed cleanly (writer crashed or still recording): read from its append logs")
    lines.append(f"symbol    {info['symbol']}")
    if info["start_ms"] is None:
        lines.append("span      (no events)")
    else:
        lines.append(f"span      {info['start_utc']} -> {info['end_utc']}  ({duration_text(info['duration_ms'])})")
    exchanges = [e for e in EXCHANGES if any(e in c for c in info["counts"].values())]
    lines.append(f"events    {info['counts_total']:,}")
    if exchanges:
        header = f"  {'kind':<15}" + "".join(f"{e:>13}" for e in exchanges) + f"{'total':>13}"
        lines.append(header)
        for kind, per in info["counts"].items():
            row = f"  {kind:<15}" + "".join(f"{per.get(e, 0):>13,}" for e in exchanges)
            lines.append(row + f"{info['kind_totals'][kind]:>13,}")
    gaps = info["gaps"]
    lines.append(f"gaps      {len(gaps) if gaps else 'none'}")
    for gap in gaps[:50]:
        span = duration_text(gap["end_ms"] - gap["start_ms"])
        lines.append(f"  {gap['exchange']} {gap['kind']} {utc_text(gap['start_ms'])} -> {utc_text(gap['end_ms'])}"
                     f" ({span}): {gap['reason']}")
    if len(gaps) > 50:
        lines.append(f"  ... and {len(gaps) - 50} more (see --json)")
    lines.append(f"checked   {CHECKED.get(info['checked'], info['checked'])}")
    if info["recovery"]:
        lines.append("recovery  problems found; what could not be read was left out:")
        from liqdesk.store.format import RecoveryNote

        for note in info["recovery"]:
            lines.append(f"  {RecoveryNote(**note)}")
    elif info["checked"] in ("pages", "logs"):
        lines.append("recovery  nothing skipped")
    else:
        lines.append("recovery  nothing found damaged in what was checked")
    if info["tables"]:
        lines.append("tables    " + ", ".join(f"{n} ({r:,} rows)" for n, r in info["tables"].items()))
    live = info["meta"].get("live") if isinstance(info["meta"], dict) else None
    if isinstance(live, dict) and live:
        lines.append("live feed per exchange (what the recorder's adapters counted)")
        for name, c in live.items():
            if isinstance(c, dict):
                lines.append(f"  {name:<12} liquidations {c.get('liquidations', '?')}; {c.get('duplicates', 0):,} duplicates "
                             f"dropped, {c.get('resyncs', 0)} book resyncs, {c.get('reconnects', 0)} reconnects, "
                             f"{c.get('malformed', 0)} malformed, {c.get('late', 0)} too late")
    if info["meta"]:
        lines.append("meta      " + ", ".join(sorted(info["meta"])))
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    info = session_info(args.session, verify=args.verify, omissions=lambda r: Omissions(r, args.strict))
    if args.json:
        print(json.dumps(info, indent=1, ensure_ascii=False))
    else:
        print(_format_text(info))
    return 0
