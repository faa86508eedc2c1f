"""One duration grammar for the config, probe packs and command-line options."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from tunewatch.monitoring.duration import format_duration, parse_duration, parse_seconds


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30s", 30), ("15m", 900), ("1h", 3600), ("1h30m", 5400), ("500ms", 0.5),
        ("250ms", 0.25), ("1.5s", 1.5), (" 7d ", 7 * 86400), ("366d", 366 * 86400),
    ],
)  # fmt: skip
def test_durations(text: str, seconds: float) -> None:
    assert parse_seconds(text) == seconds
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize(
    "bad",
    ["15", 15, 90.0, "", "m", "15 minutes", "0s", "-5m", "soon", "1 week", "2w", "367d",
     True, None],
)  # fmt: skip
def test_bad_durations(bad: object) -> None:
    with pytest.raises(ValueError):
        parse_seconds(bad)


def test_a_bare_number_is_told_its_missing_unit() -> None:
    with pytest.raises(ValueError, match=re.escape('needs a unit, e.g. "90s"')):
        parse_seconds(90)


def test_format_duration_inverts_parse() -> None:
    assert format_duration(timedelta(seconds=5400)) == "1h30m"
    assert parse_duration(format_duration(timedelta(days=2, seconds=61))).total_seconds() == (
        2 * 86400 + 61
    )
