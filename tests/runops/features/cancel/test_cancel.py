"""Bulk cancel against a real Prefect server: plan, apply, races, faults, bad input; stored states re-read."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from uuid import UUID

import httpx
import pytest
from prefect.client.orchestration import PrefectClient
from prefect.states import (
    AwaitingRetry,
    Cancelled,
    Cancelling,
    Completed,
    Failed,
    Late,
    Paused,
    Pending,
    Running,
    Scheduled,
    Suspended,
)

from runops.dev.server import LocalPrefectServer, free_port
from runops.engine.apply import ApplyOptions, bounded_options
from runops.engine.messages import Signed
from runops.engine.plan import DONE, FAILED, SKIP, SKIPPED, only
from runops.engine.selection import RunSelection
from runops.errors import ApiUnauthorized, ApiUnreachable, BadInput, NotAllowed
from runops.features import cancel
from runops.prefect_api.client import call
from runops.settings import Settings
from runops.store import Store
from tests.factories import Prefect, ago, later, seeded_runs, subflow_run, unique
from tests.faults import (
    BeforeChange,
    DownAfter,
    LosesAnswers,
    Passthrough,
    RunFaults,
    runs_in,
    set_state_directly,
)

ALL_STATES = (*cancel.CANCELLABLE_STATES, "Completed", "Failed", "Cancelled")


def by_deployment(deployment, states=ALL_STATES, **kwargs) -> cancel.CancelRequest:
    return cancel.CancelRequest(
        RunSelection(states=tuple(states), deployments=(deployment.full_name,)), **kwargs
    )


def stored(prefect: Prefect, run_ids) -> dict[UUID, str]:
    """State names as stored on the server now."""
    return {run_id: run.state.name for run_id, run in prefect.read_many(list(run_ids)).items() if run}


def stuck_cancelling(prefect: Prefect, deployment) -> UUID:
    """A run left in Cancelling (its worker never confirmed): Running, then Cancelling proposed."""
    run = prefect.runs(deployment, [Running()])[0]
    prefect.set_state(run.id, Cancelling(), force=False)
    assert prefect.read(run.id).state.name == "Cancelling"
    return run.id


class Counting(Passthrough):
    """Observes the state-change requests: (path, runs named)."""

    def __init__(self) -> None:
        super().__init__()
        self.changes: list[tuple[str, int]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("set_state"):
            self.changes.append((request.url.path, runs_in(request)))
        return await self.inner.handle_async_request(request)


@pytest.fixture
def audit(tmp_path: Path) -> Store:
    return Store(tmp_path / "audit.sqlite")


def test_each_state_gets_what_prefects_own_cancel_does(prefect: Prefect, settings: Settings, audit) -> None:
    deployment = prefect.deployment()
    names = [
        "Scheduled",
        "Late",
        "AwaitingRetry",
        "Pending",
        "Running",
        "Paused",
        "Suspended",
        "Completed",
        "Failed",
        "Cancelled",
    ]
    created = prefect.runs(
        deployment,
        [
            Scheduled(scheduled_time=later(hours=1)),
            Late(scheduled_time=ago(hours=2)),
            AwaitingRetry(scheduled_time=later(minutes=5)),
            Pending(),
            Running(),
            Paused(timeout_seconds=3600),
            Suspended(timeout_seconds=3600),
            Completed(),
            Failed(),
            Cancelled(),
        ],
    )
    ids = dict(zip(names, (r.id for r in created), strict=True))
    ids["Cancelling"] = stuck_cancelling(prefect, deployment)
    assert stored(prefect, ids.values()) == {v: k for k, v in ids.items()}

    request = by_deployment(deployment)
    assert prefect.run(cancel.count_matching, request.selection) == 11
    plan = prefect.run(cancel.plan_cancel, request)
    actions = {item.run_id: item.action for item in plan.items}
    assert len(plan) == plan.matched == 11
    expected = {
        "Scheduled": cancel.CancelAction.CANCEL,
        "Late": cancel.CancelAction.CANCEL,
        "AwaitingRetry": cancel.CancelAction.CANCEL,
        "Suspended": cancel.CancelAction.CANCEL,
        "Pending": cancel.CancelAction.MARK_CANCELLING,
        "Running": cancel.CancelAction.MARK_CANCELLING,
        "Paused": cancel.CancelAction.MARK_CANCELLING,
        "Completed": SKIP,
        "Failed": SKIP,
        "Cancelled": SKIP,
        "Cancelling": SKIP,  # stuck ones only with the explicit force option
    }
    assert {name: actions[ids[name]] for name in ids} == expected
    assert all(item.deployment == deployment.full_name for item in plan.items)
    assert plan.warnings == ()

    report = prefect.run(cancel.apply_cancel, plan, actor="tester", store=audit)
    outcome = {r.run_id: r.outcome for r in report.results}
    assert report.totals == {DONE: 7, SKIPPED: 4, FAILED: 0, "not_attempted": 0}
    assert all(outcome[ids[n]] == SKIPPED for n in ("Completed", "Failed", "Cancelled", "Cancelling"))

    after = stored(prefect, ids.values())
    assert {name: after[ids[name]] for name in ids} == {
        "Scheduled": "Cancelled",
        "Late": "Cancelled",
        "AwaitingRetry": "Cancelled",
        "Suspended": "Cancelled",
        "Pending": "Cancelling",  # their worker stops the process, then marks them Cancelled
        "Running": "Cancelling",
        "Paused": "Cancelling",
        "Completed": "Completed",
        "Failed": "Failed",
        "Cancelled": "Cancelled",
        "Cancelling": "Cancelling",
    }
    # the audit log has the operation and every run
    op = audit.audit.operations()[0]
    assert (op["actor"], op["done"], op["skipped"], op["failed"]) == ("tester", 7, 4, 0)
    assert {r["run_id"] for r in audit.audit.runs(op["id"])} == {str(i) for i in ids.values()}


def test_force_marks_stuck_cancelling_runs_cancelled_with_a_warning(prefect: Prefect, audit) -> None:
    deployment = prefect.deployment()
    stuck = stuck_cancelling(prefect, deployment)
    done = prefect.runs(deployment, [Completed()])[0].id

    plain = prefect.run(cancel.plan_cancel, by_deployment(deployment, ["Cancelling", "Completed"]))
    assert {i.action for i in plain.items} == {SKIP}
    with pytest.raises(BadInput, match="Nothing to cancel"):
        prefect.run(cancel.apply_cancel, plain, actor="t", store=audit)
    assert stored(prefect, [stuck]) == {stuck: "Cancelling"}

    plan = prefect.run(
        cancel.plan_cancel, by_deployment(deployment, ["Cancelling", "Completed"], force_stuck=True)
    )
    assert {i.run_id: i.action for i in plan.items} == {stuck: cancel.CancelAction.FORCE_CANCEL, done: SKIP}
    assert cancel.FORCE_WARNING in plan.warnings
    report = prefect.run(cancel.apply_cancel, plan, actor="t", store=audit)
    assert report.totals[DONE] == 1
    assert stored(prefect, [stuck, done]) == {stuck: "Cancelled", done: "Completed"}


def test_races_finished_after_preview_and_created_after_confirm(prefect: Prefect, audit) -> None:
    deployment = prefect.deployment()
    running, scheduled, late = prefect.runs(
        deployment, [Running(), Scheduled(scheduled_time=later(hours=1)), Late(scheduled_time=ago(hours=1))]
    )
    plan = prefect.run(cancel.plan_cancel, by_deployment(deployment))
    assert len(plan.to_change) == 3

    # after the preview: one run finishes, one more run appears
    prefect.set_state(running.id, Completed(), force=False)
    newcomer = prefect.runs(deployment, [Scheduled(scheduled_time=later(hours=2))])[0]

    report = prefect.run(cancel.apply_cancel, plan, actor="t", store=audit)
    result = {r.run_id: r for r in report.results}
    assert result[running.id].outcome == SKIPPED
    assert "finished meanwhile" in result[running.id].reason
    assert newcomer.id not in result
    assert stored(prefect, [running.id, scheduled.id, late.id, newcomer.id]) == {
        running.id: "Completed",
        scheduled.id: "Cancelled",
        late.id: "Cancelled",
        newcomer.id: "Scheduled",
    }


def test_a_run_cancelled_by_someone_else_meanwhile_is_reported_as_theirs(prefect: Prefect, audit) -> None:
    deployment = prefect.deployment()
    mine, theirs = prefect.runs(deployment, [Running(), Running()])
    plan = prefect.run(cancel.plan_cancel, by_deployment(deployment))
    prefect.set_state(theirs.id, Cancelling(), force=False)  # e.g. from Prefect's UI, after the preview
    report = prefect.run(cancel.apply_cancel, plan, actor="t", store=audit)
    result = {r.run_id: r for r in report.results}
    assert (result[mine.id].outcome, result[mine.id].after) == (DONE, "Cancelling")
    assert (result[theirs.id].outcome, result[theirs.id].reason) == (SKIPPED, "already cancelling")
    assert stored(prefect, [mine.id, theirs.id]) == {mine.id: "Cancelling", theirs.id: "Cancelling"}


def test_a_run_finishing_between_reread_and_change_keeps_its_state(
    prefect: Prefect, settings: Settings, audit
) -> None:
    """runops re-reads a batch, then changes it; a run that finishes in between is protected by the
    bulk call's own filter (ids AND a not-finished state), checked by the server."""
    deployment = prefect.deployment()
    first, second = prefect.runs(deployment, [Running(), Running()])
    plan = prefect.run(cancel.plan_cancel, by_deployment(deployment))
    batching = cancel.cancel_batches(plan, Signed("t"))
    assert batching.size == 1  # a 2-run job: one run per call, so the progress bar moves per run

    async def finish_second(inner: httpx.AsyncBaseTransport, request: httpx.Request) -> None:
        await set_state_directly(inner, request, second.id, "COMPLETED", "Completed")

    report = call(
        settings,
        cancel.apply_cancel,
        plan,
        actor="t",
        store=audit,
        options=ApplyOptions(concurrency=1),
        transport=BeforeChange(finish_second),
    )
    result = {r.run_id: r for r in report.results}
    assert (result[first.id].outcome, result[first.id].after) == (DONE, "Cancelling")
    assert result[second.id].outcome == SKIPPED and "Completed" in result[second.id].reason
    assert stored(prefect, [first.id, second.id]) == {first.id: "Cancelling", second.id: "Completed"}


