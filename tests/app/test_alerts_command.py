"""``liqdesk alerts SESSION --rules FILE``: every alert of a short simulated session, the same
list every time; a bad rules file or session is one line and exit 2."""

from __future__ import annotations

import contextlib
import io
import json

import pytest

from liqdesk import cli

#: Rules of every kind with thresholds a 20-minute simulated session reaches (shared with the
#: window's test, which replays the same session and compares its Alerts dock with this list).
LOW_RULES = '''
[[rule]]
name = "near"
kind = "near_cluster"
min_usd = 100_000
within_pct = 0.3
cooldown_s = 60
[[rule]]
name = "new"
kind = "new_cluster"
min_usd = 100_000
within_s = 30
cooldown_s = 60
[[rule]]
name = "swept"
kind = "cluster_swept"
min_usd = 50_000
cooldown_s = 30
[[rule]]
name = "burst"
kind = "liquidation_burst"
min_usd = 1_000
within_s = 30
cooldown_s = 30
[[rule]]
name = "asym"
kind = "asymmetry"
ratio = 1.0
cooldown_s = 30
[[rule]]
name = "stairs"
kind = "cascade_risk"
min_clusters = 2
cooldown_s = 30
[[rule]]
name = "level"
kind = "price_level"
price = 88_700
cooldown_s = 30
'''


def write_short_session(path):
    assert cli.main(["simulate", "--hours", "0.3", "--seed", "5", "--out", str(path), "--quiet"]) == 0
    return path


#: the tests of this module share the simulated session and one run of the command (2 s of CPU
#: each): one worker runs them all, so both are made once per test run
pytestmark = pytest.mark.xdist_group("alerts_short_session")


@pytest.fixture(scope="module")
def short_session(tmp_path_factory):
    return write_short_session(tmp_path_factory.mktemp("alerts") / "short.liqs")


@pytest.fixture
def rules_file(tmp_path):
    p = tmp_path / "rules.toml"
    p.write_text(LOW_RULES)
    return p


@pytest.fixture(scope="module")
def alerts_text(short_session, tmp_path_factory) -> str:
    """What ``liqdesk alerts SESSION --rules FILE`` prints (one run, shared by the tests below)."""
    rules = tmp_path_factory.mktemp("alerts_rules") / "rules.toml"
    rules.write_text(LOW_RULES)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert cli.main(["alerts", str(short_session), "--rules", str(rules)]) == 0
    return out.getvalue()


def test_alerts_replays_a_session_deterministically(short_session, rules_file, alerts_text, capsys):
    first = alerts_text
    capsys.readouterr()
    assert cli.main(["alerts", str(short_session), "--rules", str(rules_file)]) == 0
    assert capsys.readouterr().out == first
    lines = first.splitlines()
    assert lines[-1].endswith("from 7 of 7 rules on BTC/USDT:USDT")
    kinds = {line.split("[")[1].split("]")[0] for line in lines[:-1]}
    assert len(lines) > 10 and len(kinds) >= 4, first


def test_alerts_json_lists_the_same_alerts(short_session, rules_file, alerts_text, capsys):
    text = alerts_text.splitlines()[:-1]
    capsys.readouterr()
    assert cli.main(["alerts", str(short_session), "--rules", str(rules_file), "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(rows) == len(text) and all(set(r) == {"time_ms", "symbol", "rule", "kind", "side", "price", "detail"}
                                          for r in rows)
    assert [r["rule"] for r in rows] == [line.split("  ")[2].split(" [")[0] for line in text]


def test_a_bad_rules_file_is_one_line_and_exit_2(short_session, tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text('[[rule]]\nname = "near"\nkind = "near_cluster"\nmin_usd = "lots"\n')
    capsys.readouterr()
    assert cli.main(["alerts", str(short_session), "--rules", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "rule 'near' (#1), field 'min_usd': must be a number" in err


def test_a_missing_session_is_one_line_and_exit_2(rules_file, tmp_path, capsys):
    assert cli.main(["alerts", str(tmp_path / "none.liqs"), "--rules", str(rules_file)]) == 2
    assert capsys.readouterr().err.startswith("liqdesk: error: no session at")
