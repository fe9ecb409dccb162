"""Chart builders: mark types, encodings and the data they carry, on history read from the real server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
import pytest
from prefect.states import Completed, Crashed, Failed

from runops.features import history
from runops.features.history import HistoryRequest, charts
from runops.prefect_api.client import call
from tests.factories import Prefect, finished_runs

NOW = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)


def spec_of(chart: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The Vega-Lite spec and the rows of its (single) dataset."""
    spec = chart.to_dict()
    datasets = spec.pop("datasets")
    assert len(datasets) == 1
    return spec, next(iter(datasets.values()))


def layers(spec: dict[str, Any]) -> list[dict[str, Any]]:
    return spec.get("layer", [spec])


@pytest.fixture(scope="module")
def loaded(prefect: Prefect) -> history.History:
    """Two deployments; A: completed runs of 60/120/180/240 s + one Failed; B: 30 s runs + a Crash."""
    dep_a, dep_b = prefect.deployment(), prefect.deployment()
    rows_a = []
    for i, minutes in enumerate((1, 2, 3, 4)):
        expected = NOW - timedelta(hours=5 - i)
        start = expected + timedelta(seconds=10 * (i + 1))
        rows_a.append((Completed(), expected, start, start + timedelta(minutes=minutes)))
    failed_at = NOW - timedelta(minutes=50)
    rows_a.append((Failed(), failed_at, failed_at + timedelta(seconds=5), failed_at + timedelta(seconds=6)))
    rows_b = []
    for i in range(3):
        expected = NOW - timedelta(hours=3, minutes=20 * i)
        rows_b.append(
            (Completed(), expected, expected + timedelta(seconds=2), expected + timedelta(seconds=32))
        )
    crash = NOW - timedelta(minutes=40)
    rows_b.append((Crashed(), crash, crash + timedelta(seconds=1), crash + timedelta(seconds=2)))
    finished_runs(prefect, dep_a, rows_a)
    finished_runs(prefect, dep_b, rows_b)
    request = HistoryRequest(
        deployments=(dep_a.full_name, dep_b.full_name), window=timedelta(hours=12), include_failed=True
    )
    return call(prefect.settings, history.load_history, request, None, NOW)


def test_completions_chart_bars_per_bucket_in_prefect_colours(loaded: history.History) -> None:
    assert loaded.bucket == timedelta(minutes=15)
    spec, rows = spec_of(charts.completions_chart(loaded.buckets, loaded.bucket))
    assert spec["mark"]["type"] == "bar"
    enc = spec["encoding"]
    assert (enc["x"]["field"], enc["x"]["type"], enc["x2"]["field"]) == (
        "bucket_start",
        "temporal",
        "bucket_end",
    )
    assert (enc["y"]["field"], enc["y"]["aggregate"]) == ("runs", "sum")
    scale = enc["color"]["scale"]
    assert enc["color"]["field"] == "state"
    assert dict(zip(scale["domain"], scale["range"], strict=True)) == {
        "Completed": "#2AC769",
        "Failed": "#FB4E4E",
        "Crashed": "#F97316",
    }
    assert scale["domain"][0] == "Completed"
    assert {t["title"] for t in enc["tooltip"]} >= {"From", "State", "Runs"}
    assert "15 minutes" in spec["title"]
    assert sum(r["runs"] for r in rows) == 9
    assert {r["state"]: r["runs"] for r in rows if r["state"] != "Completed"} == {"Failed": 1, "Crashed": 1}


def test_duration_chart_points_and_rolling_median_with_legend_selection(loaded: history.History) -> None:
    spec, rows = spec_of(charts.duration_chart(loaded.runs, window=2))
    points, line = layers(spec)
    assert points["mark"]["type"] == "circle" and line["mark"]["type"] == "line"
    param = points["params"][0] if "params" in points else spec["params"][0]
    assert param["name"] == charts.LEGEND_PARAM and param["bind"] == "legend"
    assert param["select"]["fields"] == ["deployment"]
    for layer in (points, line):
        assert layer["encoding"]["color"]["field"] == "deployment"
        assert layer["encoding"]["opacity"]["condition"]["param"] == charts.LEGEND_PARAM
        assert layer["encoding"]["x"]["field"] == "end"
    assert (
        points["encoding"]["y"]["field"] == "duration" and line["encoding"]["y"]["field"] == "rolling_median"
    )
    assert {t["title"] for t in points["encoding"]["tooltip"]} >= {"Run", "Duration", "Ended"}
    # only completed runs; seconds because the typical (median) run lasts 60 s
    assert len(rows) == 7 and points["encoding"]["y"]["title"] == "Duration (s)"
    assert {r["deployment"] for r in rows} == set(loaded.runs["deployment"])
    a_rows = [r for r in rows if r["duration"] >= 60]
    assert [r["rolling_median_text"] for r in sorted(a_rows, key=lambda r: r["end"])] == [
        "1m 00s",
        "1m 30s",
        "2m 30s",
        "3m 30s",
    ]


