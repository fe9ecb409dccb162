"""A stuck-runs plan's options survive the job record's JSON unchanged, typed."""

from __future__ import annotations

import json

from runops.features.stuck.options import StuckOptions


def test_round_trip_through_the_job_records_json() -> None:
    options = StuckOptions(retry=True, state_ids={"run-a": "state-1", "run-b": "state-2"})
    assert StuckOptions.of(json.loads(json.dumps(options.as_dict()))) == options
    assert StuckOptions.of({}) == StuckOptions(retry=False, state_ids={})