def test_bulk_calls_change_up_to_fifty_runs_each(prefect: Prefect, settings: Settings, audit) -> None:
    """A big job goes through /flow_runs/bulk_set_state, at most 50 runs a call, progress per run."""
    deployment = prefect.deployment()
    ids = seeded_runs(prefect, deployment, 120, "SCHEDULED")
    plan = prefect.run(cancel.plan_cancel, by_deployment(deployment, ["Scheduled"]))
    counter = Counting()
    moved: list[int] = []
    report = call(
        settings,
        cancel.apply_cancel,
        plan,
        actor="t",
        store=audit,
        progress=lambda d, t, r: moved.append(d),
        transport=counter,
    )
    assert report.totals == {DONE: 120, SKIPPED: 0, FAILED: 0, "not_attempted": 0}
    bulk_calls = [n for path, n in counter.changes if path.endswith("/bulk_set_state")]
    assert bulk_calls and max(bulk_calls) <= 50 and sum(bulk_calls) == 120
    assert not [path for path, _ in counter.changes if not path.endswith("/bulk_set_state")]
    assert moved == list(range(1, 121))
    assert set(stored(prefect, ids).values()) == {"Cancelled"}


def test_a_run_failing_inside_a_bulk_call_is_reported_alone(
    prefect: Prefect, settings: Settings, audit, monkeypatch: pytest.MonkeyPatch
) -> None:
    deployment = prefect.deployment()
    ids = seeded_runs(prefect, deployment, 40, "SCHEDULED")
    plan = prefect.run(cancel.plan_cancel, by_deployment(deployment, ["Scheduled"]))
    options = fast_failures(monkeypatch)
    faults = RunFaults(ids[3:5])
    report = call(
        settings, cancel.apply_cancel, plan, actor="t", store=audit, options=options, transport=faults
    )
    result = {r.run_id: r for r in report.results}
    assert report.totals == {DONE: 38, SKIPPED: 0, FAILED: 2, "not_attempted": 0}
    assert {i for i, r in result.items() if r.outcome == FAILED} == set(ids[3:5])
    assert all("injected fault" in result[i].reason for i in ids[3:5])
    now = stored(prefect, ids)
    assert [now[i] for i in ids[3:5]] == ["Scheduled", "Scheduled"]
    assert {now[i] for i in ids if i not in ids[3:5]} == {"Cancelled"}


