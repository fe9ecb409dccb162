"""AppTest: each page opens with the filters its URL carries, writes changed filters back, and
ignores a bad parameter with a warning, against the real test server."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

from prefect.states import Late
from streamlit.testing.v1 import AppTest

from tests.apptest import ROOT, finish_job, open_app
from tests.factories import Prefect, ago


def opened(page: str, **params: str | list[str]) -> AppTest:
    """`page` opened from a link: its query parameters are there before the first run."""
    at = AppTest.from_file(str(ROOT / page), default_timeout=90)
    at.query_params.update(params)
    at.run()
    assert not at.exception, at.exception
    return at


def opened_in_app(page: str, **params: str | list[str]) -> AppTest:
    """`page` opened from a link through app.py (for pages that link to others)."""
    at = open_app()
    at.switch_page(page)
    at.query_params.update(params)
    at.run()
    assert not at.exception, at.exception
    return at


def warnings(at: AppTest) -> str:
    """The warnings' text, Markdown escapes removed (the link's values are shown as text)."""
    return " ".join(w.value for w in at.warning).replace("\\", "")


def params(at: AppTest) -> dict[str, list[str]]:
    """The URL's query parameters after the run, each as the list of its values."""
    return {k: v if isinstance(v, list) else [v] for k, v in at.query_params.items()}


def test_late_runs_opens_with_the_links_filters_and_writes_changes_back(prefect: Prefect, tmp_home) -> None:
    deployment = prefect.deployment()
    runs = prefect.late_runs(deployment, 2)
    at = opened(
        "pages/late_runs.py", deployment=deployment.full_name, delay="2h", n="5", state=["Late", "Scheduled"]
    )
    assert at.multiselect(key="late.deployments").value == [deployment.full_name]
    assert at.multiselect(key="late.states").value == ["Late", "Scheduled"]
    assert at.text_input(key="late.delay").value == "2h"
    assert at.text_input(key="late.limit").value == "5"
    assert not at.warning
    assert params(at)["deployment"] == [deployment.full_name]

    at.text_input(key="late.delay").set_value("90m").run()
    at.multiselect(key="late.states").set_value(["Late"]).run()
    assert params(at)["delay"] == ["90m"]
    assert "state" not in params(at)  # back to the default: left out, links stay short
    at.radio(key="late.policy").set_value("fixed").run()
    assert params(at)["policy"] == ["fixed"] and "delay" not in params(at)  # another policy's input
    assert all(prefect.read(r.id).state_name == "Late" for r in runs)  # opening a link changes nothing


def test_a_bad_parameter_is_named_ignored_and_changes_nothing(prefect: Prefect, tmp_home) -> None:
    deployment = prefect.deployment()
    at = opened(
        "pages/late_runs.py",
        deployment=[deployment.full_name, "no-such/deployment"],
        delay="6",
        n="lots",
        policy="sideways",
        state="Scheduled",
    )
    shown = warnings(at)
    for name in ("deployment", "delay", "n", "policy"):
        assert f"link's `{name}` parameter is ignored" in shown, (name, shown)
    assert "no deployment named “no-such/deployment”" in shown
    # nothing of a bad parameter is applied, not even its good half
    assert at.multiselect(key="late.deployments").value == []
    assert at.text_input(key="late.delay").value == "6h"
    assert at.text_input(key="late.limit").value == ""
    assert at.radio(key="late.policy").value == "shift"
    assert at.multiselect(key="late.states").value == ["Scheduled"]  # the good one still is
    assert params(at) == {"state": ["Scheduled"]}  # the URL now says what the page shows
    at.run()
    assert "`delay`" in warnings(at) and "6 what?" in warnings(at)  # still there on the next rerun
    at.text_input(key="late.delay").set_value("1h").run()
    assert "`delay`" not in warnings(at) and "`n`" in warnings(at)  # answered by choosing


def test_a_link_and_a_job_share_the_url(prefect: Prefect, tmp_home) -> None:
    deployment = prefect.deployment()
    runs = prefect.late_runs(deployment, 2)
    at = opened("pages/late_runs.py", deployment=deployment.full_name, delay="1d")
    at.button(key="late.preview-button").click().run()
    assert all(prefect.read(r.id).state_name == "Late" for r in runs)  # a preview changes nothing
    at.button(key="late.open").click().run()
    at.button(key="late.confirm").click().run()
    job_id = finish_job(at, "late")
    assert params(at)["job"] == [job_id] and params(at)["delay"] == ["1d"]
    assert params(at)["deployment"] == [deployment.full_name]
    at.run()  # a reload: the job panel re-attaches, the filters stay
    assert at.multiselect(key="late.deployments").value == [deployment.full_name]
    assert params(at)["job"] == [job_id]

    job_page = opened_in_app("pages/activity.py", job=job_id)
    assert any(f"?job={job_id}" in c.value for c in job_page.code)  # its own link, copyable
    jobs = opened_in_app("pages/activity.py", status="done", action="no-such-action")
    assert jobs.multiselect(key="activity.status").value == ["done"]
    assert jobs.multiselect(key="activity.action").value == []
    assert "no action named “no-such-action”" in warnings(jobs)


