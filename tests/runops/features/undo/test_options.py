"""An undo plan's options survive the job record's JSON unchanged, typed."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from runops.features.undo.options import UndoOptions


def test_round_trip_through_the_job_records_json() -> None:
    options = UndoOptions(
        since=datetime(2026, 12, 1, 3, 0, tzinfo=UTC),
        undo_of="job-1",
        undone_action="retry",
        restore={"run-a": ("FAILED", "Failed"), "run-b": ("CRASHED", "Crashed")},
    )
    stored = json.loads(json.dumps(options.as_dict()))
    assert stored["restore"]["run-a"] == ["FAILED", "Failed"]  # the record's JSON shape
    assert UndoOptions.of(stored) == options
