"""Print the fault matrix (damage kinds x commands) as a markdown table.

    PYTHONPATH=. QT_QPA_PLATFORM=offscreen python -m tests.faults.matrix [--details]

Each damaged copy is made once and every command runs on it. ``--details`` adds, per failing cell,
the first line the command printed on stderr (or the last line of its traceback).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def _supports_verify() -> bool:
    from liqdesk.cli import build_parser

    try:
        build_parser().parse_args(["info", "x", "--verify"])
    except SystemExit:
        return False
    return True


def build(root: Path, details: bool = False) -> str:
    from tests.faults.damage import DAMAGES
    from tests.faults.harness import COMMANDS, PASSING, FaultEnv, run_command

    env = FaultEnv(root)
    commands = [c for c in COMMANDS if c != "info --verify" or _supports_verify()]
    rows, notes = [], []
    for damage in DAMAGES.values():
        path, loss = env.damaged(damage, root / "damaged")
        cells = []
        for command in commands:
            run = run_command(command, path, root / "work" / damage.name)
            verdict = env.judge(command, damage, loss, run)
            cells.append(verdict)
            if details and verdict not in PASSING:
                text = (run.exception or "").strip().splitlines()[-1:] or run.err_lines[:1] or run.messages[:1] or [""]
                notes.append(f"- {damage.label} / {command}: {verdict}: `{text[0][:160]}`")
        rows.append(f"| {damage.label} | " + " | ".join(cells) + " |")
        print(f"{damage.name}: {', '.join(cells)}", file=sys.stderr, flush=True)
    head = "| damage | " + " | ".join(f"`{c}`" for c in commands) + " |"
    sep = "|---|" + "---|" * len(commands)
    table = "\n".join([head, sep, *rows])
    if notes:
        table += "\n\n" + "\n".join(notes)
    return table


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--details", action="store_true", help="say why each failing cell failed")
    parser.add_argument("--out", help="also write the table to this file")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="liqdesk-faults-") as tmp:
        table = build(Path(tmp), args.details)
    print(table)
    if args.out:
        Path(args.out).write_text(table + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
