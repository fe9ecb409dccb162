"""The `runops` command line against the real test server: JSON shapes, exit codes, refusals."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID

import pytest
from prefect.states import Cancelling, Completed, Late, Pending, Running, Scheduled
from typer.testing import CliRunner

from runops.cli import app
from runops.dev.server import free_port
from tests.factories import Prefect, ago, later

ROOT = Path(__file__).resolve().parents[3]
runner = CliRunner()


def invoke(*args: str, input: str | None = None):
    return runner.invoke(app, list(args), input=input, catch_exceptions=False)


def test_doctor(prefect: Prefect) -> None:
    result = invoke("doctor")
    assert result.exit_code == 0, result.output
    assert "health:      ok (Prefect 3." in result.stdout


def test_doctor_unreachable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PREFECT_API_URL", f"http://127.0.0.1:{free_port()}/api")
    result = invoke("doctor")
    assert result.exit_code == 3
    assert "Cannot reach the Prefect API" in result.stdout


def test_late_list_json(prefect: Prefect) -> None:
    deployment = prefect.deployment()
    runs = prefect.late_runs(deployment, 3)
    result = invoke("late", "list", "--deployment", deployment.full_name, "--json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [r["id"] for r in rows] == [str(r.id) for r in runs]  # newest scheduled first
    assert all(r["late_by_s"] > 0 and r["deployment"] == deployment.full_name for r in rows)


def test_late_reschedule_dry_run_changes_nothing(prefect: Prefect) -> None:
    deployment = prefect.deployment()
    runs = prefect.late_runs(deployment, 2)
    result = invoke("late", "reschedule", "-d", deployment.full_name, "--delay", "6h", "--dry-run", "--json")
    assert result.exit_code == 0, result.output
    plan = json.loads(result.stdout)
    assert plan["dry_run"] is True and plan["planned"] == 2
    for run in runs:
        stored = prefect.read(run.id)
        assert stored is not None and stored.state_name == "Late" and stored.state_id == run.state_id


def test_late_reschedule_refuses_without_yes_and_terminal(prefect: Prefect) -> None:
    deployment = prefect.deployment()
    [run] = prefect.late_runs(deployment, 1)
    result = invoke("late", "reschedule", "-d", deployment.full_name, "--delay", "6h")
    assert result.exit_code == 2
    assert "no terminal" in result.stderr
    stored = prefect.read(run.id)
    assert stored is not None and stored.state_id == run.state_id


def test_late_reschedule_yes_json(prefect: Prefect) -> None:
    deployment = prefect.deployment()
    runs = prefect.late_runs(deployment, 3)
    result = invoke(
        "late", "reschedule", "-d", deployment.full_name, "--delay", "1d", "--most-recent", "2",
        "--remaining", "cancel", "--yes", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert set(report) >= {"action", "selection", "planned", "results", "totals"}
    assert report["totals"] == {"done": 3, "skipped": 0, "failed": 0, "not_attempted": 0}
    assert set(report["results"][0]) >= {"id", "name", "deployment", "before", "after", "outcome", "reason"}
    states = {r.id: prefect.read(r.id) for r in runs}
    assert [states[r.id].state_name for r in runs] == ["Scheduled", "Scheduled", "Cancelled"]
    assert states[runs[0].id].next_scheduled_start_time > later(hours=20)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["late", "reschedule", "-d", "no-such-deployment", "--delay", "6h", "--yes"], "Unknown deployment"),
        (["late", "reschedule", "-d", "x", "--delay", "-1h", "--yes"], "negative"),
        (["late", "reschedule", "-d", "x", "--delay", "soon", "--yes"], "Cannot read"),
        (["late", "reschedule", "-d", "x", "--delay", "6", "--yes"], "6 what? Give a unit"),
        (["late", "reschedule", "-d", "x", "--delay", "6h", "--most-recent", "0", "--yes"], "at least 1"),
        (["late", "reschedule", "-d", "x", "--yes"], "exactly one of"),
        (["history", "--last", "0"], "at least 1"),
        (["cancel", "--work-pool", "no-such-pool", "--yes"], "Unknown work pool"),
        (["cancel", "-d", "no-such-deployment", "--yes", "--json"], "Unknown deployment"),
    ],
)
def test_bad_input_exit_2(prefect: Prefect, args: list[str], message: str) -> None:
    result = invoke(*args)
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert "Traceback" not in result.output


@pytest.mark.parametrize("value", ["0", "-3", "two", "1.5"])
@pytest.mark.parametrize("verb", [["late", "reschedule", "-d", "x", "--delay", "6h"], ["cancel", "-d", "x"]])
def test_concurrency_must_be_a_positive_whole_number(verb: list[str], value: str) -> None:
    result = invoke(*verb, "--concurrency", value, "--yes")
    assert result.exit_code == 2, result.output
    assert "Invalid value for '--concurrency'" in result.stderr
    assert "Traceback" not in result.output


def test_concurrency_fixes_the_requests_in_flight(prefect: Prefect) -> None:
    deployment = prefect.deployment()
    prefect.late_runs(deployment, 3)
    moved = invoke(
        "late",
        "reschedule",
        "-d",
        deployment.full_name,
        "--delay",
        "1d",
        "--concurrency",
        "3",
        "--yes",
        "--json",
    )
    assert moved.exit_code == 0, moved.output
    report = json.loads(moved.stdout)
    assert (report["start_concurrency"], report["concurrency"], report["totals"]["done"]) == (3, 3, 3)
    cancelled = invoke("cancel", "-d", deployment.full_name, "--concurrency", "1", "--yes", "--json")
    assert cancelled.exit_code == 0, cancelled.output
    report = json.loads(cancelled.stdout)
    assert (report["start_concurrency"], report["concurrency"], report["totals"]["done"]) == (1, 1, 3)


def test_cancel_json_and_states(prefect: Prefect) -> None:
    deployment = prefect.deployment()
    scheduled, pending, running, done = prefect.runs(
        deployment, [Scheduled(scheduled_time=later(hours=1)), Pending(), Running(), Completed()]
    )
    dry = invoke("cancel", "-d", deployment.full_name, "--dry-run", "--json")
    assert dry.exit_code == 0, dry.output
    assert json.loads(dry.stdout)["planned"] == 3
    assert prefect.read(scheduled.id).state_name == "Scheduled"

    result = invoke("cancel", "-d", deployment.full_name, "--yes", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["totals"]["done"] == 3
    assert prefect.read(scheduled.id).state_name == "Cancelled"
    assert prefect.read(pending.id).state_name == "Cancelling"
    assert prefect.read(running.id).state_name == "Cancelling"
    assert prefect.read(done.id).state_name == "Completed"


def test_cancel_nothing_matching_is_nothing_to_do(prefect: Prefect) -> None:
    deployment = prefect.deployment()
    [done] = prefect.runs(deployment, [Completed()])
    result = invoke("cancel", "-d", deployment.full_name, "--yes", "--json")
    assert result.exit_code == 0, result.output  # as `late reschedule` with nothing late
    plan = json.loads(result.stdout)
    assert (plan["planned"], plan["runs"], plan["dry_run"]) == (0, [], False)
    assert prefect.read(done.id).state_name == "Completed"

    text = invoke("cancel", "-d", deployment.full_name, "--yes")
    assert text.exit_code == 0, text.output
    assert "Nothing to do" in text.stdout
    assert prefect.read(done.id).state_name == "Completed"


def test_force_stuck_report_carries_the_warning(prefect: Prefect) -> None:
    from runops.features.cancel import FORCE_WARNING

    deployment = prefect.deployment()
    stuck, other = prefect.runs(deployment, [Running(), Running()])
    prefect.set_state(stuck.id, Cancelling(), force=False)  # its worker never confirms
    args = ("cancel", "-d", deployment.full_name, "--state", "Cancelling", "--state", "Running")
    result = invoke(*args, "--force-stuck", "--yes", "--json")
    assert result.exit_code == 0, result.output
    by_id = {r["id"]: r for r in json.loads(result.stdout)["results"]}
    assert by_id[str(stuck.id)]["outcome"] == "done"
    assert by_id[str(stuck.id)]["warning"] == FORCE_WARNING  # Cancelled, but its process may live on
    assert by_id[str(other.id)]["warning"] is None
    assert prefect.read(stuck.id).state_name == "Cancelled"
    assert prefect.read(other.id).state_name == "Cancelling"

    again = prefect.runs(deployment, [Running()])[0]
    prefect.set_state(again.id, Cancelling(), force=False)
    text = invoke("cancel", "-d", deployment.full_name, "--state", "Cancelling", "--force-stuck", "--yes")
    assert text.exit_code == 0, text.output
    assert FORCE_WARNING in text.stdout
    assert prefect.read(again.id).state_name == "Cancelled"


def test_recreate_json_names_each_replacement(prefect: Prefect) -> None:
    deployment = prefect.deployment()
    runs = prefect.late_runs(deployment, 2)
    result = invoke(
        "late", "reschedule", "-d", deployment.full_name, "--delay", "1d", "--recreate", "--yes", "--json"
    )
    assert result.exit_code == 0, result.output
    results = json.loads(result.stdout)["results"]
    assert {r["id"] for r in results} == {str(r.id) for r in runs}
    for r in results:
        assert r["outcome"] == "done"
        assert prefect.read(UUID(r["id"])) is None  # the original is gone
        replacement = prefect.read(UUID(r["replacement_id"]))
        assert replacement is not None and replacement.state_name == "Scheduled"
        assert replacement.deployment_id == deployment.id
    # the job record keeps each replacement: `jobs show --json` names them as the report did
    shown = invoke("jobs", "show", json.loads(result.stdout)["job"], "--json")
    assert shown.exit_code == 0, shown.output
    assert {r["id"]: r["replacement_id"] for r in json.loads(shown.stdout)["runs"]} == {
        r["id"]: r["replacement_id"] for r in results
    }

    moved = prefect.late_runs(deployment, 1)[0]
    in_place = invoke("late", "reschedule", "-d", deployment.full_name, "--delay", "1d", "--yes", "--json")
    assert in_place.exit_code == 0, in_place.output
    [row] = json.loads(in_place.stdout)["results"]
    assert (row["id"], row["replacement_id"]) == (str(moved.id), None)  # same run, no replacement


def test_late_reschedule_long_delay_needs_allow_long_delay(prefect: Prefect) -> None:
    from datetime import timedelta

    deployment = prefect.deployment()
    [run] = prefect.late_runs(deployment, 1)
    args = ("late", "reschedule", "-d", deployment.full_name, "--delay", "45d", "--yes", "--json")
    refused = invoke(*args)
    assert refused.exit_code == 2, refused.output
    assert "more than 30 days needs an explicit yes: --allow-long-delay" in refused.stderr
    assert prefect.read(run.id).state_id == run.state_id

    result = invoke(*args, "--allow-long-delay")
    assert result.exit_code == 0, result.output
    stored = prefect.read(run.id)
    assert stored is not None and stored.state_name == "Scheduled"
    assert run.next_scheduled_start_time is not None
    assert stored.next_scheduled_start_time == run.next_scheduled_start_time + timedelta(days=45)


def test_history_json_and_csv(prefect: Prefect, tmp_path: Path) -> None:
    from runops.dev.backdate import RunTimes

    deployment = prefect.deployment()
    runs = prefect.runs(deployment, [Completed(), Completed()])
    base = ago(hours=5)
    from datetime import timedelta

    prefect.backdate(
        [
            RunTimes(runs[0].id, base, base + timedelta(seconds=10), base + timedelta(seconds=70)),
            RunTimes(runs[1].id, base, base + timedelta(seconds=5), base + timedelta(seconds=605)),
        ]
    )
    out = tmp_path / "h.csv"
    result = invoke("history", "-d", deployment.full_name, "--last", "5", "--json", "--csv", str(out))
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [r["run_id"] for r in rows] == [str(runs[1].id), str(runs[0].id)]  # newest end first
    assert [r["duration_s"] for r in rows] == [600.0, 60.0]
    assert [r["lateness_s"] for r in rows] == [5.0, 10.0]
    assert out.read_text().count("\n") >= 3


def test_history_text_shows_sub_second_durations(prefect: Prefect) -> None:
    from datetime import timedelta

    from runops.dev.backdate import RunTimes

    deployment = prefect.deployment()
    [run] = prefect.runs(deployment, [Completed()])
    start = ago(hours=1)
    prefect.backdate([RunTimes(run.id, start, start, start + timedelta(seconds=0.21))])
    result = invoke("history", "-d", deployment.full_name)
    assert result.exit_code == 0, result.output
    assert "took 0.21s, started 0s late" in result.stdout


def test_dry_run_text_shows_new_times_to_the_second(prefect: Prefect) -> None:
    deployment = prefect.deployment()
    prefect.late_runs(deployment, 1)
    args = ("late", "reschedule", "-d", deployment.full_name, "--delay", "90s", "--dry-run")
    planned = json.loads(invoke(*args, "--json").stdout)["runs"][0]
    new_time = datetime.fromisoformat(planned["new_time"]).astimezone(UTC)
    text = invoke(*args)
    assert text.exit_code == 0, text.output
    assert f"→ {new_time:%Y-%m-%d %H:%M:%S} UTC" in text.stdout


def test_subprocess_entrypoints(prefect: Prefect) -> None:
    deployment = prefect.deployment()
    prefect.runs(deployment, [Late(scheduled_time=ago(hours=2))])
    env = dict(os.environ)
    for command in ([str(ROOT / ".venv/bin/runops")], [sys.executable, "-m", "runops"]):
        done = subprocess.run(
            [*command, "late", "list", "-d", deployment.full_name, "--json"],
            env=env, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert len(json.loads(done.stdout)) == 1
    for args in (
        ["doctor"],
        ["cancel", "-d", deployment.full_name, "--dry-run", "--json"],
        ["history", "-d", deployment.full_name, "--json"],
        ["late", "reschedule", "-d", deployment.full_name, "--delay", "2h", "--dry-run", "--json"],
    ):
        done = subprocess.run(
            [sys.executable, "-m", "runops", *args],
            env=env, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
        )  # fmt: skip
        assert done.returncode == 0, (args, done.stderr)
        if "--json" in args:
            json.loads(done.stdout)
    assert prefect.runs_of(deployment)[0].state_name == "Late"  # the dry runs changed nothing
    refused = subprocess.run(
        [sys.executable, "-m", "runops", "late", "reschedule", "-d", deployment.full_name, "--delay", "1h"],
        env=env, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert refused.returncode == 2 and "pass --yes" in refused.stderr
    assert "Traceback" not in refused.stderr


def test_demo_seed_names_the_database_or_refuses(prefect: Prefect) -> None:
    # a server named by URL is seeded only when its database is named too (demo history is
    # written there); without it nothing is created
    before = prefect.harness(lambda client: client.count_flow_runs())
    result = invoke("demo", "seed", "--api-url", prefect.settings.api_url or "")
    assert result.exit_code == 2
    assert "--database-url" in result.stderr
    assert prefect.harness(lambda client: client.count_flow_runs()) == before


def test_cancel_window_means_the_time_a_run_is_due_now(prefect: Prefect) -> None:
    """Runs moved in place keep their first expected time; the window selects by the time they
    are due now: runs rescheduled 3 days out are outside `--scheduled-before now+12h`."""
    deployment = prefect.deployment()
    soon = prefect.runs(deployment, [Scheduled(scheduled_time=later(hours=2)) for _ in range(3)])
    moved = prefect.runs(deployment, [Scheduled(scheduled_time=later(hours=1)) for _ in range(3)])
    for run in moved:  # in place, as runops' reschedule does: expected_start_time stays
        prefect.set_state(run.id, Scheduled(scheduled_time=later(days=3)), force=False)
    name = deployment.full_name

    later_ones = invoke("cancel", "-d", name, "--scheduled-after", "now+12h", "--dry-run", "--json")
    assert later_ones.exit_code == 0, later_ones.output
    assert {r["id"] for r in json.loads(later_ones.stdout)["runs"]} == {str(r.id) for r in moved}

    result = invoke("cancel", "-d", name, "--scheduled-before", "now+12h", "--yes", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert {r["id"] for r in report["results"]} == {str(r.id) for r in soon}
    assert "scheduled before" in report["selection"]
    for run in soon:
        assert prefect.read(run.id).state_name == "Cancelled"
    for run in moved:
        stored = prefect.read(run.id)
        assert stored.state_name == "Scheduled" and stored.next_scheduled_start_time > later(days=2)

    bad = invoke("cancel", "-d", name, "--scheduled-before", "whenever", "--dry-run")
    assert bad.exit_code == 2 and "time window" in bad.stderr
