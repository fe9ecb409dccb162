"""History: the last N finished runs as a tidy DataFrame, summaries, charts and server-side bucketed counts."""

from __future__ import annotations

from runops.features.history.buckets import (
    bucket_counts,
    bucket_size,
    count_buckets,
    empty_buckets,
    finished_filters,
    floor_time,
    server_bucket_counts,
)
from runops.features.history.frame import (
    History,
    Summary,
    empty_frame,
    runs_frame,
    summarize,
    summarize_by_deployment,
    to_csv,
)
from runops.features.history.load import last_scheduled_time, load_history, names_for, read_runs
from runops.features.history.request import (
    COLUMNS,
    DEFAULT_LIMIT,
    MAX_LIMIT,
    SERVER_MAX_BUCKETS,
    HistoryRequest,
)

__all__ = [
    "COLUMNS",
    "DEFAULT_LIMIT",
    "MAX_LIMIT",
    "SERVER_MAX_BUCKETS",
    "History",
    "HistoryRequest",
    "Summary",
    "bucket_counts",
    "bucket_size",
    "count_buckets",
    "empty_buckets",
    "empty_frame",
    "finished_filters",
    "floor_time",
    "last_scheduled_time",
    "load_history",
    "names_for",
    "read_runs",
    "runs_frame",
    "server_bucket_counts",
    "summarize",
    "summarize_by_deployment",
    "to_csv",
]