def test_bulk_cancel_opens_with_states_filters_and_window(prefect: Prefect, tmp_home) -> None:
    deployment = prefect.deployment(tags=["nightly", "team-a"])
    runs = prefect.runs(deployment, [Late(scheduled_time=ago(hours=2))], tags=["nightly", "team-a"])
    at = opened(
        "pages/bulk_cancel.py",
        state=["Late", "Scheduled"],
        deployment=deployment.full_name,
        tag=["nightly", "team-a"],
        on="scheduled",
        **{"from": "now-1d", "to": "now"},
        subflows="1",
    )
    assert at.multiselect(key="cancel.states").value == ["Late", "Scheduled"]
    assert at.multiselect(key="cancel.deployments").value == [deployment.full_name]
    assert at.text_input(key="cancel.tags").value == "nightly, team-a"
    assert at.text_input(key="cancel.from").value == "now-1d"
    assert at.text_input(key="cancel.to").value == "now"
    assert at.checkbox(key="cancel.subflows").value is True
    assert not at.warning
    assert any(m.value == "### 1 run match" for m in at.markdown)

    at.multiselect(key="cancel.states").set_value(["Late", "Scheduled", "Pending"]).run()
    assert params(at)["state"] == ["Late", "Scheduled", "Pending"]  # repeated, in order
    assert params(at)["tag"] == ["nightly", "team-a"]
    assert all(prefect.read(r.id).state_name == "Late" for r in runs)

    bad = opened("pages/bulk_cancel.py", state="Finished", to="yesterday-ish", force="1")
    assert "no state named “Finished”" in warnings(bad) and "`to`" in warnings(bad)
    assert bad.multiselect(key="cancel.states").value == [
        "Scheduled",
        "Late",
        "AwaitingRetry",
        "Pending",
        "Running",
        "Paused",
    ]
    assert bad.checkbox(key="cancel.force").value is False  # a consent never comes from a link


def test_retry_stuck_and_history_open_with_the_links_filters(prefect: Prefect, tmp_home) -> None:
    deployment = prefect.deployment()
    retry = opened(
        "pages/retry_failed.py",
        state="Crashed",
        deployment=deployment.full_name,
        after="now-2d",
        latest="1",
        when="spread",
        **{"from": "now", "to": "now+1h"},
    )
    assert retry.multiselect(key="retry.states").value == ["Crashed"]
    assert retry.multiselect(key="retry.deployments").value == [deployment.full_name]
    assert retry.text_input(key="retry.after").value == "now-2d"
    assert retry.checkbox(key="retry.latest").value is True
    assert retry.radio(key="retry.when").value == "spread"
    assert retry.text_input(key="retry.to").value == "now+1h"
    assert not retry.warning
    retry.text_input(key="retry.after").set_value("").run()
    assert params(retry)["after"] == [""]  # emptied, not back to the default: the link says so
    assert opened("pages/retry_failed.py", after="").text_input(key="retry.after").value == ""

    stuck = opened(
        "pages/stuck_runs.py", deployment=deployment.full_name, k="5", older="3h", cancelling="oops"
    )
    assert stuck.number_input(key="stuck.k").value == 5.0
    assert stuck.text_input(key="stuck.older").value == "3h"
    assert stuck.text_input(key="stuck.cancelling").value == "10m"
    assert "`cancelling`" in warnings(stuck) and "'oops'" in warnings(stuck)
    stuck.number_input(key="stuck.k").set_value(4.5).run()
    assert params(stuck)["k"] == ["4.5"]

    history = opened("pages/history.py", deployment=deployment.full_name, days="30", n="50")
    assert history.multiselect(key="history.deployments").value == [deployment.full_name]
    assert history.selectbox(key="history.window").value == "Last 30 days"
    assert history.number_input(key="history.limit").value == 50
    assert not history.warning
    history.selectbox(key="history.window").set_value("Last 6 hours").run()
    assert params(history)["days"] == ["6h"]
    bad = opened("pages/history.py", days="45", n="1e9")
    assert "no window named “45”" in warnings(bad) and "“1e9” is not a whole number" in warnings(bad)
    assert bad.selectbox(key="history.window").value == "Last 7 days"


def page_links(at: AppTest) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for element in at.get("page_link"):
        proto: Any = element.proto
        found.setdefault(proto.label, []).append(proto.query_string)
    return found


def test_overview_links_to_pages_with_the_filter_set(prefect: Prefect, tmp_home) -> None:
    deployment = prefect.deployment()
    prefect.late_runs(deployment, 2)
    at = open_app()
    assert not at.exception, at.exception
    backlog = at.dataframe[0].value
    link = backlog[backlog["Deployment"] == deployment.full_name]["Reschedule"].iloc[0]
    path, _, query_string = link.partition("?")
    assert path == "late_runs"  # relative: works behind a base path
    assert parse_qs(query_string) == {"deployment": [deployment.full_name]}
    links = page_links(at)
    assert "state=Failed" in links["Retry failed"] and "state=Crashed" in links["Retry failed"]
    assert "state=Scheduled" in links["Bulk cancel"] and "state=Running" in links["Bulk cancel"]
    assert "state=Late" in links["Late runs"]
