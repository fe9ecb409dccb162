"""Finished runs as a tidy DataFrame, and the summaries (overall and per deployment) drawn from it."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pandas as pd
from prefect.client.schemas.objects import FlowRun

from runops.features.history.request import (
    COLUMNS,
    FAILURE_STATES,
    NO_DEPLOYMENT,
    SUMMARY_COLUMNS,
    TIME_COLUMNS,
    HistoryRequest,
)


@dataclass(frozen=True)
class Summary:
    """Numbers for one group of runs (all of them, or one deployment)."""

    runs: int
    completed: int
    failed: int  # Failed and Crashed
    success_rate: float | None  # None when Failed/Crashed runs were not read
    median_duration_s: float | None
    p95_duration_s: float | None
    median_lateness_s: float | None
    p95_lateness_s: float | None


@dataclass(frozen=True, eq=False)
class History:
    """Everything the History page shows, as plain data (picklable, so a page can cache it)."""

    request: HistoryRequest
    runs: pd.DataFrame
    overall: Summary
    per_deployment: pd.DataFrame
    matching: int  # every run matching the filters, which may be more than `limit`
    buckets: pd.DataFrame
    bucket: timedelta
    buckets_from_server: bool
    window_start: datetime | None
    window_end: datetime | None
    description: str
    read_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def truncated(self) -> bool:
        """More runs match than were read: the table and run charts show the newest `limit`."""
        return self.matching > len(self.runs)

    @property
    def empty(self) -> bool:
        return self.runs.empty


# -- reading --------------------------------------------------------------------------------------


def runs_frame(
    runs: Sequence[FlowRun],
    flow_names: dict[UUID, str],
    deployment_names: dict[UUID, str],
    run_url: Callable[[UUID], str | None] | None = None,
    moved: Mapping[UUID, datetime] | None = None,
) -> pd.DataFrame:
    """The tidy table: one row per run, times in UTC, duration and lateness in seconds.

    duration = end − start (wall clock, what people see); lateness = start − the time the run
    was last scheduled for (negative when a run started early). `moved`: the new time of runs
    rescheduled in place (`rescheduled_times`); other runs were due at their expected start.
    """
    moved = moved or {}
    data: dict[str, list[Any]] = {name: [] for name in COLUMNS}
    for run in runs:
        data["run_id"].append(str(run.id))
        data["name"].append(run.name)
        data["flow"].append(flow_names.get(run.flow_id, "?"))
        data["deployment"].append(
            deployment_names.get(run.deployment_id, "?") if run.deployment_id else NO_DEPLOYMENT
        )
        data["state"].append(run.state_name or (run.state.name if run.state else "?"))
        data["state_type"].append(run.state_type.value if run.state_type else None)
        data["expected_start"].append(run.expected_start_time)
        data["scheduled_start"].append(moved.get(run.id, run.expected_start_time))
        data["rescheduled"].append(run.id in moved)
        data["start"].append(run.start_time)
        data["end"].append(run.end_time)
        data["tags"].append(", ".join(sorted(run.tags)))
        data["url"].append(run_url(run.id) if run_url else None)
    frame = pd.DataFrame(
        {name: values for name, values in data.items() if name not in ("duration_s", "lateness_s")}
    )
    for column in TIME_COLUMNS:
        frame[column] = pd.to_datetime(frame[column], utc=True, format="ISO8601")
    frame["duration_s"] = (frame["end"] - frame["start"]).dt.total_seconds()
    frame["lateness_s"] = (frame["start"] - frame["scheduled_start"]).dt.total_seconds()
    frame["rescheduled"] = frame["rescheduled"].astype(bool)
    return frame[list(COLUMNS)]


def empty_frame() -> pd.DataFrame:
    return runs_frame([], {}, {})


# -- summaries ------------------------------------------------------------------------------------


def _stat(values: pd.Series, q: float) -> float | None:
    values = values.dropna()
    return None if values.empty else float(values.quantile(q))


def summarize(frame: pd.DataFrame, include_failed: bool = True) -> Summary:
    """Count, success rate, median/p95 duration (of completed runs) and lateness (of all runs).

    Durations come from completed runs only: a run failing after 2 s is not "fast". Lateness is
    about scheduling, so every run counts. The success rate needs Failed/Crashed runs to be read;
    without them it is None rather than a meaningless 100 %.
    """
    completed_mask = frame["state_type"] == "COMPLETED"
    completed = int(completed_mask.sum())
    failed = int(frame["state_type"].isin(FAILURE_STATES).sum())
    rate = completed / (completed + failed) if include_failed and (completed + failed) else None
    durations = frame.loc[completed_mask, "duration_s"]
    return Summary(
        runs=len(frame),
        completed=completed,
        failed=failed,
        success_rate=rate,
        median_duration_s=_stat(durations, 0.5),
        p95_duration_s=_stat(durations, 0.95),
        median_lateness_s=_stat(frame["lateness_s"], 0.5),
        p95_lateness_s=_stat(frame["lateness_s"], 0.95),
    )


def summarize_by_deployment(frame: pd.DataFrame, include_failed: bool = True) -> pd.DataFrame:
    """One row per deployment (most runs first) with the same numbers as `summarize`."""
    rows = []
    for deployment, group in frame.groupby("deployment", sort=False):
        summary = summarize(group, include_failed)
        rows.append({"deployment": deployment, **summary.__dict__})
    table = pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS))
    return table.sort_values(["runs", "deployment"], ascending=[False, True], ignore_index=True)


# -- buckets --------------------------------------------------------------------------------------


def to_csv(frame: pd.DataFrame) -> bytes:
    """The table as CSV: ISO times in UTC, seconds as numbers."""
    out = frame.copy()
    for column in TIME_COLUMNS:
        out[column] = out[column].map(lambda t: t.isoformat() if pd.notna(t) else "")
    return out.to_csv(index=False).encode("utf-8")
