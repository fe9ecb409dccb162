"""A retry plan's options survive the job record's JSON unchanged, typed."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from runops.features.retry.options import RetryOptions


def test_round_trip_through_the_job_records_json() -> None:
    ended = datetime(2026, 12, 1, 3, 0, 5, 250000, tzinfo=UTC)
    options = RetryOptions(
        state_types=("FAILED", "CRASHED"),
        ended_by=ended,
        ended={"5f0c3f2e-0000-4000-8000-000000000001": ended},
        latest_per_deployment=True,
    )
    stored = json.loads(json.dumps(options.as_dict()))
    assert RetryOptions.of(stored) == options
    assert RetryOptions.of(stored).ended_by == ended  # an aware datetime, not its text


def test_a_plan_without_options_reads_as_the_defaults() -> None:
    assert RetryOptions.of({}) == RetryOptions()
