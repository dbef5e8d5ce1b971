"""The dependency rules of PRODUCT.md §4 that import-linter cannot express fully."""

import ast
import sys
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / "liqdesk"


def imports(path: Path):
    tree = ast.parse(path.read_text(), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, 0
        elif isinstance(node, ast.ImportFrom):
            yield node.module or "", node.level


def test_core_imports_only_numpy_the_standard_library_and_itself():
    allowed = set(sys.stdlib_module_names) - {"asyncio"} | {"numpy", "__future__"}
    for path in (PKG / "core").rglob("*.py"):
        for module, level in imports(path):
            if level:  # relative: must stay inside core
                assert level == 1, f"{path.name} reaches outside liqdesk.core"
                continue
            assert module.split(".")[0] in allowed, f"{path.name} imports {module}"


def test_qt_only_in_ui():
    qt = {"PySide6", "pyqtgraph", "qasync"}
    for path in PKG.rglob("*.py"):
        if "ui" in path.relative_to(PKG).parts or path.name in ("main.py",):
            continue
        for module, _ in imports(path):
            assert module.split(".")[0] not in qt, f"{path.relative_to(PKG)} imports {module}"


def test_nothing_that_runs_code_from_files():
    banned = {"pickle", "marshal", "shelve", "dill", "cloudpickle"}
    for path in PKG.rglob("*.py"):
        for module, _ in imports(path):
            assert module.split(".")[0] not in banned, f"{path.relative_to(PKG)} imports {module}"
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                assert node.func.id not in ("eval", "exec", "compile"), f"{path.relative_to(PKG)} calls {node.func.id}"
