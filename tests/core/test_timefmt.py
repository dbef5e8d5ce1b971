"""Durations as users type them (``90s``, ``15m``, ``24h``, ``7d``) and as the status bar shows them."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from liqdesk.core.timefmt import format_duration, parse_duration


@pytest.mark.parametrize("text, ms", [("90s", 90_000), ("15m", 900_000), ("24h", 86_400_000), ("7d", 604_800_000),
                                      ("1h30m", 5_400_000), ("250ms", 250), ("2", 2_000), ("1w", 604_800_000),
                                      (" 2 H ", 7_200_000), ("1.5h", 5_400_000)])
def test_parse_duration(text, ms):
    assert parse_duration(text) == ms


@pytest.mark.parametrize("text", ["", "h", "5x", "-3h", "0s", "3h x", "1e3s", "nan"])
def test_bad_durations_are_refused_with_the_accepted_forms(text):
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


@given(st.integers(1, 10_000), st.sampled_from(["s", "m", "h", "d"]))
def test_parse_duration_scales_by_unit(n, unit):
    assert parse_duration(f"{n}{unit}") == n * {"s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}[unit]


def test_format_duration_reads_naturally():
    assert format_duration(45_000) == "45 s"
    assert format_duration(12 * 60_000) == "12 min"
    assert format_duration(3 * 3_600_000 + 20 * 60_000) == "3 h 20 min"
    assert format_duration(52 * 3_600_000) == "2 d 4 h"
