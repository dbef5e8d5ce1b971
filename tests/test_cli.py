"""The command line as a user runs it: one-line errors, no tracebacks."""

import json
import subprocess
import sys

import pytest


def liqdesk(*args):
    return subprocess.run([sys.executable, "-m", "liqdesk", *args], capture_output=True, text=True, timeout=120)


def test_liq_price_prints_the_price_on_the_last_line():
    r = liqdesk("liq-price", "--exchange", "bybit", "--side", "long", "--entry", "20000", "--leverage", "50",
                "--size", "1")
    assert r.returncode == 0
    assert float(r.stdout.strip().splitlines()[-1]) == pytest.approx(19_700)


def test_liq_price_json():
    r = liqdesk("liq-price", "--exchange", "okx", "--side", "short", "--entry", "3000", "--leverage", "10",
                "--size", "2", "--symbol", "ETH/USDT:USDT", "--json")
    info = json.loads(r.stdout)
    assert {"liquidation_price", "mmr", "tier"} <= set(info) and info["liquidation_price"] > 3000


@pytest.mark.parametrize("args,needle", [
    (["liq-price", "--exchange", "binance", "--side", "long", "--entry", "nan", "--leverage", "10", "--size", "1"],
     "--entry"),
    (["liq-price", "--exchange", "ftx", "--side", "long", "--entry", "1", "--leverage", "10", "--size", "1"],
     "--exchange"),
    (["liq-price", "--exchange", "binance", "--side", "long", "--entry", "60000", "--leverage", "125",
      "--size", "100"], "allows at most"),
    (["liq-price", "--exchange", "bybit", "--side", "long", "--entry", "60000", "--leverage", "500",
      "--size", "0.01"], "allows at most"),
    (["no-such-command"], "invalid choice"),
    (["--scenario", "storm"], "unknown scenario 'storm'; expected one of calm, trend, crash, lowlev, highlev"),
])
def test_bad_input_gives_one_line_and_exit_2(args, needle):
    r = liqdesk(*args)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("liqdesk: error:") and needle in lines[0]
    assert "Traceback" not in r.stderr


@pytest.mark.parametrize("exchange", ["binance", "okx", "hyperliquid", "bitget"])
def test_liq_price_at_1x_long_is_zero_not_an_error(exchange):
    # equity Q*P never falls under MMR*Q*P above 0: the long cannot be liquidated at a positive price
    r = liqdesk("liq-price", "--exchange", exchange, "--side", "long", "--entry", "100", "--leverage", "1",
                "--size", "1")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.strip().splitlines()
    assert float(lines[-1]) == 0.0
    assert "not liquidated above 0" in lines[0] and "at once" not in r.stdout
    info = json.loads(liqdesk("liq-price", "--exchange", exchange, "--side", "long", "--entry", "100",
                              "--leverage", "1", "--size", "1", "--json").stdout)
    assert info["liquidation_price"] == 0.0 and info["distance_pct"] == -100.0


def test_liq_price_at_1x_bybit_long_is_entry_times_mmr():
    r = liqdesk("liq-price", "--exchange", "bybit", "--side", "long", "--entry", "100", "--leverage", "1", "--size", "1")
    assert r.returncode == 0, r.stderr
    assert float(r.stdout.strip().splitlines()[-1]) == pytest.approx(0.5)      # 99.5 % under entry (MMR 0.5 %)


