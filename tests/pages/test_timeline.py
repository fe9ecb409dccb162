"""AppTest: History's timeline and runs carried from it to the retry, cancel and reschedule previews.

AppTest cannot drag a brush on a chart (chart selections have no simulated widget state): the
brush → run ids mapping is tested in tests/runops/features/history/test_timeline.py and in
Chromium (tests/e2e/test_timeline.py); here the carry is set as the timeline's buttons set it.
"""

from __future__ import annotations

import json
from datetime import timedelta

from prefect.states import Completed, Crashed, Failed, Late, Running, Scheduled
from streamlit.testing.v1 import AppTest

from runops.features.history import HistoryRequest
from tests.apptest import open_app
from tests.factories import Prefect, ago, finished_runs, later
from tests.pages.test_history import by_label, open_history
from ui.carry import Carried
from ui.timeline import chart_key

WHERE = "on History's timeline"


def carried_to(page: str, key: str, run_ids: list[str]) -> AppTest:
    at = open_app("app.py")
    at.session_state[f"{key}.carried"] = Carried(tuple(run_ids), WHERE)
    at.switch_page(page).run()
    assert not at.exception, at.exception
    banner = [i.value for i in at.info if WHERE in i.value]
    assert banner and f"{len(run_ids)} runs chosen {WHERE}" in banner[0]
    at.button(key=f"{key}.preview-button").click().run()
    assert not at.exception, at.exception
    return at


def test_history_shows_a_timeline_with_its_buttons(prefect: Prefect) -> None:
    dep = prefect.deployment()
    start = ago(hours=3)
    finished_runs(prefect, dep, [(Failed(), start, start, start + timedelta(minutes=5))])
    finished_runs(prefect, dep, [(Completed(), start, start, start + timedelta(minutes=9))])
    prefect.runs(dep, [Late(scheduled_time=ago(hours=1))])
    at = open_history(dep)

    specs = [json.loads(chart.proto.spec) for chart in at.get("vega_lite_chart")]
    assert len(specs) == 5  # the four charts, then the timeline
    timeline = specs[-1]
    assert [p["name"] for p in timeline["params"]] == ["timeline_brush"]
    assert [layer["mark"]["type"] for layer in timeline["layer"]] == ["bar", "point", "point", "rule"]
    # nothing brushed yet: every action offered, none possible
    for label in ("Retry these (0)", "Cancel these (0)", "Reschedule these (0)"):
        assert by_label(at.button, label).disabled


def test_a_brush_is_kept_per_set_of_filters() -> None:
    """Streamlit keeps a keyed chart's selection over a data change without drawing it: a brush
    must not go on choosing runs of another filter's timeline, so each has a key of its own."""
    request = HistoryRequest(tags=("nightly",), window=timedelta(days=7))
    assert chart_key(request) == chart_key(HistoryRequest(tags=("nightly",), window=timedelta(days=7)))
    assert chart_key(request) == chart_key(
        HistoryRequest(tags=("nightly",), window=timedelta(days=7), limit=9)
    )
    assert chart_key(request) != chart_key(HistoryRequest(tags=("prod",), window=timedelta(days=7)))
    assert chart_key(request) != chart_key(HistoryRequest(tags=("nightly",), window=timedelta(days=1)))


def test_carried_runs_are_exactly_what_retry_previews(prefect: Prefect, tmp_home) -> None:
    dep, other = prefect.deployment(), prefect.deployment()
    failed, crashed, completed = prefect.runs(dep, [Failed(), Crashed(), Completed()])
    days_ago = ago(days=3)  # outside the page's default end-time window: the carry sets it aside
    (old,) = finished_runs(prefect, dep, [(Failed(), days_ago, days_ago, days_ago + timedelta(minutes=1))])
    prefect.runs(other, [Failed()])  # not carried, so not previewed

    at = carried_to("pages/retry_failed.py", "retry", [str(r.id) for r in (failed, old, completed)])
    preview = at.dataframe[0].value
    assert dict(zip(preview["Run"], preview["Action"], strict=True)) == {
        failed.name: "retry",
        old.name: "retry",
    }
    assert crashed.name not in set(preview["Run"])  # failed too, but not chosen
    assert prefect.read(failed.id).state.name == "Failed"  # a preview changes nothing

    at.button(key="retry.carried-clear").click().run()
    assert not [i for i in at.info if WHERE in i.value]
    assert not at.dataframe  # the carried preview went with the carry


def test_carried_runs_are_exactly_what_cancel_previews(prefect: Prefect, tmp_home) -> None:
    dep = prefect.deployment()
    late, running, completed, untouched = prefect.runs(
        dep, [Late(scheduled_time=ago(hours=1)), Running(), Completed(), Late(scheduled_time=ago(hours=2))]
    )
    at = carried_to("pages/bulk_cancel.py", "cancel", [str(r.id) for r in (late, running, completed)])
    preview = at.dataframe[0].value
    assert dict(zip(preview["Run"], preview["Action"], strict=True)) == {
        late.name: "cancel",
        running.name: "mark cancelling",
    }
    assert untouched.name not in set(preview["Run"])


def test_carried_runs_are_exactly_what_reschedule_previews(prefect: Prefect, tmp_home) -> None:
    dep = prefect.deployment()
    late, soon, other_late = prefect.runs(
        dep,
        [
            Late(scheduled_time=ago(hours=1)),
            Scheduled(scheduled_time=later(hours=1)),
            Late(scheduled_time=ago(hours=2)),
        ],
    )
    at = carried_to("pages/late_runs.py", "late", [str(late.id), str(soon.id)])
    preview = at.dataframe[0].value
    # a chosen run due later is taken too: a person picked it
    assert dict(zip(preview["Run"], preview["Action"], strict=True)) == {
        late.name: "reschedule",
        soon.name: "reschedule",
    }
    assert other_late.name not in set(preview["Run"])
