"""AppTest of app.py and the overview page against the real test server."""

from __future__ import annotations

from prefect.states import Completed, Crashed, Failed, Late, Running

from runops.features.overview import state_counts
from tests.apptest import metric_value, open_app
from tests.factories import Prefect, ago


def test_overview_shows_counts_and_late_backlog(prefect: Prefect) -> None:
    deployment = prefect.deployment()
    prefect.runs(deployment, [Late(scheduled_time=ago(hours=3)), Late(scheduled_time=ago(minutes=20))])
    prefect.runs(deployment, [Running(), Completed()])

    # Tests run one at a time, but the server's late-marking service may turn other tests'
    # Scheduled runs Late at any moment: the page must show a count between two reads around it.
    before = prefect.harness(state_counts)
    at = open_app()
    after = prefect.harness(state_counts)
    assert not at.exception, at.exception
    for state in ("Late", "Running", "Completed", "Scheduled"):
        shown = metric_value(at, state)
        assert min(before[state], after[state]) <= shown <= max(before[state], after[state]), state
    backlog = at.dataframe[0].value
    row = backlog[backlog["Deployment"] == deployment.full_name]
    assert int(row["Late runs"].iloc[0]) == 2
    assert any("Healthy" in s.value for s in at.sidebar.success)


def test_overview_stops_cleanly_when_api_is_down(monkeypatch) -> None:
    from runops.dev.server import free_port

    monkeypatch.setenv("PREFECT_API_URL", f"http://127.0.0.1:{free_port()}/api")
    at = open_app()
    assert not at.exception
    errors = " ".join(e.value for e in at.error)
    assert "Cannot reach the Prefect API" in errors
    assert not at.metric  # the page stopped before reading anything


def test_overview_without_api_url(monkeypatch) -> None:
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    at = open_app()
    assert not at.exception
    assert "PREFECT_API_URL is not set" in " ".join(e.value for e in at.error)


def test_overview_links_to_retry_and_stuck_with_counts(prefect: Prefect) -> None:
    from runops.features.overview import load_overview

    deployment = prefect.deployment()
    prefect.runs(deployment, [Failed(), Crashed()])
    before = prefect.harness(load_overview)
    at = open_app()
    assert not at.exception, at.exception
    labels = " ".join(str(link.proto.label) for link in at.get("page_link"))
    assert f"{before.failed_24h:,} failed or crashed in the last 24 h" in labels
    assert before.failed_24h >= 2 and before.stuck is not None
    assert f"{before.stuck:,} stuck" in labels
