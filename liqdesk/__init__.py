"""liqdesk: a real-time crypto liquidation heatmap.

The version has one source, ``version`` in pyproject.toml: installed (pip, or the PyInstaller
bundle, which copies the package metadata) it is read from the package metadata; in a checkout
run without installing, from pyproject.toml itself. ``liqdesk.__version__`` is looked up on first
use so that importing liqdesk does not load importlib.metadata.
"""

from __future__ import annotations

from pathlib import Path


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
