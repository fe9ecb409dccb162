"""The one reader of times people type: clock times, days, ISO with and without an offset, now±."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from runops.errors import BadInput
from runops.timefmt import format_duration, in_zone, parse_duration, parse_time

NOW = datetime(2026, 12, 2, 8, 30, tzinfo=UTC)  # 09:30 in Berlin (CET, +1)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("now", NOW),
        ("now+2h", datetime(2026, 12, 2, 10, 30, tzinfo=UTC)),
        ("now - 30m", datetime(2026, 12, 2, 8, 0, tzinfo=UTC)),
        ("10:00", datetime(2026, 12, 2, 9, 0, tzinfo=UTC)),  # today, Berlin time
        ("9:15", datetime(2026, 12, 2, 8, 15, tzinfo=UTC)),  # already past: the caller says so
        ("tomorrow 10:00", datetime(2026, 12, 3, 9, 0, tzinfo=UTC)),
        ("2026-11-27 10:00", datetime(2026, 11, 27, 9, 0, tzinfo=UTC)),
        ("2026-07-01 10:00", datetime(2026, 7, 1, 8, 0, tzinfo=UTC)),  # summer time (CEST, +2)
        ("2026-11-27T10:00Z", datetime(2026, 11, 27, 10, 0, tzinfo=UTC)),
        ("2026-11-27T10:00+05:00", datetime(2026, 11, 27, 5, 0, tzinfo=UTC)),
    ],
)
def test_times_in_the_viewers_zone(text: str, expected: datetime) -> None:
    assert parse_time(text, now=NOW, zone="Europe/Berlin") == expected


def test_a_clock_time_is_today_in_that_zone_not_in_utc() -> None:
    late_evening = datetime(2026, 12, 2, 23, 30, tzinfo=UTC)  # already Dec 3 in Berlin
    assert parse_time("10:00", now=late_evening, zone="Europe/Berlin") == datetime(
        2026, 12, 3, 9, 0, tzinfo=UTC
    )


@pytest.mark.parametrize("text", ["soon", "25:00", "10:61", "", "now*2"])
def test_refused_with_examples(text: str) -> None:
    with pytest.raises(BadInput) as caught:
        parse_time(text, now=NOW, zone="Europe/Berlin")
    assert any(word in str(caught.value) for word in ("e.g.", "not a time of day", "now+2h"))


def test_unknown_zone_and_words() -> None:
    with pytest.raises(BadInput, match="Unknown time zone"):
        parse_time("10:00", zone="Mars/Olympus")
    assert in_zone(datetime(2026, 11, 27, 9, 0, tzinfo=UTC), "Europe/Berlin") == "2026-11-27 10:00 CET"


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [
        (0.21, "0.21s"),  # a quick run is not "0s"
        (0.5, "0.5s"),
        (0.004, "<0.01s"),
        (-0.21, "-0.21s"),  # started a moment before its time
        (0, "0s"),
        (1, "1s"),
        (45, "45s"),
        (45.4, "45s"),
        (725, "12m 05s"),
        (7500, "2h 05m"),
        (3 * 86400 + 4 * 3600, "3d 4h"),
        (-90, "-1m 30s"),
        (None, "—"),
        (float("nan"), "—"),
    ],
)
def test_format_duration(seconds: float | None, expected: str) -> None:
    assert format_duration(seconds) == expected


@pytest.mark.parametrize("text", ["6", "90", "1.5", " 6 "])
def test_a_number_without_a_unit_is_refused_not_guessed(text: str) -> None:
    with pytest.raises(BadInput, match=re.escape(f"{text.strip()} what? Give a unit, e.g. 6h or 90m.")):
        parse_duration(text)
    with pytest.raises(BadInput, match="what\\? Give a unit"):
        parse_time(f"now+{text.strip()}", now=NOW)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("6h", timedelta(hours=6)), ("90m", timedelta(minutes=90)), ("1h 30m", timedelta(minutes=90))],
)
def test_durations_with_units(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected
