"""AppTest of the Stuck runs page against the real test server: find → choose → confirm → result, re-read."""

from __future__ import annotations

from prefect.states import Running

from runops.dev.backdate import RunTimes
from runops.features import stuck
from tests.apptest import finish_job, metric_value, open_app
from tests.factories import Prefect, ago

PAGE = "pages/stuck_runs.py"


def test_find_choose_clear_with_retry(prefect: Prefect, tmp_home) -> None:
    deployment = prefect.deployment()
    old, older, fresh = prefect.runs(deployment, [Running(), Running(), Running()])
    prefect.backdate(
        [RunTimes(old.id, ago(hours=3), ago(hours=3)), RunTimes(older.id, ago(hours=4), ago(hours=4))]
    )
    at = open_app("app.py")
    at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    at.multiselect(key="stuck.deployments").set_value([deployment.full_name]).run()
    at.button(key="stuck.find").click().run()
    assert not at.exception, at.exception
    table = at.dataframe[0].value
    assert list(table["Run"]) == [older.name, old.name]  # longest stuck first; the fresh run is not stuck
    assert set(table["Worker"]) == {"no work pool"}
    assert any(stuck.FORCE_WARNING in w.value for w in at.warning)

    at.multiselect(key="stuck.skip").set_value([old.id]).run()
    at.checkbox(key="stuck.retry").check().run()
    assert metric_value(at, "Mark crashed") == 1 and metric_value(at, "Left alone") == 1
    at.button(key="stuck.open").click().run()
    at.button(key="stuck.confirm").click().run()
    assert not at.exception, at.exception
    finish_job(at, "stuck")
    assert metric_value(at, "Done") == 1
    states = {i: r.state.name for i, r in prefect.read_many([old.id, older.id, fresh.id]).items()}
    assert states == {old.id: "Running", older.id: "Scheduled", fresh.id: "Running"}
    history = [s.name for s in prefect.harness(lambda c: c.read_flow_run_states(older.id))]
    assert history[-2:] == ["Crashed", "Scheduled"]


def test_k_zero_is_refused_in_words(prefect: Prefect, tmp_home) -> None:
    at = open_app("app.py")
    at.switch_page(PAGE).run()
    at.number_input(key="stuck.k").set_value(0.0).run()
    assert not at.exception, at.exception
    assert any("k must be more than zero" in e.value for e in at.error)
    assert at.button(key="stuck.find").disabled


def test_a_running_run_can_be_chosen_to_become_cancelled(prefect: Prefect, tmp_home) -> None:
    deployment = prefect.deployment()
    crash, cancel = prefect.runs(deployment, [Running(), Running()])
    prefect.backdate(
        [RunTimes(crash.id, ago(hours=3), ago(hours=3)), RunTimes(cancel.id, ago(hours=4), ago(hours=4))]
    )
    at = open_app("app.py")
    at.switch_page(PAGE).run()
    at.multiselect(key="stuck.deployments").set_value([deployment.full_name]).run()
    at.button(key="stuck.find").click().run()
    at.multiselect(key="stuck.cancel_instead").set_value([cancel.id]).run()
    assert not at.exception, at.exception
    assert metric_value(at, "Mark crashed") == 1 and metric_value(at, "Mark cancelled") == 1
    table = at.dataframe[0].value
    assert dict(zip(table["Run"], table["Action"], strict=True)) == {
        crash.name: stuck.MARK_CRASHED,
        cancel.name: stuck.MARK_CANCELLED,
    }
    at.button(key="stuck.open").click().run()
    at.button(key="stuck.confirm").click().run()
    finish_job(at, "stuck")
    assert metric_value(at, "Done") == 2
    states = {i: r.state.name for i, r in prefect.read_many([crash.id, cancel.id]).items()}
    assert states == {crash.id: "Crashed", cancel.id: "Cancelled"}
