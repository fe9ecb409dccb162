"""AppTest of the Late runs page against the real test server: preview → confirm → result, then re-read."""

from __future__ import annotations

from datetime import timedelta

import pytest
from streamlit.testing.v1 import AppTest

from runops.prefect_api import client as prefect_client
from tests.apptest import finish_job, metric_value, open_app, resume_job
from tests.factories import Deployment, Prefect
from tests.faults import RunFaults

PAGE = "pages/late_runs.py"


def late_page() -> AppTest:
    at = open_app("app.py")
    at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    return at


def choose(at: AppTest, deployment: Deployment, **texts: str) -> AppTest:
    at.multiselect(key="late.deployments").set_value([deployment.full_name])
    for key, value in texts.items():
        at.text_input(key=f"late.{key}").set_value(value)
    at.button(key="late.preview-button").click().run()
    assert not at.exception, at.exception
    return at


def test_preview_confirm_result(prefect: Prefect, tmp_home) -> None:
    deployment = prefect.deployment()
    runs = prefect.late_runs(deployment, 3)
    at = late_page()
    assert deployment.full_name in at.multiselect(key="late.deployments").options

    choose(at, deployment, delay="2d")
    preview = at.dataframe[0].value
    assert list(preview["Run"]) == [r.name for r in runs]  # newest scheduled first
    assert set(preview["Action"]) == {"reschedule"} and set(preview["Warnings"]) == {""}
    assert list(preview["Late by"]) == ["1h 00m", "2h 00m", "3h 00m"]
    assert metric_value(at, "To reschedule") == 3
    assert any("shift each run by 2d 0h" in m.value for m in at.markdown)
    assert all(prefect.read(r.id).state_name == "Late" for r in runs)  # a preview changes nothing

    at.button(key="late.open").click().run()
    assert at.button(key="late.confirm")  # the dialog is up
    at.button(key="late.confirm").click().run()
    assert not at.exception, at.exception
    finish_job(at, "late")
    assert metric_value(at, "Done") == 3 and metric_value(at, "Failed") == 0
    result = at.dataframe[0].value
    assert set(result["Outcome"]) == {"done"}
    assert all(link.endswith(str(r.id)) for link, r in zip(result["Link"], runs, strict=True))
    assert not at.get("dialog")

    for run in runs:
        stored = prefect.read(run.id)
        assert stored is not None and stored.state_name == "Scheduled"
        assert stored.next_scheduled_start_time is not None and run.next_scheduled_start_time is not None
        assert (stored.next_scheduled_start_time - run.next_scheduled_start_time).days == 2


def test_apply_what_failed_again(prefect: Prefect, tmp_home, monkeypatch: pytest.MonkeyPatch) -> None:
    deployment = prefect.deployment()
    runs = prefect.late_runs(deployment, 3)
    fault = RunFaults([runs[0].id])  # the server fails to change this one inside its bulk call
    build = prefect_client.build_client
    monkeypatch.setattr(
        prefect_client, "build_client", lambda settings, transport=None: build(settings, fault.fresh())
    )

    at = choose(late_page(), deployment, delay="2d")
    at.button(key="late.open").click().run()
    at.button(key="late.confirm").click().run()
    assert not at.exception, at.exception
    job_id = finish_job(at, "late")
    assert metric_value(at, "Done") == 2 and metric_value(at, "Failed") == 1
    failed = at.dataframe[0].value.query("Outcome == 'failed'")
    assert list(failed["Run"]) == [runs[0].name] and "injected fault" in failed["Reason"].iloc[0]
    assert [prefect.read(r.id).state_name for r in runs] == ["Late", "Scheduled", "Scheduled"]

    fault.failing.clear()
    # Resume takes up the same job: only its failed run, re-read first; straight to the background
    assert at.button(key=f"job.{job_id}.resume").label == "Resume: 1 run(s) not done"
    resume_job(at, job_id)
    assert metric_value(at, "Done") == 3 and metric_value(at, "Failed") == 0  # the whole job
    assert f"job.{job_id}.resume" not in [b.key for b in at.button]
    for run in runs:  # every run moved exactly once, by two days
        stored = prefect.read(run.id)
        assert stored is not None and stored.state_name == "Scheduled"
        assert stored.next_scheduled_start_time == run.next_scheduled_start_time + timedelta(days=2)


def test_many_runs_need_the_count_typed_and_the_rest_is_deleted(prefect: Prefect, tmp_home) -> None:
    deployment = prefect.deployment()
    runs = prefect.late_runs(deployment, 28, concurrency=2)
    at = late_page()
    at.multiselect(key="late.deployments").set_value([deployment.full_name])
    at.text_input(key="late.limit").set_value("2")
    at.run()
    at.radio(key="late.rest").set_value("delete")
    at.text_input(key="late.delay").set_value("12h")
    at.button(key="late.preview-button").click().run()
    assert metric_value(at, "To cancel / delete") == 26

    at.button(key="late.open").click().run()
    assert at.button(key="late.confirm").label == "Apply to 28 runs"
    assert at.button(key="late.cancel").label == "Go back"
    at.button(key="late.confirm").click().run()  # 28 runs: without the count typed, refused
    assert "Type 28" in at.error[0].value and at.button(key="late.confirm")  # the dialog stays
    assert at.session_state["late.state"].job is None
    # typed and confirmed in one go (no Enter first): one click is enough
    at.text_input(key="late.typed").set_value("28")
    at.button(key="late.confirm").click().run()
    assert not at.exception, at.exception
    finish_job(at, "late")
    assert metric_value(at, "Done") == 28

    stored = prefect.runs_of(deployment)
    assert {r.id for r in stored} == {r.id for r in runs[:2]}
    assert {r.state_name for r in stored} == {"Scheduled"}


