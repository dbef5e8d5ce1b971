"""liqdesk: a real-time crypto liquidation heatmap.

The version has one source, ``version`` in pyproject.toml: installed (pip, or the PyInstaller
bundle, which copies the package metadata) it is read from the package metadata; in a checkout
run without installing, from pyproject.toml itself. ``liqdesk.__version__`` is looked up on first
use so that importing liqdesk does not load importlib.metadata.
"""

from __future__ import annotations

import os
from pathlib import Path

# Arrow's buffers from the C library's allocator, not its default mimalloc pool, which keeps what
# a decoded row group freed: reading a session hour by hour grew the resident memory with the
# session's length (48 h read sequentially: +40 MB with mimalloc, flat with the system allocator,
# no slower: row groups are large buffers, where the pools' speed does not differ). Set before
# pyarrow is first imported (it reads the choice once); a user's own setting wins.
os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")


def package_version() -> str:
    """liqdesk's version from its package metadata, else from the checkout's pyproject.toml."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("liqdesk")
    except PackageNotFoundError:
        pass
    pyproject = Path(__file__).resolve().parents[1] / "pyproject.toml"
    try:
        import tomllib

        return str(tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]["version"])
    except (OSError, KeyError, ValueError):
        return "unknown (no package metadata and no pyproject.toml)"


def __getattr__(name: str):
    if name == "__version__":
        value = package_version()
        globals()["__version__"] = value
        return value
    raise AttributeError(f"module 'liqdesk' has no attribute {name!r}")