def test_more_than_one_page_all_cancelled_in_one_job(prefect: Prefect, settings: Settings, audit) -> None:
    deployment = prefect.deployment()
    # 260 runs > one page of 200; written through Prefect's own tables (the API takes minutes here)
    ids = seeded_runs(prefect, deployment, 180, "SCHEDULED") + seeded_runs(
        prefect, deployment, 80, "SCHEDULED", "Late"
    )
    request = by_deployment(deployment, ["Scheduled", "Late"])
    assert prefect.run(cancel.count_matching, request.selection) == 260
    plan = prefect.run(cancel.plan_cancel, request)
    assert {i.run_id for i in plan.items} == set(ids)
    moved: list[int] = []
    report = call(
        settings, cancel.apply_cancel, plan, actor="t", store=audit, progress=lambda d, t, r: moved.append(d)
    )
    assert report.totals == {DONE: 260, SKIPPED: 0, FAILED: 0, "not_attempted": 0}
    assert moved == list(range(1, 261))  # the progress callback moved once per run
    assert set(stored(prefect, ids).values()) == {"Cancelled"}


def test_subflow_runs_are_included_on_request(prefect: Prefect, audit) -> None:
    parents = prefect.deployment()
    children = prefect.deployment()
    parent = prefect.runs(parents, [Running()])[0]
    child = subflow_run(prefect, parent.id, children, Running())
    grandchild = subflow_run(prefect, child.id, children, Scheduled(scheduled_time=later(hours=1)))
    finished_child = subflow_run(prefect, parent.id, children, Completed())

    without = prefect.run(cancel.plan_cancel, by_deployment(parents))
    assert [i.run_id for i in without.items] == [parent.id]

    plan = prefect.run(cancel.plan_cancel, by_deployment(parents, include_subflows=True))
    assert [i.run_id for i in plan.items] == [parent.id, child.id, grandchild.id]
    assert "sub-flow" in plan.items[1].reason and "sub-flow" in plan.selection
    prefect.run(cancel.apply_cancel, plan, actor="t", store=audit)
    assert stored(prefect, [parent.id, child.id, grandchild.id, finished_child.id]) == {
        parent.id: "Cancelling",
        child.id: "Cancelling",
        grandchild.id: "Cancelled",
        finished_child.id: "Completed",
    }


# -- faults ------------------------------------------------------------------------------------


def fast_failures(monkeypatch: pytest.MonkeyPatch) -> ApplyOptions:
    """No client-internal retries (each backs off for seconds); runops' own retries stay on.
    Called after the test data exists: creating it needs the client's retries of SQLite's 503s."""
    monkeypatch.setenv("PREFECT_CLIENT_MAX_RETRIES", "0")
    return ApplyOptions(concurrency=2, attempts=3, backoff_s=0.2)


def test_api_failing_mid_apply_is_reported_and_a_rerun_finishes(
    prefect: Prefect, settings: Settings, audit, monkeypatch: pytest.MonkeyPatch
) -> None:
    deployment = prefect.deployment()
    ids = seeded_runs(prefect, deployment, 30, "SCHEDULED")
    plan = prefect.run(cancel.plan_cancel, by_deployment(deployment, ["Scheduled"]))
    options = fast_failures(monkeypatch)

    fault = DownAfter(ok=10)
    report = call(
        settings, cancel.apply_cancel, plan, actor="t", store=audit, options=options, transport=fault
    )
    assert len(report.results) == 30  # every planned run is accounted for
    done = {r.run_id for r in report.results if r.outcome == DONE}
    failed = {r.run_id for r in report.results if r.outcome == FAILED}
    assert len(done) == 10 and len(failed) == 20 and done | failed == set(ids)
    reasons = {r.reason for r in report.results if r.outcome == FAILED}
    assert any("not attempted" in reason for reason in reasons), reasons
    assert all("Cannot reach the Prefect API" in r or "not attempted" in r for r in reasons), reasons
    # nothing half-done: what the report calls done is Cancelled, the rest is untouched
    now = stored(prefect, ids)
    assert {now[i] for i in done} == {"Cancelled"}
    assert {now[i] for i in failed} == {"Scheduled"}
    assert audit.audit.operations()[0]["failed"] == 20

    # "cancel what failed again" finishes the rest, and does nothing twice
    again = call(settings, cancel.apply_cancel, only(plan, report.failed_ids), actor="t", store=audit)
    assert again.planned == 20 and again.totals == {DONE: 20, SKIPPED: 0, FAILED: 0, "not_attempted": 0}
    assert set(stored(prefect, ids).values()) == {"Cancelled"}


