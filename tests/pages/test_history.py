"""AppTest of the History page against the real test server, with backdated runs."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
from prefect.states import Completed, Failed
from streamlit.dataframe_util import convert_arrow_bytes_to_pandas_df
from streamlit.testing.v1 import AppTest

from tests.apptest import metric_value, open_app
from tests.factories import Deployment, Prefect, finished_runs

PAGE = "pages/history.py"
NOW = datetime.now(UTC).replace(second=0, microsecond=0)


def by_label(widgets: Any, label: str) -> Any:
    for widget in widgets:
        if widget.label == label:
            return widget
    raise AssertionError(f"no widget {label!r}: {[w.label for w in widgets]}")


def open_history(deployment: Deployment, window: str = "Last 24 hours") -> AppTest:
    at = open_app(PAGE)
    assert not at.exception, at.exception
    by_label(at.button, "Refresh").click().run()  # the deployment list is cached for 30 s
    by_label(at.multiselect, "Deployments").set_value([deployment.full_name])
    by_label(at.selectbox, "Ended").set_value(window)
    at.run()
    assert not at.exception, at.exception
    return at


def charts_of(at: AppTest) -> list[tuple[dict[str, Any], list[pd.DataFrame]]]:
    """Each chart's Vega-Lite spec and its datasets (Arrow, as Streamlit sends them)."""
    found = []
    for element in at.get("vega_lite_chart"):
        proto = element.proto
        frames = [convert_arrow_bytes_to_pandas_df(d.data.data) for d in proto.datasets]
        if proto.data.data:
            frames.append(convert_arrow_bytes_to_pandas_df(proto.data.data))
        found.append((json.loads(proto.spec), frames))
    return found


def marks(spec: dict[str, Any]) -> list[str]:
    parts = spec.get("layer", [spec])
    return [p["mark"]["type"] if isinstance(p["mark"], dict) else p["mark"] for p in parts]


def test_history_page_metrics_charts_table_and_csv(prefect: Prefect) -> None:
    dep = prefect.deployment()
    rows = []
    for i in range(5):
        expected = NOW - timedelta(hours=6 - i)
        start = expected + timedelta(seconds=30)
        state = Failed() if i == 4 else Completed()
        rows.append((state, expected, start, start + timedelta(minutes=i + 1)))
    runs = finished_runs(prefect, dep, rows)

    at = open_history(dep)

    assert metric_value(at, "Runs") == 5
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Success rate"] == "80%"
    assert metrics["Median duration"] == "2m 30s"  # completed: 1, 2, 3, 4 min
    assert metrics["Median lateness"] == "30s"

    charts = charts_of(at)
    assert [marks(spec) for spec, _ in charts] == [
        ["bar"],
        ["circle", "line"],
        ["boxplot", "tick"],
        ["line"],
        ["bar", "point", "point", "rule"],  # the timeline: runs, due runs, runs that never started, now
    ]
    bars, frames = charts[0]
    assert bars["encoding"]["color"]["scale"]["range"][:2] == ["#2AC769", "#FB4E4E"]
    assert int(frames[0]["runs"].sum()) == 5
    duration_spec, duration_data = charts[1]
    assert duration_spec["params"][0]["bind"] == "legend"
    assert len(duration_data[0]) == 4 and set(duration_data[0]["deployment"]) == {dep.full_name}

    summary = at.dataframe[0].value
    assert list(summary["Deployment"]) == [dep.full_name] and summary.loc[0, "Success rate"] == "80%"
    table = at.dataframe[1].value
    newest_first = sorted(runs, key=lambda r: r.end_time, reverse=True)
    assert list(table["Run"]) == [r.name for r in newest_first]
    assert list(table["Link"]) == [prefect.settings.run_url(r.id) for r in newest_first]
    assert table.loc[0, "State"] == "Failed" and table.loc[1, "Duration"] == "4m 00s"
    assert not table["Rescheduled"].any()  # none was moved in place
    # AppTest has no browser time zone: UTC is the fallback
    assert table.loc[0, "Ended"] == newest_first[0].end_time.astimezone(UTC).strftime("%Y-%m-%d %H:%M")
    assert at.get("download_button"), "CSV download missing"


def test_refresh_reads_new_runs_and_empty_window(prefect: Prefect) -> None:
    dep = prefect.deployment()
    old = NOW - timedelta(days=3)
    finished_runs(prefect, dep, [(Completed(), old, old + timedelta(seconds=1), old + timedelta(seconds=20))])

    at = open_history(dep, window="Last hour")
    assert "No completed runs in this window" in " ".join(i.value for i in at.info)
    assert not at.get("vega_lite_chart") and not at.metric

    by_label(at.selectbox, "Ended").set_value("Last 7 days").run()
    assert metric_value(at, "Runs") == 1

    recent = NOW - timedelta(minutes=10)
    finished_runs(prefect, dep, [(Completed(), recent, recent, recent + timedelta(seconds=5))])
    at.run()
    assert metric_value(at, "Runs") == 1  # cached for a short while
    by_label(at.button, "Refresh").click().run()
    assert metric_value(at, "Runs") == 2


def test_history_page_stops_cleanly_when_api_is_down(monkeypatch) -> None:
    from runops.dev.server import free_port

    monkeypatch.setenv("PREFECT_API_URL", f"http://127.0.0.1:{free_port()}/api")
    at = open_app(PAGE)
    assert not at.exception
    assert "Cannot reach the Prefect API" in " ".join(e.value for e in at.error)
    assert not at.get("vega_lite_chart")
