"""AppTest of the Retry failed page against the real test server: count → preview → confirm → result, re-read."""

from __future__ import annotations

from prefect.states import Completed, Crashed, Failed

from tests.apptest import finish_job, metric_value, open_app
from tests.factories import Prefect

PAGE = "pages/retry_failed.py"


def test_count_preview_confirm_result(prefect: Prefect, tmp_home) -> None:
    deployment, other = prefect.deployment(), prefect.deployment()
    failed, crashed, completed = prefect.runs(
        deployment, [Failed(), Crashed(), Completed()], parameters={"a": 1}
    )
    elsewhere = prefect.runs(other, [Failed()])[0]
    at = open_app("app.py")
    at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    at.multiselect(key="retry.deployments").set_value([deployment.full_name]).run()
    assert any("2 runs match" in m.value for m in at.markdown)

    at.button(key="retry.preview-button").click().run()
    preview = at.dataframe[0].value
    assert dict(zip(preview["Run"], preview["Action"], strict=True)) == {
        failed.name: "retry",
        crashed.name: "retry",
    }
    assert set(preview["Retry at"]) == {"now"}
    assert "—" not in set(preview["Ended"])  # each run's end time, as the preview read it
    assert metric_value(at, "Retry") == 2 and metric_value(at, "Skip") == 0
    assert prefect.read(failed.id).state.name == "Failed"  # a preview changes nothing

    at.button(key="retry.open").click().run()
    at.button(key="retry.confirm").click().run()
    assert not at.exception, at.exception
    finish_job(at, "retry")
    assert metric_value(at, "Done") == 2 and metric_value(at, "Failed") == 0
    stored = prefect.read_many([failed.id, crashed.id, completed.id, elsewhere.id])
    assert {i: r.state.name for i, r in stored.items()} == {
        failed.id: "Scheduled",
        crashed.id: "Scheduled",
        completed.id: "Completed",
        elsewhere.id: "Failed",
    }
    assert stored[failed.id].parameters == {"a": 1}


def test_bad_window_is_refused_in_words(prefect: Prefect, tmp_home) -> None:
    deployment = prefect.deployment()
    run = prefect.runs(deployment, [Failed()])[0]
    at = open_app("app.py")
    at.switch_page(PAGE).run()
    at.multiselect(key="retry.deployments").set_value([deployment.full_name]).run()
    at.text_input(key="retry.before").set_value("now-48h").run()
    assert not at.exception, at.exception
    assert any("ends before it starts" in e.value for e in at.error)
    assert at.button(key="retry.preview-button").disabled
    assert prefect.read(run.id).state.name == "Failed"