def test_lost_answers_are_retried_without_a_second_transition(
    prefect: Prefect, settings: Settings, audit, monkeypatch: pytest.MonkeyPatch
) -> None:
    deployment = prefect.deployment()
    runs = prefect.runs(
        deployment, [Running(), Running(), Scheduled(scheduled_time=later(hours=1))], concurrency=1
    )
    plan = prefect.run(cancel.plan_cancel, by_deployment(deployment))
    options = fast_failures(monkeypatch)
    report = call(
        settings,
        cancel.apply_cancel,
        plan,
        actor="t",
        store=audit,
        options=options,
        transport=LosesAnswers(3),
    )
    assert report.totals == {DONE: 3, SKIPPED: 0, FAILED: 0, "not_attempted": 0}, [
        r.reason for r in report.results
    ]
    assert [stored(prefect, [r.id])[r.id] for r in runs] == ["Cancelling", "Cancelling", "Cancelled"]

    async def history(client: PrefectClient) -> list[list[str]]:
        return [[s.name for s in await client.read_flow_run_states(r.id)] for r in runs]

    # one cancel transition per run, although each request reached the server twice
    assert [h.count("Cancelling") + h.count("Cancelled") for h in prefect.run(history)] == [1, 1, 1]


def test_a_change_the_server_made_before_answering_503_counts_as_done_and_backs_off(
    prefect: Prefect, settings: Settings, audit, monkeypatch: pytest.MonkeyPatch
) -> None:
    # SQLite under load: a bulk call changes its runs, then answers 503; re-sent by Prefect's
    # client on its own, the call no longer matches them, and runs runops had cancelled would be
    # reported "skipped: already finished"
    monkeypatch.delenv("PREFECT_CLIENT_MAX_RETRIES", raising=False)  # runops' default: the client retries
    deployment = prefect.deployment()
    ids = seeded_runs(prefect, deployment, 40, "SCHEDULED")
    plan = prefect.run(cancel.plan_cancel, by_deployment(deployment, ["Scheduled"]))
    options = ApplyOptions(attempts=3, backoff_s=0.05)  # the concurrency limit, as the dashboard runs it
    report = call(
        settings,
        cancel.apply_cancel,
        plan,
        actor="t",
        store=audit,
        options=options,
        transport=LosesAnswers(2, busy=True),
    )
    assert report.totals == {DONE: 40, SKIPPED: 0, FAILED: 0, "not_attempted": 0}, {
        r.reason for r in report.results
    }
    assert set(stored(prefect, ids).values()) == {"Cancelled"}
    assert report.concurrency < report.start_concurrency  # the 503 reached runops: it backed off
    assert audit.audit.operations()[0]["done"] == 40


