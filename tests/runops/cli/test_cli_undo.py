"""`runops jobs undo`: dry run, apply, refusals — runs re-read from the real server after each."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from prefect.states import Late
from typer.testing import CliRunner

from runops.cli import app
from runops.features import late
from runops.store import Store
from tests.factories import Prefect, ago


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("RUNOPS_HOME", str(tmp_path))
    return tmp_path


def invoke(*args: str):
    return CliRunner().invoke(app, list(args), catch_exceptions=False)


def test_undo_dry_run_then_apply_then_refuse_the_undo_of_the_undo(prefect: Prefect, home: Path) -> None:
    deployment = prefect.deployment()
    runs = prefect.runs(deployment, lambda i: Late(scheduled_time=ago(minutes=5 + 10 * i)), 3)
    moved = invoke("late", "reschedule", "-d", deployment.full_name, "--delay", "6h", "--yes", "--json")
    assert moved.exit_code == 0, moved.output
    job_id = json.loads(moved.stdout)["job"]
    after_move = {r.id: r.next_scheduled_start_time for r in prefect.runs_of(deployment)}

    dry = invoke("jobs", "undo", job_id, "--dry-run", "--json")
    assert dry.exit_code == 0, dry.output
    shown = json.loads(dry.stdout)
    assert shown["dry_run"] and shown["counts"] == {"move back": 3} and job_id in shown["selection"]
    assert {r.id: r.next_scheduled_start_time for r in prefect.runs_of(deployment)} == after_move
    assert len(Store(home / "runops.sqlite").jobs.list()) == 1  # nothing recorded either

    done = invoke("jobs", "undo", job_id, "--yes", "--json", "--reason", "INC-3 wrong delay")
    assert done.exit_code == 0, done.output
    report = json.loads(done.stdout)
    assert report["totals"]["done"] == 3 and report["reason"] == "INC-3 wrong delay"
    for run in runs:
        back = prefect.read(run.id)
        assert back.state_type.value == "SCHEDULED"
        assert abs(back.next_scheduled_start_time - run.next_scheduled_start_time) <= timedelta(seconds=1)

    again = invoke("jobs", "undo", report["job"], "--yes")
    assert again.exit_code == 2 and "undoing an undo is not offered" in again.stderr
    nothing = invoke("jobs", "undo", job_id, "--yes")  # every run has moved on: listed with why
    assert (
        nothing.exit_code == 0 and "Nothing to do" in nothing.stdout and "rescheduled since" in nothing.stdout
    )


def test_undo_refuses_unknown_and_other_jobs(prefect: Prefect, home: Path) -> None:
    unknown = invoke("jobs", "undo", "0b6c8a39-1111-4222-8333-944455556666", "--yes")
    assert unknown.exit_code == 2 and "No job 0b6c8a39" in unknown.stderr
    garbled = invoke("jobs", "undo", "yesterday", "--dry-run")
    assert garbled.exit_code == 2 and "not a job id" in garbled.stderr
    deployment = prefect.deployment()
    prefect.runs(deployment, [Late(scheduled_time=ago(minutes=5))])
    store = Store(home / "runops.sqlite")
    plan = prefect.run(late.plan_reschedule, late.RescheduleRequest((deployment.full_name,), delay="1h"))
    job_id, _owner = store.jobs.create(plan, actor="ana")  # recorded and owned by this live process
    running = invoke("jobs", "undo", job_id, "--yes")
    assert running.exit_code == 2 and "is running" in running.stderr
