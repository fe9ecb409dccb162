"""AppTest of the Bulk cancel page against the real test server: count → preview → confirm → result, re-read."""

from __future__ import annotations

import getpass
from uuid import UUID

import pytest
from prefect.states import Cancelling, Completed, Late, Running, Scheduled
from streamlit.testing.v1 import AppTest

from runops.prefect_api import client as prefect_client
from runops.store import default_store
from tests.apptest import finish_job, metric_value, open_app, resume_job
from tests.factories import Deployment, Prefect, ago, later, seeded_runs
from tests.faults import RunFaults

PAGE = "pages/bulk_cancel.py"


def cancel_page() -> AppTest:
    at = open_app("app.py")
    at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    return at


def choose(at: AppTest, deployment: Deployment) -> AppTest:
    at.multiselect(key="cancel.deployments").set_value([deployment.full_name]).run()
    assert not at.exception, at.exception
    return at


def headline(at: AppTest) -> str:
    return " ".join(m.value for m in at.markdown if "match" in m.value)


def stored(prefect: Prefect, ids) -> dict[UUID, str]:
    return {i: r.state.name for i, r in prefect.read_many(list(ids)).items() if r}


def test_count_preview_confirm_result(prefect: Prefect, tmp_home) -> None:
    deployment = prefect.deployment()
    running, late, scheduled, completed = prefect.runs(
        deployment,
        [Running(), Late(scheduled_time=ago(hours=2)), Scheduled(scheduled_time=later(hours=1)), Completed()],
    )
    at = cancel_page()
    assert deployment.full_name in at.multiselect(key="cancel.deployments").options
    choose(at, deployment)
    assert "3 runs match" in headline(at)  # the default states leave the Completed run out

    at.button(key="cancel.preview-button").click().run()
    preview = at.dataframe[0].value
    actions = dict(zip(preview["Run"], preview["Action"], strict=True))
    assert actions == {running.name: "mark cancelling", late.name: "cancel", scheduled.name: "cancel"}
    assert metric_value(at, "Cancel") == 2 and metric_value(at, "Mark cancelling") == 1
    assert set(stored(prefect, [running.id, late.id]).values()) == {"Running", "Late"}  # preview only

    at.button(key="cancel.open").click().run()
    assert at.button(key="cancel.confirm")  # the dialog is up
    assert any("3** run(s) will change" in m.value for m in at.markdown)
    at.button(key="cancel.confirm").click().run()
    assert not at.exception, at.exception
    job_id = finish_job(at, "cancel")
    assert metric_value(at, "Done") == 3 and metric_value(at, "Failed") == 0
    result = at.dataframe[0].value
    assert set(result["Outcome"]) == {"done"}
    assert all(str(link).startswith("http") for link in result["Link"])
    assert f"job.{job_id}.resume" not in [b.key for b in at.button]  # nothing failed, nothing to resume
    assert "0 runs match" in headline(at)  # counted again after the apply

    assert stored(prefect, [running.id, late.id, scheduled.id, completed.id]) == {
        running.id: "Cancelling",
        late.id: "Cancelled",
        scheduled.id: "Cancelled",
        completed.id: "Completed",
    }


def test_many_runs_typed_count_and_cancel_what_failed_again(
    prefect: Prefect, tmp_home, monkeypatch: pytest.MonkeyPatch
) -> None:
    deployment = prefect.deployment()
    ids = seeded_runs(prefect, deployment, 30, "SCHEDULED")
    fault = RunFaults(ids[:2])  # the state changes of two runs fail inside the bulk calls
    build = prefect_client.build_client
    monkeypatch.setattr(
        prefect_client, "build_client", lambda settings, transport=None: build(settings, fault.fresh())
    )

    at = choose(cancel_page(), deployment)
    assert "30 runs match" in headline(at)
    at.button(key="cancel.preview-button").click().run()
    at.button(key="cancel.open").click().run()
    assert at.button(key="cancel.confirm").label == "Cancel 30 runs"
    assert at.button(key="cancel.cancel").label == "Go back"
    at.text_input(key="cancel.typed").set_value("31")
    at.button(key="cancel.confirm").click().run()  # a wrong count: refused, nothing changes
    assert "Type 30" in at.error[0].value and at.session_state["cancel.state"].job is None
    at.text_input(key="cancel.typed").set_value("30")
    at.button(key="cancel.confirm").click().run()
    assert not at.exception, at.exception
    job_id = finish_job(at, "cancel")
    assert metric_value(at, "Done") == 28 and metric_value(at, "Failed") == 2
    failed = at.dataframe[0].value.query("Outcome == 'failed'")
    assert all("injected fault" in reason for reason in failed["Reason"])
    now = stored(prefect, ids)
    assert [now[i] for i in ids[:2]] == ["Scheduled", "Scheduled"]
    assert {now[i] for i in ids[2:]} == {"Cancelled"}

    fault.failing.clear()
    assert at.button(key=f"job.{job_id}.resume").label == "Resume: 2 run(s) not done"
    resume_job(at, job_id)
    assert metric_value(at, "Done") == 30 and metric_value(at, "Failed") == 0  # the whole job
    assert set(stored(prefect, ids).values()) == {"Cancelled"}