def test_liq_price_for_bitget_and_an_unknown_symbol_says_approximate():
    r = liqdesk("liq-price", "--exchange", "bitget", "--side", "short", "--entry", "80000", "--leverage", "20",
                "--size", "1")
    assert r.returncode == 0, r.stderr
    assert float(r.stdout.strip().splitlines()[-1]) == pytest.approx(80_000 * 1.05 / (1 + 0.004 + 0.0006))
    assert "approximate" not in r.stdout
    info = json.loads(liqdesk("liq-price", "--exchange", "bitget", "--side", "short", "--entry", "80000", "--leverage",
                              "20", "--size", "1", "--json").stdout)
    assert info["taker_fee_included"] is True and info["tiers_as_of"] == "2026-09-25"
    r = liqdesk("liq-price", "--exchange", "okx", "--side", "long", "--entry", "0.5", "--leverage", "10",
                "--size", "1000", "--symbol", "PEPE/USDT:USDT")
    assert r.returncode == 0, r.stderr
    assert "approximate tiers" in r.stdout.splitlines()[0]
    info = json.loads(liqdesk("liq-price", "--exchange", "okx", "--side", "long", "--entry", "0.5", "--leverage",
                              "10", "--size", "1000", "--symbol", "PEPE/USDT:USDT", "--json").stdout)
    assert info["approximate_tiers"] is True and info["symbol"] == "PEPE/USDT:USDT"
    assert json.loads(liqdesk("liq-price", "--exchange", "okx", "--side", "long", "--entry", "3000", "--leverage",
                              "10", "--size", "1", "--json").stdout)["approximate_tiers"] is False


def test_every_subcommand_has_help(capsys):
    from liqdesk.cli import COMMANDS, main

    # in this process (argparse prints and exits 0): a child per command took 8 s of the suite
    for name in COMMANDS:
        with pytest.raises(SystemExit) as done:
            main([name, "--help"])
        assert done.value.code == 0 and "usage:" in capsys.readouterr().out, name
    # and once through the installed entry point
    r = liqdesk("alerts", "--help")
    assert r.returncode == 0 and "usage:" in r.stdout


def test_bench_quick_json():
    r = liqdesk("bench", "--quick", "--json", "--only", "ingest")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["ingest_events_per_s"] > 0 and out["ingest_baseline_per_s"] > 0
    assert out["ingest_ratio"] == pytest.approx(out["ingest_events_per_s"] / out["ingest_baseline_per_s"], rel=0.01)


def test_bench_rebuild_quick_reports_against_its_baseline():
    r = liqdesk("bench", "--quick", "--json", "--only", "rebuild")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["rebuild_equals_plain_ingest"] is True
    assert out["rebuild_2h_ms"] > 0 and out["rebuild_baseline_ms"] > 0
    assert out["rebuild_ratio"] == pytest.approx(out["rebuild_2h_ms"] / out["rebuild_baseline_ms"], rel=0.02)


def test_live_and_record_take_no_backfill_as_zero():
    """``--backfill 0`` (the help's own advice) switches the warm start off; a bad span is refused."""
    import pytest

    from liqdesk.cli import build_parser

    parser = build_parser()
    for text in ("0", "0s", "none", "0m"):
        assert parser.parse_args(["live", "--backfill", text]).backfill == 0
        assert parser.parse_args(["record", "--out", "x.liqs", "--backfill", text]).backfill == 0
    assert parser.parse_args(["live", "--backfill", "6h"]).backfill == 6 * 3_600_000
    with pytest.raises(SystemExit):
        parser.parse_args(["live", "--backfill", "-5m"])


def test_bench_memory_long_session_is_checked_and_passed_on(monkeypatch):
    """``--memory-long 7d`` measures 7 days beside 6 h (the issue's 7-day replay); a long session
    not longer than the short one is a one-line error."""
    import liqdesk.app.memory_bench as mb

    r = liqdesk("bench", "--quick", "--only", "memory", "--memory-long", "30m")
    assert r.returncode != 0 and "--memory-long must be longer" in r.stderr
    seen = []
    monkeypatch.setattr(mb, "_child_peak_mb", lambda args: (seen.append(args) or (100.0, 1.0)))
    out = mb.measure_memory(quick=False, long_hours=168.0)
    assert out["memory_hours"] == [6.0, 168.0]
    assert ["simulate", "--hours", "168"] == seen[1][:3] and "peak_rss_mb_replay_168h" in out