def test_past_times_need_consent(prefect: Prefect, tmp_home) -> None:
    deployment = prefect.deployment()
    [run] = prefect.late_runs(deployment, 1)
    at = choose(late_page(), deployment, delay="10m")
    assert "in the past" in at.warning[0].value
    assert "past" in at.dataframe[0].value["Warnings"].iloc[0]
    assert at.button(key="late.open").disabled
    at.checkbox(key="late.consent").check().run()
    at.button(key="late.open").click().run()
    at.button(key="late.confirm").click().run()
    finish_job(at, "late")
    assert metric_value(at, "Done") == 1
    stored = prefect.read(run.id)
    assert run.next_scheduled_start_time is not None
    assert stored is not None
    assert stored.next_scheduled_start_time == run.next_scheduled_start_time + timedelta(minutes=10)
    assert stored.state_name in {"Scheduled", "Late"}  # in the past: the server may mark it Late again


def test_bad_input_and_empty_selection_change_nothing(prefect: Prefect, tmp_home) -> None:
    deployment = prefect.deployment()
    [run] = prefect.late_runs(deployment, 1)
    at = late_page()
    at.button(key="late.preview-button").click().run()
    assert "Choose at least one deployment" in at.error[0].value

    choose(at, deployment, delay="soon")
    assert "Cannot read 'soon' as a duration" in at.error[0].value
    choose(at, deployment, delay="-6h")
    assert "negative" in at.error[0].value
    assert not at.dataframe

    empty = prefect.deployment()
    choose(at, empty, delay="6h")
    assert "No runs match" in at.info[0].value
    assert "late.open" not in [b.key for b in at.button]  # nothing to confirm
    stored = prefect.read(run.id)
    assert stored is not None and stored.state_name == "Late"


def test_a_delay_of_more_than_30_days_needs_a_yes(prefect: Prefect, tmp_home) -> None:
    deployment = prefect.deployment()
    [run] = prefect.late_runs(deployment, 1)
    at = choose(late_page(), deployment, delay="6h")
    assert "late.allow_long" not in [c.key for c in at.checkbox]  # only for long delays

    at = choose(at, deployment, delay="45d")
    assert at.checkbox(key="late.allow_long").label == "Yes, more than 30 days"
    assert at.button(key="late.preview-button").disabled
    assert not at.dataframe and not at.error  # no preview without the yes

    at.checkbox(key="late.allow_long").check().run()
    at.button(key="late.preview-button").click().run()
    assert not at.exception, at.exception
    assert any("shift each run by 45d 0h" in m.value for m in at.markdown)
    at.button(key="late.open").click().run()
    at.button(key="late.confirm").click().run()
    finish_job(at, "late")
    assert metric_value(at, "Done") == 1
    stored = prefect.read(run.id)
    assert stored is not None and run.next_scheduled_start_time is not None
    assert stored.next_scheduled_start_time == run.next_scheduled_start_time + timedelta(days=45)

    at.text_input(key="late.delay").set_value("2d").run()
    assert "late.allow_long" not in [c.key for c in at.checkbox]
    assert not at.button(key="late.preview-button").disabled


def test_a_fixed_time_more_than_30_days_ahead_needs_a_yes(prefect: Prefect, tmp_home) -> None:
    deployment = prefect.deployment()
    [run] = prefect.late_runs(deployment, 1)
    at = late_page()
    at.multiselect(key="late.deployments").set_value([deployment.full_name])
    at.radio(key="late.policy").set_value("fixed").run()
    at.text_input(key="late.at").set_value("now+400d").run()
    assert at.checkbox(key="late.allow_long").label == "Yes, more than 30 days"
    assert at.button(key="late.preview-button").disabled
    at.text_input(key="late.at").set_value("now+2h").run()
    assert "late.allow_long" not in [c.key for c in at.checkbox]
    assert not at.button(key="late.preview-button").disabled
    assert prefect.read(run.id).state_name == "Late"


def test_an_invalid_n_is_refused_not_reinterpreted(prefect: Prefect, tmp_home) -> None:
    deployment = prefect.deployment()
    runs = prefect.late_runs(deployment, 4)
    at = late_page()
    assert at.radio(key="late.rest").value == "leave"  # cancelling the backlog is a choice
    at.multiselect(key="late.deployments").set_value([deployment.full_name]).run()
    for typed in ("0", "-1", "2.5", "ten"):
        at.text_input(key="late.limit").set_value(typed).run()
        assert not at.exception, at.exception
        assert any("N must be a positive whole number" in e.value for e in at.error), typed
        assert at.button(key="late.preview-button").disabled, typed
        assert "late.open" not in [b.key for b in at.button]  # nothing to apply
    at.text_input(key="late.limit").set_value("2").run()
    assert not at.error and not at.button(key="late.preview-button").disabled
    at.button(key="late.preview-button").click().run()
    assert metric_value(at, "To reschedule") == 2 and metric_value(at, "Left as they are") == 2
    assert all(prefect.read(r.id).state_name == "Late" for r in runs)
