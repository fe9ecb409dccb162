"""AppTest of the Activity page: operations recorded by a real apply show up with their runs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from prefect.states import Scheduled

from runops.execute import execute
from runops.settings import Settings
from runops.store import default_store
from tests.apptest import open_app
from tests.factories import Prefect, later
from tests.runops.test_execute import _plan, move_to


def test_activity_lists_operations_and_runs(
    prefect: Prefect, tmp_home, monkeypatch: pytest.MonkeyPatch
) -> None:
    deployment = prefect.deployment()
    runs = prefect.runs(deployment, [Scheduled(scheduled_time=later(hours=1)) for _ in range(3)])
    audit = default_store(Settings.from_env().home)
    report = prefect.run(
        execute,
        _plan(runs, later(hours=4) + timedelta(minutes=1)),
        move_to,
        actor="ana@example.com",
        store=audit,
    )

    at = open_app("app.py")
    at.switch_page("pages/activity.py").run()
    assert not at.exception, at.exception
    operations = at.dataframe[0].value
    assert list(operations["Who"]) == ["ana@example.com"]
    assert int(operations["Done"].iloc[0]) == 3
    detail = at.dataframe[1].value
    assert set(detail["run_id"]) == {str(r.id) for r in runs}
    assert set(detail["outcome"]) == {"done"}
    assert report.audit_id == int(operations["#"].iloc[0])


def test_activity_shows_an_operation_recorded_today_in_the_viewers_zone(prefect: Prefect, tmp_home) -> None:
    """The default range is the viewer's days, not the server's (CI failed 23:00-24:00 UTC in Berlin)."""
    deployment = prefect.deployment()
    runs = prefect.runs(deployment, [Scheduled(scheduled_time=later(hours=1)) for _ in range(2)])
    audit = default_store(Settings.from_env().home)
    prefect.run(execute, _plan(runs, later(hours=3)), move_to, actor="ana@example.com", store=audit)

    # A zone whose date differs from UTC's right now, at any hour: ahead by 14 h from 10:00 UTC,
    # behind by 12 h before noon UTC. The server's UTC days would hide the operation.
    zone = "Etc/GMT-14" if datetime.now(UTC).hour >= 10 else "Etc/GMT+12"
    at = open_app("app.py", context={"timezone": zone})
    at.switch_page("pages/activity.py").run()
    assert not at.exception, at.exception
    operations = at.dataframe[0].value
    assert list(operations["Who"]) == ["ana@example.com"]
    assert [s.label for s in at.selectbox] == ["Operation"]
    assert set(at.dataframe[1].value["run_id"]) == {str(r.id) for r in runs}
    assert len(audit.audit.operations()) == 1


def test_activity_empty(tmp_home) -> None:
    at = open_app("app.py")
    at.switch_page("pages/activity.py").run()
    assert not at.exception
    assert "No operations recorded yet" in at.info[0].value
