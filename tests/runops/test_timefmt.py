"""The one reader of times people type: clock times, days, ISO with and without an offset, now±."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from runops.errors import BadInput
from runops.timefmt import in_zone, parse_time

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