# -- bad input ---------------------------------------------------------------------------------


def test_bad_input_is_refused_in_words_and_changes_nothing(
    prefect: Prefect, settings: Settings, audit
) -> None:
    deployment = prefect.deployment()
    run, other = prefect.runs(deployment, [Scheduled(scheduled_time=later(hours=h)) for h in (1, 2)])

    empty = prefect.run(cancel.plan_cancel, by_deployment(deployment, ["Running"]))
    assert (empty.items, empty.matched) == ((), 0)  # nothing to do is not an error
    assert empty.selection.startswith("state Running, deployment")
    with pytest.raises(BadInput, match="Nothing to cancel"):
        prefect.run(cancel.apply_cancel, empty, actor="t", store=audit)
    with pytest.raises(BadInput, match=r"Unknown deployment .*Did you mean"):
        prefect.run(
            cancel.plan_cancel, cancel.CancelRequest(RunSelection(deployments=(deployment.full_name + "x",)))
        )
    with pytest.raises(BadInput, match=r"Unknown work pool 'no-such-pool"):
        prefect.run(cancel.count_matching, RunSelection(work_pools=(unique("no-such-pool"),)))
    with pytest.raises(BadInput, match=r"Unknown state 'Sleeping'"):
        prefect.run(cancel.count_matching, RunSelection(states=("Sleeping",)))
    with pytest.raises(BadInput, match="more than zero"):
        prefect.run(cancel.plan_cancel, by_deployment(deployment, max_runs=0))
    with pytest.raises(BadInput, match=r"2 runs match, more than the 1 one job may cancel"):
        prefect.run(cancel.plan_cancel, by_deployment(deployment, max_runs=1))

    unreachable = Settings(api_url=f"http://127.0.0.1:{free_port()}/api")
    with pytest.raises(ApiUnreachable, match="Cannot reach the Prefect API"):
        call(unreachable, cancel.count_matching, RunSelection(deployments=(deployment.full_name,)))

    plan = prefect.run(cancel.plan_cancel, by_deployment(deployment))
    with pytest.raises(ApiUnreachable):
        call(unreachable, cancel.apply_cancel, plan, actor="t", store=audit)
    assert stored(prefect, [run.id, other.id]) == {run.id: "Scheduled", other.id: "Scheduled"}
    assert audit.audit.operations() == []


def test_read_only_mode_refuses_before_touching_anything(
    prefect: Prefect, audit, monkeypatch: pytest.MonkeyPatch
) -> None:
    deployment = prefect.deployment()
    run = prefect.runs(deployment, [Running()])[0]
    plan = prefect.run(cancel.plan_cancel, by_deployment(deployment))
    monkeypatch.setenv("RUNOPS_READ_ONLY", "1")
    with pytest.raises(NotAllowed, match="read-only"):
        prefect.run(cancel.apply_cancel, plan, actor="t", store=audit)
    assert stored(prefect, [run.id]) == {run.id: "Running"}


@pytest.fixture(scope="module")
def guarded_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPrefectServer]:
    """A server of our own that demands basic auth (PREFECT_SERVER_API_AUTH_STRING)."""
    home = tmp_path_factory.mktemp("guarded")
    with LocalPrefectServer(
        home, ui=False, services=False, extra_env={"PREFECT_SERVER_API_AUTH_STRING": "admin:pw"}
    ) as server:
        yield server


