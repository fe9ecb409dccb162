"""Outcomes are a StrEnum whose values are what reports, JSON and the job store have always held."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from uuid import uuid4

from runops.engine.plan import OUTCOMES, PlannedRun, Report, RunOutcome, result_for, totals_of


def test_outcomes_keep_their_stored_strings() -> None:
    assert [str(o) for o in OUTCOMES] == ["done", "skipped", "failed", "not attempted"]
    assert RunOutcome.NOT_ATTEMPTED == "not attempted"


def test_a_stored_outcome_reads_back_as_the_enum_and_json_is_unchanged() -> None:
    item = PlannedRun(uuid4(), "run-1", "f/d", "Late", "reschedule")
    result = result_for(item, "not attempted")  # as the job store gives it back
    assert result.outcome is RunOutcome.NOT_ATTEMPTED
    report = Report("move", "sel", 1, [result], datetime.now(UTC), 0.1, 4, 4)
    data = json.loads(json.dumps(report.as_json()))
    assert data["results"][0]["outcome"] == "not attempted"
    assert data["totals"] == {"done": 0, "skipped": 0, "failed": 0, "not_attempted": 1}
    assert totals_of({"done": 2, "failed": 1}) == {"done": 2, "skipped": 0, "failed": 1, "not_attempted": 0}
