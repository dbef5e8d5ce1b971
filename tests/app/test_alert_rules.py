"""Rules files: the shipped example reads, round-trips through the writer, and a bad file is
refused with one line naming the rule and the field."""

from __future__ import annotations

import pytest

from liqdesk.app.alert_rules import (
    KINDS,
    RuleError,
    dump_rules,
    example_rules_path,
    load_rules,
    parse_rules,
    with_changes,
)


def test_the_example_holds_one_rule_of_each_kind_and_round_trips():
    rules = load_rules(example_rules_path())
    assert sorted(r.kind for r in rules) == sorted(KINDS)
    assert parse_rules(dump_rules(rules)) == rules


def test_written_rules_keep_odd_names_and_changed_fields():
    rules = load_rules(example_rules_path())
    odd = with_changes(rules[0], name='quote " back\\slash ünï\tcode', cooldown_s=12.5, venues=("okx",))
    back = parse_rules(dump_rules([odd]))
    assert back == [odd] and back[0].venues == ("okx",)


GOOD = """
[[rule]]
name = "a"
kind = "near_cluster"
min_usd = 1_000_000
"""


@pytest.mark.parametrize("text, expected", [
    ("[[rule]\nname = 'x'", "not valid TOML"),
    ('[[rule]]\nkind = "near_cluster"\nmin_usd = 1', "rule #1, field 'name': required"),
    ('[[rule]]\nname = "big"\nkind = "near_clusters"\nmin_usd = 1', "rule 'big' (#1), field 'kind': 'near_clusters' is not"),
    ('[[rule]]\nname = "big"\nkind = "near_cluster"', "rule 'big' (#1), field 'min_usd': required"),
    ('[[rule]]\nname = "big"\nkind = "near_cluster"\nmin_usd = "5M"', "rule 'big' (#1), field 'min_usd': must be a number"),
    ('[[rule]]\nname = "big"\nkind = "near_cluster"\nmin_usd = -1', "field 'min_usd': must be a number >= 0"),
    ('[[rule]]\nname = "big"\nkind = "near_cluster"\nmin_usd = 1\nwithin_pcts = 1', "field 'within_pcts': not a field"),
    ('[[rule]]\nname = "big"\nkind = "near_cluster"\nmin_usd = 1\nside = "up"', "field 'side': must be one of long, short, both"),
    ('[[rule]]\nname = "big"\nkind = "near_cluster"\nmin_usd = 1\nvenues = ["binanse"]', "field 'venues': unknown exchange 'binanse'"),
    ('[[rule]]\nname = "big"\nkind = "near_cluster"\nmin_usd = 1\nenabled = "yes"', "field 'enabled': must be true or false"),
    ('[[rule]]\nname = "big"\nkind = "near_cluster"\nmin_usd = 1\nwithin_pct = 1\nwithin_price = 5', "field 'within_price': give within_pct or within_price"),
    ('[[rule]]\nname = "big"\nkind = "new_cluster"\nmin_usd = 1\nwithin_s = 5000', "field 'within_s': at most 900"),
    ('[[rule]]\nname = "big"\nkind = "cascade_risk"\nmin_clusters = 1', "field 'min_clusters': must be a whole number from 2"),
    ('[[rule]]\nname = "big"\nkind = "asymmetry"\nratio = nan', "field 'ratio': must be a number > 0"),
    ('[[rule]]\nname = "big"\nkind = "price_level"\nprice = 0', "field 'price': must be a number > 0"),
    (GOOD + GOOD, "rule 'a' (#2), field 'name': another rule has that name"),
    ('rules = 3', "unknown top-level key 'rules'"),
])
def test_a_bad_rules_file_gets_one_line_naming_the_rule_and_field(text, expected):
    with pytest.raises(RuleError) as err:
        parse_rules(text, "alerts.toml")
    message = str(err.value)
    assert "\n" not in message and message.startswith("alerts.toml: ") and expected in message


def test_an_unreadable_file_is_one_line(tmp_path):
    p = tmp_path / "r.toml"
    p.write_bytes(b"\xff\xfe\x00name")
    with pytest.raises(RuleError, match="not a UTF-8 text file"):
        load_rules(p)
    with pytest.raises(RuleError, match="cannot read it"):
        load_rules(tmp_path / "missing.toml")