def test_rolling_median_values(loaded: history.History) -> None:
    done = charts.with_rolling_median(loaded.runs, window=3)
    a = done[done["duration_s"] >= 60].sort_values("end")
    assert list(a["rolling_median_s"]) == [60.0, 90.0, 120.0, 180.0]
    assert set(done["state"]) == {"Completed"}


def test_distribution_chart_box_and_ticks(loaded: history.History) -> None:
    spec, rows = spec_of(charts.distribution_chart(loaded.runs))
    box, ticks = layers(spec)
    assert box["mark"]["type"] == "boxplot" and ticks["mark"]["type"] == "tick"
    assert box["encoding"]["y"]["field"] == "deployment" and box["encoding"]["x"]["field"] == "duration"
    assert spec["params"][0]["bind"] == "legend"
    assert {t["title"] for t in ticks["encoding"]["tooltip"]} == {"Run", "Deployment", "Duration"}
    assert sorted(r["duration_text"] for r in rows) == [
        "1m 00s",
        "2m 00s",
        "30s",
        "30s",
        "30s",
        "3m 00s",
        "4m 00s",
    ]


def test_lateness_chart_p50_p95_per_bucket(loaded: history.History) -> None:
    bucket = timedelta(hours=1)
    table = charts.lateness_percentiles(loaded.runs, bucket)
    # expected: group every run's lateness by the hour of its expected start, by hand
    groups: dict[datetime, list[float]] = {}
    for _, run in loaded.runs.iterrows():
        groups.setdefault(history.floor_time(run["expected_start"], bucket), []).append(run["lateness_s"])
    assert sorted(loaded.runs["lateness_s"]) == [1.0, 2.0, 2.0, 2.0, 5.0, 10.0, 20.0, 30.0, 40.0]
    for percentile, q in (("p50", 0.5), ("p95", 0.95)):
        got = table[table["percentile"] == percentile]
        expected = {start: pd.Series(values).quantile(q) for start, values in groups.items()}
        assert {
            ts.to_pydatetime(): v for ts, v in zip(got["bucket_start"], got["lateness_s"], strict=True)
        } == (pytest.approx(expected))
        assert got["runs"].sum() == 9

    spec, rows = spec_of(charts.lateness_chart(loaded.runs, loaded.bucket))
    assert spec["mark"] == {"type": "line", "point": True}
    assert spec["encoding"]["color"]["field"] == "percentile"
    assert spec["encoding"]["x"]["field"] == "bucket_start" and spec["encoding"]["y"]["field"] == "lateness"
    assert {r["percentile"] for r in rows} == {"p50", "p95"}
    assert {t["title"] for t in spec["encoding"]["tooltip"]} >= {"Percentile", "Lateness", "Runs in bucket"}


def test_duration_unit_and_bucket_label() -> None:
    assert charts.duration_unit(pd.Series([30.0, 40.0])) == (1.0, "s")
    assert charts.duration_unit(pd.Series([300.0])) == (60.0, "min")
    assert charts.duration_unit(pd.Series([9000.0])) == (3600.0, "h")
    assert charts.bucket_label(timedelta(minutes=30)) == "30 minutes"
    assert charts.bucket_label(timedelta(days=1)) == "1 day"
    assert charts.bucket_label(timedelta(days=7)) == "1 week"


def test_history_charts_cover_the_window_and_build_when_empty(loaded: history.History) -> None:
    bars = charts.history_charts(loaded)[0].to_dict()
    domain = bars["encoding"]["x"]["scale"]["domain"]
    assert domain == [
        charts.vl_time(loaded.window_start).to_dict(),
        charts.vl_time(loaded.window_end).to_dict(),
    ]
    assert domain[0]["utc"] is True and domain[0]["year"] == loaded.window_start.year
    empty = history.empty_frame()
    for chart in (
        charts.completions_chart(history.empty_buckets(), timedelta(hours=1)),
        charts.duration_chart(empty),
        charts.distribution_chart(empty),
        charts.lateness_chart(empty, timedelta(hours=1)),
    ):
        chart.to_dict()
