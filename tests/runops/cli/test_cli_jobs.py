"""`runops` jobs from the command line: Ctrl-C and kill -9 mid-job, then `runops jobs resume`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from runops.cli import app
from runops.store import Store
from runops.store.jobs import INTERRUPTED, Job
from tests.factories import Deployment, Prefect
from tests.runops.engine.test_jobs import SHIFT, moved_exactly_once, shift_plan

ROOT = Path(__file__).resolve().parents[3]
RUNS = 300


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("RUNOPS_HOME", str(tmp_path))
    return tmp_path


def invoke(*args: str):
    return CliRunner().invoke(app, list(args), catch_exceptions=False)


def start_reschedule(deployment: Deployment, home: Path) -> subprocess.Popen[str]:
    """The CLI in its own process, one request at a time so that it is caught mid-way."""
    env = {**os.environ, "RUNOPS_HOME": str(home), "RUNOPS_CONCURRENCY": "1"}
    command = [sys.executable, "-m", "runops.cli", "late", "reschedule", "-d", deployment.full_name]
    return subprocess.Popen(
        [*command, "--delay", SHIFT, "--yes", "--json"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def when_answered(store: Store, at_least: int, proc: subprocess.Popen[str]) -> Job:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        found = store.jobs.list() if (Path(str(store.target).removeprefix("sqlite:///"))).exists() else []
        if found and found[0].answered >= at_least:
            return found[0]
        time.sleep(0.05)
    raise AssertionError("the job did not get going")


def test_ctrl_c_stops_records_interrupted_with_exact_counts(prefect: Prefect, home: Path) -> None:
    deployment = prefect.deployment()
    prefect.late_runs(deployment, RUNS)
    plan = shift_plan(prefect, deployment)
    store = Store(home / "runops.sqlite")
    proc = start_reschedule(deployment, home)
    when_answered(store, 20, proc)
    sent_at = time.monotonic()
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert time.monotonic() - sent_at < 30
    assert proc.returncode == 130, err
    report = json.loads(out)
    job = store.jobs.get(report["job"])
    assert report["status"] == job.status == INTERRUPTED
    assert f"runops jobs resume {job.id}" in err
    totals = job.totals
    assert totals == report["totals"] and totals["failed"] == 0
    assert 20 <= totals["done"] < RUNS and totals["done"] + totals["not_attempted"] == RUNS
    assert moved_exactly_once(prefect, plan) == totals["done"]  # exact, checked on the server

    listed = invoke("jobs", "list", "--json")
    assert listed.exit_code == 0, listed.output
    [row] = json.loads(listed.stdout)
    assert set(row) == {
        "id", "action", "status", "actor", "started", "finished", "selection", "reason", "planned", "totals",
    }  # fmt: skip
    assert row["status"] == INTERRUPTED and row["totals"] == totals and row["planned"] == RUNS

    resumed = invoke("jobs", "resume", job.id, "--yes", "--json")
    assert resumed.exit_code == 0, resumed.output
    again = json.loads(resumed.stdout)
    assert again["job"] == job.id and again["status"] == "done" and again["planned"] == RUNS
    assert again["totals"] == {"done": RUNS, "skipped": 0, "failed": 0, "not_attempted": 0}
    assert moved_exactly_once(prefect, plan) == RUNS


def test_kill_9_then_resume_changes_every_run_exactly_once(prefect: Prefect, home: Path) -> None:
    deployment = prefect.deployment()
    prefect.late_runs(deployment, RUNS)
    plan = shift_plan(prefect, deployment)
    store = Store(home / "runops.sqlite")
    proc = start_reschedule(deployment, home)
    job = when_answered(store, 20, proc)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    # its pid is gone on this host: interrupted at once (elsewhere: after its heartbeat ages)
    assert store.jobs.get(job.id).status == INTERRUPTED
    shown = invoke("jobs", "show", job.id, "--json")
    assert shown.exit_code == 0 and len(json.loads(shown.stdout)["runs"]) == RUNS

    resumed = invoke("jobs", "resume", job.id, "--yes", "--json")
    assert resumed.exit_code == 0, resumed.output
    report = json.loads(resumed.stdout)
    # runs whose answers died with the process are found as this job leaves them: done, not skipped
    assert report["totals"] == {"done": RUNS, "skipped": 0, "failed": 0, "not_attempted": 0}
    assert moved_exactly_once(prefect, plan) == RUNS
    assert store.jobs.get(job.id).status == "done"

    nothing = invoke("jobs", "resume", job.id, "--yes")
    assert nothing.exit_code == 0 and "Nothing to do" in nothing.stdout


def test_resume_bad_input(home: Path) -> None:
    unknown = invoke("jobs", "resume", "0b6c8a39-1111-4222-8333-944455556666", "--yes")
    assert unknown.exit_code == 2 and "No job 0b6c8a39" in unknown.stderr
    garbled = invoke("jobs", "show", "yesterday's")
    assert garbled.exit_code == 2 and "not a job id" in garbled.stderr
    assert invoke("jobs", "list", "--limit", "0").exit_code == 2