def test_401_without_credentials_changes_nothing(guarded_server: LocalPrefectServer, audit) -> None:
    good = Settings(api_url=guarded_server.api_url, auth_string="admin:pw")
    anonymous = Settings(api_url=guarded_server.api_url)
    wrong = Settings(api_url=guarded_server.api_url, auth_string="admin:nope")

    async def setup(client: PrefectClient) -> tuple[str, UUID]:
        flow_id = await client.create_flow_from_name(unique("flow"))
        name = unique("deploy")
        deployment_id = await client.create_deployment(flow_id=flow_id, name=name)
        run = await client.create_flow_run_from_deployment(deployment_id, state=Running())
        flow = await client.read_flow(flow_id)
        return f"{flow.name}/{name}", run.id

    full_name, run_id = call(good, setup)
    request = cancel.CancelRequest(RunSelection(deployments=(full_name,)))
    plan = call(good, cancel.plan_cancel, request)  # the server honours the credentials

    # the server really enforces it: a bare request is refused too
    assert httpx.post(f"{guarded_server.api_url}/flow_runs/count", json={}).status_code == 401
    for settings in (anonymous, wrong):
        with pytest.raises(ApiUnauthorized, match=r"refused the credentials \(HTTP 401\)"):
            call(settings, cancel.count_matching, request.selection)
        with pytest.raises(ApiUnauthorized):
            call(settings, cancel.apply_cancel, plan, actor="t", store=audit)

    async def state(client: PrefectClient) -> str:
        return (await client.read_flow_run(run_id)).state.name

    assert call(good, state) == "Running"
    assert audit.audit.operations() == []
    # and with the right credentials the same plan goes through
    assert call(good, cancel.apply_cancel, plan, actor="t", store=audit).totals[DONE] == 1
    assert call(good, state) == "Cancelling"


def test_apply_is_bounded_in_time(prefect: Prefect, settings: Settings, audit) -> None:
    """A job whose time runs out stops and reports the rest as not attempted (untouched)."""
    deployment = prefect.deployment()
    ids = seeded_runs(prefect, deployment, 12, "SCHEDULED")
    plan = prefect.run(cancel.plan_cancel, by_deployment(deployment, ["Scheduled"]))
    assert bounded_options(len(plan.to_change)).time_limit_s is not None

    report = call(
        settings,
        cancel.apply_cancel,
        plan,
        actor="t",
        store=audit,
        options=ApplyOptions(concurrency=1, time_limit_s=1e-9),
    )
    assert report.totals == {DONE: 0, SKIPPED: 0, FAILED: 12, "not_attempted": 0}
    assert all("time limit" in r.reason for r in report.results)
    assert set(stored(prefect, ids).values()) == {"Scheduled"}


def test_the_scheduled_window_selects_by_the_time_runs_are_due_now(prefect: Prefect) -> None:
    deployment = prefect.deployment()
    soon = prefect.runs(deployment, [Scheduled(scheduled_time=later(hours=2)) for _ in range(2)])
    moved = prefect.runs(deployment, [Scheduled(scheduled_time=later(hours=1)) for _ in range(2)])
    for run in moved:  # rescheduled in place 3 days out: Prefect keeps expected_start_time
        prefect.set_state(run.id, Scheduled(scheduled_time=later(days=3)), force=False)
    before = cancel.build_selection(
        states=["Scheduled"], deployments=[deployment.full_name], window_to="now+12h"
    )
    after = cancel.build_selection(
        states=["Scheduled"], deployments=[deployment.full_name], window_from="now+12h"
    )
    assert prefect.run(cancel.count_matching, before) == 2
    assert prefect.run(cancel.count_matching, after) == 2
    plan = prefect.run(cancel.plan_cancel, cancel.CancelRequest(before))
    assert {i.run_id for i in plan.items} == {r.id for r in soon}
    assert all(
        prefect.read(r.id).state_name == "Scheduled" for r in [*soon, *moved]
    )  # a plan changes nothing
