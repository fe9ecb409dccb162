"""`runops retry` and `runops stuck` against the real test server: JSON, exit codes, stored states."""

from __future__ import annotations

import json

from prefect.states import Completed, Failed, Running
from typer.testing import CliRunner

from runops.cli import app
from runops.dev.backdate import RunTimes
from tests.factories import Prefect, ago

runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


def test_retry_dry_run_then_yes(prefect: Prefect, tmp_home) -> None:
    deployment = prefect.deployment()
    failed, completed = prefect.runs(deployment, [Failed(), Completed()], parameters={"p": 1})
    dry = invoke("retry", "-d", deployment.full_name, "--dry-run", "--json")
    assert dry.exit_code == 0, dry.output
    plan = json.loads(dry.stdout)
    assert plan["planned"] == 1 and [r["id"] for r in plan["runs"]] == [str(failed.id)]
    assert prefect.read(failed.id).state.name == "Failed"

    done = invoke("retry", "-d", deployment.full_name, "--yes", "--json", "--reason", "INC-7")
    assert done.exit_code == 0, done.output
    report = json.loads(done.stdout)
    assert report["totals"]["done"] == 1 and report["job"]
    stored = prefect.read(failed.id)
    assert stored.state.name == "Scheduled" and stored.parameters == {"p": 1}
    assert prefect.read(completed.id).state.name == "Completed"


def test_retry_bad_input_exits_2_and_changes_nothing(prefect: Prefect, tmp_home) -> None:
    deployment = prefect.deployment()
    failed = prefect.runs(deployment, [Failed()])[0]
    unknown = invoke("retry", "-d", "no-such-deployment-xyz", "--yes")
    assert unknown.exit_code == 2 and "Unknown deployment" in unknown.output
    window = invoke(
        "retry", "-d", deployment.full_name, "--ended-after", "now-1h", "--ended-before", "now-2h", "--yes"
    )
    assert window.exit_code == 2 and "ends before it starts" in window.output
    assert prefect.read(failed.id).state.name == "Failed"


def test_stuck_list_and_clear(prefect: Prefect, tmp_home) -> None:
    deployment = prefect.deployment()
    stuck_run, fresh = prefect.runs(deployment, [Running(), Running()])
    prefect.backdate([RunTimes(stuck_run.id, ago(hours=3), ago(hours=3))])
    listed = invoke("stuck", "list", "-d", deployment.full_name, "--json")
    assert listed.exit_code == 0, listed.output
    found = json.loads(listed.stdout)
    assert found["checked"] == 2 and [r["id"] for r in found["runs"]] == [str(stuck_run.id)]
    assert found["runs"][0]["action"] == "mark crashed" and found["runs"][0]["in_state_s"] > 3 * 3600 - 60

    bad = invoke("stuck", "clear", "-d", deployment.full_name, "-k", "0", "--yes")
    assert bad.exit_code == 2 and "k must be more than zero" in bad.output
    assert prefect.read(stuck_run.id).state.name == "Running"

    cleared = invoke("stuck", "clear", "-d", deployment.full_name, "--yes", "--json")
    assert cleared.exit_code == 0, cleared.output
    assert json.loads(cleared.stdout)["totals"]["done"] == 1
    assert prefect.read(stuck_run.id).state.name == "Crashed"
    assert prefect.read(fresh.id).state.name == "Running"