def test_bad_input_and_empty_selection_change_nothing(prefect: Prefect, tmp_home) -> None:
    deployment = prefect.deployment()
    [done, stuck] = prefect.runs(deployment, [Completed(), Running()])
    prefect.set_state(stuck.id, Cancelling(), force=False)  # its worker never confirms
    at = choose(cancel_page(), deployment)
    assert "0 runs match" in headline(at)  # the default states leave both out
    assert at.button(key="cancel.preview-button").disabled

    at.multiselect(key="cancel.states").set_value(["Cancelling"]).run()
    assert "1 run match" in headline(at)
    at.button(key="cancel.preview-button").click().run()
    assert metric_value(at, "Skip") == 1  # stuck runs only with force
    assert at.button(key="cancel.open").disabled  # nothing to change
    assert any("nothing to cancel" in i.value for i in at.info)

    at.text_input(key="cancel.from").set_value("soon").run()
    assert "Cannot read 'soon' as a time" in at.error[0].value
    assert at.button(key="cancel.preview-button").disabled
    assert not at.dataframe  # the old preview went with the changed filter
    at.text_input(key="cancel.from").set_value("now").run()
    at.text_input(key="cancel.to").set_value("now-1h").run()
    assert "ends before it starts" in at.error[0].value
    at.text_input(key="cancel.to").set_value("").run()
    at.multiselect(key="cancel.states").set_value([]).run()  # cleared: refused, not the defaults
    assert "Choose at least one state" in at.error[0].value
    assert at.button(key="cancel.preview-button").disabled
    assert stored(prefect, [done.id, stuck.id]) == {done.id: "Completed", stuck.id: "Cancelling"}


def test_every_default_state_is_shown(prefect: Prefect, tmp_home) -> None:
    at = open_app(PAGE)  # the page shows its form only with a reachable API
    states = at.multiselect(key="cancel.states")
    assert states.value == ["Scheduled", "Late", "AwaitingRetry", "Pending", "Running", "Paused"]


def test_unreachable_api_stops_the_page_cleanly(monkeypatch: pytest.MonkeyPatch) -> None:
    from runops.dev.server import free_port

    monkeypatch.setenv("PREFECT_API_URL", f"http://127.0.0.1:{free_port()}/api")
    at = open_app(PAGE)
    assert not at.exception
    assert "Cannot reach the Prefect API" in " ".join(e.value for e in at.error)
    assert not at.multiselect


def test_a_required_reason_enables_confirm_and_reaches_the_runs(
    prefect: Prefect, tmp_home, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RUNOPS_REQUIRE_REASON", "1")
    deployment = prefect.deployment()
    late, running = prefect.runs(deployment, [Late(scheduled_time=ago(hours=2)), Running()])
    at = choose(cancel_page(), deployment)
    at.button(key="cancel.preview-button").click().run()
    at.button(key="cancel.open").click().run()
    assert at.text_input(key="cancel.reason").label == "Reason (required)"
    assert at.button(key="cancel.confirm").disabled
    assert any("A reason is required here" in c.value for c in at.caption)

    at.text_input(key="cancel.reason").set_value("   ").run()  # blanks are no reason
    assert at.button(key="cancel.confirm").disabled
    at.text_input(key="cancel.reason").set_value("INC-4711 db failover").run()
    assert not at.button(key="cancel.confirm").disabled
    assert not any("A reason is required here" in c.value for c in at.caption)
    at.button(key="cancel.confirm").click().run()
    assert not at.exception, at.exception
    job_id = finish_job(at, "cancel")
    assert default_store(tmp_home).jobs.get(job_id).reason == "INC-4711 db failover"
    for run in (late, running):
        now = prefect.read(run.id)
        assert now is not None and now.state is not None
        assert now.state.message == f"runops: cancelled by local:{getpass.getuser()}: INC-4711 db failover"
