"""What the bundle holds beyond what PyInstaller finds by following imports (used by
packaging/liqdesk.spec and checked by tests/test_packaging.py, no PyInstaller needed to import)."""

from __future__ import annotations

from pathlib import Path

#: the shipped data files' place inside the bundle, where liqdesk.core.resources looks (sys._MEIPASS)
BUNDLE_RESOURCES = Path("liqdesk") / "resources"

#: Qt modules loaded only by name or by a plugin: QtSvg for the SVG image format and icon engine
QT_MODULES = ["PySide6.QtSvg"]

#: never in the bundle: the test extra and the optional back-ends pyqtgraph, pyarrow and numpy
#: would pull in when present in the build environment
EXCLUDES = [
    "pytest", "_pytest", "pytestqt", "xdist", "hypothesis", "ruff", "importlinter", "grimp",
    "tkinter", "matplotlib", "scipy", "pandas", "IPython", "PyQt5", "PyQt6", "PySide2", "cupy", "numba",
    "OpenGL", "pyqtgraph.opengl", "pyqtgraph.examples", "pyqtgraph.jupyter",
    # pyarrow's RPC and S3 layers: liqdesk reads and writes local Parquet and Arrow IPC only
    # (pyarrow.fs imports its S3 support inside try/except ImportError)
    "pyarrow.flight", "pyarrow._flight", "pyarrow._s3fs",
]

#: files PyInstaller's hooks collect wholesale that liqdesk never loads (patterns on the path
#: inside the bundle): pyarrow's C++ headers and the libraries of the modules excluded above,
#: about 60 MB (library names as on Linux and macOS; on Windows they stay, harmless)
DROP = ("pyarrow/include/*", "pyarrow/libarrow_flight.*", "pyarrow/libarrow_python_flight.*",
        "pyarrow/libarrow_s3.*")


def keep(dest: str) -> bool:
    """False for a bundle path that DROP leaves out."""
    import fnmatch

    path = Path(dest).as_posix()
    return not any(fnmatch.fnmatch(path, pattern) for pattern in DROP)


def resource_datas(root: Path) -> list[tuple[str, str]]:
    """(source file, folder in the bundle) for every file under ``root/resources``: the whole tree,
    so a file added there is shipped without touching the spec."""
    resources = root / "resources"
    return [(str(path), str(BUNDLE_RESOURCES / path.parent.relative_to(resources)))
            for path in sorted(resources.rglob("*")) if path.is_file()]
