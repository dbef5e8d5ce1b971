"""Where liqdesk's shipped data files live (tier tables, the example alert rules, icons, the
desktop entry): the one place that knows the three layouts.

- the PyInstaller bundle: ``<bundle>/_internal/liqdesk/resources`` (``sys._MEIPASS``; the spec,
  ``packaging/liqdesk.spec``, copies ``resources/`` there);
- installed with pip: ``liqdesk/resources`` inside the package (``setup.py`` maps it);
- a source checkout: the top-level ``resources/`` beside the ``liqdesk`` package.
"""

from __future__ import annotations

import sys
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parents[1]


def resource_dirs() -> tuple[Path, ...]:
    """The folders searched for a shipped file, first match wins."""
    dirs = []
    frozen = getattr(sys, "_MEIPASS", None)
    if frozen:
        dirs.append(Path(frozen) / "liqdesk" / "resources")
    dirs += [_PACKAGE / "resources", _PACKAGE.parent / "resources"]
    return tuple(dirs)


def resource_path(*parts: str) -> Path:
    """The path of a shipped data file (``resource_path("tiers", "okx.json")``); a missing one
    raises FileNotFoundError naming every folder looked in."""
    dirs = resource_dirs()
    for base in dirs:
        candidate = base.joinpath(*parts)
        if candidate.exists():
            return candidate
    raise FileNotFoundError(f"liqdesk resource {'/'.join(parts)} not found in "
                            f"{' or '.join(str(d) for d in dirs)}")
