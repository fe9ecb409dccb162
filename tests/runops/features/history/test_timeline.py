"""The run timeline against the real test server: which runs it places where, and what a brush chooses."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest
from prefect.states import Cancelled, Completed, Crashed, Failed, Late, Running, Scheduled

from runops.features.history import HistoryRequest, charts, timeline
from runops.prefect_api.client import call
from tests.factories import Deployment, Prefect, ago, finished_runs, later

NOW = datetime.now(UTC).replace(second=0, microsecond=0)


def load(prefect: Prefect, request: HistoryRequest, **kwargs) -> timeline.Timeline:
    return call(prefect.settings, timeline.load_timeline, request, prefect.settings.run_url, **kwargs)


def ms(value: datetime) -> int:
    """A brush edge as Chromium sends it: whole epoch milliseconds."""
    return int(value.timestamp() * 1000)


@pytest.fixture(scope="module")
def seeded(prefect: Prefect) -> tuple[Deployment, Deployment, dict[str, str]]:
    """Two deployments with runs in every kind of state; run ids by a short label."""
    dep, other = prefect.deployment(), prefect.deployment()

    def row(state, hours_ago: float, minutes: float = 10):
        start = NOW - timedelta(hours=hours_ago)
        end = None if state.type.value == "RUNNING" else start + timedelta(minutes=minutes)
        return (state, start - timedelta(seconds=30), start, end)

    labels = ["completed", "failed", "crashed", "cancelled", "running", "old"]
    made = finished_runs(
        prefect,
        dep,
        [
            row(Completed(), 10),
            row(Failed(), 8),
            row(Crashed(), 6),
            row(Cancelled(), 4),
            row(Running(), 0.5),
            row(Completed(), 72),  # ended three days ago: outside a 24 h window
        ],
    )
    ids = {label: str(run.id) for label, run in zip(labels, made, strict=True)}
    late, soon, far = prefect.runs(
        dep,
        [
            Late(scheduled_time=ago(hours=2)),
            Scheduled(scheduled_time=later(hours=1)),
            Scheduled(scheduled_time=later(days=3)),  # beyond the window's look-ahead
        ],
    )
    ids |= {"late": str(late.id), "soon": str(soon.id), "far": str(far.id)}
    (elsewhere,) = finished_runs(prefect, other, [row(Failed(), 8)])
    ids["other-failed"] = str(elsewhere.id)
    return dep, other, ids


def test_timeline_places_every_kind_of_run_in_the_window(prefect: Prefect, seeded) -> None:
    dep, _, ids = seeded
    result = load(prefect, HistoryRequest(deployments=(dep.full_name,), window=timedelta(days=1)))

    frame = result.runs.set_index("run_id")
    wanted = {"completed", "failed", "crashed", "cancelled", "running", "late", "soon"}
    assert set(frame.index) == {ids[label] for label in wanted}
    assert not result.truncated and result.matching == len(wanted)
    assert set(frame["deployment"]) == {dep.full_name}
    kinds = {label: frame.loc[ids[label], "kind"] for label in wanted}
    assert kinds == {**dict.fromkeys(wanted, timeline.BAR), "late": timeline.DUE, "soon": timeline.DUE}
    failed = frame.loc[ids["failed"]]
    stored = prefect.read(failed.name)
    assert failed["begin"].to_pydatetime() == stored.start_time
    assert failed["finish"].to_pydatetime() == stored.end_time
    assert failed["state"] == "Failed" and failed["url"] == prefect.settings.run_url(stored.id)
    running = frame.loc[ids["running"]]
    assert running["finish"].to_pydatetime() == result.now  # a running bar reaches now
    late = frame.loc[ids["late"]]
    assert late["state"] == "Late"
    assert late["begin"].to_pydatetime() == prefect.read(late.name).next_scheduled_start_time
    # the window: the history's 24 h, then a tenth more past now for runs due soon
    assert result.start == result.now - timedelta(days=1)
    assert result.end == result.now + timedelta(hours=2.4)
    # a short bar is widened to be seen, never narrowed
    assert (frame["drawn_finish"] >= frame["finish"]).all()
    bars = frame[frame["kind"] == timeline.BAR]
    assert (bars["drawn_finish"] - bars["begin"]).min() >= timedelta(days=1.1) / 300


def test_timeline_is_bounded_and_says_so(prefect: Prefect, seeded) -> None:
    dep, _, ids = seeded
    result = load(prefect, HistoryRequest(deployments=(dep.full_name,), window=timedelta(days=1)), limit=3)
    assert len(result.runs) == 3 and result.truncated and result.matching == 7
    # the most pressing first: what runs now and what is due
    assert set(result.runs["run_id"]) == {ids["running"], ids["late"], ids["soon"]}


def test_a_brush_chooses_exactly_the_runs_it_covers(prefect: Prefect, seeded) -> None:
    dep, other, ids = seeded
    names = (dep.full_name, other.full_name)
    result = load(prefect, HistoryRequest(deployments=names, window=timedelta(days=1)))
    frame = result.runs

    # 9 h ago to 3 h ago over both rows: failed, crashed, cancelled and the other deployment's failure;
    # the payload's shape as a drag in Chromium sends it (the time field's name, then every row the
    # brush overlaps, even in part, by name)
    brush = {"begin": [ms(NOW - timedelta(hours=9)), ms(NOW - timedelta(hours=3))], "deployment": list(names)}
    chosen = timeline.chosen_runs(frame, brush)
    assert set(chosen["run_id"]) == {ids["failed"], ids["crashed"], ids["cancelled"], ids["other-failed"]}
    # the same range on one row only; edges as ISO text (the other shape a browser may send)
    one_row = {
        "begin": [(NOW - timedelta(hours=3)).isoformat(), (NOW - timedelta(hours=9)).isoformat()],
        "deployment": [other.full_name],
    }
    assert list(timeline.chosen_runs(frame, one_row)["run_id"]) == [ids["other-failed"]]
    # a bar is chosen when the brush overlaps any of it: the running one from 1 h ago to now
    recent = timeline.chosen_runs(frame, {"begin": [ms(NOW - timedelta(hours=1)), ms(NOW)]})
    assert set(recent["run_id"]) == {ids["running"]}
    assert timeline.chosen_runs(frame, {}).empty and timeline.chosen_runs(frame, None).empty

    everything = timeline.chosen_runs(frame, {"begin": [ms(result.start), ms(result.end)]})
    acts = timeline.actions(everything)
    assert set(acts.retry) == {ids["failed"], ids["crashed"], ids["other-failed"]}
    assert set(acts.cancel) == {ids["running"], ids["late"], ids["soon"]}
    assert set(acts.reschedule) == {ids["late"], ids["soon"]}
    assert len(acts.run_ids) == len(frame) == 8


def test_timeline_chart_draws_rows_marks_and_a_brush() -> None:
    now = pd.Timestamp(NOW)
    frame = pd.DataFrame(
        {
            "run_id": ["a", "b"],
            "name": ["run-a", "run-b"],
            "deployment": ["f/x", "f/y"],
            "state": ["Failed", "Late"],
            "state_type": ["FAILED", "SCHEDULED"],
            "kind": [timeline.BAR, timeline.DUE],
            "begin": [now - pd.Timedelta(hours=2), now - pd.Timedelta(hours=1)],
            "finish": [now - pd.Timedelta(hours=1), now - pd.Timedelta(hours=1)],
            "drawn_finish": [now - pd.Timedelta(hours=1), now - pd.Timedelta(hours=1)],
            "scheduled": [now - pd.Timedelta(hours=2), now - pd.Timedelta(hours=1)],
            "url": [None, None],
        }
    )
    data = timeline.Timeline(frame, NOW - timedelta(hours=6), NOW + timedelta(hours=1), NOW, 2)
    spec = charts.timeline_chart(data).to_dict()
    assert [layer["mark"]["type"] for layer in spec["layer"]] == ["bar", "point", "point", "rule"]
    assert spec["params"][0]["name"] == charts.TIMELINE_BRUSH
    select = spec["params"][0]["select"]
    assert (select["type"], select["encodings"]) == ("interval", ["x", "y"])
    assert select["mark"]["fill"] == "#1860F2"  # a brush over the whole plot reads as chosen
    assert spec["params"][0]["views"] == [spec["layer"][0]["name"]]  # on the bars only, declared once
    colors = spec["layer"][0]["encoding"]["color"]["scale"]
    assert dict(zip(colors["domain"], colors["range"], strict=True)) == {
        "Failed": "#FB4E4E",
        "Late": "#FCD14E",
    }
    assert spec["layer"][1]["mark"]["filled"] is False  # runs due are hollow
