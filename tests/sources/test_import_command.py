"""``liqdesk import``: sessions written through the store, one-line errors, the progress bar."""

from __future__ import annotations

import pytest

from liqdesk.cli import main

from .importer_helpers import T0, bn_depth, bn_force, bn_trade, lines


def _capture(tmp_path):
    path = tmp_path / "capture.jsonl"
    path.write_bytes(lines(bn_trade(1, T0), bn_trade(2, T0 + 10), bn_force(T0 + 20, "SELL"),
                           bn_depth(1, 10, 0, T0), bn_depth(21, 30, 20, T0 + 30), bn_trade(2, T0 + 10)))
    return path


def test_import_writes_a_session(tmp_path, capsys):
    from liqdesk.store import SessionReader

    out = tmp_path / "s.liqs"
    assert main(["import", str(_capture(tmp_path)), "--out", str(out)]) == 0
    printed = capsys.readouterr()
    assert printed.out.count("\n") == 1 and "2 trades" in printed.out and "1 duplicate trades" in printed.out
    assert printed.err == ""  # not a terminal: no progress bar
    with SessionReader(out) as r:
        assert r.symbol == "BTC/USDT:USDT"
        counts = r.counts()
        assert counts["trades"] == {"binance": 2}
        assert counts["liquidations"] == {"binance": 1}
        assert counts["book"] == {"binance": 4}
        assert [(g["exchange"], g["kind"], g["start_ms"], g["end_ms"]) for g in r.gaps] == [
            ("binance", "book", T0, T0 + 30)]
        assert r.meta["source"] == "import"
        assert r.meta["import"]["report"]["events"]["trades"] == 2


def test_import_errors_are_one_line(tmp_path, capsys):
    junk = tmp_path / "junk.txt"
    junk.write_bytes(b"hello\nworld\n")
    assert main(["import", str(junk), "--out", str(tmp_path / "a.liqs")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("liqdesk: error: nothing usable") and err.count("\n") == 1
    assert not (tmp_path / "a.liqs").exists()

    assert main(["import", str(tmp_path / "missing.gz"), "--out", str(tmp_path / "b.liqs")]) == 2
    assert "input not found" in capsys.readouterr().err

    capture = _capture(tmp_path)
    assert main(["import", str(capture), "--out", str(tmp_path / "c.liqs"), "--symbol", "ETHUSDT"]) == 2
    assert "ETHUSDT is not in the input, which holds BTCUSDT (binance perpetual" in capsys.readouterr().err

    assert main(["import", str(capture), "--out", str(tmp_path / "d.liqs")]) == 0
    capsys.readouterr()
    assert main(["import", str(capture), "--out", str(tmp_path / "d.liqs")]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert main(["import", str(capture), "--out", str(tmp_path / "d.liqs"), "--overwrite"]) == 0

    with pytest.raises(SystemExit) as exit_info:
        main(["import", str(capture), "--out", str(tmp_path / "e.liqs"), "--format", "nope"])
    assert exit_info.value.code == 2 and "invalid choice" in capsys.readouterr().err


def test_import_progress_on_a_terminal_only_after_a_second(tmp_path, capsys, monkeypatch):
    import liqdesk.commands.progress as progress

    capture = _capture(tmp_path)
    monkeypatch.setenv(progress.ENV, "1")  # as if stderr were a terminal
    assert main(["import", str(capture), "--out", str(tmp_path / "a.liqs")]) == 0
    assert capsys.readouterr().err == ""  # done within the first second: nothing shown
    clock = iter(range(0, 1000, 5))  # every reading of the clock 5 s later
    monkeypatch.setattr(progress, "monotonic", lambda: next(clock))
    assert main(["import", str(capture), "--out", str(tmp_path / "b.liqs")]) == 0
    err = capsys.readouterr().err
    assert err.startswith("\rimport  100.0 %") and " MB/s" in err and err.endswith("\r")


def test_import_real_capture(real_data, tmp_path, capsys):
    from liqdesk.store import SessionReader

    out = tmp_path / "btc.liqs"
    assert main(["import", str(real_data / "binance-usdm-ws/btcusdt_20240808.gz"), "--out", str(out)]) == 0
    assert "21,313 trades" in capsys.readouterr().out
    with SessionReader(out) as r:
        assert r.counts()["trades"] == {"binance": 21_313}
        assert r.counts()["book"] == {"binance": 445_521}
