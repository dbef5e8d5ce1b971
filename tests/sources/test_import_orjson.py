"""orjson before 3.9.15 had no recursion limit (CVE-2024-27454): a crafted capture line crashed
``liqdesk import``. The declared floor is a fixed version and an older orjson is not used."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from types import SimpleNamespace

from liqdesk.sources.importers import import_bytes
from liqdesk.sources.importers import report as R
from liqdesk.sources.importers.base import ORJSON_FIXED, json_decoder

from .importer_helpers import T0, bn_trade, lines


def test_an_orjson_without_a_recursion_limit_is_not_used():
    def fake(version):
        return SimpleNamespace(__version__=version, loads=object(), JSONDecodeError=ValueError)

    for version in ("3.9.10", "3.9.14", "3.8.3", "2.0.0", "garbage"):
        assert json_decoder(fake(version)) == (json.loads, json.JSONDecodeError), version
    for version in ("3.9.15", "3.10.0", "3.11.6"):
        module = fake(version)
        assert json_decoder(module) == (module.loads, ValueError), version


def test_the_declared_orjson_floor_is_a_fixed_version():
    from importlib.metadata import version

    from packaging.requirements import Requirement

    pyproject = tomllib.loads((Path(__file__).resolve().parents[2] / "pyproject.toml").read_text())
    [req] = [Requirement(r) for r in pyproject["project"]["dependencies"] if r.startswith("orjson")]
    assert not req.specifier.contains("3.9.14") and req.specifier.contains("3.9.15")
    assert ".".join(map(str, ORJSON_FIXED)) == "3.9.15"
    assert req.specifier.contains(version("orjson"))             # what is installed satisfies it


def test_a_deeply_nested_line_is_counted_not_fatal():
    deep = b'{"stream":"btcusdt@trade","data":' + b"[" * 1_000_000 + b"]" * 1_000_000 + b"}"
    batches, rep = import_bytes(lines(bn_trade(1, T0)) + deep + b"\n" + lines(bn_trade(2, T0 + 1)))
    assert rep.events["trades"] == 2
    assert rep.skipped[R.GARBAGE] + rep.skipped[R.MALFORMED] == 1
