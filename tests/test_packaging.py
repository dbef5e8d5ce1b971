"""The desktop bundle's recipe, checked without building it (packaging/build.sh builds it; CI runs
the built bundle): what the spec ships, where the code finds it, and where the version comes from."""

from __future__ import annotations

import ast
import fnmatch
import importlib.metadata
import struct
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGING = REPO / "packaging"


@pytest.fixture
def packaging_modules(monkeypatch):
    monkeypatch.syspath_prepend(str(PACKAGING))
    import bundle_contents
    import icon_formats
    import liqdesk_entry

    return bundle_contents, icon_formats, liqdesk_entry


def _shipped_files() -> list[Path]:
    return sorted(p.relative_to(REPO / "resources") for p in (REPO / "resources").rglob("*") if p.is_file())


def test_spec_ships_every_resource_where_the_code_looks(packaging_modules, tmp_path, monkeypatch):
    from liqdesk.core import resources

    bundle_contents, _, _ = packaging_modules
    datas = bundle_contents.resource_datas(REPO)
    shipped = {Path(dest) / Path(src).name for src, dest in datas}
    assert shipped == {bundle_contents.BUNDLE_RESOURCES / f for f in _shipped_files()}
    assert {Path("icons/liqdesk.svg"), Path("icons/liqdesk-16.png"), Path("liqdesk.desktop"),
            Path("tiers/okx.json"), Path("alerts/example.toml")} <= set(_shipped_files())
    # a frozen app (sys._MEIPASS) looks in the bundle's copy first
    frozen = tmp_path / bundle_contents.BUNDLE_RESOURCES / "tiers"
    frozen.mkdir(parents=True)
    (frozen / "okx.json").write_text("{}")
    monkeypatch.setattr(sys, "_MEIPASS", str(tmp_path), raising=False)
    assert resources.resource_path("tiers", "okx.json") == frozen / "okx.json"
    assert resources.resource_path("alerts", "example.toml").is_file()  # not in the fake bundle: the checkout's


def test_a_missing_resource_names_where_it_was_looked_for():
    from liqdesk.core import resources

    with pytest.raises(FileNotFoundError, match=r"icons/nope.png not found in .*resources"):
        resources.resource_path("icons", "nope.png")


def test_wheel_ships_every_resource():
    """setup.py's package_data globs cover every file under resources/ (the pip install's copy)."""
    tree = ast.parse((REPO / "setup.py").read_text())
    call = next(n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "setup")
    globs = ast.literal_eval(next(k.value for k in call.keywords if k.arg == "package_data"))["liqdesk.resources"]
    missed = [str(f) for f in _shipped_files() if not any(fnmatch.fnmatch(f.as_posix(), g) for g in globs)]
    assert not missed


def test_bundle_leaves_out_the_test_extra(packaging_modules):
    bundle_contents, _, _ = packaging_modules
    extra = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]["test"]
    modules = {"pytest": "pytest", "pytest-qt": "pytestqt", "pytest-xdist": "xdist", "hypothesis": "hypothesis",
               "ruff": "ruff", "import-linter": "importlinter"}
    names = [req.split(">")[0].split("<")[0].split("=")[0].strip() for req in extra]
    assert set(names) == set(modules)  # a new test dependency: add its module here and to EXCLUDES
    assert {modules[n] for n in names} <= set(bundle_contents.EXCLUDES)


def test_bundle_drops_only_what_liqdesk_never_loads(packaging_modules):
    bundle_contents, _, _ = packaging_modules
    for dest, _src in bundle_contents.resource_datas(REPO):
        assert bundle_contents.keep(dest)
    for needed in ("pyarrow/libarrow.so.2600", "pyarrow/libparquet.so.2600", "pyarrow/libarrow_dataset.so.2600",
                   "pyarrow/_parquet.cpython-311-x86_64-linux-gnu.so", "pyarrow/arrow.dll"):
        assert bundle_contents.keep(needed)
    for unused in ("pyarrow/include/arrow/api.h", "pyarrow/libarrow_flight.so.2600", "pyarrow/libarrow_s3.so.2600"):
        assert not bundle_contents.keep(unused)


def test_version_is_the_package_metadata(capsys):
    from liqdesk.cli import main

    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out.strip() == f"liqdesk {importlib.metadata.version('liqdesk')}"


def test_version_without_metadata_is_pyproject_s(monkeypatch):
    import liqdesk

    def missing(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "version", missing)
    expected = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    assert liqdesk.package_version() == expected


def test_frozen_entry_runs_only_liqdesk_modules_as_children(packaging_modules, monkeypatch, capsys):
    _, _, entry = packaging_modules
    monkeypatch.setattr(sys, "argv", ["liqdesk", "-m", "os"])
    assert entry.main() == 2
    assert "liqdesk's own modules only" in capsys.readouterr().err
    monkeypatch.setattr(sys, "argv", ["liqdesk", "-m", "liqdesk", "--version"])
    with pytest.raises(SystemExit) as done:
        entry.main()
    assert done.value.code == 0
    assert capsys.readouterr().out.startswith("liqdesk ")


def test_ico_and_icns_hold_the_pngs(packaging_modules, tmp_path):
    _, icon_formats, _ = packaging_modules
    ico = icon_formats.write_ico(tmp_path / "liqdesk.ico").read_bytes()
    assert struct.unpack("<HHH", ico[:6]) == (0, 1, len(icon_formats.ICO_SIZES))
    side, _, _, _, _, _, size, offset = struct.unpack("<BBBBHHII", ico[6:22])
    assert side == 16 and ico[offset:offset + size] == (REPO / "resources/icons/liqdesk-16.png").read_bytes()
    icns = icon_formats.write_icns(tmp_path / "liqdesk.icns").read_bytes()
    assert icns[:4] == b"icns" and struct.unpack(">I", icns[4:8])[0] == len(icns)
    assert icns[8:12] == b"icp4" and icns[16:24] == b"\x89PNG\r\n\x1a\n"
